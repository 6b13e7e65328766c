""" "Now" as the scheduler sees it: the wall clock, or a fixed `as_of` for replays.

Every job takes an optional `as_of`; all window and timestamp logic reads the clock made
here, never `datetime.now()` directly, so a run can be replayed for any instant.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    """The current instant, aware UTC."""
    return datetime.now(UTC)


def make_clock(as_of: datetime | None) -> Clock:
    """A clock fixed at `as_of`, or the wall clock when it is None."""
    if as_of is None:
        return wall_clock
    fixed = as_of.astimezone(UTC)
    return lambda: fixed


def as_instant(value: datetime, zone: ZoneInfo) -> datetime:
    """An aware UTC instant; a naive value is read as racing-timezone local time."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


# The years a replayed instant may fall in.
EARLIEST_YEAR = 1900
LATEST_YEAR = 2999


def parse_instant(text: str, zone: ZoneInfo) -> datetime:
    """Parse an ISO 8601 date-time given on a command line or as a parameter."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO date-time; give e.g. 2026-11-14T06:00:00+11:00"
        ) from None
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        # Far-off years overflow the window arithmetic (a day either side).
        raise ValueError(
            f"{text!r} is not a racing day; give a date-time between "
            f"{EARLIEST_YEAR} and {LATEST_YEAR}"
        )
    return as_instant(value, zone)
