"""Parsing TAB JSON into records: the saved samples and the ways the feed goes wrong."""

import copy
import json
import logging
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from racing.errors import PayloadError
from racing.tab_payloads import (
    BettingStatus,
    RaceStatus,
    RaceStub,
    RunnerRecord,
    parse_meeting_races,
    parse_meetings,
    parse_race,
)

FIXTURES = Path(__file__).parent / "fixtures"
WHERE = "2026-11-14 R GOS race 3"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def race_body(name: str = "race-open.json", **changes: object) -> Any:
    body = load(name)
    body.update(changes)
    return body


def parse(body: object, **context: Any) -> Any:
    return parse_race(body, where=WHERE, **context)


def runner(record: Any, number: int) -> RunnerRecord:
    found: RunnerRecord = next(r for r in record.runners if r.runner_number == number)
    return found


# --- The samples ---------------------------------------------------------------


def test_meeting_list_sample_parses_every_meeting_with_utc_race_times() -> None:
    listing = parse_meetings(load("meetings.json"))

    assert listing.rejects == []
    assert [(m.race_type, m.venue_mnemonic) for m in listing.meetings] == [
        ("R", "GOS"),
        ("H", "ADD"),
    ]
    gosford = listing.meetings[0]
    assert gosford.meeting_date == date(2026, 11, 14)
    assert gosford.meeting_name == "GOSFORD"
    assert (gosford.track_condition, gosford.weather_condition) == ("GOOD4", "FINE")
    assert [race.status for race in gosford.races] == [
        RaceStatus.PAYING,
        RaceStatus.INTERIM,
        RaceStatus.OPEN,
    ]
    first = gosford.races[0]
    assert first.start_time == datetime(2026, 11, 14, 1, 5, tzinfo=UTC)
    assert first.start_time.utcoffset() is not None
    assert first.results == [[6], [2], [9]]


def test_overseas_meeting_keeps_its_country_code_as_location() -> None:
    listing = parse_meetings(load("meetings.json"))

    addington = listing.meetings[1]
    assert (addington.location, addington.race_type) == ("NZL", "H")
    assert addington.races[0].results == []


def test_meeting_races_body_parses_to_race_stubs() -> None:
    meeting = load("meetings.json")["meetings"][0]
    body = {"meeting": {"venueMnemonic": "GOS"}, "races": meeting["races"]}

    stubs = parse_meeting_races(body)

    assert [stub.race_number for stub in stubs] == [1, 2, 3]
    assert stubs[2] == RaceStub(
        race_number=3,
        race_name="BENCHMARK 64",
        start_time=datetime(2026, 11, 14, 2, 15, tzinfo=UTC),
        status=RaceStatus.OPEN,
        results=[],
    )


def test_open_race_sample_parses_identity_runners_and_prices() -> None:
    record = parse(load("race-open.json"))

    assert (record.meeting_date, record.race_type, record.venue_mnemonic) == (
        date(2026, 11, 14),
        "R",
        "GOS",
    )
    assert (record.race_number, record.race_name, record.distance) == (
        3,
        "BENCHMARK 64",
        1400,
    )
    assert record.status is RaceStatus.OPEN
    assert not record.official
    assert record.resulted_time is None
    assert [r.runner_number for r in record.runners] == [1, 2, 3, 4]
    first = runner(record, 1)
    assert (first.win_fixed, first.place_fixed) == (4.2, 1.8)
    assert (first.win_tote, first.place_tote) == (3.99, 1.64)
    assert (first.barrier, first.rider, first.trainer) == (3, "J Silver", "T Example")
    assert first.betting_status is BettingStatus.OPEN
    assert not first.scratched
    assert first.emergency is False
    assert record.results == []
    assert record.dividends == []


def test_late_scratched_runner_has_no_price_though_the_feed_still_sends_one() -> None:
    record = parse(load("race-open.json"))

    scratched = runner(record, 3)
    assert scratched.betting_status is BettingStatus.LATE_SCRATCHED
    assert scratched.scratched
    assert scratched.scratched_time == datetime(2026, 11, 14, 1, 52, 11, tzinfo=UTC)
    fixed = (scratched.win_fixed, scratched.place_fixed)
    tote = (scratched.win_tote, scratched.place_tote)
    assert (fixed, tote) == ((None, None), (None, None))


