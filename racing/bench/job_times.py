"""How long each of our job runs took in the replay, against the time it has.

A window or result run must end before the next 5-minute tick starts the next one;
a morning run before the next morning run (the first retry, 15 minutes later). The
replay runs each job through `TimedJobs`, which times it in wall seconds and counts
the race calls it made. Figures only: wall times depend on the machine.
"""

import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from itertools import pairwise

from racing.replay import Jobs
from racing.settings import MORNING_AT
from racing.windows import RUN_EVERY, Window

MORNING = "morning"
MORNING_RETRY = "morning retry"
POST_RACE = "post-race"
# Report order: the morning runs first, then the jobs of every tick.
JOB_NAMES = (MORNING, MORNING_RETRY, "t60", "t15", POST_RACE)


@dataclass(frozen=True)
class JobTime:
    """One job run: what ran, at which tick, its wall seconds and race calls."""

    job: str
    tick: datetime
    seconds: float
    calls: int


@dataclass(frozen=True)
class JobTimes:
    """One job's runs over the day, against the time each run has."""

    job: str
    runs: int
    median_seconds: float
    slowest_seconds: float
    slowest_tick: datetime
    most_calls: int
    budget: timedelta
    overran: int


@dataclass
class TimedJobs:
    """Runs jobs through `inner` and records each one's wall time and race calls."""

    inner: Jobs
    # Race calls made so far, read between runs (outside the timed part).
    calls_so_far: Callable[[], int]
    times: list[JobTime] = field(default_factory=list)

    def morning(self, day: date, as_of: datetime, *, retry: bool = False) -> None:
        job = MORNING_RETRY if retry else MORNING
        self._timed(job, as_of, lambda: self.inner.morning(day, as_of, retry=retry))

    def window(self, window: Window, as_of: datetime) -> None:
        self._timed(window.kind, as_of, lambda: self.inner.window(window, as_of))

    def post_race(self, as_of: datetime) -> None:
        self._timed(POST_RACE, as_of, lambda: self.inner.post_race(as_of))

    def _timed(self, job: str, tick: datetime, run: Callable[[], None]) -> None:
        calls = self.calls_so_far()
        began = time.perf_counter()
        run()
        seconds = time.perf_counter() - began
        self.times.append(JobTime(job, tick, seconds, self.calls_so_far() - calls))


def morning_gap(retry_times: Sequence[clock_time]) -> timedelta:
    """The shortest time between two morning runs: the most one may take."""
    moments = sorted({MORNING_AT, *retry_times})
    gaps = [_minus(later, earlier) for earlier, later in pairwise(moments)]
    # With no retries, the morning run has until the next morning's.
    return min(gaps, default=timedelta(days=1))


def budget_of(job: str, morning: timedelta) -> timedelta:
    """How long a run of `job` has before the next run of the same job is due."""
    return morning if job in (MORNING, MORNING_RETRY) else RUN_EVERY


def summarise_times(times: Iterable[JobTime], *, morning: timedelta) -> list[JobTimes]:
    """Per job: runs, median and slowest wall time, and the runs that overran."""
    by_job: dict[str, list[JobTime]] = {}
    for one in times:
        by_job.setdefault(one.job, []).append(one)
    order = [*JOB_NAMES, *sorted(set(by_job) - set(JOB_NAMES))]
    return [_summary(job, by_job[job], morning) for job in order if job in by_job]


def busiest_tick(times: Iterable[JobTime]) -> tuple[datetime, float] | None:
    """The tick whose runs took longest added up, and their seconds."""
    totals: dict[datetime, float] = {}
    for one in times:
        totals[one.tick] = totals.get(one.tick, 0.0) + one.seconds
    if not totals:
        return None
    tick = max(totals, key=lambda at: totals[at])
    return tick, totals[tick]


def _summary(job: str, runs: list[JobTime], morning: timedelta) -> JobTimes:
    budget = budget_of(job, morning)
    slowest = max(runs, key=lambda one: one.seconds)
    return JobTimes(
        job=job,
        runs=len(runs),
        median_seconds=statistics.median(one.seconds for one in runs),
        slowest_seconds=slowest.seconds,
        slowest_tick=slowest.tick,
        most_calls=max(one.calls for one in runs),
        budget=budget,
        overran=sum(one.seconds >= budget.total_seconds() for one in runs),
    )


def _minus(later: clock_time, earlier: clock_time) -> timedelta:
    day = date(2000, 1, 1)
    return datetime.combine(day, later) - datetime.combine(day, earlier)
