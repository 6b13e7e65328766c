"""Shared fixtures: a migrated database on each backend, and one Prefect harness.

Database tests run once per backend. PostgreSQL is reached at RACING_TEST_POSTGRES_URL
(default: the local server with trust auth); each test gets a fresh database. Outside CI
a missing PostgreSQL skips those cases with the reason; in CI (CI=true) it fails them.
"""

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

# Prefect reads these on import: keep its home and logs inside the test run.
_PREFECT_HOME = tempfile.mkdtemp(prefix="racing-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_LOGGING_TO_API_ENABLED"] = "false"

import pytest  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from racing.database import make_engine, session_factory, upgrade  # noqa: E402
from racing.replay import DirectJobs  # noqa: E402
from racing.settings import get_settings, load_settings  # noqa: E402
from racing.simulator.scenario import Scenario, load_scenario  # noqa: E402
from racing.simulator.server import SimulatorServer  # noqa: E402
from racing.tab_client import TabClient  # noqa: E402
from tests.factories import Day, local  # noqa: E402
from tests.postgres import fresh_database  # noqa: E402

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'racing.db'}"
        return
    with fresh_database() as url:
        yield url


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """A new database migrated to the latest revision."""
    upgrade(empty_database_url)
    return empty_database_url


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def racing_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the process-wide settings and engine at the test database."""
    from flows.database import forget_engine

    monkeypatch.setenv("RACING_DATABASE_URL", database_url)
    get_settings.cache_clear()
    forget_engine()
    yield database_url
    forget_engine()
    get_settings.cache_clear()


@pytest.fixture
def day(sessions: sessionmaker[Session]) -> Iterator[Day]:
    """Serve scenarios and run domain jobs against them, without Prefect."""
    servers: list[SimulatorServer] = []
    clients: list[TabClient] = []

    def start(card: Scenario) -> tuple[SimulatorServer, DirectJobs]:
        server = SimulatorServer(card, clock=local(6)).start()
        settings = load_settings(
            tab_base_url=server.base_url, http_attempts=1, http_backoff_seconds=0
        )
        client = TabClient.from_settings(settings)
        servers.append(server)
        clients.append(client)
        return server, DirectJobs(client, sessions)

    yield start
    for client in clients:
        client.close()
    for server in servers:
        server.stop()


@pytest.fixture
def serve(
    racing_env: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[Scenario], SimulatorServer]]:
    """Serve a scenario over HTTP (clock 06:00 Sydney) and point the flows at it."""
    from flows.database import forget_engine

    servers: list[SimulatorServer] = []

    def start(scenario: Scenario) -> SimulatorServer:
        server = SimulatorServer(scenario, clock=local(6)).start()
        servers.append(server)
        monkeypatch.setenv("RACING_TAB_BASE_URL", server.base_url)
        monkeypatch.setenv("RACING_MORNING_TASK_RETRY_DELAYS_SECONDS", "0,0")
        monkeypatch.setenv("RACING_HTTP_BACKOFF_SECONDS", "0")
        get_settings.cache_clear()
        forget_engine()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def faulty_day(serve: Callable[[Scenario], SimulatorServer]) -> SimulatorServer:
    """The faulty-morning scenario: GOS and ADD fail until 06:30, WPK 3 is broken."""
    return serve(load_scenario(SCENARIOS / "faulty-morning.json"))


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect server for every flow test of the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield
