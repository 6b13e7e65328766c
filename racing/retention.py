"""Retention of the job record: old JobRuns go into daily roll-ups, then are deleted.

A finished JobRun that started before the retention cutoff is deleted with its Scrape
rows, and what it did is added to the roll-up of its job type and racing day in the same
transaction. The roll-up is built from the rows the DELETE returned, so a run is counted
exactly once however often the cleanup runs, fails half-way or overlaps another.

Racing data is never deleted: an odds snapshot taken by a deleted scrape stays, with no
scrape, and a JobRun whose parent is deleted stays, with no parent. A run still marked
running is left alone whatever its age; reaping stuck runs is another job's work.
"""

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Delete, Update, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from racing.database import transaction
from racing.job_runs import JobSummary
from racing.models import JobRun, JobStatus, OddsSnapshot, Scrape
from racing.rollups import FoldedRun, fold_runs

log = logging.getLogger(__name__)

JOB_TYPE = "cleanup"
# Runs per batch: a year of history is never loaded at once.
BATCH_SIZE = 500

_FINISHED = [status.value for status in JobStatus if status.terminal]


@dataclass
class PruneReport:
    """What a cleanup folded and deleted; `done` is False when it stopped early."""

    cutoff: datetime | None
    runs_deleted: int = 0
    scrapes_deleted: int = 0
    snapshots_detached: int = 0
    runs_detached: int = 0
    folded: Counter[tuple[str, date]] = field(default_factory=Counter)
    done: bool = True

    def add(self, other: "PruneReport") -> None:
        """Count another batch's work in this report."""
        self.runs_deleted += other.runs_deleted
        self.scrapes_deleted += other.scrapes_deleted
        self.snapshots_detached += other.snapshots_detached
        self.runs_detached += other.runs_detached
        self.folded.update(other.folded)
        self.done = other.done


def retention_cutoff(now: datetime, retention_days: int) -> datetime | None:
    """Runs that started before this instant are pruned; None keeps them all."""
    if retention_days < 0:
        raise ValueError(f"retention_days must be 0 or more, not {retention_days}")
    if retention_days == 0:
        return None
    return now - timedelta(days=retention_days)


def prune_job_runs(
    *,
    session: Session,
    now: datetime,
    retention_days: int,
    zone: ZoneInfo,
    batch_size: int = BATCH_SIZE,
    max_batches: int | None = None,
) -> PruneReport:
    """Fold then delete the finished JobRuns older than the retention, with scrapes.

    Works `batch_size` runs at a time in the session's transaction; with `max_batches`
    it may stop before the end, and then the report's `done` is False.
    """
    report = PruneReport(cutoff=retention_cutoff(now, retention_days))
    if report.cutoff is None:
        return report

    batches = 0
    while max_batches is None or batches < max_batches:
        ids = _next_batch(session=session, cutoff=report.cutoff, size=batch_size)
        if ids:
            _prune_batch(session=session, ids=ids, report=report, zone=zone, now=now)
        batches += 1
        if len(ids) < batch_size:
            return report
    report.done = False
    return report


def prune_history(
    *,
    sessions: sessionmaker[Session],
    now: datetime,
    retention_days: int,
    zone: ZoneInfo,
    batch_size: int = BATCH_SIZE,
) -> PruneReport:
    """`prune_job_runs` with one transaction per batch.

    A backlog of months then never holds the database's write lock for long (SQLite
    writers wait 30 s at most), and a failure keeps the batches already done.
    """
    total = PruneReport(cutoff=retention_cutoff(now, retention_days))
    while True:
        with transaction(sessions) as session:
            report = prune_job_runs(
                session=session,
                now=now,
                retention_days=retention_days,
                zone=zone,
                batch_size=batch_size,
                max_batches=1,
            )
        total.add(report)
        if report.done:
            return total


def summarise(report: PruneReport, retention_days: int) -> JobSummary:
    """The cleanup's JobRun summary: one item per run folded and deleted."""
    folded: dict[str, dict[str, int]] = {}
    for (job_type, day), runs in sorted(report.folded.items()):
        folded.setdefault(job_type, {})[day.isoformat()] = runs
    meta: dict[str, Any] = {
        "retentionDays": retention_days,
        "cutoff": report.cutoff.isoformat() if report.cutoff else None,
        "runsDeleted": report.runs_deleted,
        "scrapesDeleted": report.scrapes_deleted,
        "oddsSnapshotsDetached": report.snapshots_detached,
        "jobRunsDetached": report.runs_detached,
        "folded": folded,
    }
    return JobSummary(items_processed=report.runs_deleted, items_failed=0, meta=meta)


def _next_batch(*, session: Session, cutoff: datetime, size: int) -> list[int]:
    query = (
        select(JobRun.id)
        .where(JobRun.started_at < cutoff, JobRun.status.in_(_FINISHED))
        .order_by(JobRun.id)
        .limit(size)
    )
    return list(session.scalars(query))


def _prune_batch(
    *,
    session: Session,
    ids: list[int],
    report: PruneReport,
    zone: ZoneInfo,
    now: datetime,
) -> None:
    snapshots, children = _detach_kept_rows(session=session, ids=ids)
    # Explicit although the foreign key cascades: SQLite only cascades with the
    # foreign_keys pragma on, and a connection made elsewhere may not set it.
    scrape_rows = _rowcount(session, delete(Scrape).where(Scrape.job_run_id.in_(ids)))
    deleted = _delete_runs(session=session, ids=ids)
    folded = fold_runs(session=session, runs=deleted, zone=zone, now=now)

    report.runs_deleted += len(deleted)
    report.scrapes_deleted += scrape_rows
    report.snapshots_detached += snapshots
    report.runs_detached += children
    report.folded.update(folded)
    log.debug(
        "pruned %d job runs and %d scrapes, detached %d odds snapshots (cutoff %s)",
        len(deleted),
        scrape_rows,
        snapshots,
        report.cutoff,
    )


def _detach_kept_rows(*, session: Session, ids: list[int]) -> tuple[int, int]:
    """Cut the links of kept rows to pruned ones: (odds snapshots, job runs)."""
    # Every foreign key into the pruned tables is handled here or deleted with them;
    # a test fails when a new one appears, so no racing row goes by cascade unnoticed.
    scrapes = select(Scrape.id).where(Scrape.job_run_id.in_(ids))
    snapshots = _rowcount(
        session,
        update(OddsSnapshot)
        .where(OddsSnapshot.scrape_id.in_(scrapes))
        .values(scrape_id=None),
    )
    # A parent and its child pruned together go in one DELETE, whose foreign keys are
    # checked at its end; a child kept (newer, or still running) loses the link.
    children = _rowcount(
        session,
        update(JobRun)
        .where(JobRun.parent_job_run_id.in_(ids), JobRun.id.not_in(ids))
        .values(parent_job_run_id=None),
    )
    return snapshots, children


def _delete_runs(*, session: Session, ids: list[int]) -> list[FoldedRun]:
    rows = session.execute(
        delete(JobRun)
        .where(JobRun.id.in_(ids), JobRun.status.in_(_FINISHED))
        .returning(
            JobRun.job_type,
            JobRun.status,
            JobRun.started_at,
            JobRun.duration_ms,
            JobRun.items_processed,
            JobRun.items_failed,
            JobRun.retry_count,
        )
        .execution_options(synchronize_session=False)
    )
    return [FoldedRun(*row) for row in rows]


def _rowcount(session: Session, statement: Update | Delete) -> int:
    result = session.execute(statement.execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]
