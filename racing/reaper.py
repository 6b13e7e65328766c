"""The stale-run reaper: JobRuns left `running` by flow runs that will never end them.

A flow run killed together with its runner, or deleted from Prefect, fires no hook, so
its JobRun would stay `running` for ever. The reaper asks Prefect (through a callable,
so this module never imports it) what became of each running JobRun's flow run, and
marks the abandoned ones failed with what Prefect reported. A JobRun whose flow run may
still finish it is left alone until it passes the maximum age.

A run that died also leaves its claimed scrapes `running`, and a `running` claim keeps
every other run away from that race: the reaper fails the claims of every finished
JobRun, including runs a crash hook finalised, so the race can be scraped again.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from racing.database import transaction
from racing.job_runs import JobSummary, describe_failures, finish_job_run
from racing.models import JobRun, JobStatus, Scrape, ScrapeOutcome

log = logging.getLogger(__name__)

JOB_TYPE = "reaper"
# Prefect state types after which a flow run never changes its JobRun again.
TERMINAL_STATES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})
# A flow run's own hooks finalise its JobRun just after Prefect records the terminal
# state (and a JobRun is opened just after its flow run is created): the reaper leaves
# them this long, so it never races a hook that is about to do the job properly.
HOOK_GRACE = timedelta(minutes=5)
ABANDONED_SCRAPE_ERROR = "abandoned"


@dataclass(frozen=True)
class ReportedState:
    """What Prefect says about one flow run."""

    # Prefect's state type, e.g. "RUNNING" or "CRASHED".
    type: str
    message: str | None = None
    # When Prefect entered that state, aware UTC.
    timestamp: datetime | None = None


# Looks a flow-run id up in Prefect; None means Prefect has no such flow run.
StateLookup = Callable[[str], ReportedState | None]


@dataclass(frozen=True)
class Abandoned:
    """A JobRun the reaper marked failed, and why."""

    job_run_id: int
    job_type: str
    flow_run_id: str
    reason: str


@dataclass
class ReapReport:
    """What one reaper run checked, marked failed, and could not look up."""

    checked: int = 0
    abandoned: list[Abandoned] = field(default_factory=list)
    # JobRun id -> the error of its Prefect lookup.
    lookup_errors: dict[int, str] = field(default_factory=dict)
    # Claimed scrapes of finished JobRuns, failed as abandoned.
    scrapes_failed: int = 0


def abandonment_reason(
    *,
    started_at: datetime,
    reported: ReportedState | None,
    now: datetime,
    max_age: timedelta,
) -> str | None:
    """Why a running JobRun is abandoned; None while its flow run may still end it."""
    age = now - started_at
    if reported is None:
        if age < HOOK_GRACE:
            return None
        return "abandoned: Prefect has no record of the flow run"

    if reported.type in TERMINAL_STATES:
        if reported.timestamp is not None and now - reported.timestamp < HOOK_GRACE:
            return None
        detail = f" ({reported.message})" if reported.message else ""
        return f"abandoned: Prefect reports the flow run {reported.type}{detail}"

    if age > max_age:
        return (
            f"abandoned: Prefect reports the flow run {reported.type} after "
            f"{_minutes(age)} minutes, past the limit of {_minutes(max_age)} "
            "(RACING_STALE_RUN_MINUTES)"
        )
    return None


def reap_stale_runs(
    *,
    sessions: sessionmaker[Session],
    lookup: StateLookup,
    now: datetime,
    max_age: timedelta,
    own_flow_run_id: str | None = None,
) -> ReapReport:
    """Mark failed every running JobRun whose flow run is over, gone or too old,
    then the scrapes still `running` of every finished JobRun.

    Each JobRun is finalised in its own transaction, through `finish_job_run`, so a
    hook that finalised it meanwhile wins and nothing is overwritten.
    """
    report = ReapReport()
    for job_run_id, flow_run_id, started_at in _running(sessions, own_flow_run_id):
        report.checked += 1
        try:
            reported = lookup(flow_run_id)
        except Exception as exc:
            # One failed lookup must not stop the others; it is counted as a failed
            # item of the reaper's own run, and the JobRun is looked at next time.
            log.warning(
                "job run %s: looking up flow run %s failed: %s",
                job_run_id,
                flow_run_id,
                exc,
            )
            report.lookup_errors[job_run_id] = f"{type(exc).__name__}: {exc}"
            continue

        reason = abandonment_reason(
            started_at=started_at, reported=reported, now=now, max_age=max_age
        )
        if reason is None:
            continue
        ended_at = _ended_at(reported, now)
        abandoned = _abandon(sessions, flow_run_id, reason, ended_at)
        if abandoned is not None:
            report.abandoned.append(abandoned)

    with transaction(sessions) as session:
        report.scrapes_failed = fail_orphaned_scrapes(session=session, now=now)
    return report


def fail_orphaned_scrapes(*, session: Session, now: datetime) -> int:
    """Fail the `running` scrapes of finished JobRuns; returns how many.

    A run finishes its scrapes before its JobRun, so a claim still running under a
    finished JobRun belongs to a process that died.
    """
    finished = select(JobRun.id).where(JobRun.status != JobStatus.RUNNING.value)
    result = session.execute(
        update(Scrape)
        .where(
            Scrape.outcome == ScrapeOutcome.RUNNING.value,
            Scrape.job_run_id.in_(finished),
        )
        .values(
            outcome=ScrapeOutcome.FAILED.value,
            error=ABANDONED_SCRAPE_ERROR,
            finished_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    count: int = result.rowcount  # type: ignore[attr-defined]
    if count:
        log.warning(
            "%d running scrapes of finished job runs failed as abandoned", count
        )
    return count


def summarise(report: ReapReport) -> JobSummary:
    """The reaper's JobRun summary: one item per running JobRun checked."""
    meta: dict[str, Any] = {
        "checked": report.checked,
        "abandoned": [
            {
                "jobRunId": item.job_run_id,
                "jobType": item.job_type,
                "flowRunId": item.flow_run_id,
                "reason": item.reason,
            }
            for item in report.abandoned
        ],
        "lookupErrors": {str(k): v for k, v in report.lookup_errors.items()},
        "scrapesFailed": report.scrapes_failed,
    }
    failed = [f"job run {job_run_id}" for job_run_id in report.lookup_errors]
    return JobSummary(
        items_processed=report.checked,
        items_failed=len(failed),
        meta=meta,
        error=describe_failures("lookups", failed, report.checked),
    )


