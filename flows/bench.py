"""`racing bench`: the race-day benchmark, with Prefect's own costs measured too.

`racing.bench` replays each day with our jobs and both baselines, without Prefect.
This module adds what only Prefect shows: the real morning flow against a slowed
API, and the cost of an empty window flow run, from which the floor of a `racing
replay` through the flows is estimated. Then it writes the report and the chart.
"""

import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from flows.database import forget_engine, racing_sessions
from racing import morning
from racing.bench.chart import INSTALL_HINT, chart_available, write_chart
from racing.bench.day import DayBench, bench_day
from racing.bench.report import (
    BenchReport,
    MorningTiming,
    PrefectCosts,
    render,
)
from racing.clock import wall_clock
from racing.database import transaction, upgrade
from racing.job_runs import open_job_run
from racing.models import Meeting, Scrape
from racing.settings import MORNING_AT, get_settings
from racing.simulator.generate import render as render_scenario
from racing.simulator.scenario import Scenario, load_scenario
from racing.simulator.server import SimulatorServer
from racing.store import meeting_ref
from racing.tab_client import TabClient

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BenchOptions:
    """What `racing bench` was asked to do."""

    scenario: Path
    out: Path
    scale: int = 1
    latency_ms: int = 100
    baseline_budget: int = 6000
    empty_runs: int = 5
    keep_databases: bool = False

    def check(self) -> None:
        """Raise a ValueError naming the first option out of range."""
        if not 1 <= self.scale <= 99:
            raise ValueError(f"--scale must be 1 to 99, got {self.scale}")
        if self.latency_ms < 0 or self.baseline_budget < 0:
            raise ValueError("--latency-ms and --baseline-budget cannot be negative")

    def command_line(self) -> str:
        """The command as a reader could type it again."""
        words = ["racing bench", f"--scenario {_shown(self.scenario)}"]
        if self.scale != 1:
            words.append(f"--scale {self.scale}")
        words.append(f"--out {_shown(self.out)}")
        defaults = BenchOptions(self.scenario, self.out)
        if self.latency_ms != defaults.latency_ms:
            words.append(f"--latency-ms {self.latency_ms}")
        if self.baseline_budget != defaults.baseline_budget:
            words.append(f"--baseline-budget {self.baseline_budget}")
        return " ".join(words)


def run_bench(options: BenchOptions, *, progress: Progress) -> tuple[BenchReport, Path]:
    """Run the whole benchmark; returns the report and the path it was written to."""
    options.check()
    options.out.mkdir(parents=True, exist_ok=True)
    with _work_dir(options) as work:
        paths = [options.scenario]
        if options.scale > 1:
            paths.append(_carnival(options.scale, options.out, progress))
        days = [
            bench_day(
                path,
                work / path.stem,
                baseline_budget=options.baseline_budget,
                progress=progress,
            )
            for path in paths
        ]
        # Prefect's console logs would bury the progress lines; warnings still show.
        # The one meeting scraped alone runs outside any flow, hence the second.
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
        progress("Prefect: timing empty window flow runs")
        prefect = time_empty_runs(
            _sqlite(work / "empty.db"), days[0], options.empty_runs
        )
        mornings = []
        for path in paths:
            progress(f"{path.stem}: timing the morning flow")
            mornings.append(
                time_morning(
                    load_scenario(path),
                    options.latency_ms,
                    _sqlite(work / f"morning-{path.stem}.db"),
                )
            )
    report = BenchReport(
        command=options.command_line(),
        when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=_machine(),
        days=days,
        mornings=mornings,
        prefect=prefect,
        charts=_charts(days, options.out, progress),
        notes=[] if chart_available() else [f"No chart: {INSTALL_HINT}."],
    )
    written = options.out / "report.md"
    written.write_text(render(report), encoding="utf-8")
    return report, written


def time_empty_runs(database_url: str, day: DayBench, count: int) -> PrefectCosts:
    """Wall time of T-60 flow runs that find nothing to do, the first one apart."""
    from flows.pre_race import pre_race_t60

    upgrade(database_url)
    seconds = []
    with _pointed_at(database_url, None):
        for _ in range(count + 1):
            began = time.perf_counter()
            pre_race_t60(as_of=day.ours.first_tick)
            seconds.append(time.perf_counter() - began)
    return PrefectCosts(_prefect_mode(), seconds[0], tuple(seconds[1:]))


