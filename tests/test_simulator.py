"""The TAB simulator: lifecycle at given instants, faults, HTTP and the scenarios."""

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from racing.errors import ConfigError
from racing.simulator.generate import render
from racing.simulator.scenario import Scenario, load_scenario, parse_scenario
from racing.simulator.server import SimulatorServer
from racing.simulator.state import meetings_payload, race_payload

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
DAY = "/v1/tab-info-service/racing/dates/2026-11-14"
NSW = {"jurisdiction": "NSW"}

START = dt.datetime(2026, 11, 14, 2, 15, tzinfo=dt.UTC)
MORNING_SCRAPE = dt.datetime(
    2026, 11, 14, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=11))
)


def at(minutes: float) -> dt.datetime:
    """An instant relative to the test race's advertised start."""
    return START + dt.timedelta(minutes=minutes)


def iso(instant: dt.datetime) -> str:
    return instant.isoformat()


def race_data(**overrides: Any) -> dict[str, Any]:
    runners = [
        {"runnerNumber": n, "runnerName": f"RUNNER {n}", "fixedWin": 2.0 + n}
        for n in range(1, 9)
    ]
    race: dict[str, Any] = {
        "raceNumber": 3,
        "raceName": "BENCHMARK 64",
        "raceDistance": 1400,
        "startTime": iso(START),
        "interimAfterSeconds": 300,
        "payingAfterSeconds": 900,
        "runners": runners,
        "results": [[4], [2], [1]],
    }
    return race | overrides


def scenario_data(
    races: list[dict[str, Any]] | None = None, **overrides: Any
) -> dict[str, Any]:
    meeting = {
        "meetingName": "GOSFORD",
        "venueMnemonic": "GOS",
        "raceType": "R",
        "location": "NSW",
        "timezone": "Australia/Sydney",
        "trackCondition": "GOOD4",
        "weatherCondition": "FINE",
        "railPosition": "True Entire Circuit",
        "races": races if races is not None else [race_data()],
    }
    data: dict[str, Any] = {
        "name": "test",
        "date": "2026-11-14",
        "seed": 7,
        "meetings": [meeting],
    }
    return data | overrides


def scenario(**overrides: Any) -> Scenario:
    return parse_scenario(scenario_data(**overrides))


def one_race(**race_overrides: Any) -> Scenario:
    return scenario(races=[race_data(**race_overrides)])


def race_at(sim_scenario: Scenario, instant: dt.datetime) -> Any:
    meeting = sim_scenario.meetings[0]
    return as_json(race_payload(sim_scenario, meeting, meeting.races[0], instant))


def as_json(payload: object) -> Any:
    """The payload as a client would decode it."""
    return json.loads(json.dumps(payload))


def runner(payload: dict[str, Any], number: int) -> dict[str, Any]:
    return next(r for r in payload["runners"] if r["runnerNumber"] == number)


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[SimulatorServer] = []

    def start(sim_scenario: Scenario, clock: dt.datetime | None) -> SimulatorServer:
        server = SimulatorServer(sim_scenario, port=0, clock=clock).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as http:
        yield http


# --- lifecycle -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "status"),
    [
        (-60, "Open"),
        (-0.01, "Open"),
        (0, "Closed"),
        (4.9, "Closed"),
        (5, "Interim"),
        (14.9, "Interim"),
        (15, "Paying"),
        (600, "Paying"),
    ],
)
def test_race_status_follows_the_clock_from_open_to_paying(
    minutes: float, status: str
) -> None:
    assert race_at(one_race(), at(minutes))["raceStatus"] == status


def test_interim_shows_placings_without_dividends_and_paying_adds_them() -> None:
    interim = race_at(one_race(), at(6))
    paying = race_at(one_race(), at(16))

    assert interim["results"] == [[4], [2], [1]]
    assert interim["dividends"] == [] and interim["resultedTime"] is None
    assert runner(interim, 4)["finishingPosition"] == 1
    assert paying["resultedTime"] == "2026-11-14T02:30:00.000Z"
    products = {d["wageringProduct"] for d in paying["dividends"]}
    assert {"Win", "Place", "Quinella", "Exacta", "Trifecta"} <= products


