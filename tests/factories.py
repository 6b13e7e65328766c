"""Small simulator scenarios built in code, for tests that need one special case."""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from racing.simulator.scenario import Scenario, parse_scenario

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
