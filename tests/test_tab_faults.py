"""TAB faults met by the jobs: bounded retries, a failed item, no damage to stored rows.

Each fault hits races 1 and 2 of GOS after a good morning scrape stored their runners
and odds and a result check stored race 1's official result. A morning re-run and the
T-60 window runs then meet the fault. A transport in front of the simulator answers
the faulty paths itself; every other request goes to the simulator over HTTP.
"""

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, sessionmaker

from racing.errors import FetchError
from racing.models import (
    Base,
    JobRun,
    Meeting,
    OddsSnapshot,
    Race,
    Result,
    Runner,
    Scrape,
)
from racing.replay import DirectJobs
from racing.settings import Settings, load_settings
from racing.simulator.server import SimulatorServer
from racing.tab_client import TabClient, build_http_client
from racing.windows import T60
from tests.factories import DAY, at, local, meeting, race, scenario

HTTP_ATTEMPTS = 2
WINDOW_ATTEMPTS = 3
BACKOFF = 0.25
RETRY_AFTER = 7.0
# The timeout of requests sent to the silent listener, which never answers; every
# other request has the configured one.
READ_TIMEOUT = 0.1

ROOT = f"/v1/tab-info-service/racing/dates/{DAY}/meetings"
GOS = f"{DAY}/R/GOS"
BEN = f"{DAY}/R/BEN"
FAULTY = (1, 2)
# GOS 2 and BEN 1 start at 13:30: in the T-60 window of these three runs.
T60_RUNS = (local(12, 20), local(12, 25), local(12, 30))
CARD = scenario(
    [
        meeting(
            "GOS", [race(1, local(12)), race(2, local(13, 30)), race(3, local(14))]
        ),
        meeting("BEN", [race(1, local(13, 30))]),
    ]
)
HTML_PAGE = b"<!DOCTYPE html><html><body><h1>Request blocked</h1></body></html>"

DAY_DATE = local(6).date()

Rows = dict[str, list[tuple[object, ...]]]


# Answers a request in place of the simulator; the tap can still forward it.
Inject = Callable[[httpx.Request, "Tap"], httpx.Response]


def race_path(number: int, venue: str = "GOS") -> str:
    return f"{ROOT}/R/{venue}/races/{number}"


class Tap(httpx.BaseTransport):
    """Passes requests on to the simulator, except those a rule answers instead."""

    def __init__(self, *, closed_port: int, silent_port: int) -> None:
        self.closed_port = closed_port
        self.silent_port = silent_port
        self.rules: dict[str, Inject] = {}
        self.paths: list[str] = []
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        rule = self.rules.get(request.url.path)
        return rule(request, self) if rule else self.forward(request)

    def forward(
        self, request: httpx.Request, *, port: int | None = None
    ) -> httpx.Response:
        """Send `request` to the simulator, or to another port on 127.0.0.1."""
        if port is not None:
            url = request.url.copy_with(port=port)
            timeout = httpx.Timeout(READ_TIMEOUT).as_dict()
            request = httpx.Request(
                "GET", url, headers=request.headers, extensions={"timeout": timeout}
            )
        return self._inner.handle_request(request)

    def requests(self, path: str) -> int:
        return self.paths.count(path)

    def close(self) -> None:
        self._inner.close()


def _status(code: int, **headers: str) -> Inject:
    def answer(request: httpx.Request, tap: Tap) -> httpx.Response:
        return httpx.Response(code, headers=headers, json={"error": f"status {code}"})

    return answer


def _body(content: bytes, content_type: str = "application/json") -> Inject:
    def answer(request: httpx.Request, tap: Tap) -> httpx.Response:
        headers = {"Content-Type": content_type}
        return httpx.Response(200, content=content, headers=headers)

    return answer


def _edited(edit: Callable[[dict[str, Any]], None]) -> Inject:
    """The simulator's good answer, changed by `edit` and sent as valid JSON."""

    def answer(request: httpx.Request, tap: Tap) -> httpx.Response:
        body = json.loads(tap.forward(request).read())
        edit(body)
        return httpx.Response(200, json=body)

    return answer


