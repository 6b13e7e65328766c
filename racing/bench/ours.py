"""Our scheduler over a benchmark day: the domain jobs replayed without Prefect.

`replay_ours` is `racing replay` with `DirectJobs`: the same jobs at the same ticks,
minus Prefect's bookkeeping (which `flows/bench.py` measures on its own). Run through
`replay_ours_isolated`, it runs in a fresh Python process, so its peak memory is its
own. Each job run is timed on its own (`racing.bench.job_times`).
"""

import pickle
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from racing.bench.job_times import JobTime, TimedJobs, morning_gap
from racing.bench.scoring import ScrapeRow
from racing.database import make_engine, session_factory, upgrade
from racing.models import Meeting, Race, Scrape
from racing.replay import DirectJobs, ReplayReport, build_report, day_ticks, replay_day
from racing.settings import Settings, load_settings
from racing.simulator.scenario import Scenario, load_scenario
from racing.simulator.server import RequestRecord, SimulatorServer
from racing.tab_client import TabClient


@dataclass(frozen=True)
class OursRun:
    """What replaying the day with our scheduler gave."""

    requests: list[RequestRecord]
    report: ReplayReport
    scrapes: list[ScrapeRow]
    first_tick: datetime
    last_tick: datetime
    jobs: int
    seconds: float
    peak_rss_mib: float
    # CPU time of the replay process, simulator threads included: unlike the wall
    # time, it hardly changes when other work shares the machine.
    cpu_seconds: float = 0.0
    job_times: tuple[JobTime, ...] = ()
    # The most a morning run may take: until the next morning run.
    morning_budget: timedelta = timedelta(minutes=15)


def replay_ours(
    scenario: Scenario, database_url: str, *, settings: Settings | None = None
) -> OursRun:
    """Replay the day with the domain jobs; times the replay itself."""
    config = settings or load_settings()
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    starts = [race.start_time for m in scenario.meetings for race in m.races]
    ticks = list(day_ticks(scenario.date, config.zone, min(starts), max(starts)))
    try:
        with SimulatorServer(scenario, clock=ticks[0]) as server:
            pointed = config.model_copy(update={"tab_base_url": server.base_url})
            with TabClient.from_settings(pointed) as client:
                jobs = DirectJobs(
                    client,
                    sessions,
                    window_retries=config.pre_race_retry_policy,
                    followups=config.post_race_followups,
                )
                timed = TimedJobs(jobs, lambda: _scrape_count(sessions))
                began, cpu_began = time.perf_counter(), time.process_time()
                replay_day(
                    scenario.date,
                    config.zone,
                    timed,
                    ticks=iter(ticks),
                    set_clock=server.set_clock,
                    retry_times=config.morning_retry_times,
                )
                seconds = time.perf_counter() - began
                cpu_seconds = time.process_time() - cpu_began
            requests = server.request_log()
        with sessions() as session:
            report = build_report(scenario.date, session=session)
            scrapes = _scrape_rows(session)
    finally:
        engine.dispose()
    report.api_calls = server.request_counts()
    report.flow_runs = jobs.runs
    return OursRun(
        requests,
        report,
        scrapes,
        ticks[0],
        ticks[-1],
        jobs.runs,
        seconds,
        peak_rss_mib(),
        cpu_seconds,
        tuple(timed.times),
        morning_gap(config.morning_retry_times),
    )


def replay_ours_isolated(scenario_path: Path, database_url: str) -> OursRun:
    """`replay_ours` in a fresh process, so the peak memory is the replay's alone."""
    with tempfile.TemporaryDirectory(prefix="racing-bench-") as folder:
        result = Path(folder) / "ours.pickle"
        command = [sys.executable, "-m", __name__, str(scenario_path), database_url]
        subprocess.run([*command, str(result)], check=True)
        with result.open("rb") as file:
            run = pickle.load(file)
    if not isinstance(run, OursRun):
        raise TypeError(f"the replay process returned {type(run).__name__}")
    return run


def _scrape_rows(session: Session) -> list[ScrapeRow]:
    rows = session.execute(
        select(
            Meeting.race_type,
            Meeting.venue_mnemonic,
            Race.race_number,
            Scrape.kind,
            Scrape.outcome,
            Scrape.started_at,
        )
        .join(Race, Scrape.race_id == Race.id)
        .join(Meeting, Race.meeting_id == Meeting.id)
        .order_by(Scrape.id)
    ).all()
    return [
        ScrapeRow((race_type, venue, number), kind, outcome, at)
        for race_type, venue, number, kind, outcome, at in rows
    ]


def _scrape_count(sessions: sessionmaker[Session]) -> int:
    """Race calls so far: every race call leaves one Scrape row."""
    with sessions() as session:
        return session.scalar(select(func.count(Scrape.id))) or 0


def peak_rss_mib() -> float:
    """This process's peak resident memory, in MiB."""
    # Linux keeps ru_maxrss across exec, so a child of the big `racing bench`
    # process would report its parent's size; VmHWM is this process's own peak.
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # macOS reports bytes, the BSDs KiB.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def main(argv: list[str]) -> int:
    """`python -m racing.bench.ours SCENARIO DATABASE_URL RESULT_FILE`."""
    # Run as __main__, this module's classes would pickle under that name; the
    # parent must find them under their importable one.
    from racing.bench import ours

    scenario_path, database_url, result = argv
    run = ours.replay_ours(load_scenario(Path(scenario_path)), database_url)
    with Path(result).open("wb") as file:
        pickle.dump(run, file)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