def _running(
    sessions: sessionmaker[Session], own_flow_run_id: str | None
) -> list[tuple[int, str, datetime]]:
    query = (
        select(JobRun.id, JobRun.flow_run_id, JobRun.started_at)
        .where(JobRun.status == JobStatus.RUNNING.value)
        .order_by(JobRun.id)
    )
    if own_flow_run_id is not None:
        query = query.where(JobRun.flow_run_id != own_flow_run_id)
    with sessions() as session:
        return [
            (row.id, row.flow_run_id, row.started_at) for row in session.execute(query)
        ]


def _ended_at(reported: ReportedState | None, now: datetime) -> datetime:
    """A flow run that ended in Prefect ended then; otherwise it is ended now."""
    if reported is not None and reported.type in TERMINAL_STATES and reported.timestamp:
        return min(reported.timestamp, now)
    return now


def _abandon(
    sessions: sessionmaker[Session], flow_run_id: str, reason: str, ended_at: datetime
) -> Abandoned | None:
    with transaction(sessions) as session:
        status = finish_job_run(
            session=session, flow_run_id=flow_run_id, finished_at=ended_at, error=reason
        )
        if status is None:
            return None
        job_run = session.scalars(
            select(JobRun).where(JobRun.flow_run_id == flow_run_id)
        ).one()
        log.warning(
            "job run %s (%s, flow run %s) %s",
            job_run.id,
            job_run.job_type,
            flow_run_id,
            reason,
        )
        return Abandoned(job_run.id, job_run.job_type, flow_run_id, reason)


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)
