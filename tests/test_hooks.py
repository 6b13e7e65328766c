"""The JobRun hooks on real flow runs: completed, partial, raised and cancelled."""

import threading
import time
from typing import Any
from uuid import UUID

import pytest
from prefect import flow, get_client
from prefect.runtime import flow_run
from prefect.states import Cancelling
from sqlalchemy.orm import Session, sessionmaker

from flows.database import racing_sessions
from flows.hooks import JobRunHooks, current_job_run_id
from racing.database import transaction
from racing.job_runs import JobSummary, find_job_run, save_summary
from racing.models import JobRun

pytestmark = pytest.mark.usefixtures("prefect_harness", "racing_env")

HOOKS = JobRunHooks("test_job")


def _save(processed: int, failed: int) -> None:
    job_run_id = current_job_run_id("test_job")
    with transaction(racing_sessions()) as session:
        summary = JobSummary(processed, failed, {"note": "saved by the body"})
        save_summary(session=session, job_run_id=job_run_id, summary=summary)


@flow(**HOOKS.as_kwargs())
def counting_flow(processed: int, failed: int) -> None:
    _save(processed, failed)


@flow(**HOOKS.as_kwargs())
def raising_flow() -> None:
    _save(10, 0)
    raise RuntimeError("the feed vanished")


started: list[UUID] = []


@flow(**HOOKS.as_kwargs())
def slow_flow() -> None:
    started.append(flow_run.id)
    for _ in range(200):
        time.sleep(0.05)


def _job(sessions: sessionmaker[Session], flow_run_id: Any) -> JobRun:
    with sessions() as session:
        job = find_job_run(session=session, flow_run_id=str(flow_run_id))
        assert job is not None, "the hook should have written a JobRun"
        return job


@pytest.mark.parametrize(
    ("processed", "failed", "status"),
    [(5, 0, "success"), (5, 2, "partial"), (5, 5, "failed")],
)
def test_a_completed_flow_is_finalised_from_its_counts(
    sessions: sessionmaker[Session], processed: int, failed: int, status: str
) -> None:
    state = counting_flow(processed, failed, return_state=True)

    job = _job(sessions, state.state_details.flow_run_id)
    assert (job.status, job.items_processed, job.items_failed) == (
        status,
        processed,
        failed,
    )
    assert job.job_type == "test_job"
    assert job.completed_at is not None and job.duration_ms is not None
    assert job.meta == {"note": "saved by the body"}


def test_a_flow_that_raises_is_failed_with_its_error(
    sessions: sessionmaker[Session],
) -> None:
    state = raising_flow(return_state=True)

    job = _job(sessions, state.state_details.flow_run_id)
    assert job.status == "failed"
    assert job.error_message is not None
    assert "RuntimeError: the feed vanished" in job.error_message
    assert job.completed_at is not None


def test_a_cancelled_flow_is_failed_with_the_reason(
    sessions: sessionmaker[Session],
) -> None:
    started.clear()
    runner = threading.Thread(target=lambda: slow_flow(return_state=True))
    runner.start()
    deadline = time.monotonic() + 30
    while not started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started, "the slow flow never started"

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(started[0], Cancelling(message="operator stop"))
    runner.join(timeout=30)

    job = _job(sessions, started[0])
    assert job.status == "failed"
    assert job.error_message == "cancelled: operator stop"


def test_a_crash_reported_by_another_process_fails_the_job_run(
    sessions: sessionmaker[Session],
) -> None:
    # A runner reports a killed flow run as crashed from its own process, with only
    # the flow run's API record in hand: the hook opens its own session.
    from uuid import uuid4

    from prefect.client.schemas.objects import FlowRun
    from prefect.states import Crashed

    dead_run = FlowRun(id=uuid4(), flow_id=uuid4(), name="killed-run")
    crashed = Crashed(message="Flow run process exited with signal 9")

    HOOKS.on_crashed(slow_flow, dead_run, crashed)

    job = _job(sessions, dead_run.id)
    assert job.status == "failed"
    assert job.error_message == "crashed: Flow run process exited with signal 9"
