"""Small simulator scenarios built in code, for tests that need one special case."""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from racing.replay import DirectJobs
from racing.simulator.scenario import Scenario, parse_scenario
from racing.simulator.server import SimulatorServer
from racing.windows import T15, T60

SYDNEY = ZoneInfo("Australia/Sydney")
DAY = "2026-11-14"


def local(hour: int, minute: int = 0) -> datetime:
    """An instant on the test racing day, in Sydney time."""
    return datetime(2026, 11, 14, hour, minute, tzinfo=SYDNEY)


def runner(number: int, **overrides: Any) -> dict[str, Any]:
    """A runner with a plausible price; overrides use scenario keys."""
    return {
        "runnerNumber": number,
        "runnerName": f"RUNNER {number}",
        "barrierNumber": number,
        "fixedWin": 2.0 + number,
        **overrides,
    }


def race(number: int, start: datetime, **overrides: Any) -> dict[str, Any]:
    """A four-runner race that pays 1-2-3; overrides use scenario keys."""
    return {
        "raceNumber": number,
        "raceName": f"RACE {number}",
        "raceDistance": 1200,
        "startTime": start.isoformat(),
        "runners": [runner(n) for n in range(1, 5)],
        "results": [[1], [2], [3]],
        **overrides,
    }


def meeting(
    venue: str, races: list[dict[str, Any]], **overrides: Any
) -> dict[str, Any]:
    """A NSW gallops meeting."""
    return {
        "meetingName": f"VENUE {venue}",
        "venueMnemonic": venue,
        "raceType": "R",
        "location": "NSW",
        "timezone": "Australia/Sydney",
        "races": races,
        **overrides,
    }


def scenario(
    meetings: list[dict[str, Any]], faults: list[dict[str, Any]] | None = None
) -> Scenario:
    """A validated scenario for the test day."""
    return parse_scenario(
        {"name": "test", "date": DAY, "meetings": meetings, "faults": faults or []},
        source="test",
    )


# A started simulator for a scenario, and domain jobs pointed at it (see conftest).
Day = Callable[[Scenario], tuple[SimulatorServer, DirectJobs]]


def at(server: SimulatorServer, jobs: DirectJobs, when: datetime, job: str) -> None:
    """Move the simulator's clock to `when` and run one job as of then."""
    server.set_clock(when)
    if job == "morning":
        jobs.morning(when.date(), when)
    elif job == "post_race":
        jobs.post_race(when)
    else:
        jobs.window(T60 if job == "t60" else T15, when)


def ticks(start: datetime, end: datetime) -> list[datetime]:
    """Every 5 minutes from `start` up to and including `end`."""
    count = int((end - start) / timedelta(minutes=5)) + 1
    return [start + timedelta(minutes=5 * n) for n in range(count)]


def race_calls(server: SimulatorServer) -> int:
    """How many single-race requests the simulator answered."""
    return server.request_counts().get("race", 0)


def run_windows(
    server: SimulatorServer, jobs: DirectJobs, start: datetime, end: datetime
) -> None:
    """Run T-60 then T-15 at every 5-minute tick from `start` up to `end`."""
    for when in ticks(start, end):
        at(server, jobs, when, "t60")
        at(server, jobs, when, "t15")


# --- Log capture shared by the untrusted-input and secrets tests --------------------

# Loggers that keep their records from the root (Prefect's `racing` extra logger among
# them), so a capture on the root alone would miss them.
_NON_PROPAGATING = ("racing", "prefect.extra", "prefect._internal", "uvicorn")
_DEBUGGED = ("", "racing", "flows", "prefect", "sqlalchemy", "httpx", "alembic")


class _Collector(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def captured_logs() -> Iterator[list[logging.LogRecord]]:
    """Every record at DEBUG and up, from the root and the loggers that keep theirs."""
    records: list[logging.LogRecord] = []
    handler = _Collector(records)
    hosts = [logging.getLogger(name) for name in ("", *_NON_PROPAGATING)]
    debugged = [logging.getLogger(name) for name in _DEBUGGED]
    levels = [logger.level for logger in debugged]
    for logger in hosts:
        logger.addHandler(handler)
    for logger in debugged:
        logger.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        for logger in hosts:
            logger.removeHandler(handler)
        for logger, level in zip(debugged, levels, strict=True):
            logger.setLevel(level)
