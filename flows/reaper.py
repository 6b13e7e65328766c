"""The stale-run reaper flow: JobRuns left running by dead flow runs are failed.

Prefect is asked about each running JobRun's flow run; `racing.reaper` decides which
are abandoned (over, gone from Prefect, or older than RACING_STALE_RUN_MINUTES) and
frees the scrapes that dead runs left claimed. Prefect is then asked for our flows'
ended runs, to record those that never reached the database, and for the runs of our
deployments that were cancelled before they started (a CANCEL_NEW collision), recorded
in `skipped_runs`. Every JobRun the reaper fails is reported like a failed run.
"""

from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import cache, partial
from typing import Any
from uuid import UUID

from prefect import flow, get_client, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowFilter,
    FlowFilterId,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectNotFound
from prefect.logging import get_run_logger
from prefect.runtime import flow_run as current_flow_run
from prefect.states import Crashed

from flows.database import racing_sessions
from flows.deployments import deployment_specs
from flows.hooks import JobRunHooks, current_job_run_id, plain_utc, record_summary
from flows.notifications import emit_problem, problem_event
from racing import reaper
from racing.clock import as_instant, make_clock
from racing.models import JobRun
from racing.settings import get_settings

HOOKS = JobRunHooks(reaper.JOB_TYPE)
# Deployment name -> the job type of its runs, from the deployment table.
DEPLOYMENT_JOB_TYPES = {spec.name: spec.job_type for spec in deployment_specs()}
# Flow runs asked of the API at once (its default limit is 200).
PAGE_SIZE = 200


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


def cancelled_before_start(
    client: SyncPrefectClient, since: datetime
) -> list[reaper.CancelledRun]:
    """Runs of our deployments due since `since` that Prefect cancelled unstarted."""
    deployments = client.read_deployments(
        deployment_filter=DeploymentFilter(
            name=DeploymentFilterName(any_=list(DEPLOYMENT_JOB_TYPES))
        )
    )
    names = {d.id: d.name for d in deployments}
    if not names:
        return []
    runs_filter = FlowRunFilter(
        deployment_id=FlowRunFilterDeploymentId(any_=list(names)),
        state=FlowRunFilterState(
            type=FlowRunFilterStateType(any_=[StateType.CANCELLED])
        ),
        expected_start_time=FlowRunFilterExpectedStartTime(after_=since),
    )
    # Never started means never Running (run_count 0). The start time tells nothing:
    # Prefect sets one on every run that ends without one, a run cancelled by the
    # concurrency limit too. A run cancelled once it was running has its own JobRun.
    return [
        _cancelled_run(run, names)
        for run in _flow_runs(client, runs_filter)
        if run.run_count == 0
    ]


def _flow_runs(
    client: SyncPrefectClient,
    runs_filter: FlowRunFilter,
    flow_filter: FlowFilter | None = None,
) -> Iterator[FlowRun]:
    """Every flow run the filters match, oldest due first, a page at a time."""
    offset = 0
    while True:
        page = client.read_flow_runs(
            flow_filter=flow_filter,
            flow_run_filter=runs_filter,
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            limit=PAGE_SIZE,
            offset=offset,
        )
        yield from page
        offset += len(page)
        if len(page) < PAGE_SIZE:
            return


def _cancelled_run(run: FlowRun, names: dict[UUID, str]) -> reaper.CancelledRun:
    assert run.deployment_id is not None  # the filter asked for deployments' runs
    state = run.state
    return reaper.CancelledRun(
        flow_run_id=str(run.id),
        deployment=names[run.deployment_id],
        scheduled_at=plain_utc(run.expected_start_time or run.created),
        cancelled_at=plain_utc(state.timestamp) if state else None,
        message=state.message if state else None,
    )


@cache
def flow_job_types() -> dict[str, str]:
    """Flow name -> the job type of its runs (one flow may have several deployments).

    Loaded on first use: this module is one of the flows it loads.
    """
    return {spec.load_flow().name: spec.job_type for spec in deployment_specs()}