def _truncated(request: httpx.Request, tap: Tap) -> httpx.Response:
    body = tap.forward(request).read()
    headers = {"Content-Type": "application/json"}
    return httpx.Response(200, content=body[: len(body) // 2], headers=headers)


def _refused(request: httpx.Request, tap: Tap) -> httpx.Response:
    return tap.forward(request, port=tap.closed_port)


def _silent(request: httpx.Request, tap: Tap) -> httpx.Response:
    return tap.forward(request, port=tap.silent_port)


def _drop_runner_name(body: dict[str, Any]) -> None:
    del body["runners"][1]["runnerName"]


def _runner_number_as_text(body: dict[str, Any]) -> None:
    runner = body["runners"][0]
    runner["runnerNumber"] = str(runner["runnerNumber"])


def _runner_twice(body: dict[str, Any]) -> None:
    body["runners"].append(dict(body["runners"][0]))


def _no_runners(body: dict[str, Any]) -> None:
    body["runners"] = []


def _another_race(body: dict[str, Any]) -> None:
    body["raceNumber"] += 10


def _without(venue: str) -> Callable[[dict[str, Any]], None]:
    def edit(body: dict[str, Any]) -> None:
        body["meetings"] = [m for m in body["meetings"] if m["venueMnemonic"] != venue]

    return edit


@dataclass(frozen=True)
class Fault:
    """A way the TAB answers a race badly, and what its error must say."""

    name: str
    inject: Inject
    reason: str
    # The wait before each retry of a request; None for a fault never retried.
    wait: float | None = None


FAULTS = [
    Fault("http-500", _status(500), "last failure: HTTP 500", BACKOFF),
    Fault("http-502", _status(502), "last failure: HTTP 502", BACKOFF),
    Fault("http-503", _status(503), "last failure: HTTP 503", BACKOFF),
    Fault(
        "429-with-retry-after",
        _status(429, **{"Retry-After": f"{RETRY_AFTER:g}"}),
        "last failure: HTTP 429",
        RETRY_AFTER,
    ),
    Fault("429-without-retry-after", _status(429), "last failure: HTTP 429", BACKOFF),
    Fault("connection-refused", _refused, "last failure: connection failed", BACKOFF),
    Fault("read-timeout", _silent, "last failure: timed out (ReadTimeout)", BACKOFF),
    Fault("403-bot-protection", _status(403), "answered HTTP 403 Forbidden"),
    Fault("404-race-gone", _status(404), "answered HTTP 404 Not Found"),
    Fault("truncated-json", _truncated, "body is not valid JSON"),
    Fault("malformed-json", _body(b'{"raceNumber": 1,, }'), "body is not valid JSON"),
    Fault(
        "html-with-200",
        _body(HTML_PAGE, "text/html; charset=utf-8"),
        "expected JSON, got text/html",
    ),
    Fault("empty-body", _body(b""), "expected JSON, got an empty body"),
    Fault("json-array", _body(b"[]"), "expected a JSON object, got array"),
    Fault("missing-field", _edited(_drop_runner_name), "runnerName: Field required"),
    Fault(
        "wrong-typed-field",
        _edited(_runner_number_as_text),
        "runnerNumber: Input should be a valid integer",
    ),
    Fault("runner-twice", _edited(_runner_twice), "runner number 1 appears twice"),
    Fault("no-runners", _edited(_no_runners), "no runners in a race that is"),
    Fault("another-race", _edited(_another_race), "the TAB answered with"),
]


@dataclass
class Rig:
    """The simulator, the tap in front of it, and domain jobs that use both."""

    server: SimulatorServer
    tap: Tap
    jobs: DirectJobs
    sleeps: list[float]


@pytest.fixture
def tap() -> Iterator[Tap]:
    # A listener that never accepts: a request to it is sent, then never answered.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        yield Tap(closed_port=_closed_port(), silent_port=silent.getsockname()[1])


@pytest.fixture
def rig(sessions: sessionmaker[Session], tap: Tap) -> Iterator[Rig]:
    server = SimulatorServer(CARD, clock=local(6)).start()
    settings = load_settings(
        tab_base_url=server.base_url,
        http_attempts=HTTP_ATTEMPTS,
        http_backoff_seconds=BACKOFF,
        pre_race_retry_delays_seconds=[0] * (WINDOW_ATTEMPTS - 1),
    )
    sleeps: list[float] = []
    client = _client(settings, build_http_client(settings, transport=tap), sleeps)
    jobs = DirectJobs(client, sessions, window_retries=settings.pre_race_retry_policy)
    yield Rig(server, tap, jobs, sleeps)
    client.close()
    server.stop()


@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: fault.name)
def test_a_fault_fails_its_races_after_bounded_tries_and_keeps_their_rows(
    rig: Rig, sessions: sessionmaker[Session], fault: Fault
) -> None:
    _store_good_history(rig)
    before = _stored_rows(sessions, "GOS", FAULTY)
    assert all(before.values()), "runners, odds, a result and races are stored"
    rig.tap.rules = {race_path(n): fault.inject for n in FAULTY}
    rig.tap.paths.clear()

    at(rig.server, rig.jobs, local(12, 20), "morning")
    morning_requests = [rig.tap.requests(race_path(n)) for n in FAULTY]
    window_requests = []
    for when in T60_RUNS:
        already = rig.tap.requests(race_path(2))
        at(rig.server, rig.jobs, when, "t60")
        window_requests.append(rig.tap.requests(race_path(2)) - already)

    per_call = HTTP_ATTEMPTS if fault.wait is not None else 1
    assert morning_requests == [per_call, per_call]
    if fault.wait is not None:
        assert window_requests == [WINDOW_ATTEMPTS * per_call, 0, 0]
        calls = (sum(morning_requests) + sum(window_requests)) // HTTP_ATTEMPTS
        assert rig.sleeps == [fault.wait] * calls * (HTTP_ATTEMPTS - 1)
    else:
        # Not retried in a run; each later run of the window tries once more.
        assert window_requests == [1] * WINDOW_ATTEMPTS
        assert rig.sleeps == []
    assert _stored_rows(sessions, "GOS", FAULTY) == before
    _check_morning_run(sessions, fault)
    _check_window_runs(sessions, fault)


def test_an_unreachable_tab_fails_each_run_with_the_reason_and_changes_nothing(
    rig: Rig, sessions: sessionmaker[Session]
) -> None:
    _store_good_history(rig)
    before = _stored_rows(sessions, "GOS", (1, 2, 3)), _stored_rows(sessions, "BEN")
    settings = load_settings(
        tab_base_url=f"http://127.0.0.1:{rig.tap.closed_port}",
        http_attempts=HTTP_ATTEMPTS,
        http_backoff_seconds=BACKOFF,
    )
    sleeps: list[float] = []
    client = _client(settings, build_http_client(settings), sleeps)
    jobs = DirectJobs(client, sessions, window_retries=rig.jobs.window_retries)

    with client:
        with pytest.raises(FetchError, match="connection failed"):
            jobs.morning(DAY_DATE, local(12, 20))
        jobs.window(T60, local(12, 20))

    # The list: 2 requests; GOS 2 and BEN 1: 3 window attempts of 2 requests each.
    assert client.calls == HTTP_ATTEMPTS + 2 * WINDOW_ATTEMPTS * HTTP_ATTEMPTS
    after = _stored_rows(sessions, "GOS", (1, 2, 3)), _stored_rows(sessions, "BEN")
    assert after == before
    with sessions() as session:
        morning_run = _latest(session, "morning_scrape")
        window_run = _latest(session, "pre_race_t60")
    assert morning_run.status == "failed"
    assert morning_run.error_message is not None
    assert morning_run.error_message.startswith(f"GET {ROOT}: gave up after 2 attempts")
    assert (window_run.status, window_run.items_failed) == ("failed", 2)
    for code, number in ((f"{GOS}/2", 2), (f"{BEN}/1", 1)):
        error = window_run.meta["races"][code]["error"]
        venue = code.split("/")[2]
        assert error.startswith(f"GET {race_path(number, venue)}: gave up after 2")


# --- A meeting list that shrinks --------------------------------------------------


def test_a_meeting_withdrawn_after_the_list_was_read_is_failed_and_keeps_its_rows(
    rig: Rig, sessions: sessionmaker[Session]
) -> None:
    gos_races = [race_path(n) for n in (1, 2, 3)]
    rig.tap.rules = dict.fromkeys(gos_races, _status(404))

    at(rig.server, rig.jobs, local(6), "morning")

    assert [rig.tap.requests(path) for path in gos_races] == [1, 1, 1]
    with sessions() as session:
        original = _latest(session, "morning_scrape")
    entry = original.meta["meetings"][GOS]
    assert entry["outcome"] == "failed"
    assert entry["error"].startswith(
        f"3 of 3 races failed (races 1, 2, 3); race 1: GET {gos_races[0]} "
        "answered HTTP 404 Not Found; "
    )
    assert "withdrew" in entry["error"]
    before = _meeting_rows(sessions, "GOS")
    assert len(before["races"]) == 3, "the list stored the meeting and its races"
    listed_calls = sum(rig.tap.requests(path) for path in gos_races)

    rig.tap.rules = {ROOT: _edited(_without("GOS"))}
    for count, when in enumerate((local(6, 15), local(6, 30)), start=1):
        rig.server.set_clock(when)
        rig.jobs.morning(when.date(), when, retry=True)

        with sessions() as session:
            retry = _latest(session, "morning_scrape")
        assert (retry.parent_job_run_id, retry.retry_count) == (original.id, count)
        assert (retry.status, retry.items_failed) == ("failed", 1)
        assert retry.meta["meetings"] == {
            GOS: {
                "outcome": "failed",
                "error": f"meeting {GOS} is no longer listed by TAB for {DAY}; "
                "its stored rows are kept",
            }
        }
    assert sum(rig.tap.requests(path) for path in gos_races) == listed_calls
    assert _meeting_rows(sessions, "GOS") == before


def test_a_failed_meeting_missing_from_one_retry_is_scraped_when_listed_again(
    rig: Rig, sessions: sessionmaker[Session]
) -> None:
    rig.tap.rules = {race_path(2): _status(503)}
    at(rig.server, rig.jobs, local(6), "morning")
    before = _stored_rows(sessions, "GOS", (1, 2)), _meeting_rows(sessions, "GOS")
    assert before[0]["odds"], "race 1's odds were stored"

    rig.tap.rules = {ROOT: _edited(_without("GOS"))}
    rig.server.set_clock(local(6, 15))
    rig.jobs.morning(DAY_DATE, local(6, 15), retry=True)
    after = _stored_rows(sessions, "GOS", (1, 2)), _meeting_rows(sessions, "GOS")

    assert after == before
    rig.tap.rules = {}
    rig.server.set_clock(local(6, 30))
    rig.jobs.morning(DAY_DATE, local(6, 30), retry=True)
    rig.server.set_clock(local(7))
    rig.jobs.morning(DAY_DATE, local(7), retry=True)

    with sessions() as session:
        runs = session.scalars(
            select(JobRun).filter_by(job_type="morning_scrape").order_by(JobRun.id)
        ).all()
    outcomes = [
        {code: entry["outcome"] for code, entry in run.meta.get("meetings", {}).items()}
        for run in runs
    ]
    assert outcomes == [
        {GOS: "failed", BEN: "ok"},
        {GOS: "failed"},
        {GOS: "ok"},
        {},
    ]
    assert runs[-1].meta["nothingToRetry"] is True
    assert [run.status for run in runs] == ["partial", "failed", "success", "success"]


# --- Helpers ----------------------------------------------------------------------


def _client(settings: Settings, http: httpx.Client, sleeps: list[float]) -> TabClient:
    """A client as configured, whose waits are recorded instead of slept."""
    return TabClient(
        http,
        jurisdiction=settings.tab_jurisdiction,
        attempts=settings.http_attempts,
        backoff_seconds=settings.http_backoff_seconds,
        max_retry_after_seconds=settings.http_max_retry_after_seconds,
        sleep=sleeps.append,
    )


def _closed_port() -> int:
    # A port bound and released at once: nothing listens, so connecting is refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _store_good_history(rig: Rig) -> None:
    """Runners and odds of every race, and race 1's official result."""
    at(rig.server, rig.jobs, local(6), "morning")
    at(rig.server, rig.jobs, local(12, 15), "post_race")


def _check_morning_run(sessions: sessionmaker[Session], fault: Fault) -> None:
    with sessions() as session:
        job = _latest(session, "morning_scrape")
        scrapes = _scrapes(session, kind="morning", job_run_id=job.id)
    assert {key: outcome for key, (outcome, _) in scrapes.items()} == {
        ("BEN", 1): "ok",
        ("GOS", 1): "failed",
        ("GOS", 2): "failed",
        ("GOS", 3): "ok",
    }
    for number in FAULTY:
        _check_error(scrapes["GOS", number][1], number, fault)

    assert (job.status, job.items_processed, job.items_failed) == ("partial", 2, 1)
    assert job.meta["meetings"][BEN]["outcome"] == "ok"
    entry = job.meta["meetings"][GOS]
    assert (entry["outcome"], entry["racesOk"], entry["racesFailed"]) == (
        "failed",
        1,
        2,
    )
    assert entry["error"].startswith("2 of 3 races failed (races 1, 2); race 1: ")
    _check_error(entry["error"], 1, fault)


def _check_window_runs(sessions: sessionmaker[Session], fault: Fault) -> None:
    with sessions() as session:
        first = session.scalars(
            select(JobRun).filter_by(job_type="pre_race_t60").order_by(JobRun.id)
        ).first()
        scrapes = session.execute(
            _scrape_query("t60").add_columns(Scrape.attempt).order_by(Scrape.id)
        ).all()
    assert first is not None
    assert [(v, n, o, a) for v, n, o, _, a in scrapes] == [
        ("BEN", 1, "ok", 1),
        ("GOS", 2, "failed", 1),
        ("GOS", 2, "failed", 2),
        ("GOS", 2, "failed", 3),
    ]
    for *_, error, _ in scrapes[1:]:
        _check_error(error, 2, fault)
    assert (first.status, first.items_processed, first.items_failed) == (
        "partial",
        2,
        1,
    )
    assert first.meta["failedRaces"] == [f"{GOS}/2"]
    _check_error(first.meta["races"][f"{GOS}/2"]["error"], 2, fault)


def _check_error(error: str | None, number: int, fault: Fault) -> None:
    """One line, naming the race (by its path or its name) and what was wrong."""
    assert error is not None
    assert "\n" not in error
    assert f"/R/GOS/races/{number}" in error or f"R GOS race {number}" in error
    assert fault.reason in error


def _latest(session: Session, job_type: str) -> JobRun:
    query = select(JobRun).filter_by(job_type=job_type).order_by(JobRun.id.desc())
    job = session.scalars(query).first()
    assert job is not None
    return job


def _scrape_query(kind: str) -> Any:
    return (
        select(Meeting.venue_mnemonic, Race.race_number, Scrape.outcome, Scrape.error)
        .join(Race, Scrape.race_id == Race.id)
        .join(Meeting, Race.meeting_id == Meeting.id)
        .where(Scrape.kind == kind)
    )


def _scrapes(
    session: Session, *, kind: str, job_run_id: int
) -> dict[tuple[str, int], tuple[str, str | None]]:
    query = _scrape_query(kind).where(Scrape.job_run_id == job_run_id)
    return {(v, n): (o, e) for v, n, o, e in session.execute(query)}


def _stored_rows(
    sessions: sessionmaker[Session], venue: str, numbers: tuple[int, ...] = ()
) -> Rows:
    """Every runner, odds snapshot and result row of these races, column by column."""
    races = select(Race.id).join(Meeting).where(Meeting.venue_mnemonic == venue)
    if numbers:
        races = races.where(Race.race_number.in_(numbers))
    odds = select(OddsSnapshot).join(Runner).where(Runner.race_id.in_(races))
    queries = {
        "runners": select(Runner).where(Runner.race_id.in_(races)).order_by(Runner.id),
        "odds": odds.order_by(OddsSnapshot.id),
        "results": select(Result).where(Result.race_id.in_(races)).order_by(Result.id),
    }
    with sessions() as session:
        rows = {
            name: [_values(row) for row in session.scalars(query)]
            for name, query in queries.items()
        }
        # Race columns only a race scrape or a result check writes.
        rows["races"] = [
            tuple(row)
            for row in session.execute(
                select(Race.id, Race.distance, Race.resulted_time, Race.result_state)
                .where(Race.id.in_(races))
                .order_by(Race.id)
            )
        ]
    return rows


def _meeting_rows(sessions: sessionmaker[Session], venue: str) -> Rows:
    """The meeting's row and its races' rows, every column."""
    with sessions() as session:
        meetings = session.scalars(select(Meeting).filter_by(venue_mnemonic=venue))
        found = list(meetings)
        races = session.scalars(
            select(Race)
            .where(Race.meeting_id.in_([m.id for m in found]))
            .order_by(Race.id)
        )
        return {
            "meetings": [_values(m) for m in found],
            "races": [_values(r) for r in races],
        }


def _values(row: Base) -> tuple[object, ...]:
    return tuple(getattr(row, attr.key) for attr in inspect(type(row)).column_attrs)
