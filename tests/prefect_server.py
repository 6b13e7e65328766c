"""A real `prefect server start` on loopback with its own PostgreSQL database.

The module-scoped `stack` fixture starts it with a migrated racing database and the TAB
simulator; the helpers start and stop processes against it and wait for flow runs. Test
modules that need a real server import the fixture from here.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from racing.database import upgrade
from racing.simulator.server import SimulatorServer
from tests.factories import local, meeting, race, scenario
from tests.postgres import create_database, database_url, drop_database

REPO = Path(__file__).resolve().parent.parent
PREFECT = Path(sys.executable).parent / "prefect"
RACING = Path(sys.executable).parent / "racing"
# Bounds on each wait, so a broken step fails the test instead of hanging it.
SERVER_START_SECONDS = 90
FLOW_RUN_SECONDS = 120
COMMAND_SECONDS = 120
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@dataclass
class Stack:
    """The running pieces and where their logs go."""

    api_url: str
    env: dict[str, str]
    logs: Path
    racing_url: str
    simulator: SimulatorServer

    def prefect(self, *args: str) -> str:
        """Run a `prefect` command against the server; its output, or a failure."""
        done = subprocess.run(
            [str(PREFECT), "--no-prompt", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_SECONDS,
        )
        if done.returncode != 0:
            pytest.fail(f"prefect {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{self.api_url}{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    def tail(self) -> str:
        """The end of every log, for a failure message."""
        parts = []
        for log in sorted(self.logs.glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-40:]
            parts.append(f"--- {log.name}\n" + "\n".join(lines))
        return "\n".join(parts)


def flow_run_id_from(output: str) -> str:
    match = re.search(r"UUID:\s*([0-9a-f-]{36})", output)
    assert match, f"no flow run id in:\n{output}"
    return match.group(1)


def wait_for_terminal_state(stack: Stack, flow_run_id: str) -> dict[str, Any]:
    """The flow run as the API returns it, once its state is terminal."""
    deadline = time.monotonic() + FLOW_RUN_SECONDS
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        run: dict[str, Any] = stack.api("GET", f"/flow_runs/{flow_run_id}")
        state = run["state"] or {}
        if state.get("type") in TERMINAL:
            return run
        time.sleep(1)
    pytest.fail(
        f"flow run {flow_run_id} still {state} after {FLOW_RUN_SECONDS}s\n"
        f"{stack.tail()}"
    )


# Fixtures: databases, the simulator, the server, each cleaned up after the test.


@pytest.fixture(scope="module", name="stack")
def stack_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A Prefect server on PostgreSQL, a migrated racing database and the simulator."""
    databases: list[str] = []
    simulator: SimulatorServer | None = None
    server: subprocess.Popen[bytes] | None = None
    try:
        databases.append(create_database("racing_e2e_prefect"))
        databases.append(create_database("racing_e2e"))
        prefect_db, racing_db = databases
        racing_url = database_url(racing_db)
        upgrade(racing_url)
        simulator = SimulatorServer(_small_day(), clock=local(6)).start()
        tmp_path = tmp_path_factory.mktemp("e2e")
        logs = tmp_path / "logs"
        logs.mkdir()
        port = _free_port()
        env = _environment(
            tmp_path / "prefect-home",
            api_url=f"http://127.0.0.1:{port}/api",
            prefect_db_url=database_url(prefect_db, driver="postgresql+asyncpg"),
            racing_url=racing_url,
            tab_base_url=simulator.base_url,
        )
        built = Stack(env["PREFECT_API_URL"], env, logs, racing_url, simulator)
        server = start_process(
            built,
            "server",
            [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        )
        _wait_until_healthy(built, server)
        yield built
    finally:
        if server is not None:
            stop_process(server)
        if simulator is not None:
            simulator.stop()
        for name in databases:
            drop_database(name)


def _small_day() -> Any:
    """Two meetings of two races each: enough to map tasks, quick to scrape."""
    return scenario(
        [
            meeting("AAA", [race(1, local(12)), race(2, local(12, 30))]),
            meeting("BBB", [race(1, local(13)), race(2, local(13, 30))]),
        ]
    )


def _environment(
    home: Path,
    *,
    api_url: str,
    prefect_db_url: str,
    racing_url: str,
    tab_base_url: str,
) -> dict[str, str]:
    """The environment of every Prefect process: nothing inherited from the test run."""
    inherited = {
        k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "RACING_"))
    }
    return {
        **inherited,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": prefect_db_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        # Only the run the test asks for: no cron runs while it is going.
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "RACING_HOME": str(REPO),
        "RACING_DATABASE_URL": racing_url,
        "RACING_TAB_BASE_URL": tab_base_url,
    }


def start_process(
    stack: Stack, name: str, command: list[Any]
) -> subprocess.Popen[bytes]:
    """Start a long-running process in its own process group, logging to a file."""
    log = (stack.logs / f"{name}.log").open("wb")
    try:
        return subprocess.Popen(
            [str(part) for part in command],
            cwd=REPO,
            env=stack.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started by `_start` and every child it started."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


def _wait_until_healthy(stack: Stack, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"prefect server exited early\n{stack.tail()}")
        try:
            if httpx.get(f"{stack.api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(
        f"prefect server not healthy after {SERVER_START_SECONDS}s\n{stack.tail()}"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