def test_runner_listed_in_scratchings_is_scratched_when_its_own_status_lags() -> None:
    body = load("race-open.json")
    body["scratchings"].append(
        {"runnerNumber": 4, "fixedOdds": {"scratchedTime": "2026-11-14T02:01:00Z"}}
    )

    lagging = runner(parse(body), 4)

    assert lagging.betting_status is BettingStatus.SCRATCHED
    assert lagging.win_fixed is None
    assert lagging.scratched_time == datetime(2026, 11, 14, 2, 1, tzinfo=UTC)


def test_dead_heat_keeps_both_winners_in_one_group_and_two_win_dividends() -> None:
    record = parse(load("race-paying-dead-heat.json"))

    assert record.official
    assert record.resulted_time == datetime(2026, 11, 14, 2, 29, 40, tzinfo=UTC)
    assert record.results == [[4, 2], [1]]
    wins = [(d.selections, d.amount) for d in record.dividends if d.product == "Win"]
    assert wins == [([4], 6.1), ([2], 3.4)]
    assert len(record.dividends) == 6
    assert (
        runner(record, 4).finishing_position,
        runner(record, 2).finishing_position,
    ) == (
        1,
        1,
    )


# --- Normalisation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Open", RaceStatus.OPEN),
        ("OPEN", RaceStatus.OPEN),
        ("Normal", RaceStatus.OPEN),
        ("normal", RaceStatus.OPEN),
        ("Closed", RaceStatus.CLOSED),
        ("interim", RaceStatus.INTERIM),
        ("Paying", RaceStatus.PAYING),
        ("PAYING", RaceStatus.PAYING),
        ("Final", RaceStatus.PAYING),
        ("Abandoned", RaceStatus.ABANDONED),
    ],
)
def test_race_status_is_read_whatever_its_case_or_feed(
    given: str, expected: RaceStatus
) -> None:
    record = parse(race_body(raceStatus=given))
    listing = parse_meetings({"meetings": [_meeting_with_status(given)]})

    assert record.status is expected
    assert listing.meetings[0].races[0].status is expected


def test_unknown_race_status_is_a_payload_error_naming_the_value() -> None:
    with pytest.raises(PayloadError) as caught:
        parse(race_body(raceStatus="Postponed"))

    assert str(caught.value).startswith(f"{WHERE}: raceStatus: unknown status ")
    assert "'Postponed'" in str(caught.value)


@pytest.mark.parametrize(
    "spelling", ["LateScratched", "late_scratched", "LATESCRATCHED"]
)
def test_late_scratching_is_read_in_any_spelling(spelling: str) -> None:
    body = load("race-open.json")
    body["runners"][0]["fixedOdds"]["bettingStatus"] = spelling
    body["runners"][0]["parimutuel"]["bettingStatus"] = "Open"

    first = runner(parse(body), 1)

    assert first.betting_status is BettingStatus.LATE_SCRATCHED
    assert first.win_tote is None


def test_status_enums_accept_feed_spellings_directly() -> None:
    assert RaceStatus("Final") is RaceStatus.PAYING
    assert BettingStatus("LateScratched") is BettingStatus.LATE_SCRATCHED
    with pytest.raises(ValueError, match="Postponed"):
        RaceStatus("Postponed")


@pytest.mark.parametrize(
    "stamp",
    ["2026-11-14T02:15:00Z", "2026-11-14T02:15:00.000Z", "2026-11-14T13:15:00+11:00"],
)
def test_times_with_or_without_millis_or_an_offset_become_utc(stamp: str) -> None:
    record = parse(race_body(raceStartTime=stamp))

    assert record.start_time == datetime(2026, 11, 14, 2, 15, tzinfo=UTC)
    assert record.start_time.tzinfo is UTC


def test_unknown_fields_are_ignored() -> None:
    body = race_body(somethingNew={"nested": [1, 2]}, raceClassConditions=None)

    assert parse(body).race_number == 3


def test_null_results_and_dividends_mean_none_yet() -> None:
    record = parse(race_body(results=None, dividends=None, scratchings=None))

    assert (record.results, record.dividends) == ([], [])


def test_race_with_no_runners_is_valid() -> None:
    assert parse(load("race-no-runners.json")).runners == []


