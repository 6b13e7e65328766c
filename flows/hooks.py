"""Flow-run state hooks that mirror every flow run into the `job_runs` table.

`JobRunHooks(job_type)` gives the five hooks a flow passes to `@flow`. They run outside
the flow's run context and possibly in another process (a runner reports a killed run
as crashed), so they open their own database session and never raise: a hook error
would only be logged by Prefect, so it is logged here with the run's context instead.
A database that stays away through the short retries leaves the JobRun running (or
unwritten); the stale-run reaper finalises it from Prefect's record once it is back.
The hook that writes a failed or partial status also emits the Prefect event that
notifications react to (`flows/notifications.py`); `record_summary` publishes the run's
artifacts (`flows/artifacts.py`).
"""

from datetime import UTC, datetime
from typing import Any

from prefect import Flow
from prefect.client.schemas.objects import FlowRun, State
from prefect.logging import get_run_logger
from prefect.logging.loggers import flow_run_logger
from prefect.runtime import flow_run as current_flow_run
from sqlalchemy.orm import Session

from flows.artifacts import publish_run_artifacts
from flows.database import racing_sessions
from flows.notifications import emit_problem, problem_event
from racing.database import run_transaction
from racing.errors import RacingError
from racing.job_runs import (
    JobSummary,
    finish_job_run,
    open_job_run,
    save_summary,
)
from racing.models import JobRun, JobStatus


class JobFailed(RacingError):
    """Every item of a run failed: the flow run fails too, so Prefect shows it."""


def record_summary(job_run_id: int, summary: JobSummary) -> dict[str, Any]:
    """Save what the run did; raise JobFailed when nothing succeeded.

    Returns the flow's result: the JobRun id and the summary's metadata.
    """
    job_type = run_transaction(
        racing_sessions(),
        lambda session: (
            save_summary(
                session=session, job_run_id=job_run_id, summary=summary
            ).job_type
        ),
    )
    _publish_artifacts(job_type, job_run_id, summary)
    if summary.status is JobStatus.FAILED:
        raise JobFailed(summary.error or "every item failed")
    return {"jobRunId": job_run_id, **summary.meta}


def _publish_artifacts(job_type: str, job_run_id: int, summary: JobSummary) -> None:
    # The JobRun is already saved: a Prefect API hiccup here must not fail the run.
    try:
        publish_run_artifacts(job_type, job_run_id, summary)
    except Exception:
        get_run_logger().warning(
            "could not publish the artifacts of %s JobRun %s",
            job_type,
            job_run_id,
            exc_info=True,
        )


def plain_utc(value: datetime | None) -> datetime:
    """A standard-library aware UTC datetime (Prefect hands out Pendulum ones)."""
    if value is None:
        return datetime.now(UTC)
    return datetime.fromtimestamp(value.timestamp(), UTC)


def current_job_run_id(job_type: str) -> int:
    """The id of the running flow's JobRun, for linking Scrape rows to it.

    The on_running hook normally created it already; opening is idempotent, so the flow
    body never depends on the hook having run first.
    """
    return run_transaction(
        racing_sessions(),
        lambda session: (
            open_job_run(
                session=session,
                flow_run_id=str(current_flow_run.id),
                job_type=job_type,
                started_at=plain_utc(None),
            ).id
        ),
    )


class JobRunHooks:
    """The state hooks of one job type; pass them to `@flow(on_running=...)` etc."""

    def __init__(self, job_type: str) -> None:
        self.job_type = job_type

    def on_running(self, flow: Flow[..., Any], flow_run: FlowRun, state: State) -> None:
        """Open the JobRun (status running) as the flow run starts."""
        try:
            run_transaction(
                racing_sessions(), lambda session: self._open(session, flow_run, state)
            )
        except Exception:
            self._log_failure(flow, flow_run, "open")

    def on_completion(
        self, flow: Flow[..., Any], flow_run: FlowRun, state: State
    ) -> None:
        """Finalise from the items the flow saved: success, partial or failed."""
        self._finish(flow, flow_run, state, error=None)

    def on_failure(self, flow: Flow[..., Any], flow_run: FlowRun, state: State) -> None:
        """Finalise as failed with the flow's error."""
        self._finish(flow, flow_run, state, error=state.message or "flow run failed")

    def on_crashed(self, flow: Flow[..., Any], flow_run: FlowRun, state: State) -> None:
        """Finalise as failed: the process running the flow died or was killed."""
        reason = state.message or "no reason given"
        self._finish(flow, flow_run, state, error=f"crashed: {reason}")

    def on_cancellation(
        self, flow: Flow[..., Any], flow_run: FlowRun, state: State
    ) -> None:
        """Finalise as failed: someone or something cancelled the run."""
        reason = state.message or "no reason given"
        self._finish(flow, flow_run, state, error=f"cancelled: {reason}")

    def as_kwargs(self) -> dict[str, Any]:
        """The hooks as keyword arguments of `@flow`."""
        return {
            "on_running": [self.on_running],
            "on_completion": [self.on_completion],
            "on_failure": [self.on_failure],
            "on_crashed": [self.on_crashed],
            "on_cancellation": [self.on_cancellation],
        }

    def _finish(
        self,
        flow: Flow[..., Any],
        flow_run: FlowRun,
        state: State,
        *,
        error: str | None,
    ) -> None:
        finished_at = plain_utc(state.timestamp)

        def finalise(session: Session) -> dict[str, Any] | None:
            # A run that crashed before on_running fired still gets its record.
            job_run = self._open(session, flow_run, state)
            status = finish_job_run(
                session=session,
                flow_run_id=str(flow_run.id),
                finished_at=finished_at,
                error=error,
            )
            # Only the hook that wrote the final status reports it: one event.
            return problem_event(job_run, flow_run.name) if status else None

        try:
            event = run_transaction(racing_sessions(), finalise)
        except Exception:
            self._log_failure(flow, flow_run, "finalise")
            return
        try:
            if event is not None:
                emit_problem(event)
        except Exception:
            self._log_failure(flow, flow_run, "report")

    def _open(self, session: Session, flow_run: FlowRun, state: State) -> JobRun:
        # A stale flow_run may not have its start time yet.
        return open_job_run(
            session=session,
            flow_run_id=str(flow_run.id),
            job_type=self.job_type,
            started_at=plain_utc(flow_run.start_time or state.timestamp),
        )

    def _log_failure(self, flow: Flow[..., Any], flow_run: FlowRun, step: str) -> None:
        logger = flow_run_logger(flow_run=flow_run, flow=flow)
        logger.exception(
            "could not %s the %s JobRun of flow run %s",
            step,
            self.job_type,
            flow_run.id,
        )
