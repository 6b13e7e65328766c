"""Time faults: daylight saving in the racing timezone, midnight UTC, a jumping clock.

Schedules are read through Prefect's own cron machinery from our deployment table and
prefect.yaml, so a change to either shows here. Race days are small scenarios run
through the domain jobs (`DirectJobs`) at the instants the schedules give.

Sydney's changes in 2026: on 5 April at 03:00 AEDT clocks go back to 02:00 AEST
(02:00-02:59 happens twice); on 4 October at 02:00 AEST they go forward to 03:00 AEDT
(02:00-02:59 never happens). Both are at 16:00 UTC the day before.
"""

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from prefect.server.schemas.schedules import CronSchedule
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from flows.deployments import (
    RETRY_TIMES,
    TIMEZONE,
    deployment_specs,
    runner_deployment,
)
from racing.clock import parse_instant
from racing.models import JobRun, Meeting, OddsSnapshot, Race, Scrape
from racing.morning import racing_day
from racing.replay import DirectJobs
from racing.simulator.scenario import Scenario, parse_scenario
from racing.simulator.server import SimulatorServer
from racing.windows import T15, T60, superseded
from tests.factories import SYDNEY, Day, local, meeting, race, race_calls, ticks

DAY = date(2026, 11, 14)
AUCKLAND = ZoneInfo("Pacific/Auckland")
LONDON = ZoneInfo("Europe/London")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
# Long enough after a race for its result to turn official (12 minutes by default).
AFTER_LAST = timedelta(minutes=20)
PREFECT_YAML = Path(__file__).resolve().parent.parent / "prefect.yaml"
SOURCES = ["prefect.yaml", "racing serve"]
WINDOW_DEPLOYMENTS = ["pre-race-t60", "pre-race-t15", "post-race"]


@dataclass(frozen=True)
class Change:
    """A daylight-saving change in Sydney: the racing day it falls on, and when."""

    day: date
    at: datetime
    # The morning scrape of the change day, in UTC.
    morning_utc: datetime


FALL_BACK = Change(
    date(2026, 4, 5),
    datetime(2026, 4, 4, 16, tzinfo=UTC),
    datetime(2026, 4, 4, 20, tzinfo=UTC),  # 06:00 AEST
)
SPRING_FORWARD = Change(
    date(2026, 10, 4),
    datetime(2026, 10, 3, 16, tzinfo=UTC),
    datetime(2026, 10, 3, 19, tzinfo=UTC),  # 06:00 AEDT
)
# Prefect runs a repeated wall time once, so a */5 cron in Australia/Sydney would have
# no runs in the second 02:00-02:55 AEST (16:00-16:55 UTC): the windows run in UTC.
CHANGES = [
    pytest.param(FALL_BACK, id="fall-back"),
    pytest.param(SPRING_FORWARD, id="spring-forward"),
]


# Schedules, through Prefect's cron machinery.


@dataclass(frozen=True)
class Fire:
    """One scheduled run: when (UTC) and with which parameters."""

    at: datetime
    parameters: dict[str, Any]


def _schedules(
    deployment: str, source: str
) -> list[tuple[CronSchedule, dict[str, Any]]]:
    """A deployment's schedules as the Prefect server evaluates them."""
    if source == "prefect.yaml":
        entries = yaml.safe_load(PREFECT_YAML.read_text())["deployments"]
        (entry,) = [e for e in entries if e["name"] == deployment]
        return [
            (
                CronSchedule(cron=s["cron"], timezone=s["timezone"]),
                s.get("parameters", {}),
            )
            for s in entry["schedules"]
        ]
    (spec,) = [s for s in deployment_specs() if s.name == deployment]
    served = []
    for s in runner_deployment(spec, TIMEZONE).schedules or []:
        # The client's schedule model, converted as the server receives it.
        assert s.schedule is not None
        schedule = CronSchedule.model_validate(s.schedule.model_dump())
        served.append((schedule, dict(s.parameters or {})))
    return served


def _fires(deployment: str, source: str, start: datetime, end: datetime) -> list[Fire]:
    """Every run the deployment's schedules create in [start, end], in order."""
    fires = []
    for schedule, parameters in _schedules(deployment, source):
        dates = asyncio.run(schedule.get_dates(start=start, end=end))
        fires += [Fire(_plain_utc(d), parameters) for d in dates]
    return sorted(fires, key=lambda fire: fire.at)