def test_identity_falls_back_to_the_request_when_meeting_is_absent() -> None:
    body = race_body()
    del body["meeting"]

    record = parse(
        body, meeting_date=date(2026, 11, 14), race_type="R", venue_mnemonic="GOS"
    )

    assert (record.meeting_date, record.race_type, record.venue_mnemonic) == (
        date(2026, 11, 14),
        "R",
        "GOS",
    )


def test_identity_missing_from_payload_and_request_is_a_payload_error() -> None:
    body = race_body()
    del body["meeting"]["venueMnemonic"]

    with pytest.raises(PayloadError, match=r"meeting\.venueMnemonic: missing"):
        parse(body)


# --- Malformed payloads ----------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "message"),
    [
        (
            "race-missing-runner-name.json",
            f"{WHERE}: runners[1].runnerName: Field required",
        ),
        (
            "race-wrong-type-runner-number.json",
            f"{WHERE}: runners[2].runnerNumber: Input should be a valid integer "
            "(got 'three')",
        ),
        (
            "race-naive-start-time.json",
            f"{WHERE}: raceStartTime: time 2026-11-14T13:15:00 has no UTC offset",
        ),
        (
            "race-duplicate-runner.json",
            f"{WHERE}: runners: runner number 2 appears twice",
        ),
        (
            "race-unknown-race-type.json",
            f"{WHERE}: meeting.raceType: unknown race type 'T'; expected R "
            "(gallops), H (harness) or G (greyhounds)",
        ),
        ("race-not-a-dict.json", f"{WHERE}: expected a JSON object, got array"),
    ],
)
def test_malformed_race_is_a_one_line_payload_error_naming_the_field(
    fixture: str, message: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(load(fixture))

    assert str(caught.value) == message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_runner_of_the_wrong_type_names_json_types_not_our_classes() -> None:
    body = race_body()
    body["runners"][0]["fixedOdds"] = "4.20"

    with pytest.raises(PayloadError) as caught:
        parse(body)

    assert str(caught.value) == (
        f"{WHERE}: runners[0].fixedOdds: Input should be an object, got string"
    )


def test_several_problems_are_counted_on_one_line() -> None:
    body = race_body(raceNumber="3", raceName=None)
    del body["runners"][0]["runnerName"]

    with pytest.raises(PayloadError) as caught:
        parse(body)

    text = str(caught.value)
    assert text.startswith(f"{WHERE}: raceNumber: Input should be a valid integer")
    assert text.endswith("(and 2 more)")
    assert "\n" not in text
    assert "pydantic" not in text


def test_runner_without_any_betting_status_is_rejected() -> None:
    body = race_body()
    del body["runners"][1]["fixedOdds"]["bettingStatus"]
    del body["runners"][1]["parimutuel"]

    with pytest.raises(PayloadError, match=r"runners\[1\]: no bettingStatus"):
        parse(body)


def test_not_a_number_price_is_rejected() -> None:
    body = race_body()
    body["runners"][0]["fixedOdds"]["returnWin"] = float("nan")

    with pytest.raises(PayloadError, match=r"runners\[0\]\.fixedOdds\.returnWin"):
        parse(body)


def test_feed_text_stays_plain_data_in_messages() -> None:
    hostile = "Open\n2026-11-14 INFO all good {0} %s"

    with pytest.raises(PayloadError) as caught:
        parse(race_body(raceStatus=hostile))

    assert "\n" not in str(caught.value)


# --- The meeting list ------------------------------------------------------------


def test_bad_meetings_are_rejected_alone_with_their_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="racing.tab_payloads"):
        listing = parse_meetings(load("meetings-with-bad-meetings.json"))

    assert [m.venue_mnemonic for m in listing.meetings] == ["GOS", "ADD"]
    assert [(r.meeting_hint, r.error) for r in listing.rejects] == [
        (
            "T/RAN",
            "raceType: unknown race type 'T'; expected R (gallops), H (harness) "
            "or G (greyhounds)",
        ),
        ("H/APK", "races[0].raceStartTime: time 2026-11-14T19:30:00 has no UTC offset"),
    ]
    assert len(caplog.records) == 2
    assert "T/RAN" in caplog.records[0].getMessage()


