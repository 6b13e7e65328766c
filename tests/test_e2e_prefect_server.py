"""The deployments as users run them: a real Prefect server, `prefect deploy`, a worker.

Starts `prefect server start` on loopback with its own PostgreSQL database, creates the
process work pool, deploys prefect.yaml, starts a worker and the TAB simulator, runs the
morning scrape with `prefect deployment run`, and checks the flow run in Prefect and the
JobRun and Scrape rows in the racing database (PostgreSQL too). Then `racing serve`
takes the same deployments over and runs the stale-run reaper. About 80 seconds.
"""

import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from flows.deployments import WORK_POOL, deployment_specs, prefect_yaml_entry
from racing.database import make_engine, session_factory, transaction
from racing.job_runs import open_job_run
from racing.models import JobRun, Scrape
from tests.prefect_server import (
    PREFECT,
    RACING,
    SERVER_START_SECONDS,
    Stack,
    flow_run_id_from,
    stack_fixture,  # noqa: F401 (the `stack` fixture)
    start_process,
    stop_process,
    wait_for_terminal_state,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def test_a_deployed_morning_scrape_run_by_a_worker_fills_the_racing_database(
    stack: Stack,
) -> None:
    stack.prefect("work-pool", "create", WORK_POOL, "--type", "process")
    stack.prefect("deploy", "--all")
    _check_deployments_match_the_table(stack, WORK_POOL)
    worker = start_process(
        stack,
        "worker",
        [PREFECT, "worker", "start", "--pool", WORK_POOL, "--type", "process"],
    )
    try:
        output = stack.prefect(
            "deployment",
            "run",
            "morning-scrape/morning-scrape",
            "--param",
            "racing_date=2026-11-14",
            "--param",
            "as_of=2026-11-14T06:00:00+11:00",
        )
        flow_run_id = flow_run_id_from(output)
        run = wait_for_terminal_state(stack, flow_run_id)
        job, _ = _job_run_and_scrapes(stack.racing_url, flow_run_id)
        # An operator's re-runs go through the same deployment, with parameters.
        retry_run = wait_for_terminal_state(
            stack,
            flow_run_id_from(
                stack.prefect(
                    "deployment",
                    "run",
                    "morning-scrape/morning-scrape",
                    "--param",
                    f"retry_of={job.id}",
                )
            ),
        )
        unknown_run = wait_for_terminal_state(
            stack,
            flow_run_id_from(
                stack.prefect(
                    "deployment",
                    "run",
                    "morning-scrape/morning-scrape",
                    "--param",
                    'meetings=["2026-11-14/R/NOPE"]',
                    "--param",
                    "racing_date=2026-11-14",
                )
            ),
        )
    finally:
        stop_process(worker)

    retry_job, _ = _job_run_and_scrapes(stack.racing_url, retry_run["id"])
    assert retry_run["state"]["type"] == "COMPLETED", stack.tail()
    assert (retry_job.parent_job_run_id, retry_job.retry_count) == (job.id, 1)
    assert retry_job.meta["meetingsRequested"] == []
    unknown_job, _ = _job_run_and_scrapes(stack.racing_url, unknown_run["id"])
    assert unknown_run["state"]["type"] == "FAILED"
    assert unknown_job.status == "failed"
    assert "2026-11-14/R/NOPE are not in the TAB meeting list" in str(
        unknown_job.error_message
    )

    assert run["state"]["type"] == "COMPLETED", f"{run['state']}\n{stack.tail()}"
    assert run["work_pool_name"] == WORK_POOL
    job, scrapes = _job_run_and_scrapes(stack.racing_url, flow_run_id)
    assert (job.job_type, job.status) == ("morning_scrape", "success")
    assert (job.items_processed, job.items_failed) == (2, 0)
    assert job.completed_at is not None and job.duration_ms is not None
    assert sorted((s.kind, s.outcome) for s in scrapes) == [("morning", "ok")] * 4
    # The first run and the run naming meetings list them; the retry had nothing
    # left to do and called nothing.
    assert stack.simulator.request_counts() == {
        "meetings": 2,
        "meeting_races": 0,
        "race": 4,
    }


def test_racing_serve_takes_the_deployments_over_and_runs_the_reaper(
    stack: Stack,
) -> None:
    # As the README says: a deployment keeps its work pool when `serve()` updates it,
    # so switching from a worker to `racing serve` starts by deleting them.
    stack.prefect("deployment", "delete", "--all")
    dead = _add_running_job_run(stack.racing_url, minutes_ago=30)
    serving = start_process(stack, "serve", [RACING, "serve"])
    try:
        _wait_until_served(stack, serving)
        _check_deployments_match_the_table(stack, None)
        output = stack.prefect("deployment", "run", "stale-run-reaper/stale-run-reaper")
        flow_run_id = flow_run_id_from(output)
        run = wait_for_terminal_state(stack, flow_run_id)
    finally:
        stop_process(serving)

    assert run["state"]["type"] == "COMPLETED", f"{run['state']}\n{stack.tail()}"
    job, _ = _job_run_and_scrapes(stack.racing_url, flow_run_id)
    assert (job.job_type, job.status) == ("reaper", "success")
    assert [a["flowRunId"] for a in job.meta["abandoned"]] == [dead]
    reaped, _ = _job_run_and_scrapes(stack.racing_url, dead)
    assert reaped.status == "failed"
    assert reaped.error_message == "abandoned: Prefect has no record of the flow run"
    # A stopped `racing serve` pauses its schedules: nothing is left to run them.
    assert all(d["paused"] for d in _deployments(stack).values())


def _deployments(stack: Stack) -> dict[str, Any]:
    deployed = stack.api("POST", "/deployments/filter", json={"limit": 50})
    return {d["name"]: d for d in deployed}


def _check_deployments_match_the_table(stack: Stack, work_pool: str | None) -> None:
    by_name = _deployments(stack)
    for spec in deployment_specs():
        declared = prefect_yaml_entry(spec)
        found = by_name[spec.name]
        assert found["work_pool_name"] == work_pool
        schedules = [
            {
                "cron": s["schedule"]["cron"],
                "timezone": s["schedule"]["timezone"],
                "slug": s["slug"],
                **({"parameters": s["parameters"]} if s["parameters"] else {}),
            }
            for s in found["schedules"]
        ]
        key = lambda s: s["slug"]  # noqa: E731
        assert sorted(schedules, key=key) == sorted(declared["schedules"], key=key)
        limit = declared.get("concurrency_limit")
        held = found["global_concurrency_limit"]
        assert (held["limit"] if held else None) == (limit["limit"] if limit else None)
        if limit:
            options = found["concurrency_options"]
            assert options["collision_strategy"] == limit["collision_strategy"]


def _wait_until_served(stack: Stack, serving: subprocess.Popen[bytes]) -> None:
    """Wait until `racing serve` has registered every deployment."""
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if serving.poll() is not None:
            pytest.fail(f"racing serve exited early\n{stack.tail()}")
        if set(_deployments(stack)) >= {s.name for s in deployment_specs()}:
            return
        time.sleep(1)
    pytest.fail(f"racing serve registered nothing in time\n{stack.tail()}")


def _add_running_job_run(url: str, minutes_ago: int) -> str:
    """A JobRun left running by a flow run Prefect never heard of; its flow run id."""
    flow_run_id = str(uuid.uuid4())
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            open_job_run(
                session=session,
                flow_run_id=flow_run_id,
                job_type="pre_race_t60",
                started_at=datetime.now(UTC) - timedelta(minutes=minutes_ago),
            )
    finally:
        engine.dispose()
    return flow_run_id


def _job_run_and_scrapes(url: str, flow_run_id: str) -> tuple[JobRun, list[Scrape]]:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            job = session.scalars(
                select(JobRun).where(JobRun.flow_run_id == flow_run_id)
            ).one()
            scrapes = list(
                session.scalars(select(Scrape).where(Scrape.job_run_id == job.id))
            )
        return job, scrapes
    finally:
        engine.dispose()