def _plain_utc(value: datetime) -> datetime:
    # Prefect hands back its own datetime subclass; compare stdlib instants.
    return datetime.fromtimestamp(value.timestamp(), UTC)


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=SYDNEY)


def test_the_changes_are_where_these_tests_assume() -> None:
    for change, before, after in ((FALL_BACK, 11, 10), (SPRING_FORWARD, 10, 11)):
        just_before = change.at - timedelta(seconds=1)
        offsets = [t.astimezone(SYDNEY).utcoffset() for t in (just_before, change.at)]
        assert offsets == [timedelta(hours=before), timedelta(hours=after)]


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("change", CHANGES)
@pytest.mark.parametrize(
    ("deployment", "times", "parameters"),
    [
        ("morning-scrape", [time(6)], {}),
        ("morning-retries", list(RETRY_TIMES), {"retry": True}),
    ],
)
def test_morning_runs_fire_once_a_day_at_their_local_time_across_a_dst_change(
    source: str,
    change: Change,
    deployment: str,
    times: list[time],
    parameters: dict[str, Any],
) -> None:
    days = [change.day + timedelta(days=n) for n in range(-2, 3)]

    fires = _fires(
        deployment,
        source,
        _local_midnight(days[0]),
        _local_midnight(days[-1] + timedelta(days=1)),
    )

    local = [fire.at.astimezone(SYDNEY) for fire in fires]
    assert [(t.date(), t.time()) for t in local] == [
        (d, t) for d in days for t in times
    ]
    assert all(fire.parameters == parameters for fire in fires)
    # The run reads its racing date from its own start: the day it fired on.
    assert [racing_day(fire.at, SYDNEY) for fire in fires] == [t.date() for t in local]


@pytest.mark.parametrize("change", CHANGES)
def test_the_morning_scrape_of_the_change_day_runs_at_its_own_utc_instant(
    change: Change,
) -> None:
    start = _local_midnight(change.day)

    fires = _fires("morning-scrape", "prefect.yaml", start, start + timedelta(hours=12))

    assert [fire.at for fire in fires] == [change.morning_utc]


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("deployment", WINDOW_DEPLOYMENTS)
@pytest.mark.parametrize("change", CHANGES)
def test_window_runs_come_every_five_minutes_of_utc_through_a_dst_night(
    source: str, deployment: str, change: Change
) -> None:
    start, end = change.at - timedelta(hours=4), change.at + timedelta(hours=4)

    fires = [fire.at for fire in _fires(deployment, source, start, end)]

    assert fires == ticks(start, end)


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        # Fall back: the day before ends at midnight AEDT, the change day at AEST.
        (datetime(2026, 4, 4, 12, 59, 59, tzinfo=UTC), date(2026, 4, 4)),
        (datetime(2026, 4, 4, 13, 0, tzinfo=UTC), date(2026, 4, 5)),
        (datetime(2026, 4, 4, 15, 59, 59, tzinfo=UTC), date(2026, 4, 5)),  # 02:59 AEDT
        (datetime(2026, 4, 4, 16, 0, tzinfo=UTC), date(2026, 4, 5)),  # 02:00 AEST
        (datetime(2026, 4, 5, 13, 59, 59, tzinfo=UTC), date(2026, 4, 5)),
        (datetime(2026, 4, 5, 14, 0, tzinfo=UTC), date(2026, 4, 6)),
        # Spring forward: the day before ends at midnight AEST, the change day at AEDT.
        (datetime(2026, 10, 3, 13, 59, 59, tzinfo=UTC), date(2026, 10, 3)),
        (datetime(2026, 10, 3, 14, 0, tzinfo=UTC), date(2026, 10, 4)),
        (datetime(2026, 10, 3, 15, 59, 59, tzinfo=UTC), date(2026, 10, 4)),  # 01:59
        (datetime(2026, 10, 3, 16, 0, tzinfo=UTC), date(2026, 10, 4)),  # 03:00 AEDT
        (datetime(2026, 10, 4, 12, 59, 59, tzinfo=UTC), date(2026, 10, 4)),
        (datetime(2026, 10, 4, 13, 0, tzinfo=UTC), date(2026, 10, 5)),
    ],
)
def test_the_racing_day_turns_at_local_midnight_whatever_the_offset(
    instant: datetime, expected: date
) -> None:
    assert racing_day(instant, SYDNEY) == expected