def test_meeting_that_does_not_name_itself_is_hinted_by_its_place() -> None:
    body = load("meetings.json")
    body["meetings"].append({"venueMnemonic": ["not", "a", "code"]})
    body["meetings"].append("GOSFORD")

    listing = parse_meetings(body)

    assert len(listing.meetings) == 2
    assert [r.meeting_hint for r in listing.rejects] == ["meetings[2]", "meetings[3]"]
    assert listing.rejects[1].error == "expected a JSON object, got string"


def test_meeting_listed_twice_keeps_only_the_first() -> None:
    body = load("meetings.json")
    body["meetings"].append(copy.deepcopy(body["meetings"][0]))

    listing = parse_meetings(body)

    assert len(listing.meetings) == 2
    assert listing.rejects[0].meeting_hint == "R/GOS"
    assert "appears twice" in listing.rejects[0].error


def test_meeting_with_a_race_number_twice_is_rejected() -> None:
    body = load("meetings.json")
    body["meetings"][0]["races"][1]["raceNumber"] = 1

    listing = parse_meetings(body)

    assert listing.rejects[0].error == "races: race number 1 appears twice"


def test_venue_code_that_is_not_a_plain_code_is_rejected() -> None:
    body = load("meetings.json")
    body["meetings"][0]["venueMnemonic"] = "../GOS"

    listing = parse_meetings(body)

    assert listing.rejects[0].meeting_hint == "meetings[0]"
    assert listing.rejects[0].error.startswith("venueMnemonic: venue mnemonic")


@pytest.mark.parametrize(
    ("body", "got"),
    [
        ([], "array"),
        (None, "null"),
        ("<html>", "string"),
        ({"meeting": []}, "no 'meetings' list"),
        ({"meetings": {"GOS": {}}}, "no 'meetings' list"),
    ],
)
def test_meeting_list_body_of_the_wrong_shape_is_a_payload_error(
    body: object, got: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_meetings(body)

    assert str(caught.value) == (
        f"meeting list: expected an object with a 'meetings' list, got {got}"
    )


def test_meeting_races_body_without_races_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match=r"^R GOS races: races: Field required$"):
        parse_meeting_races({"meeting": {}}, where="R GOS races")


# --- The records themselves ----------------------------------------------------


def test_a_scratched_runner_record_cannot_be_built_with_a_price() -> None:
    with pytest.raises(ValidationError, match="must carry no price"):
        RunnerRecord(
            runner_number=3,
            runner_name="QUIET ACHIEVER",
            barrier=5,
            emergency=False,
            rider=None,
            trainer=None,
            betting_status=BettingStatus.LATE_SCRATCHED,
            scratched_time=None,
            win_fixed=3.1,
            place_fixed=None,
            win_tote=None,
            place_tote=None,
            finishing_position=None,
        )


def test_a_record_refuses_a_naive_time() -> None:
    with pytest.raises(ValidationError, match="no UTC offset"):
        RaceStub(
            race_number=1,
            race_name="MAIDEN PLATE",
            start_time=datetime(2026, 11, 14, 12, 5),
            status=RaceStatus.OPEN,
            results=[],
        )


def _meeting_with_status(status: str) -> dict[str, Any]:
    meeting: dict[str, Any] = load("meetings.json")["meetings"][0]
    meeting["races"] = meeting["races"][:1]
    meeting["races"][0]["raceStatus"] = status
    return meeting


@pytest.mark.parametrize("number", [2**31, 2**40, -1])
def test_a_number_no_integer_column_holds_rejects_its_meeting_alone(
    number: int,
) -> None:
    body = load("meetings.json")
    body["meetings"][0]["races"][0]["raceNumber"] = number

    listing = parse_meetings(body)

    assert [r.meeting_hint for r in listing.rejects] == [
        f"{body['meetings'][0]['raceType']}/{body['meetings'][0]['venueMnemonic']}"
    ]
    assert "raceNumber" in listing.rejects[0].error
    assert len(listing.meetings) == len(body["meetings"]) - 1


@pytest.mark.parametrize(
    "field", ["raceDistance", "runners.0.barrierNumber", "runners.0.runnerNumber"]
)
def test_a_number_too_big_to_store_is_a_payload_error_naming_it(field: str) -> None:
    body = race_body()
    target = body
    *path, last = field.split(".")
    for part in path:
        target = target[int(part)] if part.isdigit() else target[part]
    target[last] = 3_000_000_000

    with pytest.raises(PayloadError, match=last):
        parse(body)