def test_open_race_has_no_results_and_open_betting() -> None:
    payload = race_at(one_race(), at(-30))

    assert payload["results"] == [] and payload["dividends"] == []
    assert {r["fixedOdds"]["bettingStatus"] for r in payload["runners"]} == {"Open"}
    assert all(r["finishingPosition"] is None for r in payload["runners"])


def test_late_jump_stays_open_past_the_advertised_start() -> None:
    late = one_race(jumpDelaySeconds=240)

    assert race_at(late, at(3))["raceStatus"] == "Open"
    assert race_at(late, at(3))["raceStartTime"] == "2026-11-14T02:15:00.000Z"
    assert race_at(late, at(4))["raceStatus"] == "Closed"


def test_start_time_change_shows_from_its_announcement_and_moves_the_jump() -> None:
    change = {"at": iso(at(-40)), "startTime": iso(at(10))}
    delayed = one_race(startTimeChanges=[change])

    assert race_at(delayed, at(-41))["raceStartTime"] == "2026-11-14T02:15:00.000Z"
    assert race_at(delayed, at(-40))["raceStartTime"] == "2026-11-14T02:25:00.000Z"
    assert race_at(delayed, at(5))["raceStatus"] == "Open"
    assert race_at(delayed, at(10))["raceStatus"] == "Closed"


def test_brought_forward_race_jumps_early() -> None:
    change = {"at": iso(at(-90)), "startTime": iso(at(-5))}
    early = one_race(startTimeChanges=[change])

    assert race_at(early, at(-5))["raceStatus"] == "Closed"


def test_late_scratching_appears_at_its_time() -> None:
    scratched_at = at(-20)
    runners = race_data()["runners"]
    runners[2]["scratching"] = {
        "at": iso(scratched_at),
        "winDeduction": 12,
        "placeDeduction": 4,
    }
    sim_scenario = one_race(runners=runners)

    before = race_at(sim_scenario, scratched_at - dt.timedelta(seconds=1))
    after = race_at(sim_scenario, scratched_at)

    assert runner(before, 3)["fixedOdds"]["bettingStatus"] == "Open"
    assert before["scratchings"] == []
    odds = runner(after, 3)["fixedOdds"]
    assert odds["bettingStatus"] == "LateScratched"
    assert odds["scratchedTime"] == "2026-11-14T01:55:00.000Z"
    assert (odds["winDeduction"], odds["placeDeduction"]) == (12, 4)
    assert runner(after, 3)["parimutuel"]["bettingStatus"] == "Scratched"
    assert [s["runnerNumber"] for s in after["scratchings"]] == [3]


def test_protest_shows_interim_placings_then_the_final_ones() -> None:
    protest = one_race(interimResults=[[2], [4], [1]])

    assert race_at(protest, at(6))["results"] == [[2], [4], [1]]
    assert race_at(protest, at(16))["results"] == [[4], [2], [1]]


def test_dead_heat_for_first_pays_two_win_dividends() -> None:
    payload = race_at(one_race(results=[[4, 7], [2]]), at(16))

    win = next(d for d in payload["dividends"] if d["wageringProduct"] == "Win")
    assert [p["selections"] for p in win["poolDividends"]] == [[4], [7]]
    assert runner(payload, 7)["finishingPosition"] == 1
    assert runner(payload, 2)["finishingPosition"] == 3


def test_never_paying_race_stays_interim() -> None:
    stuck = one_race(neverPaying=True)

    assert race_at(stuck, at(600))["raceStatus"] == "Interim"
    assert race_at(stuck, at(600))["dividends"] == []


def test_abandoned_race_has_no_results() -> None:
    abandoned = one_race(abandonedAt=iso(at(-30)), results=None)

    assert race_at(abandoned, at(-31))["raceStatus"] == "Open"
    payload = race_at(abandoned, at(30))
    assert payload["raceStatus"] == "Abandoned"
    assert payload["results"] == [] and payload["dividends"] == []


