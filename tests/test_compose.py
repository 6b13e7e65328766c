"""docker-compose.yml agrees with itself, the README, prefect.yaml and the Dockerfile.

There is no Docker engine to run `docker compose config`, so the file is parsed here.
"""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.deployments import WORK_POOL

REPO = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
# Services that do one thing and exit; the others run until stopped.
ONE_SHOT = {"migrate", "deploy"}
_ENV_SECRET = re.compile(r"^\$\{[A-Z_]+:\?[^}]+\}$")
_URL_PASSWORD = re.compile(r"://[^:/@]+:(?P<password>[^@]+)@")


def _readme_services() -> dict[str, str]:
    """Service name -> published port, from the README's table of services."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Running the full stack with Docker Compose")[1]
    section = section.split("\n## ")[0]
    rows = re.findall(r"^\| `([a-z-]+)` \| .+ \| (\S+) \|$", section, re.MULTILINE)
    return dict(rows)


def _ports(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of each published port."""
    published = []
    for entry in service.get("ports", []):
        host, host_port, container_port = str(entry).split(":")
        published.append((host, int(host_port), int(container_port)))
    return published


def _volumes(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of each volume: a named volume or a bind-mounted path."""
    pairs = [str(v).split(":") for v in service.get("volumes", [])]
    return [(source, target) for source, target, *_ in pairs]


def _environment() -> list[tuple[str, str, str]]:
    """(service, variable, value) of every environment entry."""
    return [
        (name, variable, str(value))
        for name, service in SERVICES.items()
        for variable, value in (service.get("environment") or {}).items()
    ]


def test_the_services_are_the_ones_the_readme_lists() -> None:
    assert set(_readme_services()) == set(SERVICES)


def test_published_ports_are_the_readme_ports_on_loopback_only() -> None:
    listed = _readme_services()

    for name, service in SERVICES.items():
        ports = _ports(service)
        assert {host for host, _, _ in ports} <= {"127.0.0.1"}, name
        shown = ",".join(str(host_port) for _, host_port, _ in ports) or "none"
        assert shown == listed[name], name


def test_no_two_services_publish_the_same_host_port() -> None:
    host_ports = [port for s in SERVICES.values() for _, port, _ in _ports(s)]

    assert len(host_ports) == len(set(host_ports))


def test_named_volumes_are_declared_and_every_declared_one_is_used() -> None:
    used = {
        source
        for service in SERVICES.values()
        for source, _ in _volumes(service)
        if not source.startswith((".", "/"))
    }

    assert used == set(COMPOSE["volumes"])


def test_bind_mounts_are_folders_of_the_repository() -> None:
    mounts = [
        source
        for service in SERVICES.values()
        for source, _ in _volumes(service)
        if source.startswith((".", "/"))
    ]

    assert mounts
    for source in mounts:
        assert source.startswith("./deploy/"), source
        assert (REPO / source).is_dir(), f"{source} is missing"


def test_secrets_come_from_the_environment_and_are_required() -> None:
    for service, variable, value in _environment():
        if "PASSWORD" in variable:
            assert _ENV_SECRET.match(value), f"{service} {variable}={value}"
        for match in _URL_PASSWORD.finditer(value):
            password = match.group("password")
            assert _ENV_SECRET.match(password), f"{service} {variable}"


def test_long_running_services_restart_and_report_their_health() -> None:
    for name, service in SERVICES.items():
        if name in ONE_SHOT:
            assert service["restart"] == "no", name
        else:
            assert service["restart"] == "unless-stopped", name
            assert service["healthcheck"]["test"], name


def test_start_up_waits_only_on_what_can_say_it_is_ready() -> None:
    for name, service in SERVICES.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in SERVICES, f"{name} depends on unknown {target}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[target], f"{name} -> {target}"
            else:
                assert rule["condition"] == "service_completed_successfully"
                assert target in ONE_SHOT, f"{name} -> {target}"


def test_the_worker_runs_flows_after_migrations_and_deployments() -> None:
    worker = SERVICES["worker"]

    assert worker["command"][:3] == ["prefect", "worker", "start"]
    assert worker["command"][3:7] == ["--pool", WORK_POOL, "--type", "process"]
    assert {"migrate", "deploy"} <= set(worker["depends_on"])
    deploy = " ".join(SERVICES["deploy"]["command"])
    assert f"create {WORK_POOL} --type process" in deploy
    assert "deploy --all" in deploy


def test_the_racing_services_share_the_racing_database_and_prefect_server() -> None:
    apps = ["migrate", "deploy", "worker", "metrics"]
    urls = {SERVICES[name]["environment"]["RACING_DATABASE_URL"] for name in apps}
    apis = {SERVICES[name]["environment"]["PREFECT_API_URL"] for name in apps}

    (url,) = urls
    assert url.startswith("postgresql+psycopg://racing:")
    assert url.endswith("@racing-postgres:5432/racing_db")
    assert apis == {"http://prefect-server:4200/api"}
    postgres = SERVICES["racing-postgres"]["environment"]
    assert (postgres["POSTGRES_USER"], postgres["POSTGRES_DB"]) == (
        "racing",
        "racing_db",
    )


def test_the_prefect_server_has_a_postgresql_database_of_its_own() -> None:
    env = SERVICES["prefect-server"]["environment"]

    url = env["PREFECT_SERVER_DATABASE_CONNECTION_URL"]
    assert url.startswith("postgresql+asyncpg://prefect:")
    assert url.endswith("@prefect-postgres:5432/prefect")
    assert "RACING_DATABASE_URL" not in env


def test_the_tab_simulator_is_the_default_tab_api() -> None:
    simulator = SERVICES["tab-simulator"]["command"]
    tab_url = SERVICES["worker"]["environment"]["RACING_TAB_BASE_URL"]

    assert simulator[:2] == ["racing", "simulate"]
    assert _option(simulator, "--port") == "8765"
    assert _option(simulator, "--host") == "0.0.0.0"
    assert _option(simulator, "--clock") == "real"
    assert tab_url == "${RACING_TAB_BASE_URL:-http://tab-simulator:8765}"


def test_prometheus_scrapes_the_metrics_service_on_its_port() -> None:
    metrics = SERVICES["metrics"]["command"]
    config = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())

    assert metrics[:2] == ["racing", "metrics"]
    assert _option(metrics, "--host") == "0.0.0.0"
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    assert f"metrics:{_option(metrics, '--port')}" in targets


@pytest.mark.parametrize("name", ["prefect-server", "migrate", "deploy", "worker"])
def test_app_services_run_the_dockerfile_image_in_racing_home(name: str) -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    home = re.search(r"RACING_HOME=(\S+)", dockerfile)

    assert home is not None
    service = SERVICES[name]
    assert service["build"] == "."
    assert service["working_dir"] == home.group(1)
    if name != "prefect-server":
        assert service["environment"]["RACING_HOME"] == home.group(1)


def _option(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]
