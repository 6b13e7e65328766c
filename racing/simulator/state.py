"""What the TAB feed says at a simulated instant: pure functions, no HTTP.

Given a scenario and "now", these build the meeting list, a meeting's races and a single
race in the TAB shape. The same instant always gives the same payload.
"""

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from racing.simulator.odds import (
    BUCKET,
    FLUC_COUNT,
    Prices,
    bucket_start,
    combination_dividend,
    place_dividends,
    places_paid,
    prices_at,
    win_dividends,
)
from racing.simulator.scenario import Meeting, Placings, Race, Runner, Scenario

JsonValue = dict[str, "JsonValue"] | list["JsonValue"] | str | int | float | bool | None
JsonObject = dict[str, JsonValue]


@dataclass(frozen=True)
class RaceState:
    """Where one race is in its lifecycle at one instant."""

    status: str
    advertised_start: dt.datetime
    placings: Placings
    resulted_at: dt.datetime | None


def format_instant(instant: dt.datetime) -> str:
    """An instant as the TAB writes it: UTC, milliseconds and a Z."""
    utc = instant.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def race_state(
    scenario: Scenario, meeting: Meeting, race: Race, now: dt.datetime
) -> RaceState:
    """The status, advertised start, visible placings and result time of a race."""
    advertised = race.advertised_start(now)
    abandoned_at = meeting.race_abandoned_at(race)
    if abandoned_at is not None and now >= abandoned_at:
        return RaceState("Abandoned", advertised, (), None)

    jump = race.jump_time
    interim_at = jump + scenario.interim_after(race)
    paying_at = jump + scenario.paying_after(race)
    final = race.results or ()
    if now < jump:
        return RaceState("Open", advertised, (), None)
    if now < interim_at:
        return RaceState("Closed", advertised, (), None)
    if now < paying_at or race.never_paying:
        return RaceState("Interim", advertised, race.interim_results or final, None)
    return RaceState("Paying", advertised, final, paying_at)


def meetings_payload(scenario: Scenario, now: dt.datetime) -> JsonObject:
    """The day's meeting list, each meeting with its race stubs."""
    meetings: list[JsonValue] = [
        {**_meeting_fields(scenario, m), "races": _race_stubs(scenario, m, now)}
        for m in scenario.meetings
    ]
    return {"meetings": meetings}


def meeting_races_payload(
    scenario: Scenario, meeting: Meeting, now: dt.datetime
) -> JsonObject:
    """One meeting and the stubs of its races."""
    return {
        "meeting": _meeting_fields(scenario, meeting),
        "races": _race_stubs(scenario, meeting, now),
    }


def race_payload(
    scenario: Scenario, meeting: Meeting, race: Race, now: dt.datetime
) -> JsonObject:
    """A single race with runners, prices, scratchings, results and dividends."""
    state = race_state(scenario, meeting, race, now)
    resulted_at = state.resulted_at
    payload = _race_stub(race, state)
    results = payload.pop("results")
    payload |= {
        "raceDistance": race.race_distance,
        "raceClassConditions": race.race_class_conditions,
        "hasFixedOdds": race.has_fixed_odds,
        "hasParimutuel": race.has_parimutuel,
        "resultedTime": format_instant(resulted_at) if resulted_at else None,
        "meeting": _meeting_key_fields(scenario, meeting),
        "runners": [
            _runner(scenario, meeting, race, runner, state, now)
            for runner in race.runners
        ],
        "scratchings": _scratchings(race, now),
        "results": results,
        "dividends": _dividends(scenario, meeting, race) if resulted_at else [],
    }
    return payload


def _meeting_key_fields(scenario: Scenario, meeting: Meeting) -> JsonObject:
    return {
        "meetingName": meeting.meeting_name,
        "venueMnemonic": meeting.venue_mnemonic,
        "raceType": meeting.race_type,
        "location": meeting.location,
        "meetingDate": scenario.date.isoformat(),
    }


def _meeting_fields(scenario: Scenario, meeting: Meeting) -> JsonObject:
    fields = _meeting_key_fields(scenario, meeting)
    fields["trackCondition"] = meeting.track_condition
    fields["weatherCondition"] = meeting.weather_condition
    # Like the real feed, only meetings that have a rail position carry the key.
    if meeting.rail_position is not None:
        fields["railPosition"] = meeting.rail_position
    return fields


def _race_stubs(
    scenario: Scenario, meeting: Meeting, now: dt.datetime
) -> list[JsonValue]:
    return [
        _race_stub(race, race_state(scenario, meeting, race, now))
        for race in meeting.races
    ]


def _race_stub(race: Race, state: RaceState) -> JsonObject:
    return {
        "raceNumber": race.race_number,
        "raceName": race.race_name,
        "raceStartTime": format_instant(state.advertised_start),
        "raceStatus": state.status,
        "results": _placings_json(state.placings),
    }


def _placings_json(placings: Placings) -> list[JsonValue]:
    return [list[JsonValue](group) for group in placings]


def _runner_key(
    scenario: Scenario, meeting: Meeting, race: Race, runner: Runner
) -> str:
    return (
        f"{scenario.seed}/{meeting.race_type}/{meeting.venue_mnemonic}/"
        f"{race.race_number}/{runner.runner_number}"
    )


def _price_instant(race: Race, runner: Runner, now: dt.datetime) -> dt.datetime:
    """Prices freeze at the jump, and at the scratching for a scratched runner."""
    frozen = race.jump_time - dt.timedelta(microseconds=1)
    if runner.scratching is not None and runner.scratching.at <= now:
        frozen = min(frozen, runner.scratching.at)
    return min(now, frozen)