def test_abandoned_meeting_keeps_races_that_had_already_jumped() -> None:
    races = [race_data(), race_data(raceNumber=4, startTime=iso(at(35)))]
    data = scenario_data(races=races)
    data["meetings"][0]["abandonedAt"] = iso(at(20))
    sim_scenario = parse_scenario(data)

    meetings = as_json(meetings_payload(sim_scenario, at(60)))["meetings"]
    statuses = [race["raceStatus"] for race in meetings[0]["races"]]
    assert statuses == ["Paying", "Abandoned"]


def test_fixed_odds_drift_between_buckets_and_hold_within_one() -> None:
    sim_scenario = one_race()

    def prices(instant: dt.datetime) -> list[float]:
        return [
            r["fixedOdds"]["returnWin"]
            for r in race_at(sim_scenario, instant)["runners"]
        ]

    assert prices(at(-60)) == prices(at(-56))
    assert prices(at(-60)) != prices(at(-30))
    assert prices(at(1)) == prices(at(30))  # frozen at the jump


def test_same_instant_gives_the_same_payload() -> None:
    assert race_at(one_race(), at(-7)) == race_at(one_race(), at(-7))


# --- scenario validation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("name"), "name: Field required"),
        (lambda d: d.update(date="14/11/2026"), "date:"),
        (
            lambda d: d["meetings"][0]["races"][0].update(startTime="2026-11-14T13:15"),
            "meetings[0].races[0].startTime: Input should have timezone info",
        ),
        (
            lambda d: d["meetings"][0]["races"][0].update(results=[[4], [99]]),
            "meetings[0].races[0]: results: runner 99 is not in the field",
        ),
        (
            lambda d: d["meetings"][0]["races"][0].update(results=None),
            "meetings[0]: races[0].results: required unless the race is abandoned",
        ),
        (
            lambda d: d["meetings"][0].update(timezone="Australia/Gosford"),
            "meetings[0].timezone:",
        ),
        (lambda d: d["meetings"][0].update(raceTyp="R"), "meetings[0].raceTyp: Extra"),
        (
            lambda d: d.update(faults=[{"endpoint": "race", "kind": "status"}]),
            "faults[0]: status: required when kind is 'status'",
        ),
        (
            lambda d: d["meetings"][0]["races"][0].update(
                startTime="2026-11-15T12:00:00+11:00"
            ),
            "meetings[0].races[0].startTime: 2026-11-15T12:00:00+11:00 is not on",
        ),
    ],
)
def test_bad_scenario_gives_a_one_line_error_naming_the_field(
    change: Any, message: str, tmp_path: Path
) -> None:
    data = scenario_data()
    change(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))

    with pytest.raises(ConfigError) as raised:
        load_scenario(path)

    text = str(raised.value)
    assert "\n" not in text
    assert text.startswith(f"scenario {path}: ")
    assert message in text


def test_scenario_that_is_not_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"name": "x",\n  "date": }')

    with pytest.raises(ConfigError, match=r"not valid JSON at line 2 column"):
        load_scenario(path)


def test_missing_scenario_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it"):
        load_scenario(tmp_path / "absent.json")


# --- HTTP ----------------------------------------------------------------------------


