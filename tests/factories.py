"""Small simulator scenarios built in code, for tests that need one special case."""

from collections.abc import Callable
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
