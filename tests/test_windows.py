"""Window arithmetic and the database query behind it."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session, sessionmaker

from racing.database import transaction
from racing.models import Meeting, Race, Scrape
from racing.windows import T15, T60, Window, races_in_window

NOON = datetime(2026, 11, 14, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("window", "minutes_ahead", "inside"),
    [
        (T60, 70, True),  # opens inclusive
        (T60, 55, False),  # closes exclusive
        (T60, 56, True),
        (T60, 71, False),
        (T15, 25, True),
        (T15, 10, False),
        (T15, 11, True),
        (T15, 26, False),
    ],
)
def test_window_edges(window: Window, minutes_ahead: int, inside: bool) -> None:
    start = NOON + timedelta(minutes=minutes_ahead)
    assert window.contains(start, NOON) is inside


@pytest.mark.parametrize("window", [T60, T15])
@pytest.mark.parametrize("start_minute", range(0, 60))
def test_every_start_minute_is_in_exactly_three_five_minute_runs(
    window: Window, start_minute: int
) -> None:
    start = NOON + timedelta(
        hours=2, minutes=start_minute, seconds=30 * (start_minute % 2)
    )
    ticks = [NOON + timedelta(minutes=5 * n) for n in range(60)]
    assert sum(window.contains(start, tick) for tick in ticks) == 3


def test_a_race_exactly_on_a_tick_edge_is_in_one_side_only() -> None:
    start = NOON + timedelta(minutes=70)
    runs = [NOON - timedelta(minutes=5), NOON, NOON + timedelta(minutes=15)]
    assert [T60.contains(start, run) for run in runs] == [False, True, False]


def test_windows_across_a_daylight_saving_change_use_utc_durations() -> None:
    # Sydney moved from +10:00 to +11:00 at 02:00 local on 2026-10-04.
    sydney = ZoneInfo("Australia/Sydney")
    start = datetime(2026, 10, 4, 3, 10, tzinfo=sydney)  # 03:10 AEDT = 16:10 UTC
    run = datetime(2026, 10, 4, 1, 0, tzinfo=sydney)  # 01:00 AEST = 15:00 UTC
    assert T60.contains(start.astimezone(UTC), run.astimezone(UTC))
    # Python subtracts wall times within one zone: the trap the UTC rule avoids.
    assert start - run == timedelta(hours=2, minutes=10)


def _race(
    session: Session,
    start: datetime,
    *,
    status: str = "open",
    abandoned: bool = False,
    venue: str = "GOS",
    number: int = 1,
) -> int:
    meeting = session.query(Meeting).filter_by(venue_mnemonic=venue).one_or_none()
    if meeting is None:
        meeting = Meeting(
            meeting_date=date(2026, 11, 14),
            race_type="R",
            venue_mnemonic=venue,
            meeting_name=venue,
            location="NSW",
            abandoned=abandoned,
            updated_at=NOON,
        )
        session.add(meeting)
        session.flush()
    race = Race(
        meeting_id=meeting.id,
        race_number=number,
        race_name="TEST",
        start_time=start,
        status=status,
        updated_at=NOON,
    )
    session.add(race)
    session.flush()
    return race.id


def _scrape(
    session: Session, race_id: int, kind: str, outcome: str, attempt: int = 1
) -> None:
    session.add(
        Scrape(
            race_id=race_id,
            kind=kind,
            attempt=attempt,
            started_at=NOON,
            finished_at=NOON,
            outcome=outcome,
        )
    )


def _chosen(sessions: sessionmaker[Session], window: Window) -> list[int]:
    with sessions() as session:
        chosen = races_in_window(window, NOON, session=session, max_attempts=3)
        return [c.race.race_number for c in chosen if not c.late]


def test_only_open_races_in_the_window_and_not_yet_done_are_chosen(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        _race(session, NOON + timedelta(minutes=60), number=1)
        # Edge: not in T-60 (a run 5 minutes ago had it; here only as a late one).
        _race(session, NOON + timedelta(minutes=55), number=2)
        _race(session, NOON + timedelta(minutes=70), number=3)  # edge: in T-60
        done = _race(session, NOON + timedelta(minutes=65), number=4)
        _scrape(session, done, "t60", "ok")
        _race(session, NOON + timedelta(minutes=66), number=5, status="abandoned")
        _race(session, NOON + timedelta(minutes=62), number=6, status="closed")
        moved = _race(session, NOON + timedelta(minutes=61), number=7)
        _scrape(session, moved, "t60", "moved")
        taken = _race(session, NOON + timedelta(minutes=64), number=9)
        _scrape(session, taken, "t60", "running")
        other_window = _race(session, NOON + timedelta(minutes=63), number=8)
        _scrape(session, other_window, "t15", "ok")

    assert _chosen(sessions, T60) == [1, 7, 8, 3]


def test_a_race_that_failed_three_times_is_given_up(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        tried_twice = _race(session, NOON + timedelta(minutes=20), number=1)
        tried_thrice = _race(session, NOON + timedelta(minutes=21), number=2)
        for attempt in (1, 2):
            _scrape(session, tried_twice, "t15", "failed", attempt)
        for attempt in (1, 2, 3):
            _scrape(session, tried_thrice, "t15", "failed", attempt)

    assert _chosen(sessions, T15) == [1]


def test_an_abandoned_meeting_leaves_the_windows(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        _race(session, NOON + timedelta(minutes=15), venue="SCO", abandoned=True)
        _race(session, NOON + timedelta(minutes=16), venue="GOS", number=2)

    assert _chosen(sessions, T15) == [2]


def test_races_across_midnight_utc_are_found(sessions: sessionmaker[Session]) -> None:
    late = datetime(2026, 11, 14, 23, 50, tzinfo=UTC)
    with transaction(sessions) as session:
        _race(session, late + timedelta(minutes=20), number=9)  # 00:10 next UTC day

    with sessions() as session:
        chosen = races_in_window(T15, late, session=session, max_attempts=3)
    assert [c.race.race_number for c in chosen] == [9]


def test_after_downtime_missed_windows_are_caught_up_only_while_meaningful(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        # T-60 missed, 50 minutes to go: still worth a late T-60 snapshot.
        _race(session, NOON + timedelta(minutes=50), number=1)
        # T-60 missed, 20 minutes to go: the T-15 window has it now.
        _race(session, NOON + timedelta(minutes=20), number=2)
        # T-15 missed, 5 minutes to go: a late T-15 still beats none.
        _race(session, NOON + timedelta(minutes=5), number=3)
        # Jumped already: a snapshot now would mean nothing.
        _race(session, NOON - timedelta(minutes=2), number=4)

    with sessions() as session:
        t60 = races_in_window(T60, NOON, session=session, max_attempts=3)
        t15 = races_in_window(T15, NOON, session=session, max_attempts=3)

    assert [(c.race.race_number, c.late) for c in t60] == [(1, True)]
    assert [(c.race.race_number, c.late) for c in t15] == [(3, True), (2, False)]


def test_a_late_scrape_counts_for_its_window_only_while_meaningful() -> None:
    start = NOON + timedelta(minutes=40)
    assert T60.accepts(start, NOON, late=True)
    assert not T60.accepts(start, NOON, late=False)
    assert not T60.accepts(NOON + timedelta(minutes=20), NOON, late=True)