def _shape(value: Any) -> Any:
    """Keys of objects, recursively; lists by their first item."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [_shape(value[0])]
    return None


@pytest.mark.parametrize(
    ("fixture", "minutes"),
    [("race-open.json", -20), ("race-paying-dead-heat.json", 30)],
)
def test_race_over_http_has_the_shape_of_the_sample(
    fixture: str, minutes: float, serve: Any, client: httpx.Client
) -> None:
    runners = race_data()["runners"]
    runners[2]["scratching"] = {"at": iso(at(-23)), "winDeduction": 12}
    sim = serve(one_race(runners=runners, results=[[4, 2], [1]]), at(minutes))

    response = client.get(f"{sim.base_url}{DAY}/meetings/R/GOS/races/3", params=NSW)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    sample = json.loads((FIXTURES / fixture).read_text())
    assert _shape(response.json()) == _shape(sample)
    assert response.json()["raceStatus"] == sample["raceStatus"]


def test_meeting_list_and_meeting_races_over_http(
    serve: Any, client: httpx.Client
) -> None:
    sim = serve(one_race(), at(6))

    meetings = client.get(f"{sim.base_url}{DAY}/meetings", params=NSW).json()
    races = client.get(f"{sim.base_url}{DAY}/meetings/R/GOS/races", params=NSW).json()

    stub = meetings["meetings"][0]["races"][0]
    assert stub == {
        "raceNumber": 3,
        "raceName": "BENCHMARK 64",
        "raceStartTime": "2026-11-14T02:15:00.000Z",
        "raceStatus": "Interim",
        "results": [[4], [2], [1]],
    }
    assert races["races"] == [stub]
    assert races["meeting"]["venueMnemonic"] == "GOS"
    sample = json.loads((FIXTURES / "meetings.json").read_text())
    assert set(meetings["meetings"][0]) == set(sample["meetings"][0])


@pytest.mark.parametrize(
    "path",
    [
        "/v1/tab-info-service/racing/dates/2026-11-15/meetings",
        f"{DAY}/meetings/R/XYZ/races",
        f"{DAY}/meetings/G/GOS/races/3",
        f"{DAY}/meetings/R/GOS/races/9",
        f"{DAY}/meetings/R/GOS/races/three",
        "/v1/tab-info-service/racing/nothing",
    ],
)
def test_unknown_date_meeting_race_or_path_is_a_json_404(
    path: str, serve: Any, client: httpx.Client
) -> None:
    sim = serve(one_race(), at(0))

    response = client.get(sim.base_url + path, params=NSW)

    assert response.status_code == 404
    assert response.json()["error"]


@pytest.mark.parametrize("params", [{}, {"jurisdiction": "XX"}])
def test_jurisdiction_is_required(
    params: dict[str, str], serve: Any, client: httpx.Client
) -> None:
    sim = serve(one_race(), at(0))

    response = client.get(f"{sim.base_url}{DAY}/meetings", params=params)

    assert response.status_code == 400
    assert "jurisdiction" in response.json()["error"]


def test_every_jurisdiction_is_accepted(serve: Any, client: httpx.Client) -> None:
    sim = serve(one_race(), at(0))

    for code in ("NSW", "VIC", "QLD", "SA", "WA", "TAS", "NT", "ACT"):
        url = f"{sim.base_url}{DAY}/meetings"
        assert client.get(url, params={"jurisdiction": code}).status_code == 200


def test_requests_are_counted_and_logged_with_the_simulated_now(
    serve: Any, client: httpx.Client
) -> None:
    sim = serve(one_race(), at(-10))
    client.get(f"{sim.base_url}{DAY}/meetings", params=NSW)
    client.get(f"{sim.base_url}{DAY}/meetings/R/GOS/races/3", params=NSW)
    client.get(f"{sim.base_url}{DAY}/meetings/R/GOS/races/8", params=NSW)
    client.get(f"{sim.base_url}/_sim/stats")

    assert sim.request_counts() == {"meetings": 1, "meeting_races": 0, "race": 2}
    assert sim.request_log()[-1] == (
        "race",
        f"{DAY}/meetings/R/GOS/races/8",
        at(-10),
        404,
    )
    assert client.get(f"{sim.base_url}/_sim/stats").json()["race"] == 2


def test_clock_can_be_set_in_process_and_over_http(
    serve: Any, client: httpx.Client
) -> None:
    sim = serve(one_race(), None)
    url = f"{sim.base_url}{DAY}/meetings/R/GOS/races/3"
    assert abs(sim.now() - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)

    sim.set_clock(at(-1))
    assert client.get(url, params=NSW).json()["raceStatus"] == "Open"
    put = client.put(
        f"{sim.base_url}/_sim/clock", json={"now": "2026-11-14T13:16+11:00"}
    )
    assert put.json() == {"now": "2026-11-14T02:16:00.000Z", "fixed": True}
    assert client.get(url, params=NSW).json()["raceStatus"] == "Closed"
    assert sim.now() == at(1)

    client.put(f"{sim.base_url}/_sim/clock", json={"now": None})
    assert client.get(f"{sim.base_url}/_sim/clock").json()["fixed"] is False
    assert sim.request_counts()["race"] == 2


def test_clock_needs_an_offset(serve: Any, client: httpx.Client) -> None:
    sim = serve(one_race(), at(0))

    response = client.put(
        f"{sim.base_url}/_sim/clock", json={"now": "2026-11-14T02:00"}
    )

    assert response.status_code == 400
    with pytest.raises(ValueError, match="aware"):
        sim.set_clock(dt.datetime(2026, 11, 14, 2, 0))


# --- faults --------------------------------------------------------------------------


def faulty(*faults: dict[str, Any]) -> Scenario:
    races = [race_data(), race_data(raceNumber=4, startTime=iso(at(35)))]
    return scenario(races=races, faults=list(faults))


def test_fault_is_active_only_in_its_window_and_for_matching_requests(
    serve: Any, client: httpx.Client
) -> None:
    fault = {
        "endpoint": "race",
        "venueMnemonic": "GOS",
        "raceNumber": 3,
        "kind": "status",
        "status": 503,
        "from": iso(at(-60)),
        "until": iso(at(-30)),
    }
    sim = serve(faulty(fault), at(-61))
    race3 = f"{sim.base_url}{DAY}/meetings/R/GOS/races/3"

    def status(url: str, instant: dt.datetime) -> int:
        sim.set_clock(instant)
        return client.get(url, params=NSW).status_code

    assert status(race3, at(-61)) == 200
    assert status(race3, at(-60)) == 503
    assert status(race3, at(-31)) == 503
    assert status(race3, at(-30)) == 200
    assert status(f"{sim.base_url}{DAY}/meetings/R/GOS/races/4", at(-45)) == 200
    assert status(f"{sim.base_url}{DAY}/meetings/R/GOS/races", at(-45)) == 200
    assert status(f"{sim.base_url}{DAY}/meetings", at(-45)) == 200


def test_counted_fault_hits_only_the_first_requests(
    serve: Any, client: httpx.Client
) -> None:
    fault = {
        "endpoint": "meetings",
        "kind": "status",
        "status": 429,
        "retryAfterSeconds": 7,
        "count": 2,
    }
    sim = serve(faulty(fault), at(0))
    url = f"{sim.base_url}{DAY}/meetings"

    responses = [client.get(url, params=NSW) for _ in range(3)]

    assert [r.status_code for r in responses] == [429, 429, 200]
    assert responses[0].headers["retry-after"] == "7"
    assert [record.status for record in sim.request_log()] == [429, 429, 200]


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("malformed", lambda r: r.status_code == 200 and not _is_json(r.content)),
        (
            "html",
            lambda r: r.status_code == 200 and r.text.startswith("<!DOCTYPE html>"),
        ),
        ("empty", lambda r: r.status_code == 200 and r.content == b""),
        (
            "wrong_types",
            lambda r: (
                r.json()["raceNumber"] == "3"
                and isinstance(r.json()["raceStartTime"], int)
                and isinstance(r.json()["runners"][0]["fixedOdds"]["returnWin"], str)
            ),
        ),
    ],
)
def test_body_faults_break_the_payload_as_described(
    kind: str, check: Any, serve: Any, client: httpx.Client
) -> None:
    sim = serve(faulty({"endpoint": "race", "kind": kind}), at(0))

    response = client.get(f"{sim.base_url}{DAY}/meetings/R/GOS/races/3", params=NSW)

    assert check(response)


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def test_timeout_fault_outlasts_the_client_timeout(serve: Any) -> None:
    fault = {"endpoint": "meeting_races", "kind": "timeout", "delaySeconds": 0.5}
    sim = serve(faulty(fault), at(0))

    with httpx.Client(timeout=0.1) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.get(f"{sim.base_url}{DAY}/meetings/R/GOS/races", params=NSW)
    assert sim.request_log()[0].endpoint == "meeting_races"


def test_latency_slows_one_endpoint_only(serve: Any, client: httpx.Client) -> None:
    sim = serve(scenario(latencyMs={"race": 300}), at(0))

    slow = client.get(f"{sim.base_url}{DAY}/meetings/R/GOS/races/3", params=NSW)
    fast = client.get(f"{sim.base_url}{DAY}/meetings", params=NSW)

    assert slow.elapsed >= dt.timedelta(seconds=0.3)
    assert fast.elapsed < dt.timedelta(seconds=0.3)


# --- committed scenarios -------------------------------------------------------------


@pytest.fixture(scope="module")
def default_day() -> Scenario:
    return load_scenario(ROOT / "scenarios" / "default.json")


def test_default_scenario_is_a_full_day_in_several_timezones(
    default_day: Scenario,
) -> None:
    races = [race for meeting in default_day.meetings for race in meeting.races]

    assert 35 <= len(default_day.meetings) <= 45
    assert 320 <= len(races) <= 380
    assert {m.race_type for m in default_day.meetings} == {"R", "H", "G"}
    assert len({m.timezone for m in default_day.meetings}) >= 6
    assert "NZL" in {m.location for m in default_day.meetings}
    assert default_day.faults == ()


def test_default_day_spans_midnight_utc(default_day: Scenario) -> None:
    utc_dates = {
        race.start_time.astimezone(dt.UTC).date()
        for meeting in default_day.meetings
        for race in meeting.races
    }

    assert utc_dates == {dt.date(2026, 11, 13), dt.date(2026, 11, 14)}


def test_default_day_is_open_with_prices_at_the_morning_scrape(
    default_day: Scenario,
) -> None:
    for meeting in default_day.meetings:
        for race in meeting.races:
            payload = as_json(race_payload(default_day, meeting, race, MORNING_SCRAPE))
            where = f"{meeting.venue_mnemonic} race {race.race_number}"
            assert payload["raceStatus"] == "Open", where
            assert len(payload["runners"]) >= 2, where
            assert all(r["fixedOdds"]["returnWin"] > 1 for r in payload["runners"])


def test_default_day_has_each_special_case(default_day: Scenario) -> None:
    races = [race for meeting in default_day.meetings for race in meeting.races]
    late = [
        r for race in races for r in race.runners if r.scratching and r.scratching.late
    ]

    assert len(late) == 5
    assert sum(1 for r in races if r.start_time_changes) == 3
    assert sum(1 for r in races if r.interim_results) == 3
    assert sum(1 for r in races if r.results and len(r.results[0]) == 2) == 1
    assert sum(1 for r in races if r.never_paying) == 2
    assert sum(1 for r in races if r.abandoned_at) == 1
    assert sum(1 for m in default_day.meetings if m.abandoned_at) == 1
    assert sum(1 for r in races if r.jump_delay_seconds >= 180) >= 3


@pytest.mark.parametrize("name", ["default", "faulty-morning"])
def test_committed_scenarios_are_the_generator_output(name: str) -> None:
    committed = (ROOT / "scenarios" / f"{name}.json").read_text()

    assert committed == render(name), (
        f"regenerate: python -m racing.simulator.generate {name} > "
        f"scenarios/{name}.json"
    )


def test_faulty_morning_fails_race_pages_until_0630_sydney(
    serve: Any, client: httpx.Client
) -> None:
    sim_scenario = load_scenario(ROOT / "scenarios" / "faulty-morning.json")
    sim = serve(sim_scenario, MORNING_SCRAPE)
    gos = f"{sim.base_url}{DAY}/meetings/R/GOS/races/1"
    wpk3 = f"{sim.base_url}{DAY}/meetings/G/WPK/races/3"

    assert client.get(gos, params=NSW).status_code == 500
    assert not _is_json(client.get(wpk3, params=NSW).content)
    sim.set_clock(MORNING_SCRAPE + dt.timedelta(minutes=30))
    assert client.get(gos, params=NSW).status_code == 200
    assert client.get(f"{sim.base_url}{DAY}/meetings", params=NSW).status_code == 200