def ended_runs(client: SyncPrefectClient, since: datetime) -> list[reaper.EndedRun]:
    """Our flows' runs due since `since` that ended, less those never started
    because a concurrency limit cancelled them (those are skipped runs)."""
    by_name = flow_job_types()
    flows = client.read_flows(
        flow_filter=FlowFilter(name=FlowFilterName(any_=list(by_name)))
    )
    job_types = {f.id: by_name[f.name] for f in flows}
    if not job_types:
        return []
    runs_filter = FlowRunFilter(
        state=FlowRunFilterState(
            type=FlowRunFilterStateType(
                any_=[StateType(t) for t in reaper.TERMINAL_STATES]
            )
        ),
        expected_start_time=FlowRunFilterExpectedStartTime(after_=since),
    )
    ours = FlowFilter(id=FlowFilterId(any_=list(job_types)))
    return [
        _ended_run(run, job_types)
        for run in _flow_runs(client, runs_filter, ours)
        if _started(run)
    ]


def _started(run: FlowRun) -> bool:
    return run.run_count > 0 or run.state_type is not StateType.CANCELLED


def _ended_run(run: FlowRun, job_types: dict[UUID, str]) -> reaper.EndedRun:
    assert run.state is not None  # the filter asked for terminal states
    return reaper.EndedRun(
        flow_run_id=str(run.id),
        job_type=job_types[run.flow_id],
        state=run.state.type.value,
        message=run.state.message,
        ended_at=plain_utc(run.end_time or run.state.timestamp),
        started_at=plain_utc(run.start_time) if run.run_count > 0 else None,
    )


def report_failures(found: list[reaper.Abandoned]) -> None:
    """Send the failure event of each JobRun the reaper failed, as its hook would."""
    with racing_sessions()() as session:
        for item in found:
            job_run = session.get_one(JobRun, item.job_run_id)
            event = problem_event(job_run, item.flow_run_id)
            if event is not None:
                emit_problem(event)


@task(name="record-skipped-runs", cache_policy=NO_CACHE)
def skipped_runs_task(now: datetime) -> reaper.SkippedReport:
    """Record the runs of our deployments cancelled before they started."""
    with get_client(sync_client=True) as client:
        report = reaper.collect_skipped_runs(
            sessions=racing_sessions(),
            fetch=partial(cancelled_before_start, client),
            job_types=DEPLOYMENT_JOB_TYPES,
            now=now,
        )
    get_run_logger().info(
        "reaper: %d runs cancelled before they started found, %d new%s",
        report.found,
        report.recorded,
        f"; lookup failed: {report.error}" if report.error else "",
    )
    return report


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
        reaper.record_unrecorded_runs(
            sessions=racing_sessions(),
            fetch=partial(ended_runs, client),
            now=now,
            report=report,
        )
        _crash_live_runs(
            client, [item for item in report.abandoned if item.live_in_prefect]
        )
    get_run_logger().info(
        "reaper: %d running job runs checked, %d abandoned, %d finalised from "
        "their counts, %d lookups failed; %d ended runs never recorded added; "
        "%d running scrapes of finished runs failed",
        report.checked,
        len(report.abandoned),
        len(report.recovered),
        len(report.lookup_errors),
        len(report.unrecorded),
        report.scrapes_failed,
    )
    _report_failures(report.abandoned + report.unrecorded)
    return report


def _crash_live_runs(client: SyncPrefectClient, found: list[reaper.Abandoned]) -> None:
    """Mark crashed in Prefect the abandoned runs it still calls live.

    Their process died unseen (a worker killed with its runs), so nothing else will
    end them: the Prefect UI then agrees with job_runs, and a deployment's
    concurrency slot they held is released.
    """
    for item in found:
        try:
            client.set_flow_run_state(
                UUID(item.flow_run_id), Crashed(message=item.reason), force=True
            )
        except Exception:
            get_run_logger().warning(
                "could not mark flow run %s crashed in Prefect",
                item.flow_run_id,
                exc_info=True,
            )


def _report_failures(found: list[reaper.Abandoned]) -> None:
    # The JobRuns are already failed: a Prefect API hiccup must not fail the reaper.
    try:
        report_failures(found)
    except Exception:
        get_run_logger().warning("could not report reaped job runs", exc_info=True)


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
    skipped = skipped_runs_task(now)

    summary = reaper.summarise(report, skipped)
    return record_summary(job_run_id, summary)
