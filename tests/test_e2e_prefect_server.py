"""The deployments as users run them: a real Prefect server, `prefect deploy`, a worker.

Starts `prefect server start` on loopback with its own PostgreSQL database, creates the
process work pool, deploys prefect.yaml, starts a worker and the TAB simulator, runs the
morning scrape with `prefect deployment run`, and checks the flow run in Prefect and the
JobRun and Scrape rows in the racing database (PostgreSQL too). Then `racing serve`
takes the same deployments over and runs the stale-run reaper. About 80 seconds.
"""

import contextlib
import os
import signal
import subprocess
import time
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from flows.deployments import WORK_POOL, deployment_specs, prefect_yaml_entry
from racing.database import make_engine, session_factory, transaction
from racing.job_runs import open_job_run
from racing.models import JobRun, Meeting, Race, Runner, Scrape
from racing.simulator.scenario import Scenario, parse_scenario
from racing.simulator.server import SimulatorServer
from tests.factories import SYDNEY, meeting, race
from tests.prefect_server import (
    FLOW_RUN_SECONDS,
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

WORKER = [PREFECT, "worker", "start", "--pool", WORK_POOL, "--type", "process"]
KILL_DAY = date(2026, 11, 21)
KILL_DAY_SIX_AM = datetime(2026, 11, 21, 6, 0, tzinfo=SYDNEY)


def test_a_deployed_morning_scrape_run_by_a_worker_fills_the_racing_database(
    stack: Stack,
) -> None:
    stack.prefect("work-pool", "create", WORK_POOL, "--type", "process")
    stack.prefect("deploy", "--all")
    _check_deployments_match_the_table(stack, WORK_POOL)
    worker = start_process(stack, "worker", WORKER)
    try:
        run = _run(
            stack,
            "morning-scrape/morning-scrape",
            "racing_date=2026-11-14",
            "as_of=2026-11-14T06:00:00+11:00",
        )
        flow_run_id = run["id"]
        job, _ = _job_run_and_scrapes(stack.racing_url, flow_run_id)
        # An operator's re-runs go through the same deployment, with parameters.
        retry_run = _run(stack, "morning-scrape/morning-scrape", f"retry_of={job.id}")
        unknown_run = _run(
            stack,
            "morning-scrape/morning-scrape",
            'meetings=["2026-11-14/R/NOPE"]',
            "racing_date=2026-11-14",
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


def test_a_worker_killed_mid_run_leaves_a_failed_job_run_and_the_retry_picks_up(
    stack: Stack,
) -> None:
    _ensure_deployed(stack)
    # A day of its own, served slowly, so the kill lands while races are scraped.
    slow = SimulatorServer(_slow_day(), clock=KILL_DAY_SIX_AM).start()
    killed_env = {**stack.env, "RACING_TAB_BASE_URL": slow.base_url}
    worker = start_process(replace(stack, env=killed_env), "killed-worker", WORKER)
    try:
        flow_run_id = _start_run(
            stack,
            "morning-scrape/morning-scrape",
            f"racing_date={KILL_DAY}",
            f"as_of={KILL_DAY_SIX_AM.isoformat()}",
        )
        _wait_for_a_scrape(stack, flow_run_id)
        killed = _kill_tree(worker.pid)
    finally:
        stop_process(worker)

    assert len(killed) >= 2, "the worker and the flow run's process"
    # Nothing was left to report the run: Prefect still calls it running.
    assert stack.api("GET", f"/flow_runs/{flow_run_id}")["state"]["type"] == "RUNNING"
    lost, lost_scrapes = _job_run_and_scrapes(stack.racing_url, flow_run_id)
    assert lost.status == "running"
    assert {s.outcome for s in lost_scrapes} <= {"ok", "running"}

    worker = start_process(replace(stack, env=killed_env), "worker-after", WORKER)
    try:
        # The reaper's schedule comes round after RACING_STALE_RUN_MINUTES (60).
        later = datetime.now(UTC) + timedelta(minutes=61)
        reaper_run = _run(
            stack, "stale-run-reaper/stale-run-reaper", f"as_of={later.isoformat()}"
        )
        retry_run = _run(
            stack,
            "morning-scrape/morning-retries",
            "retry=true",
            f"racing_date={KILL_DAY}",
            f"as_of={(KILL_DAY_SIX_AM + timedelta(minutes=15)).isoformat()}",
        )
    finally:
        stop_process(worker)
        slow.stop()

    assert reaper_run["state"]["type"] == "COMPLETED", stack.tail()
    lost, lost_scrapes = _job_run_and_scrapes(stack.racing_url, flow_run_id)
    assert lost.status == "failed"
    assert lost.error_message is not None
    assert lost.error_message.startswith(
        "abandoned: Prefect reports the flow run RUNNING after 6"
    )
    assert "(RACING_STALE_RUN_MINUTES)" in lost.error_message
    # The reaper told Prefect too, so the UI no longer shows it running.
    state = stack.api("GET", f"/flow_runs/{flow_run_id}")["state"]
    assert (state["type"], state["message"]) == ("CRASHED", lost.error_message)
    # Its claimed scrapes were freed; what it stored stays.
    assert {s.outcome for s in lost_scrapes} <= {"ok", "failed"}
    assert "running" not in {s.outcome for s in lost_scrapes}

    assert retry_run["state"]["type"] == "COMPLETED", stack.tail()
    retry, retry_scrapes = _job_run_and_scrapes(stack.racing_url, retry_run["id"])
    # The killed run recorded no meeting outcomes: the retry scrapes the whole day.
    assert (retry.status, retry.items_processed, retry.items_failed) == (
        "success",
        2,
        0,
    )
    assert sorted(s.outcome for s in retry_scrapes) == ["ok"] * 4
    assert _day_rows(stack.racing_url, KILL_DAY) == {"races": 4, "runners": 16}


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
        run = _run(stack, "stale-run-reaper/stale-run-reaper")
        flow_run_id = run["id"]
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


def _start_run(stack: Stack, deployment: str, *params: str) -> str:
    """`prefect deployment run` with `key=value` parameters; the flow run's id."""
    options = [part for param in params for part in ("--param", param)]
    return flow_run_id_from(stack.prefect("deployment", "run", deployment, *options))


def _run(stack: Stack, deployment: str, *params: str) -> dict[str, Any]:
    """`_start_run`, then the flow run once it has ended."""
    return wait_for_terminal_state(stack, _start_run(stack, deployment, *params))


def _ensure_deployed(stack: Stack) -> None:
    """The work pool and prefect.yaml's deployments, when no earlier case made them."""
    if "morning-retries" in _deployments(stack):
        return
    stack.prefect("work-pool", "create", WORK_POOL, "--type", "process", "--overwrite")
    stack.prefect("deploy", "--all")


def _slow_day() -> Scenario:
    """Two meetings of two races on a day of their own, each race page slow."""
    data: dict[str, Any] = {
        "name": "killed",
        "date": KILL_DAY.isoformat(),
        "latencyMs": {"race": 1500},
        "meetings": [
            meeting(venue, [race(1, at(12)), race(2, at(12, 30))])
            for venue in ("KIL", "LED")
        ],
    }
    return parse_scenario(data, source="test")


def at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(KILL_DAY, dt_time(hour, minute), SYDNEY)


def _wait_for_a_scrape(stack: Stack, flow_run_id: str) -> None:
    """Until the flow run has stored at least one race, so it is mid-run."""
    deadline = time.monotonic() + FLOW_RUN_SECONDS
    engine = make_engine(stack.racing_url)
    try:
        while time.monotonic() < deadline:
            with session_factory(engine)() as session:
                done = session.scalar(
                    select(func.count(Scrape.id))
                    .join(JobRun)
                    .where(JobRun.flow_run_id == flow_run_id, Scrape.outcome == "ok")
                )
            if done:
                return
            time.sleep(0.2)
    finally:
        engine.dispose()
    pytest.fail(f"flow run {flow_run_id} stored nothing in time\n{stack.tail()}")


def _kill_tree(pid: int) -> list[int]:
    """SIGKILL a process and every process under it, as the OOM killer would."""
    tree = [pid, *_descendants(pid)]
    for member in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)
    return tree


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def _day_rows(url: str, day: date) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            races = select(Race.id).join(Meeting).where(Meeting.meeting_date == day)
            return {
                "races": session.scalar(
                    select(func.count()).select_from(races.subquery())
                )
                or 0,
                "runners": session.scalar(
                    select(func.count(Runner.id)).where(Runner.race_id.in_(races))
                )
                or 0,
            }
    finally:
        engine.dispose()


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
