"""The lifecycle of a JobRun row: opened when a flow run starts, finalised once.

A JobRun is keyed by its Prefect flow-run id, so the hook that opens it and the flow
body that needs its id can both ask for it in either order. Hooks may arrive late or
twice (a runner in another process can report a crash after the flow completed), so a
terminal status is never overwritten.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from racing.models import JobRun, JobStatus
from racing.settings import get_settings

log = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 2000


@dataclass
class JobSummary:
    """What a run did, saved by the flow body before it returns."""

    items_processed: int = 0
    items_failed: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    # One line naming what failed, kept as the JobRun's errorMessage.
    error: str | None = None

    @property
    def status(self) -> "JobStatus":
        return status_from_counts(self.items_processed, self.items_failed)


def describe_failures(noun: str, failed: list[str], total: int) -> str | None:
    """e.g. "2 of 40 meetings failed: 2026-11-14/R/GOS, 2026-11-14/H/ADD"."""
    if not failed:
        return None
    shown = ", ".join(failed[:5]) + (
        f" and {len(failed) - 5} more" if len(failed) > 5 else ""
    )
    return f"{len(failed)} of {total} {noun} failed: {shown}"


def open_job_run(
    *,
    session: Session,
    flow_run_id: str,
    job_type: str,
    started_at: datetime,
) -> JobRun:
    """Return the JobRun of a flow run, creating it with status running if new."""
    existing = find_job_run(session=session, flow_run_id=flow_run_id)
    if existing is not None:
        return existing

    job_run = JobRun(
        flow_run_id=flow_run_id,
        job_type=job_type,
        status=JobStatus.RUNNING.value,
        started_at=started_at,
        items_processed=0,
        items_failed=0,
        meta={},
        retry_count=0,
    )
    try:
        with session.begin_nested():
            session.add(job_run)
    except IntegrityError:
        # The hook and the flow body raced to create it; the other one won.
        found = find_job_run(session=session, flow_run_id=flow_run_id)
        assert found is not None
        return found
    return job_run


def find_job_run(*, session: Session, flow_run_id: str) -> JobRun | None:
    """The JobRun of a flow run, if one was opened."""
    return session.scalars(
        select(JobRun).where(JobRun.flow_run_id == flow_run_id)
    ).one_or_none()


def save_summary(*, session: Session, job_run_id: int, summary: JobSummary) -> JobRun:
    """Store the run's counts and metadata while it is still running; the JobRun."""
    job_run = session.get_one(JobRun, job_run_id)
    job_run.items_processed = summary.items_processed
    job_run.items_failed = summary.items_failed
    job_run.meta = {**job_run.meta, **summary.meta}
    job_run.error_message = _clip(summary.error)
    return job_run


def link_retry(
    *, session: Session, job_run_id: int, parent_job_run_id: int, retry_count: int
) -> None:
    """Record that a run retries another: its parent and its place in the chain."""
    job_run = session.get_one(JobRun, job_run_id)
    job_run.parent_job_run_id = parent_job_run_id
    job_run.retry_count = retry_count


def status_from_counts(items_processed: int, items_failed: int) -> JobStatus:
    """success if nothing failed, failed if nothing succeeded, partial otherwise."""
    if items_failed == 0:
        return JobStatus.SUCCESS
    if items_failed >= items_processed:
        return JobStatus.FAILED
    return JobStatus.PARTIAL


def finish_job_run(
    *,
    session: Session,
    flow_run_id: str,
    finished_at: datetime,
    error: str | None = None,
) -> JobStatus | None:
    """Finalise a running JobRun; `error` means the flow itself failed.

    Returns the status written, or None when the JobRun was already terminal (or was
    never opened), in which case nothing changes.
    """
    job_run = find_job_run(session=session, flow_run_id=flow_run_id)
    if job_run is None or job_run.status != JobStatus.RUNNING:
        return None

    if error is not None:
        status = JobStatus.FAILED
    else:
        status = status_from_counts(job_run.items_processed, job_run.items_failed)
    duration = finished_at - job_run.started_at

    # Guarded on status so a concurrent finaliser cannot be overwritten.
    changed = session.execute(
        update(JobRun)
        .where(JobRun.id == job_run.id, JobRun.status == JobStatus.RUNNING.value)
        .values(
            status=status.value,
            completed_at=finished_at,
            duration_ms=max(0, int(duration.total_seconds() * 1000)),
            # A flow error replaces the summary's list of failed items.
            error_message=_clip(error) if error else job_run.error_message,
        )
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount == 0:  # type: ignore[attr-defined]
        return None
    session.expire(job_run)
    log.info(
        "job run %s (%s, flow run %s) finished %s",
        job_run.id,
        job_run.job_type,
        flow_run_id,
        status.value,
    )
    return status


def _clip(error: str | None) -> str | None:
    """An error as it is stored: secrets masked (it may quote a URL or a driver's
    message), and clipped to a length a notification can carry."""
    if error is None:
        return None
    error = get_settings().redact(error)
    if len(error) <= MAX_ERROR_LENGTH:
        return error
    return error[: MAX_ERROR_LENGTH - 1] + "…"
