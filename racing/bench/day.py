"""One benchmark day: our scheduler and both baselines over the same scenario.

Ours is replayed in full (in a process of its own, for its peak memory). Each baseline
is counted for the whole day by `racing.bench.model`, and its real poller is run over
a sample of meetings small enough for the call budget; the poller must poll exactly
the predicted instants, and any race where it did not is reported.
"""

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from racing.bench.baselines import BASELINES, Baseline, baseline_ticks, replay_baseline
from racing.bench.minimum import JobCalls, Minimum, calls_by_job, minimum_calls
from racing.bench.model import WHOLE_DAY, as_fetches, predicted_fetches
from racing.bench.ours import OursRun, replay_ours_isolated
from racing.bench.scoring import (
    Figures,
    fetches_from_log,
    fetches_from_scrapes,
    score,
)
from racing.bench.timelines import MeetingKey, RaceKey, RaceTimeline, timelines_of
from racing.database import make_engine, session_factory, upgrade
from racing.settings import load_settings
from racing.simulator.scenario import Scenario, load_scenario

log = logging.getLogger(__name__)

OURS = "ours: T-60, T-15 and result checks"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class BaselineRun:
    """A baseline's whole-day figures and how its real poller matched them."""

    baseline: Baseline
    figures: Figures
    whole_day_calls: int
    sample_every: int
    sample_meetings: int
    sample_races: int
    sample_calls: int
    predicted_sample_calls: int
    mismatched: list[RaceKey]
    seconds: float


@dataclass(frozen=True)
class DayBench:
    """Everything measured on one scenario without Prefect."""

    name: str
    meetings: int
    races: int
    ours: OursRun
    figures: list[Figures]
    baselines: list[BaselineRun]
    minimum: Minimum
    jobs: list[JobCalls]
    replay_report: str = ""


def bench_day(
    scenario_path: Path,
    work_dir: Path,
    *,
    baseline_budget: int,
    progress: Progress = log.info,
) -> DayBench:
    """Replay the scenario with every strategy and score them alike."""
    scenario = load_scenario(scenario_path)
    timelines = timelines_of(scenario)
    work_dir.mkdir(parents=True, exist_ok=True)
    progress(f"{scenario.name}: replaying the day with our scheduler")
    ours = replay_ours_isolated(scenario_path, _sqlite(work_dir / "ours.db"))
    since = ours.first_tick
    # Whether a call stored anything is on its Scrape row; the log counts requests.
    ours_figures = score(
        OURS,
        timelines,
        fetches_from_scrapes(ours.scrapes),
        since=since,
        calls=sum(r.endpoint == "race" for r in ours.requests),
        other_calls=sum(r.endpoint != "race" for r in ours.requests),
    )
    runs = [
        _run_baseline(
            baseline, scenario, timelines, ours, work_dir, baseline_budget, progress
        )
        for baseline in BASELINES
    ]
    settings = load_settings()
    minimum = minimum_calls(
        timelines,
        first_tick=since,
        followups=settings.post_race_followups.timedeltas(),
    )
    return DayBench(
        name=scenario.name,
        meetings=len(scenario.meetings),
        races=len(timelines),
        ours=ours,
        figures=[ours_figures, *(run.figures for run in runs)],
        baselines=runs,
        minimum=minimum,
        jobs=calls_by_job(ours.scrapes, timelines, minimum),
        replay_report=ours.report.format(),
    )


def _run_baseline(
    baseline: Baseline,
    scenario: Scenario,
    timelines: Sequence[RaceTimeline],
    ours: OursRun,
    work_dir: Path,
    budget: int,
    progress: Progress,
) -> BaselineRun:
    ticks = baseline_ticks(ours.first_tick, ours.last_tick, baseline.every)
    predicted = predicted_fetches(timelines, ticks)
    total = sum(len(polls) for polls in predicted.values())
    every = 1 if budget <= 0 or total <= budget else math.ceil(total / budget)
    sample: set[MeetingKey] = {
        (m.race_type, m.venue_mnemonic) for m in scenario.meetings[::every]
    }
    sampled = [tl.key for tl in timelines if tl.meeting in sample]
    expected = sum(len(predicted[key]) for key in sampled)
    progress(
        f"{scenario.name}: {baseline.name}: real poller on {len(sample)} of "
        f"{len(scenario.meetings)} meetings ({expected} calls)"
    )

    began = time.perf_counter()
    real = _poll_for_real(baseline, scenario, ticks, sample, work_dir)
    seconds = time.perf_counter() - began

    whole_day = predicted_fetches(timelines, ticks, lead=WHOLE_DAY)
    return BaselineRun(
        baseline=baseline,
        figures=score(
            baseline.name,
            timelines,
            as_fetches(predicted),
            since=ours.first_tick,
            other_calls=1,
        ),
        whole_day_calls=sum(len(polls) for polls in whole_day.values()),
        sample_every=every,
        sample_meetings=len(sample),
        sample_races=len(sampled),
        sample_calls=sum(len(found) for found in real.values()),
        predicted_sample_calls=expected,
        mismatched=[
            key
            for key in sorted({*sampled, *real})
            if real.get(key, []) != predicted.get(key, [])
        ],
        seconds=seconds,
    )


def _poll_for_real(
    baseline: Baseline,
    scenario: Scenario,
    ticks: Sequence[datetime],
    sample: set[MeetingKey],
    work_dir: Path,
) -> dict[RaceKey, list[datetime | None]]:
    """The real poller's calls per race: instants, None for a failed call."""
    url = _sqlite(work_dir / f"{baseline.kind}.db")
    upgrade(url)
    engine = make_engine(url)
    try:
        requests = replay_baseline(
            baseline,
            scenario,
            sessions=session_factory(engine),
            ticks=ticks,
            meetings=sample,
        )
    finally:
        engine.dispose()
    real: dict[RaceKey, list[datetime | None]] = {}
    for fetch in fetches_from_log(requests):
        real.setdefault(fetch.key, []).append(fetch.at if fetch.ok else None)
    return real


def _sqlite(path: Path) -> str:
    path.unlink(missing_ok=True)
    return f"sqlite:///{path}"