def _runner(
    scenario: Scenario,
    meeting: Meeting,
    race: Race,
    runner: Runner,
    state: RaceState,
    now: dt.datetime,
) -> JsonObject:
    key = _runner_key(scenario, meeting, race, runner)
    instant = _price_instant(race, runner, now)
    prices = prices_at(key, runner.fixed_win, instant)
    fixed_status, tote_status = _betting_status(runner, state, now)
    scratched = fixed_status in ("Scratched", "LateScratched")
    scratching = runner.scratching if scratched else None
    return {
        "runnerNumber": runner.runner_number,
        "runnerName": runner.runner_name,
        "barrierNumber": runner.barrier_number,
        "emergency": runner.emergency,
        "riderDriverName": runner.rider_driver_name,
        "trainerName": runner.trainer_name,
        "handicapWeight": runner.handicap_weight,
        "last5Starts": runner.last5_starts,
        "finishingPosition": _finishing_position(state.placings, runner.runner_number),
        "fixedOdds": {
            "returnWin": prices.fixed_win,
            "returnPlace": prices.fixed_place,
            "bettingStatus": fixed_status,
            "scratchedTime": format_instant(scratching.at) if scratching else None,
            "winDeduction": scratching.win_deduction if scratching else 0,
            "placeDeduction": scratching.place_deduction if scratching else 0,
            "flucs": _flucs(key, runner.fixed_win, instant),
        },
        "parimutuel": {
            "returnWin": prices.tote_win,
            "returnPlace": prices.tote_place,
            "bettingStatus": tote_status,
        },
    }


def _betting_status(
    runner: Runner, state: RaceState, now: dt.datetime
) -> tuple[str, str]:
    """Fixed-odds and tote betting status; the tote only knows 'Scratched'."""
    scratching = runner.scratching
    if scratching is not None and scratching.at <= now:
        return ("LateScratched" if scratching.late else "Scratched"), "Scratched"
    status = "Open" if state.status == "Open" else "Closed"
    return status, status


def _flucs(key: str, opening_win: float, instant: dt.datetime) -> list[JsonValue]:
    """The prices at the starts of the last few buckets, oldest first."""
    latest = bucket_start(instant)
    flucs: list[JsonValue] = []
    for back in range(FLUC_COUNT, 0, -1):
        at = latest - BUCKET * back
        price = prices_at(key, opening_win, at).fixed_win
        flucs.append({"returnWin": price, "returnWinTime": format_instant(at)})
    return flucs


def _finishing_position(placings: Placings, number: int) -> int | None:
    position = 1
    for group in placings:
        if number in group:
            return position
        position += len(group)
    return None


def _scratchings(race: Race, now: dt.datetime) -> list[JsonValue]:
    scratchings: list[JsonValue] = []
    for runner in race.runners:
        scratching = runner.scratching
        if scratching is None or scratching.at > now:
            continue
        scratchings.append(
            {
                "runnerNumber": runner.runner_number,
                "runnerName": runner.runner_name,
                "fixedOdds": {
                    "scratchedTime": format_instant(scratching.at),
                    "winDeduction": scratching.win_deduction,
                    "placeDeduction": scratching.place_deduction,
                },
            }
        )
    return scratchings


def _dividends(scenario: Scenario, meeting: Meeting, race: Race) -> list[JsonValue]:
    """Official dividends, worked out from the tote prices at the jump."""
    final = race.results or ()
    closing = _closing_prices(scenario, meeting, race)
    wins = [[(n, closing[n].tote_win) for n in group] for group in final]
    places = [[(n, closing[n].tote_place) for n in group] for group in final]
    starters = sum(1 for r in race.runners if r.scratching is None)
    products: list[JsonValue] = [
        _product("Win", [([n], a) for n, a in win_dividends(wins[0])]),
        _product(
            "Place",
            [([n], a) for n, a in place_dividends(places, places_paid(starters))],
        ),
    ]
    for name, ordered, divisor in (("Quinella", False, 3.0), ("Exacta", True, 1.6)):
        combos = _first_two(final, ordered=ordered)
        pools = [
            (list(c), _combination(closing, c, divisor * len(combos))) for c in combos
        ]
        if pools:
            products.append(_product(name, pools))
    if len(final) >= 3 and all(len(group) == 1 for group in final[:3]):
        trio = (final[0][0], final[1][0], final[2][0])
        products.append(
            _product("Trifecta", [(list(trio), _combination(closing, trio, 4.0))])
        )
    return products


def _closing_prices(
    scenario: Scenario, meeting: Meeting, race: Race
) -> dict[int, Prices]:
    closing = race.jump_time - dt.timedelta(microseconds=1)
    return {
        runner.runner_number: prices_at(
            _runner_key(scenario, meeting, race, runner), runner.fixed_win, closing
        )
        for runner in race.runners
    }


def _combination(
    closing: dict[int, Prices], selections: Sequence[int], divisor: float
) -> float:
    return combination_dividend([closing[n].tote_win for n in selections], divisor)


def _first_two(placings: Placings, *, ordered: bool) -> list[tuple[int, ...]]:
    """Every winning pair of the first two places, dead heats included."""
    pick = itertools.permutations if ordered else itertools.combinations
    if placings and len(placings[0]) >= 2:
        return list(pick(sorted(placings[0]), 2))
    if len(placings) < 2:
        return []
    winner = placings[0][0]
    return [
        (winner, second) if ordered else tuple(sorted((winner, second)))
        for second in placings[1]
    ]


def _product(name: str, pools: Sequence[tuple[list[int], float]]) -> JsonObject:
    pool_dividends: list[JsonValue] = [
        {"selections": list[JsonValue](selections), "amount": amount}
        for selections, amount in pools
    ]
    return {"wageringProduct": name, "poolDividends": pool_dividends}