@pytest.mark.parametrize(("change", "hours"), [(FALL_BACK, 25), (SPRING_FORWARD, 23)])
def test_a_change_day_is_as_long_as_the_clocks_say(change: Change, hours: int) -> None:
    start = change.at - timedelta(hours=30)
    instants = [start + timedelta(minutes=30 * n) for n in range(60 * 2)]

    on_the_day = [t for t in instants if racing_day(t, SYDNEY) == change.day]

    assert len(on_the_day) == hours * 2


@pytest.mark.parametrize(
    ("wall_time", "cron"),
    [
        ("2026-04-05T02:30:00", "30 2 * * *"),  # happens twice: the first one
        ("2026-10-04T02:30:00", "30 2 * * *"),  # never happens: an hour on
        ("2026-10-04T06:00:00", "0 6 * * *"),
    ],
)
def test_a_naive_as_of_names_the_instant_prefect_would_run_that_wall_time(
    wall_time: str, cron: str
) -> None:
    # An operator's `--param as_of=...` without an offset must not disagree with the
    # schedule about which instant a wall time is.
    day = date.fromisoformat(wall_time[:10])
    schedule = CronSchedule(cron=cron, timezone=TIMEZONE)
    (fired,) = asyncio.run(
        schedule.get_dates(
            start=_local_midnight(day),
            end=_local_midnight(day + timedelta(days=1)) - timedelta(seconds=1),
        )
    )

    assert parse_instant(wall_time, SYDNEY) == _plain_utc(fired)


# Race days run through the domain jobs.


def _card(day: date, meetings: list[dict[str, Any]]) -> Scenario:
    """A scenario for any date (the shared factory is fixed to the test day)."""
    return parse_scenario(
        {"name": "time-faults", "date": day.isoformat(), "meetings": meetings},
        source="test",
    )


def _run(server: SimulatorServer, jobs: DirectJobs, job: str, when: datetime) -> None:
    """Run one job as its schedule would at `when`, with the simulator's clock there."""
    server.set_clock(when)
    if job in ("morning", "retry"):
        jobs.morning(racing_day(when, SYDNEY), when, retry=job == "retry")
    elif job == "post_race":
        jobs.post_race(when)
    else:
        jobs.window(T60 if job == "t60" else T15, when)


def _run_ticks(
    server: SimulatorServer,
    jobs: DirectJobs,
    instants: Iterable[datetime],
    jobs_per_tick: Sequence[str] = ("t60", "t15", "post_race"),
) -> None:
    for when in instants:
        for job in jobs_per_tick:
            _run(server, jobs, job, when)


@dataclass(frozen=True)
class Seen:
    """One window scrape row, as the assertions compare it."""

    outcome: str
    started_at: datetime
    late: bool = False


def _window_scrapes(
    sessions: sessionmaker[Session], kind: str
) -> dict[tuple[str, int], list[Seen]]:
    """Scrape rows of a window kind per (venue, race number), in order."""
    with sessions() as session:
        rows = session.execute(
            select(
                Meeting.venue_mnemonic,
                Race.race_number,
                Scrape.outcome,
                Scrape.started_at,
                Scrape.late,
            )
            .join(Race, Scrape.race_id == Race.id)
            .join(Meeting, Race.meeting_id == Meeting.id)
            .where(Scrape.kind == kind)
            .order_by(Scrape.id)
        ).all()
    found: dict[tuple[str, int], list[Seen]] = {}
    for venue, number, outcome, started, late in rows:
        found.setdefault((venue, number), []).append(
            Seen(outcome, started.astimezone(UTC), late)
        )
    return found


def _races(sessions: sessionmaker[Session]) -> dict[tuple[str, int], Race]:
    with sessions() as session:
        rows = session.execute(select(Race, Meeting.venue_mnemonic).join(Meeting))
        return {(venue, race.race_number): race for race, venue in rows}


def _starts(venue: str, *starts: datetime) -> dict[tuple[str, int], datetime]:
    return {(venue, n): s.astimezone(UTC) for n, s in enumerate(starts, start=1)}


