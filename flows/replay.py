"""`racing replay`: a whole race day through the real flows, tick by tick.

Starts the simulator in this process, migrates the database, then steps the
simulator's clock in 5-minute ticks and at each tick runs the flows the schedules would
run then (morning scrape at 06:00, T-60 and T-15 every tick), each with `as_of` set to
the tick. Retry delays are scaled (to zero by default), since the clock is simulated.
"""

import os
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from flows.database import forget_engine, racing_sessions
from flows.hooks import JobFailed
from racing.database import upgrade
from racing.replay import Jobs, ReplayReport, build_report, day_ticks, replay_day
from racing.settings import get_settings
from racing.simulator.scenario import load_scenario
from racing.simulator.server import SimulatorServer
from racing.windows import Window


@dataclass
class FlowJobs(Jobs):
    """Runs each job as a real Prefect flow run, hooks and all."""

    runs: int = 0

    def morning(self, day: date, as_of: datetime, *, retry: bool = False) -> None:
        from flows.morning_scrape import morning_scrape

        self.runs += 1
        with suppress(JobFailed):  # recorded in job_runs; the replay goes on
            morning_scrape(racing_date=day, as_of=as_of, retry=retry)

    def window(self, window: Window, as_of: datetime) -> None:
        from flows.pre_race import pre_race_t15, pre_race_t60

        self.runs += 1
        flow = pre_race_t60 if window.kind == "t60" else pre_race_t15
        with suppress(JobFailed):  # recorded in job_runs; the replay goes on
            flow(as_of=as_of)

    def post_race(self, as_of: datetime) -> None:
        from flows.post_race import post_race

        self.runs += 1
        with suppress(JobFailed):
            post_race(as_of=as_of)


def run_replay(
    scenario_path: Path, database_url: str | None, delay_scale: float
) -> ReplayReport:
    """Replay the scenario's day and return the report."""
    if database_url:
        os.environ["RACING_DATABASE_URL"] = database_url
    _scale_delays(delay_scale)
    settings = get_settings()
    scenario = load_scenario(scenario_path)
    upgrade(settings.database_url)

    starts = [race.start_time for m in scenario.meetings for race in m.races]
    ticks = day_ticks(scenario.date, settings.zone, min(starts), max(starts))
    jobs = FlowJobs()
    with SimulatorServer(scenario) as server:
        os.environ["RACING_TAB_BASE_URL"] = server.base_url
        _reload()
        replay_day(
            scenario.date,
            settings.zone,
            jobs,
            ticks=ticks,
            set_clock=server.set_clock,
            retry_times=settings.morning_retry_times,
        )
        calls = server.request_counts()

    with racing_sessions()() as session:
        report = build_report(scenario.date, session=session)
    report.api_calls = calls
    report.flow_runs = jobs.runs
    return report


def _scale_delays(scale: float) -> None:
    settings = get_settings()
    # Post-race follow-ups are not scaled: they are the schedule, not a retry.
    scaled = {
        "RACING_MORNING_TASK_RETRY_DELAYS_SECONDS": settings.morning_retry_policy,
        "RACING_PRE_RACE_RETRY_DELAYS_SECONDS": settings.pre_race_retry_policy,
    }
    for variable, policy in scaled.items():
        delays = policy.scaled(scale).seconds()
        os.environ[variable] = ",".join(str(delay) for delay in delays)
    _reload()


def _reload() -> None:
    get_settings.cache_clear()
    forget_engine()
