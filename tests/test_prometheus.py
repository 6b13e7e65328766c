"""The Prometheus and Grafana files, checked with the real Prometheus tools.

`promtool` checks the configuration and the alert rules and runs the rules' unit tests;
then a real `prometheus` on 127.0.0.1 scrapes a `racing metrics` exporter started here,
and every query of the Grafana dashboard must return data through its HTTP API. Without
Debian's `prometheus` package these tests skip, or fail in CI (CI=true).
"""

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from racing.database import make_engine, session_factory, upgrade
from tests.metrics_day import MID_DAY, replayed_day

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA_DIR / "dashboards" / "racing-scheduler.json"
# Enough scrapes for rate() and increase(), which need two samples in their range.
SCRAPES_NEEDED = 2
STARTUP_SECONDS = 30


def find_tool(name: str) -> str:
    """The path of a Prometheus tool, or a skip (a failure in CI) naming the fix."""
    path = shutil.which(name)
    if path is None:
        reason = (
            f"{name} is not installed: apt-get install -y prometheus "
            "(Debian's package has prometheus and promtool)"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def run_promtool(*args: str) -> None:
    done = subprocess.run(
        [find_tool("promtool"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_alert_rules_pass_promtool_check() -> None:
    run_promtool("check", "rules", str(PROMETHEUS_DIR / "alerts.yml"))


def test_the_prometheus_config_passes_promtool_check() -> None:
    run_promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))


def test_the_alert_rules_pass_their_unit_tests() -> None:
    run_promtool("test", "rules", str(PROMETHEUS_DIR / "alerts_test.yml"))


def test_every_dashboard_query_returns_data_from_a_real_prometheus(
    tmp_path: Path,
) -> None:
    find_tool("prometheus")
    queries = dashboard_queries()
    url = replayed_database(tmp_path)

    with (
        metrics_exporter(url, tmp_path) as target,
        prometheus_server(target, tmp_path) as api,
    ):
        wait_for_scrapes(api)
        empty = [f"{title}: {expr}" for title, expr in queries if not query(api, expr)]
        rules = httpx.get(f"{api}/api/v1/rules", timeout=10).json()

    assert empty == [], "dashboard queries without data"
    broken = [
        f"{rule['name']}: {rule.get('lastError')}"
        for group in rules["data"]["groups"]
        for rule in group["rules"]
        if rule["health"] == "err"
    ]
    assert broken == [], "alert rules failing to evaluate"


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, query) for every target of every panel of the dashboard."""
    dashboard = json.loads(DASHBOARD.read_text())
    datasources = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    uid = datasources["datasources"][0]["uid"]
    queries = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        assert panel["datasource"]["uid"] == uid, panel["title"]
        queries += [(panel["title"], target["expr"]) for target in panel["targets"]]
    return queries


def replayed_database(tmp_path: Path) -> str:
    """A SQLite racing database holding the small test day up to mid-morning."""
    url = f"sqlite:///{tmp_path / 'racing.db'}"
    upgrade(url)
    engine = make_engine(url)
    with replayed_day(session_factory(engine)) as day:
        day.until(MID_DAY)
    engine.dispose()
    return url


@contextmanager
def metrics_exporter(database_url: str, tmp_path: Path) -> Iterator[str]:
    """`racing metrics` on a free loopback port; yields host:port."""
    env = {**os.environ, "RACING_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "flows.cli", "metrics", "--port", "0"]
    command += ["--as-of", MID_DAY.isoformat()]
    with (tmp_path / "exporter.log").open("w") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True
        )
    try:
        line = read_line(process, STARTUP_SECONDS)
        assert "metrics on http://127.0.0.1:" in line, (
            line + (tmp_path / "exporter.log").read_text()
        )
        yield line.split("http://", 1)[1].split("/", 1)[0]
    finally:
        stop(process)


@contextmanager
def prometheus_server(target: str, tmp_path: Path) -> Iterator[str]:
    """A real Prometheus scraping `target` every second; yields its base URL."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(PROMETHEUS_DIR / "alerts.yml")]
    (job,) = config["scrape_configs"]
    job.update(scrape_interval="1s", scrape_timeout="1s")
    job["static_configs"] = [{"targets": [target]}]
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))

    address = f"127.0.0.1:{free_port()}"
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            find_tool("prometheus"),
            f"--config.file={config_file}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address={address}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        api = f"http://{address}"
        wait_until(lambda: ready(api), "Prometheus ready", tmp_path / "prometheus.log")
        yield api
    finally:
        stop(process)
        log.close()


def wait_for_scrapes(api: str) -> None:
    """Wait until the exporter was scraped often enough for rates."""
    expr = 'count_over_time(up{job="racing-scheduler"}[1m])'

    def scraped() -> bool:
        samples = query(api, expr)
        return bool(samples) and float(samples[0]["value"][1]) >= SCRAPES_NEEDED

    wait_until(scraped, "two scrapes of the exporter", None)
    assert query(api, 'up{job="racing-scheduler"}')[0]["value"][1] == "1"


def query(api: str, expr: str) -> list[dict[str, Any]]:
    """An instant query's result vector (raises on a query error)."""
    response = httpx.get(f"{api}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert body["status"] == "success", f"{expr}: {body.get('error')}"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def ready(api: str) -> bool:
    try:
        return httpx.get(f"{api}/-/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def wait_until(check: Callable[[], bool], what: str, log: Path | None) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    pytest.fail(
        f"timed out waiting for {what}" + (f":\n{log.read_text()}" if log else "")
    )


def read_line(process: "subprocess.Popen[str]", timeout: float) -> str:
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], timeout)
    return process.stdout.readline() if readable else ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop(process: "subprocess.Popen[str] | subprocess.Popen[bytes]") -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()
