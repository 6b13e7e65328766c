"""`racing demo`: the morning scrape of a scenario, end to end, on the local default.

Starts the TAB simulator on a free loopback port with its clock at 06:00 of the
scenario's racing day, migrates the configured database (SQLite by default), runs the
morning scrape through the same flow and hooks a deployment uses, and prints the JobRun.
"""

import os
from datetime import datetime, time
from pathlib import Path

from sqlalchemy import func, select

from flows.database import forget_engine, racing_sessions
from racing.database import upgrade
from racing.models import JobRun, Meeting, OddsSnapshot, Race, Runner, Scrape
from racing.settings import get_settings
from racing.simulator.scenario import load_scenario
from racing.simulator.server import SimulatorServer

MORNING = time(6, 0)


def run_demo(scenario_path: Path) -> int:
    """Run the demo; returns the process exit code (0 when the JobRun succeeded)."""
    settings = get_settings()
    scenario = load_scenario(scenario_path)
    as_of = datetime.combine(scenario.date, MORNING, tzinfo=settings.zone)

    print(f"racing demo: migrating {_safe_url(settings.database_url)}")
    upgrade(settings.database_url)
    server = SimulatorServer(scenario, port=0, clock=as_of).start()
    try:
        _point_at(server.base_url)
        print(f"racing demo: TAB simulator on {server.base_url}, clock {as_of}")
        from flows.morning_scrape import morning_scrape

        result = morning_scrape(racing_date=scenario.date, as_of=as_of)
    finally:
        server.stop()

    status = print_job_run(int(str(result["jobRunId"])))
    return 0 if status == "success" else 1


def print_job_run(job_run_id: int) -> str:
    """Print a JobRun and the racing table counts; returns the JobRun's status."""
    with racing_sessions()() as session:
        job = session.get_one(JobRun, job_run_id)
        counts = {
            name: session.scalar(select(func.count()).select_from(model))
            for name, model in _TABLES.items()
        }
    print(
        f"JobRun {job.id}: {job.job_type} {job.status}, "
        f"{job.items_processed} items, {job.items_failed} failed, "
        f"{job.duration_ms} ms"
    )
    for items, failed in (("meetings", "failedMeetings"), ("races", "failedRaces")):
        for code in job.meta.get(failed, []):
            print(f"  failed {code}: {job.meta[items][code].get('error')}")
    if job.error_message:
        print(f"  error: {job.error_message}")
    print("Rows: " + ", ".join(f"{name} {count}" for name, count in counts.items()))
    return job.status


_TABLES = {
    "meetings": Meeting,
    "races": Race,
    "runners": Runner,
    "odds_snapshots": OddsSnapshot,
    "scrapes": Scrape,
}


def _point_at(base_url: str) -> None:
    os.environ["RACING_TAB_BASE_URL"] = base_url
    get_settings.cache_clear()
    forget_engine()


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
