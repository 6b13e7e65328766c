"""The fewest race calls a day allows, and where our calls above that go.

The minimum is one call per race per job: the morning scrape, T-60 and T-15 for every
race not yet abandoned when the window opens, and one result check once the result is
official (two for a feed that never says so: the unchanged-placings fallback needs two
looks five minutes apart). No scheduler can know in advance when a result turns
official, so a second figure counts the checks our follow-up schedule cannot avoid:
every check until the first one at or after the official result.
"""

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from racing.bench.scoring import ScrapeRow
from racing.bench.timelines import ABANDONED, RaceKey, RaceTimeline
from racing.models import ScrapeOutcome
from racing.results import FIRST_CHECK_FROM
from racing.windows import RUN_EVERY, WINDOWS

# Checks an unchanged-placings confirmation needs, five minutes apart.
_UNCHANGED_CHECKS = 2
_JOBS = {"morning": "morning", "t60": "T-60", "t15": "T-15", "result": "result"}


@dataclass(frozen=True)
class Minimum:
    """The fewest race calls, per job."""

    morning: int
    t60: int
    t15: int
    results: int
    # Result checks on our follow-up schedule, up to the first that sees the result.
    results_on_schedule: int

    @property
    def total(self) -> int:
        return self.morning + self.t60 + self.t15 + self.results

    @property
    def on_schedule(self) -> int:
        return self.total - self.results + self.results_on_schedule


def minimum_calls(
    timelines: Sequence[RaceTimeline],
    *,
    first_tick: datetime,
    followups: Sequence[timedelta],
) -> Minimum:
    """The day's minimum; `first_tick` anchors the 5-minute grid of the runs."""
    windows = {
        kind: sum(
            tl.abandoned_at is None
            or tl.abandoned_at > tl.final_start - window.opens_before
            for tl in timelines
        )
        for kind, window in WINDOWS.items()
    }
    ran = [tl for tl in timelines if tl.ran]
    return Minimum(
        morning=len(timelines),
        t60=windows["t60"],
        t15=windows["t15"],
        results=sum(1 if tl.paying_at else _UNCHANGED_CHECKS for tl in ran),
        results_on_schedule=sum(
            checks_on_schedule(tl, first_tick, followups) for tl in ran
        ),
    )


def checks_on_schedule(
    tl: RaceTimeline, first_tick: datetime, followups: Sequence[timedelta]
) -> int:
    """Result checks our schedule makes before one sees the official result.

    The first check is the first run at least 5 minutes after the start, each
    follow-up its delay after the previous; a feed that never says Paying takes all.
    """
    check = _next_run(tl.final_start + FIRST_CHECK_FROM, first_tick)
    for number, delay in enumerate([*followups, None], start=1):
        if tl.paying_at is not None and check >= tl.paying_at:
            return number
        if delay is not None:
            check += delay
    return 1 + len(followups)


@dataclass(frozen=True)
class JobCalls:
    """One job's race calls against its minimum, and what the extra ones were."""

    job: str
    minimum: int
    on_schedule: int
    ours: int
    reasons: dict[str, int]

    @property
    def extra(self) -> int:
        return self.ours - self.minimum


def calls_by_job(
    scrapes: Iterable[ScrapeRow],
    timelines: Sequence[RaceTimeline],
    minimum: Minimum,
) -> list[JobCalls]:
    """Our race calls per job (one Scrape row is one call) against the minimum."""
    by_key: dict[RaceKey, RaceTimeline] = {tl.key: tl for tl in timelines}
    count: Counter[str] = Counter()
    reasons: dict[str, Counter[str]] = {kind: Counter() for kind in _JOBS}
    for row in scrapes:
        count[row.kind] += 1
        reason = _reason(row, by_key[row.key])
        if reason is not None:
            reasons[row.kind][reason] += 1
    lowest = {
        "morning": minimum.morning,
        "t60": minimum.t60,
        "t15": minimum.t15,
        "result": minimum.results,
    }
    forced = minimum.results_on_schedule - minimum.results
    if forced:
        reasons["result"]["follow-ups the result timing forced"] = forced
    beyond = count["result"] - minimum.results_on_schedule - reasons["result"]["failed"]
    if beyond:
        reasons["result"]["checks beyond our schedule's need"] = beyond
    return [
        JobCalls(
            job=label,
            minimum=lowest[kind],
            on_schedule=minimum.results_on_schedule
            if kind == "result"
            else lowest[kind],
            ours=count[kind],
            reasons=dict(reasons[kind].most_common()),
        )
        for kind, label in _JOBS.items()
    ]


def _reason(row: ScrapeRow, tl: RaceTimeline) -> str | None:
    """Why a call is above the minimum, when the row alone says so."""
    if row.outcome == ScrapeOutcome.FAILED.value:
        return "failed"
    if row.kind == "morning":
        return None
    if row.outcome == ScrapeOutcome.MOVED.value:
        return "re-timed race, scraped again (moved)"
    if row.kind in WINDOWS and tl.status(row.at) == ABANDONED:
        return "race already abandoned"
    return None


def _next_run(instant: datetime, first_tick: datetime) -> datetime:
    """The first run of the 5-minute grid at or after `instant`."""
    runs = -((first_tick - instant) // RUN_EVERY)
    return first_tick + runs * RUN_EVERY