def time_morning(
    scenario: Scenario, latency_ms: int, database_url: str
) -> MorningTiming:
    """The real morning flow against an API slowed by `latency_ms` per call."""
    from flows.morning_scrape import morning_scrape

    slow = scenario.model_copy(
        update={"latency_ms": {"meetings": latency_ms, "race": latency_ms}}
    )
    zone = get_settings().zone
    upgrade(database_url)
    with (
        SimulatorServer(
            slow, clock=datetime.combine(scenario.date, MORNING_AT, zone)
        ) as server,
        _pointed_at(database_url, server.base_url),
    ):
        began = time.perf_counter()
        # No as_of: every race call is stamped with the wall clock, so it is timed.
        morning_scrape(racing_date=scenario.date)
        flow_seconds = time.perf_counter() - began
        sessions = racing_sessions()
        spans = _meeting_spans(sessions)
        slowest = max(spans, key=lambda code: spans[code][1] - spans[code][0])
        alone, races = _scrape_alone(slowest, sessions)
    first = min(start for start, _ in spans.values())
    last = max(end for _, end in spans.values())
    return MorningTiming(
        latency_ms=latency_ms,
        concurrency=get_settings().scrape_concurrency,
        meetings=len(scenario.meetings),
        races=sum(len(m.races) for m in scenario.meetings),
        flow_seconds=flow_seconds,
        tasks_seconds=(last - first).total_seconds(),
        slowest_meeting=slowest,
        slowest_races=races,
        slowest_in_run_seconds=(spans[slowest][1] - spans[slowest][0]).total_seconds(),
        slowest_alone_seconds=alone,
        meetings_sum_seconds=sum((e - s).total_seconds() for s, e in spans.values()),
    )


def _meeting_spans(
    sessions: sessionmaker[Session],
) -> dict[str, tuple[datetime, datetime]]:
    """Each meeting's first race call's start and last one's end, by code."""
    with sessions() as session:
        rows = session.execute(
            select(
                Meeting.race_type,
                Meeting.venue_mnemonic,
                func.min(Scrape.started_at),
                func.max(Scrape.finished_at),
            )
            .join(Meeting, Scrape.meeting_id == Meeting.id)
            .where(Scrape.kind == morning.KIND)
            .group_by(Meeting.id, Meeting.race_type, Meeting.venue_mnemonic)
        ).all()
    return {
        f"{kind}/{venue}": (start, end)
        for kind, venue, start, end in rows
        if end is not None
    }


def _scrape_alone(code: str, sessions: sessionmaker[Session]) -> tuple[float, int]:
    """Seconds to scrape one meeting with nothing else running, and its races."""
    race_type, venue = code.split("/")
    with transaction(sessions) as session:
        meeting = session.scalars(
            select(Meeting).filter_by(race_type=race_type, venue_mnemonic=venue)
        ).one()
        ref = meeting_ref(meeting, session=session)
        job_run_id = open_job_run(
            session=session,
            flow_run_id=str(uuid4()),
            job_type="bench",
            started_at=wall_clock(),
        ).id
    with TabClient.from_settings(get_settings()) as client:
        began = time.perf_counter()
        morning.scrape_meeting(
            ref,
            client=client,
            sessions=sessions,
            job_run_id=job_run_id,
            clock=wall_clock,
        )
        return time.perf_counter() - began, len(ref.races)


def _carnival(scale: int, out: Path, progress: Progress) -> Path:
    path = out / f"carnival-x{scale}.json"
    progress(f"writing a scenario {scale} times the default: {path}")
    path.write_text(render_scenario("carnival", scale=scale), encoding="utf-8")
    return path


def _charts(days: list[DayBench], out: Path, progress: Progress) -> list[str]:
    if not chart_available():
        progress(f"no chart: {INSTALL_HINT}")
        return []
    names = []
    for day in days:
        name = f"chart-{day.name}.png"
        write_chart(day, out / name)
        names.append(name)
    return names


@contextmanager
def _work_dir(options: BenchOptions) -> Iterator[Path]:
    if options.keep_databases:
        folder = options.out / "databases"
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="racing-bench-") as temporary:
        yield Path(temporary)


@contextmanager
def _pointed_at(database_url: str, tab_base_url: str | None) -> Iterator[None]:
    """Point the flows' settings at a database (and a simulator) for a while."""
    names = {"RACING_DATABASE_URL": database_url, "RACING_TAB_BASE_URL": tab_base_url}
    saved = {name: os.environ.get(name) for name in names}
    for name, value in names.items():
        if value is not None:
            os.environ[name] = value
    _reload()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _reload()


def _reload() -> None:
    get_settings.cache_clear()
    forget_engine()


def _sqlite(path: Path) -> str:
    path.unlink(missing_ok=True)
    return f"sqlite:///{path}"


def _shown(path: Path) -> str:
    """A path relative to the working folder, or just its name."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return path.name


def _prefect_mode() -> str:
    from prefect.settings import get_current_settings

    if get_current_settings().api.url:
        return "the Prefect server of PREFECT_API_URL"
    return "local mode, a temporary server"


def _machine() -> str:
    import prefect

    return (
        f"{platform.system()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, Prefect {prefect.__version__}"
    )
