"""The daily cleanup flow: old JobRuns and scrapes are rolled up, then deleted."""

from datetime import datetime
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from flows.database import racing_sessions
from flows.hooks import JobRunHooks, current_job_run_id, record_summary
from racing import retention
from racing.clock import as_instant, make_clock
from racing.settings import get_settings

HOOKS = JobRunHooks(retention.JOB_TYPE)


@task(name="prune-job-runs", cache_policy=NO_CACHE)
def prune_old_runs(now: datetime, retention_days: int) -> retention.PruneReport:
    """Fold and delete the JobRuns older than the retention, a batch at a time."""
    report = retention.prune_history(
        sessions=racing_sessions(),
        now=now,
        retention_days=retention_days,
        zone=get_settings().zone,
    )
    if report.cutoff is None:
        get_run_logger().info("cleanup: retention is 0 days, every job run is kept")
    else:
        get_run_logger().info(
            "cleanup before %s: %d job runs folded into %d roll-ups and deleted, "
            "%d scrapes deleted, %d odds snapshots detached",
            report.cutoff.isoformat(),
            report.runs_deleted,
            len(report.folded),
            report.scrapes_deleted,
            report.snapshots_detached,
        )
    return report


@flow(name="job-run-cleanup", **HOOKS.as_kwargs())
def cleanup(as_of: datetime | None = None) -> dict[str, Any]:
    """Prune the job record older than RACING_JOB_RUN_RETENTION_DAYS (0 keeps all).

    `as_of` runs the cleanup as if at that instant (a naive value is racing timezone
    local time). This run's own JobRun is still running, so it is never pruned.
    """
    settings = get_settings()
    instant = as_instant(as_of, settings.zone) if as_of else None
    now = make_clock(instant)()
    job_run_id = current_job_run_id(retention.JOB_TYPE)

    report = prune_old_runs(now, settings.job_run_retention_days)

    summary = retention.summarise(report, settings.job_run_retention_days)
    return record_summary(job_run_id, summary)
