"""The cleanup: old job runs rolled up by day and deleted; racing data always kept."""

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from flows.cleanup import cleanup
from racing.database import transaction
from racing.errors import ConfigError
from racing.models import (
    Base,
    JobRun,
    JobRunRollup,
    Meeting,
    OddsSnapshot,
    Race,
    Result,
    Runner,
    Scrape,
)
from racing.retention import PruneReport, prune_history, prune_job_runs
from racing.rollups import add_durations, percentile
from racing.settings import load_settings

SYDNEY = ZoneInfo("Australia/Sydney")
NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
OLD_DAY = date(2026, 10, 20)


def old(hour: int, minute: int = 0, day: date = OLD_DAY) -> datetime:
    """An instant on a racing day well past the 30-day retention, in Sydney time."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SYDNEY)


def add_job_run(session: Session, **overrides: Any) -> JobRun:
    """A finished morning scrape of the old day; overrides use attribute names."""
    fields: dict[str, Any] = {
        "flow_run_id": str(uuid4()),
        "job_type": "morning_scrape",
        "status": "success",
        "started_at": old(6),
        "duration_ms": 60_000,
        "items_processed": 10,
        "items_failed": 0,
        "retry_count": 0,
        "meta": {},
        **overrides,
    }
    duration = fields["duration_ms"]
    if fields["status"] != "running" and duration is not None:
        finished = fields["started_at"] + timedelta(milliseconds=duration)
        fields.setdefault("completed_at", finished)
    job_run = JobRun(**fields)
    session.add(job_run)
    session.flush()
    return job_run


def add_race_card(session: Session) -> Runner:
    """A meeting with one resulted race and one runner."""
    seen = old(6)
    meeting = Meeting(
        meeting_date=OLD_DAY,
        race_type="R",
        venue_mnemonic="GOS",
        meeting_name="GOSFORD",
        location="NSW",
        abandoned=False,
        updated_at=seen,
    )
    race = Race(
        meeting=meeting,
        race_number=1,
        race_name="RACE 1",
        start_time=old(13),
        status="Paying",
        updated_at=seen,
    )
    session.add_all([meeting, race])
    session.flush()
    runner = Runner(
        race_id=race.id,
        runner_number=1,
        runner_name="RUNNER 1",
        emergency=False,
        scratched=False,
        updated_at=seen,
    )
    result = Result(
        race_id=race.id, positions=[[1]], dividends=[], official=True, captured_at=seen
    )
    session.add_all([runner, result])
    session.flush()
    return runner


def add_scrape(session: Session, job_run: JobRun, runner: Runner) -> OddsSnapshot:
    """A scrape by `job_run` and the odds snapshot it took of `runner`."""
    scrape = Scrape(
        job_run_id=job_run.id,
        race_id=None,
        kind="morning",
        attempt=1,
        started_at=job_run.started_at,
        finished_at=job_run.started_at,
        outcome="ok",
    )
    session.add(scrape)
    session.flush()
    snapshot = OddsSnapshot(
        runner_id=runner.id,
        scrape_id=scrape.id,
        captured_at=job_run.started_at,
        betting_status="Open",
        win_fixed=3.5,
    )
    session.add(snapshot)
    session.flush()
    return snapshot


def _prune(
    sessions: sessionmaker[Session],
    now: datetime = NOW,
    retention_days: int = 30,
    batch_size: int = 500,
) -> PruneReport:
    with transaction(sessions) as session:
        return prune_job_runs(
            session=session,
            now=now,
            retention_days=retention_days,
            zone=SYDNEY,
            batch_size=batch_size,
        )


def _rollups(sessions: sessionmaker[Session]) -> dict[tuple[str, date], JobRunRollup]:
    with sessions() as session:
        rows = session.scalars(select(JobRunRollup))
        return {(row.job_type, row.day): row for row in rows}


def _count(sessions: sessionmaker[Session], model: type[Base]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _close_above(estimate: int | None, exact: int) -> bool:
    """Percentiles read from the histogram are at most about 1 % above the exact."""
    return estimate is not None and exact <= estimate <= exact * 1.01 + 1


def test_old_runs_are_folded_into_a_rollup_per_job_type_and_racing_day(
    sessions: sessionmaker[Session],
) -> None:
    durations = [1_000 * n for n in range(1, 11)]
    statuses = ["success"] * 7 + ["partial"] * 2 + ["failed"]
    with transaction(sessions) as session:
        runs = zip(durations, statuses, strict=True)
        for hour, (duration, status) in enumerate(runs):
            add_job_run(
                session,
                started_at=old(6 + hour),
                duration_ms=duration,
                status=status,
                items_processed=4,
                items_failed=1 if status == "partial" else 0,
                retry_count=2 if hour == 0 else 0,
            )
        # 23:30 and 00:30 in Sydney are two racing days, though one UTC date.
        add_job_run(session, job_type="pre_race_t60", started_at=old(23, 30))
        next_day = OLD_DAY + timedelta(days=1)
        add_job_run(session, job_type="pre_race_t60", started_at=old(0, 30, next_day))

    report = _prune(sessions)

    assert report.runs_deleted == 12
    assert _count(sessions, JobRun) == 0
    rollups = _rollups(sessions)
    assert set(rollups) == {
        ("morning_scrape", OLD_DAY),
        ("pre_race_t60", OLD_DAY),
        ("pre_race_t60", next_day),
    }
    morning = rollups["morning_scrape", OLD_DAY]
    assert (morning.runs_total, morning.runs_success) == (10, 7)
    assert (morning.runs_partial, morning.runs_failed) == (2, 1)
    assert (morning.items_processed, morning.items_failed) == (40, 2)
    assert (morning.retries, morning.runs_retried) == (2, 1)
    assert morning.duration_ms_max == 10_000
    assert _close_above(morning.duration_ms_p50, 5_000)
    assert _close_above(morning.duration_ms_p90, 9_000)
    assert _close_above(morning.duration_ms_p99, 10_000)
    assert rollups["pre_race_t60", next_day].runs_total == 1


def test_recent_runs_and_running_runs_are_kept_with_their_scrapes(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        runner = add_race_card(session)
        recent = add_job_run(session, started_at=NOW - timedelta(days=29))
        stuck = add_job_run(session, status="running", duration_ms=None)
        add_scrape(session, recent, runner)
        add_scrape(session, stuck, runner)

    report = _prune(sessions)

    assert report.runs_deleted == 0
    assert _count(sessions, JobRun) == 2
    assert _count(sessions, Scrape) == 2
    assert _rollups(sessions) == {}


def test_a_retention_of_zero_days_keeps_every_run(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        add_job_run(session, started_at=old(6, day=date(2020, 1, 1)))

    report = _prune(sessions, retention_days=0)

    assert (report.cutoff, report.runs_deleted) == (None, 0)
    assert _count(sessions, JobRun) == 1
    assert _rollups(sessions) == {}


def test_racing_rows_survive_and_old_snapshots_lose_only_their_scrape(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        runner = add_race_card(session)
        pruned = add_scrape(session, add_job_run(session), runner).id
        recent = add_job_run(session, started_at=NOW - timedelta(hours=1))
        kept = add_scrape(session, recent, runner)
        kept_id, kept_scrape = kept.id, kept.scrape_id
    racing = [Meeting, Race, Runner, OddsSnapshot, Result]
    before = [_count(sessions, model) for model in racing]

    report = _prune(sessions)

    assert [_count(sessions, model) for model in racing] == before
    assert (report.scrapes_deleted, report.snapshots_detached) == (1, 1)
    assert _count(sessions, Scrape) == 1
    with sessions() as session:
        assert session.get_one(OddsSnapshot, pruned).scrape_id is None
        assert session.get_one(OddsSnapshot, kept_id).scrape_id == kept_scrape


def test_a_day_pruned_in_two_cleanups_merges_into_one_rollup(
    sessions: sessionmaker[Session],
) -> None:
    durations = [700, 90_000, 1_200, 45_000, 3_000, 3_100, 250, 60_000, 8_000, 5]
    with transaction(sessions) as session:
        for hour, duration in enumerate(durations):
            add_job_run(session, started_at=old(6 + hour), duration_ms=duration)
    # The first cleanup's cutoff falls at 11:00 on the old day: five runs go.
    first_now = old(11).astimezone(UTC) + timedelta(days=30)

    assert _prune(sessions, now=first_now).runs_deleted == 5
    assert _rollups(sessions)["morning_scrape", OLD_DAY].runs_total == 5
    assert _prune(sessions).runs_deleted == 5
    assert _prune(sessions).runs_deleted == 0

    rollups = _rollups(sessions)
    assert list(rollups) == [("morning_scrape", OLD_DAY)]
    merged = rollups["morning_scrape", OLD_DAY]
    assert (merged.runs_total, merged.items_processed) == (10, 100)
    # The same as folding all ten at once, and close to the exact percentiles.
    at_once = add_durations({}, durations)
    assert merged.duration_histogram == at_once
    assert merged.duration_ms_p50 == percentile(at_once, 50)
    assert merged.duration_ms_p90 == percentile(at_once, 90)
    assert _close_above(merged.duration_ms_p50, sorted(durations)[4])
    assert _close_above(merged.duration_ms_p90, sorted(durations)[8])
    assert merged.duration_ms_p99 == merged.duration_ms_max == 90_000


@pytest.mark.parametrize("batch_size", [1, 500])
def test_a_parent_and_its_retry_are_pruned_together_in_any_batches(
    sessions: sessionmaker[Session], batch_size: int
) -> None:
    with transaction(sessions) as session:
        parent = add_job_run(session, status="failed", items_failed=10)
        add_job_run(
            session,
            started_at=old(6, 15),
            parent_job_run_id=parent.id,
            retry_count=1,
        )

    report = _prune(sessions, batch_size=batch_size)

    assert report.runs_deleted == 2
    assert _count(sessions, JobRun) == 0
    rollup = _rollups(sessions)["morning_scrape", OLD_DAY]
    assert (rollup.runs_failed, rollup.runs_success, rollup.retries) == (1, 1, 1)


def test_a_kept_retry_loses_the_link_to_its_pruned_parent(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        parent = add_job_run(session, status="failed", items_failed=10)
        child = add_job_run(
            session,
            started_at=NOW - timedelta(days=1),
            parent_job_run_id=parent.id,
            retry_count=1,
        ).id

    report = _prune(sessions)

    assert (report.runs_deleted, report.runs_detached) == (1, 1)
    with sessions() as session:
        assert session.get_one(JobRun, child).parent_job_run_id is None


def test_batches_in_their_own_transactions_fold_the_same_as_one(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        runner = add_race_card(session)
        for hour in range(7):
            add_scrape(session, add_job_run(session, started_at=old(6 + hour)), runner)

    report = prune_history(
        sessions=sessions, now=NOW, retention_days=30, zone=SYDNEY, batch_size=3
    )

    assert (report.runs_deleted, report.scrapes_deleted, report.done) == (7, 7, True)
    assert report.folded == {("morning_scrape", OLD_DAY): 7}
    assert _rollups(sessions)["morning_scrape", OLD_DAY].runs_total == 7
    assert _count(sessions, OddsSnapshot) == 7


def test_the_cleanup_knows_every_foreign_key_into_the_tables_it_prunes() -> None:
    references = {
        f"{key.parent.table.name}.{key.parent.name}"
        for table in Base.metadata.sorted_tables
        for key in table.foreign_keys
        if key.column.table.name in {"scrapes", "job_runs"}
    }

    # A new one must be detached or deleted in racing/retention.py, then listed here.
    assert references == {
        "odds_snapshots.scrape_id",
        "job_runs.parentJobRunId",
        "scrapes.jobRunId",
    }


def test_retention_defaults_to_30_days_and_refuses_a_negative_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RACING_JOB_RUN_RETENTION_DAYS", raising=False)
    assert load_settings().job_run_retention_days == 30

    monkeypatch.setenv("RACING_JOB_RUN_RETENTION_DAYS", "-1")
    with pytest.raises(ConfigError, match="RACING_JOB_RUN_RETENTION_DAYS"):
        load_settings()


def _cleanup_run(sessions: sessionmaker[Session], flow_run_id: object) -> JobRun:
    with sessions() as session:
        job = session.scalars(
            select(JobRun).where(JobRun.flow_run_id == str(flow_run_id))
        ).one()
        assert job.job_type == "cleanup"
        return job


@pytest.mark.usefixtures("prefect_harness", "racing_env")
def test_the_cleanup_flow_prunes_old_runs_and_records_what_it_folded(
    sessions: sessionmaker[Session],
) -> None:
    started = datetime.now(UTC) - timedelta(days=40)
    with transaction(sessions) as session:
        runner = add_race_card(session)
        add_scrape(session, add_job_run(session, started_at=started), runner)
        kept = add_job_run(session, started_at=datetime.now(UTC) - timedelta(days=2))
        kept_id = kept.id

    state = cleanup(return_state=True)

    folded = {"morning_scrape": {started.astimezone(SYDNEY).date().isoformat(): 1}}
    job = _cleanup_run(sessions, state.state_details.flow_run_id)
    assert (job.status, job.items_processed, job.items_failed) == ("success", 1, 0)
    assert job.meta["folded"] == folded
    assert (job.meta["scrapesDeleted"], job.meta["oddsSnapshotsDetached"]) == (1, 1)
    assert state.result()["jobRunId"] == job.id
    with sessions() as session:
        remaining = set(session.scalars(select(JobRun.id)))
    assert remaining == {kept_id, job.id}


@pytest.mark.usefixtures("prefect_harness", "racing_env")
def test_a_cleanup_as_of_a_later_day_never_prunes_its_own_job_run(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        add_job_run(session, started_at=datetime.now(UTC) - timedelta(days=2))

    state = cleanup(as_of=datetime.now(UTC) + timedelta(days=60), return_state=True)

    job = _cleanup_run(sessions, state.state_details.flow_run_id)
    assert (job.status, job.items_processed) == ("success", 1)
    with sessions() as session:
        assert list(session.scalars(select(JobRun.id))) == [job.id]