def _assert_covered(
    sessions: sessionmaker[Session], starts: dict[tuple[str, int], datetime]
) -> None:
    """Each race: one on-time T-60, one on-time T-15, an official result."""
    t60, t15 = _window_scrapes(sessions, "t60"), _window_scrapes(sessions, "t15")
    races = _races(sessions)

    # One comparison for every race, so a failure shows all that went wrong.
    found = {
        key: (
            t60.get(key),
            t15.get(key),
            races[key].start_time,
            races[key].result_state,
        )
        for key in starts
    }
    wanted = {
        key: (
            [Seen("ok", start - T60.opens_before)],
            [Seen("ok", start - T15.opens_before)],
            start,
            "official",
        )
        for key, start in starts.items()
    }
    assert found == wanted
    assert set(t60) | set(t15) <= set(starts)


def _morning_runs(sessions: sessionmaker[Session]) -> list[JobRun]:
    with sessions() as session:
        query = select(JobRun).filter_by(job_type="morning_scrape").order_by(JobRun.id)
        return list(session.scalars(query))


def _morning_scrapes_ok(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        count = session.scalar(
            select(func.count(Scrape.id)).filter_by(kind="morning", outcome="ok")
        )
    return int(count or 0)


@pytest.mark.parametrize("change", CHANGES)
def test_a_dst_change_day_is_scraped_in_the_morning_and_once_per_window(
    day: Day, sessions: sessionmaker[Session], change: Change
) -> None:
    starts = [datetime.combine(change.day, time(11, m), SYDNEY) for m in (0, 35)]
    starts.append(datetime.combine(change.day, time(12, 10), SYDNEY))
    server, jobs = day(
        _card(
            change.day, [meeting("GOS", [race(n, s) for n, s in enumerate(starts, 1)])]
        )
    )
    wanted = _starts("GOS", *starts)
    first, last = min(wanted.values()), max(wanted.values())
    # What the deployments would run: the morning and its retries, then the windows
    # from the first race's T-60 (earlier runs find empty windows).
    mornings = _fires(
        "morning-scrape", "racing serve", _local_midnight(change.day), first
    )
    retries = _fires(
        "morning-retries", "racing serve", _local_midnight(change.day), first
    )
    # The three window deployments share one schedule (checked above).
    window_ticks = _fires(
        "pre-race-t60",
        "racing serve",
        first - T60.opens_before,
        last + AFTER_LAST,
    )

    for fire in mornings:
        _run(server, jobs, "morning", fire.at)
    for fire in retries:
        _run(server, jobs, "retry", fire.at)
    _run_ticks(server, jobs, (fire.at for fire in window_ticks))

    original, *retried = _morning_runs(sessions)
    assert original.started_at == change.morning_utc
    assert original.meta["racingDate"] == change.day.isoformat()
    assert original.meta["failedMeetings"] == []
    assert [(r.parent_job_run_id, r.retry_count) for r in retried] == [
        (original.id, n) for n in (1, 2, 3)
    ]
    assert all(r.meta.get("nothingToRetry") for r in retried)
    assert _morning_scrapes_ok(sessions) == 3
    _assert_covered(sessions, wanted)


@pytest.mark.parametrize("change", CHANGES)
def test_a_british_evening_card_through_sydneys_dst_night_keeps_every_window(
    day: Day, sessions: sessionmaker[Session], change: Change
) -> None:
    # Saturday evening in Britain (BST) is the small hours of Sunday in Sydney, across
    # the change; the card is listed by the Saturday morning scrape in Sydney.
    # Race 1's T-60 window lies before the change and its start after it.
    listed = change.day - timedelta(days=1)
    starts = [change.at + timedelta(minutes=m) for m in (20, 55, 90)]
    card = meeting(
        "KEM",
        [race(n, s) for n, s in enumerate(starts, 1)],
        meetingName="KEMPTON",
        location="GBR",
        timezone="Europe/London",
    )
    server, jobs = day(_card(listed, [card]))
    wanted = _starts("KEM", *starts)
    window_ticks = _fires(
        "pre-race-t60",
        "racing serve",
        starts[0] - T60.opens_before,
        starts[-1] + AFTER_LAST,
    )

    _run(server, jobs, "morning", datetime.combine(listed, time(6), SYDNEY))
    _run_ticks(server, jobs, (fire.at for fire in window_ticks))

    _assert_covered(sessions, wanted)


def test_races_either_side_of_midnight_utc_are_scraped_once_per_window(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    # 11:00 AEDT and 13:00 NZDT are 00:00 UTC: one racing day over two UTC dates.
    sydney = [local(10, 50), local(11), local(11, 10)]
    nz = [datetime(2026, 11, 14, h, m, tzinfo=AUCKLAND) for h, m in ((12, 45), (13, 5))]
    ellerslie = meeting(
        "ELL",
        [race(n, s) for n, s in enumerate(nz, 1)],
        meetingName="ELLERSLIE",
        location="NZL",
        timezone="Pacific/Auckland",
    )
    gosford = meeting("GOS", [race(n, s) for n, s in enumerate(sydney, 1)])
    server, jobs = day(_card(DAY, [gosford, ellerslie]))
    wanted = {**_starts("GOS", *sydney), **_starts("ELL", *nz)}
    first, last = min(wanted.values()), max(wanted.values())
    assert (first.date(), last.date()) == (DAY - timedelta(days=1), DAY)

    _run(server, jobs, "morning", local(6))
    _run_ticks(server, jobs, ticks(first - T60.opens_before, last + AFTER_LAST))

    assert _morning_scrapes_ok(sessions) == len(wanted)
    _assert_covered(sessions, wanted)


def test_overseas_races_after_sydney_midnight_are_kept_by_the_day_that_listed_them(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    # A British card straddles midnight in Sydney; an American one runs the next
    # Sydney morning, on the same UTC date. Both are meetings of the racing date
    # whose morning scrape listed them, whatever date their races fall on elsewhere.
    london = [datetime(2026, 11, 14, 12, 50, tzinfo=LONDON)]
    london.append(datetime(2026, 11, 14, 13, 10, tzinfo=LONDON))
    santa_anita = [datetime(2026, 11, 14, 13, 0, tzinfo=LOS_ANGELES)]
    kempton = meeting(
        "KEM",
        [race(n, s) for n, s in enumerate(london, 1)],
        meetingName="KEMPTON",
        location="GBR",
        timezone="Europe/London",
    )
    santa = meeting(
        "SAN",
        [race(1, santa_anita[0])],
        meetingName="SANTA ANITA",
        location="USA",
        timezone="America/Los_Angeles",
    )
    server, jobs = day(_card(DAY, [kempton, santa]))
    wanted = {**_starts("KEM", *london), **_starts("SAN", *santa_anita)}
    assert [racing_day(s, SYDNEY) for s in wanted.values()] == [
        DAY,
        DAY + timedelta(days=1),
        DAY + timedelta(days=1),
    ]

    _run(server, jobs, "morning", local(6))
    for starts in (london, santa_anita):
        span = ticks(
            starts[0].astimezone(UTC) - T60.opens_before,
            starts[-1].astimezone(UTC) + AFTER_LAST,
        )
        _run_ticks(server, jobs, span)

    with sessions() as session:
        dates = set(session.scalars(select(Meeting.meeting_date)))
    assert dates == {DAY}
    assert _morning_scrapes_ok(sessions) == len(wanted)
    _assert_covered(sessions, wanted)


# A clock that jumps: the instants the runs are given skip ahead or go back.


def _jump_card(day: Day, *starts: datetime) -> tuple[SimulatorServer, DirectJobs]:
    server, jobs = day(
        _card(DAY, [meeting("GOS", [race(n, s) for n, s in enumerate(starts, 1)])])
    )
    _run(server, jobs, "morning", local(6))
    return server, jobs


def _local_seen(found: dict[tuple[str, int], list[Seen]]) -> dict[int, list[Any]]:
    """Rows per race number as (outcome, local HH:MM, late), for readable asserts."""
    return {
        number: [
            (s.outcome, s.started_at.astimezone(SYDNEY).strftime("%H:%M"), s.late)
            for s in seen
        ]
        for (_, number), seen in found.items()
    }


def _none_after_the_jump(sessions: sessionmaker[Session]) -> None:
    """No window scrape of a race started at or after its start time."""
    races = _races(sessions)
    for kind in ("t60", "t15"):
        for key, seen in _window_scrapes(sessions, kind).items():
            assert all(s.started_at < races[key].start_time for s in seen), key


def test_after_a_forward_jump_missed_windows_are_caught_up_late_only_while_useful(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    # Runs every 5 minutes to 12:00, then nothing until 12:30: five runs skipped.
    server, jobs = _jump_card(
        day, local(12, 30), local(12, 40), local(13, 20), local(13, 40)
    )
    calls = race_calls(server)

    instants = ticks(local(11, 20), local(12)) + ticks(local(12, 30), local(13, 30))
    _run_ticks(server, jobs, instants, ("t60", "t15"))

    assert _local_seen(_window_scrapes(sessions, "t60")) == {
        1: [("ok", "11:20", False)],
        2: [("ok", "11:30", False)],
        3: [("ok", "12:30", True)],  # 50 minutes to go: a late T-60 still helps
        4: [("ok", "12:30", False)],  # 70 minutes to go: its window just opened
    }
    assert _local_seen(_window_scrapes(sessions, "t15")) == {
        # Race 1 jumped during the gap: no T-15 after the jump.
        2: [("ok", "12:30", True)],  # 10 minutes to go: late, still before the jump
        3: [("ok", "12:55", False)],
        4: [("ok", "13:15", False)],
    }
    _none_after_the_jump(sessions)
    assert race_calls(server) - calls == 7


def test_a_result_check_skipped_by_a_forward_jump_is_caught_up_late(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    # Race 1 jumps at 12:05 and turns official at 12:17; its first check was due in
    # the runs from 12:10 to 12:20, all skipped by the jump from 12:00 to 12:30.
    server, jobs = _jump_card(day, local(12, 5), local(12, 40))

    instants = ticks(local(11, 50), local(12)) + ticks(local(12, 30), local(13))
    _run_ticks(server, jobs, instants, ("post_race",))

    states = {key: race.result_state for key, race in _races(sessions).items()}
    assert states == {("GOS", 1): "official", ("GOS", 2): "official"}
    with sessions() as session:
        first_checks = session.execute(
            select(Race.race_number, Scrape.late)
            .join(Race, Scrape.race_id == Race.id)
            .where(Scrape.kind == "result", Scrape.attempt == 1)
            .order_by(Race.race_number)
        ).all()
    # Race 1's first check came 25 minutes after its start, caught up; race 2's on time.
    assert [tuple(row) for row in first_checks] == [(1, True), (2, False)]


def test_after_a_backward_jump_nothing_is_scraped_or_checked_twice(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    # Runs every 5 minutes to 12:50, then the clock goes back 40 minutes and runs on.
    server, jobs = _jump_card(day, local(12, 30), local(12, 40), local(13))
    calls = race_calls(server)

    instants = ticks(local(11, 20), local(12, 50)) + ticks(local(12, 10), local(13, 15))
    _run_ticks(server, jobs, instants)

    assert _local_seen(_window_scrapes(sessions, "t60")) == {
        1: [("ok", "11:20", False)],
        2: [("ok", "11:30", False)],
        3: [("ok", "11:50", False)],
    }
    assert _local_seen(_window_scrapes(sessions, "t15")) == {
        1: [("ok", "12:05", False)],
        2: [("ok", "12:15", False)],
        3: [("ok", "12:35", False)],
    }
    _none_after_the_jump(sessions)
    with sessions() as session:
        checks = session.execute(
            select(Race.race_number, Scrape.attempt)
            .join(Race, Scrape.race_id == Race.id)
            .where(Scrape.kind == "result")
            .order_by(Race.race_number, Scrape.attempt)
        ).all()
        snapshots = session.scalar(select(func.count(OddsSnapshot.id)))
        statuses = set(session.scalars(select(JobRun.status)))
    # Three checks each (provisional, provisional, official), none repeated.
    assert [tuple(c) for c in checks] == [(n, a) for n in (1, 2, 3) for a in (1, 2, 3)]
    assert {r.result_state for r in _races(sessions).values()} == {"official"}
    # Four runners a race, a snapshot each per scrape: the morning, T-60, T-15 and
    # three checks; a repeated run added none.
    assert snapshots == 3 * 4 * (1 + 2 + 3)
    assert statuses == {"success"}
    assert race_calls(server) - calls == 3 * 2 + 3 * 3


@pytest.mark.parametrize(
    ("scheduled", "started", "skipped"),
    [
        (local(12, 5), local(12, 30), True),  # the clock jumped past it
        (local(12, 30), local(12, 34), False),  # late, but less than a tick
        (local(12, 30), local(12, 10), False),  # the clock went back: still runs
    ],
)
def test_a_run_is_skipped_only_when_it_starts_a_whole_tick_late(
    scheduled: datetime, started: datetime, skipped: bool
) -> None:
    assert superseded(scheduled, started) is skipped
