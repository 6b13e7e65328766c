"""The stale-run reaper flow: JobRuns left running by dead flow runs are failed.

Prefect is asked about each running JobRun's flow run; `racing.reaper` decides which
are abandoned (over, gone from Prefect, or older than RACING_STALE_RUN_MINUTES) and
frees the scrapes that dead runs left claimed.
"""

from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

from prefect import flow, get_client, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import SyncPrefectClient
from prefect.exceptions import ObjectNotFound
from prefect.logging import get_run_logger
from prefect.runtime import flow_run as current_flow_run

from flows.database import racing_sessions
from flows.hooks import JobRunHooks, current_job_run_id, plain_utc, record_summary
from racing import reaper
from racing.clock import as_instant, make_clock
from racing.settings import get_settings

HOOKS = JobRunHooks(reaper.JOB_TYPE)


def reported_state(
    client: SyncPrefectClient, flow_run_id: str
) -> reaper.ReportedState | None:
    """What Prefect says about a flow run; None when it has no such run."""
    try:
        run = client.read_flow_run(UUID(flow_run_id))
    except (ValueError, ObjectNotFound):
        # Not a Prefect id (a run made without Prefect), or a deleted flow run.
        return None
    if run.state is None:
        return reaper.ReportedState(type="UNKNOWN")
    return reaper.ReportedState(
        type=run.state.type.value,
        message=run.state.message,
        timestamp=plain_utc(run.state.timestamp),
    )


@task(name="reap-stale-runs", cache_policy=NO_CACHE)
def reap_task(
    now: datetime, max_age_minutes: int, own_flow_run_id: str
) -> reaper.ReapReport:
    """Fail every running JobRun whose flow run is over, gone or too old."""
    with get_client(sync_client=True) as client:
        report = reaper.reap_stale_runs(
            sessions=racing_sessions(),
            lookup=partial(reported_state, client),
            now=now,
            max_age=timedelta(minutes=max_age_minutes),
            own_flow_run_id=own_flow_run_id,
        )
    get_run_logger().info(
        "reaper: %d running job runs checked, %d abandoned, %d lookups failed; "
        "%d running scrapes of finished runs failed",
        report.checked,
        len(report.abandoned),
        len(report.lookup_errors),
        report.scrapes_failed,
    )
    return report


@flow(name="stale-run-reaper", **HOOKS.as_kwargs())
def stale_run_reaper(as_of: datetime | None = None) -> dict[str, Any]:
    """Mark failed the JobRuns whose flow runs ended without finalising them.

    `as_of` runs the reaper as if at that instant (a naive value is racing timezone
    local time).
    """
    settings = get_settings()
    instant = as_instant(as_of, settings.zone) if as_of else None
    now = make_clock(instant)()
    job_run_id = current_job_run_id(reaper.JOB_TYPE)

    report = reap_task(now, settings.stale_run_minutes, str(current_flow_run.id))

    summary = reaper.summarise(report)
    return record_summary(job_run_id, summary)
