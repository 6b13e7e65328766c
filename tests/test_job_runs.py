"""The JobRun lifecycle: opened once, finalised once, never downgraded late."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from racing.database import transaction
from racing.job_runs import (
    JobSummary,
    find_job_run,
    finish_job_run,
    open_job_run,
    save_summary,
    status_from_counts,
)
from racing.models import JobStatus

START = datetime(2026, 11, 13, 19, 0, tzinfo=UTC)


def _open(sessions: sessionmaker[Session], flow_run_id: str = "run-1") -> int:
    with transaction(sessions) as session:
        return open_job_run(
            session=session,
            flow_run_id=flow_run_id,
            job_type="morning_scrape",
            started_at=START,
        ).id


def _finish(
    sessions: sessionmaker[Session], error: str | None = None, after_s: int = 90
) -> JobStatus | None:
    with transaction(sessions) as session:
        return finish_job_run(
            session=session,
            flow_run_id="run-1",
            finished_at=START + timedelta(seconds=after_s),
            error=error,
        )


def _save(
    sessions: sessionmaker[Session], job_run_id: int, done: int, bad: int
) -> None:
    with transaction(sessions) as session:
        summary = JobSummary(items_processed=done, items_failed=bad, meta={"k": 1})
        save_summary(session=session, job_run_id=job_run_id, summary=summary)


@pytest.mark.parametrize(
    ("processed", "failed", "expected"),
    [
        (40, 0, JobStatus.SUCCESS),
        (0, 0, JobStatus.SUCCESS),
        (40, 3, JobStatus.PARTIAL),
        (40, 40, JobStatus.FAILED),
    ],
)
def test_status_follows_the_item_counts(
    processed: int, failed: int, expected: JobStatus
) -> None:
    assert status_from_counts(processed, failed) is expected


def test_opening_twice_returns_the_same_running_job_run(
    sessions: sessionmaker[Session],
) -> None:
    first = _open(sessions)
    second = _open(sessions)

    assert first == second
    with sessions() as session:
        job = find_job_run(session=session, flow_run_id="run-1")
        assert job is not None
        assert job.status == "running"
        assert job.started_at == START


def test_finishing_a_partial_run_records_duration_and_counts(
    sessions: sessionmaker[Session],
) -> None:
    job_run_id = _open(sessions)
    _save(sessions, job_run_id, done=40, bad=2)

    assert _finish(sessions) is JobStatus.PARTIAL

    with sessions() as session:
        job = find_job_run(session=session, flow_run_id="run-1")
        assert job is not None
        assert (job.status, job.items_processed, job.items_failed) == ("partial", 40, 2)
        assert job.duration_ms == 90_000
        assert job.completed_at == START + timedelta(seconds=90)
        assert job.meta == {"k": 1}


def test_a_flow_error_fails_the_run_whatever_the_counts(
    sessions: sessionmaker[Session],
) -> None:
    job_run_id = _open(sessions)
    _save(sessions, job_run_id, done=40, bad=0)

    assert _finish(sessions, error="boom") is JobStatus.FAILED

    with sessions() as session:
        job = find_job_run(session=session, flow_run_id="run-1")
        assert job is not None
        assert (job.status, job.error_message) == ("failed", "boom")


def test_a_late_hook_never_overwrites_a_terminal_status(
    sessions: sessionmaker[Session],
) -> None:
    _open(sessions)
    assert _finish(sessions) is JobStatus.SUCCESS

    assert _finish(sessions, error="crashed: SIGTERM in clean-up", after_s=300) is None
    _open(sessions)

    with sessions() as session:
        job = find_job_run(session=session, flow_run_id="run-1")
        assert job is not None
        assert (job.status, job.error_message, job.duration_ms) == (
            "success",
            None,
            90_000,
        )


def test_the_operators_query_works_verbatim(sessions: sessionmaker[Session]) -> None:
    _open(sessions)
    _finish(sessions)

    with sessions() as session:
        rows = session.execute(
            text(
                'SELECT "jobType", status, "itemsProcessed", "durationMs", "startedAt" '
                'FROM job_runs ORDER BY "startedAt" DESC LIMIT 10;'
            )
        ).all()

    assert [tuple(row)[:4] for row in rows] == [("morning_scrape", "success", 0, 90000)]


def test_a_stored_error_never_keeps_a_secret(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    from racing.models import JobRun
    from racing.settings import get_settings

    # Whoever writes it (a hook, the reaper quoting Prefect): masked on the way in.
    monkeypatch.setenv("RACING_NOTIFY_WEBHOOK_URL", "https://127.0.0.1:9/hooks/T0K3N99")
    get_settings.cache_clear()
    job_run_id = _open(sessions)

    _finish(sessions, error="could not post to https://127.0.0.1:9/hooks/T0K3N99")

    get_settings.cache_clear()
    with sessions() as session:
        stored = session.get_one(JobRun, job_run_id).error_message
    assert stored == "could not post to ***"
