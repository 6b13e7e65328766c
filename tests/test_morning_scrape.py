"""The morning scrape flow end to end: simulator over HTTP, real flow runs, hooks."""

from datetime import date, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from racing.models import JobRun, Meeting, OddsSnapshot, Race, Runner, Scrape
from racing.simulator.server import SimulatorServer
from tests.factories import local

pytestmark = pytest.mark.usefixtures("prefect_harness")

DAY = date(2026, 11, 14)
SIX_AM = local(6)


def _run(as_of: datetime) -> int:
    from flows.morning_scrape import morning_scrape

    result = morning_scrape(racing_date=DAY, as_of=as_of)
    return int(str(result["jobRunId"]))


def _count(session: Session, model: type[object]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_failing_meetings_make_a_partial_run_naming_them(
    faulty_day: SimulatorServer, sessions: sessionmaker[Session]
) -> None:
    job_run_id = _run(SIX_AM)

    with sessions() as session:
        job = session.get_one(JobRun, job_run_id)
        assert (job.job_type, job.status) == ("morning_scrape", "partial")
        assert (job.items_processed, job.items_failed) == (4, 3)
        assert job.meta["failedMeetings"] == [
            "2026-11-14/G/WPK",
            "2026-11-14/H/ADD",
            "2026-11-14/R/GOS",
        ]
        meetings = job.meta["meetings"]
        assert meetings["2026-11-14/R/BEN"] == {
            "outcome": "ok",
            "racesOk": 7,
            "racesFailed": 0,
        }
        assert "500" in meetings["2026-11-14/R/GOS"]["error"]
        assert "race 3: bad payload" in meetings["2026-11-14/G/WPK"]["error"]
        assert meetings["2026-11-14/G/WPK"]["racesOk"] == 7

        ben_races = session.scalars(
            select(Race).join(Meeting).where(Meeting.venue_mnemonic == "BEN")
        ).all()
        assert len(ben_races) == 7
        assert all(race.distance for race in ben_races), "full race pages stored"


def test_a_failing_meeting_is_retried_by_its_task_and_attempts_are_numbered(
    faulty_day: SimulatorServer, sessions: sessionmaker[Session]
) -> None:
    job_run_id = _run(SIX_AM)

    with sessions() as session:
        attempts = session.scalars(
            select(Scrape.attempt)
            .join(Race, Scrape.race_id == Race.id)
            .join(Meeting)
            .where(Meeting.venue_mnemonic == "GOS", Race.race_number == 1)
            .order_by(Scrape.attempt)
        ).all()
        # One attempt per task run: the first try and two task retries.
        assert attempts == [1, 2, 3]
        # The malformed race is not retried: a bad payload will not fix itself.
        wpk3 = session.scalars(
            select(Scrape)
            .join(Race, Scrape.race_id == Race.id)
            .join(Meeting)
            .where(Meeting.venue_mnemonic == "WPK", Race.race_number == 3)
        ).all()
        assert [(s.attempt, s.outcome) for s in wpk3] == [(1, "failed")]
        assert all(s.job_run_id == job_run_id for s in wpk3)


def test_a_rerun_after_recovery_succeeds_without_duplicating_rows(
    faulty_day: SimulatorServer, sessions: sessionmaker[Session]
) -> None:
    _run(SIX_AM)
    with sessions() as session:
        assert (_count(session, Meeting), _count(session, Race)) == (4, 30)

    half_past = local(6, 30)
    faulty_day.set_clock(half_past)
    _run(half_past)
    with sessions() as session:
        recovered = {m: _count(session, m) for m in (Meeting, Race, Runner)}
    job_run_id = _run(half_past)

    with sessions() as session:
        assert {m: _count(session, m) for m in (Meeting, Race, Runner)} == recovered
        assert (recovered[Meeting], recovered[Race]) == (4, 30)
        job = session.get_one(JobRun, job_run_id)
        assert job.meta["failedMeetings"] == ["2026-11-14/G/WPK"]
        assert (job.status, job.items_failed) == ("partial", 1)
        # Each successful scrape added one odds snapshot per runner.
        ok_scrapes = session.scalars(
            select(Scrape.id).where(Scrape.outcome == "ok")
        ).all()
        snapshots = session.scalar(
            select(func.count(OddsSnapshot.id)).where(
                OddsSnapshot.scrape_id.in_(ok_scrapes)
            )
        )
        assert snapshots == _count(session, OddsSnapshot)
