"""Scoring a strategy's race calls: coverage per window, duplicates, misses and lag.

A strategy is judged only by when it fetched each race and whether the fetch
succeeded; the scenario's timelines say what each fetch saw. The simulator's clock is
fixed while a tick runs, so the simulated instant of a fetch is also the instant its
data was stored.
"""

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import unquote

from racing.bench.timelines import RaceKey, RaceTimeline
from racing.models import ScrapeOutcome
from racing.replay import LEAD
from racing.simulator.server import RequestRecord
from racing.windows import T15, T60

WINDOWS = ("t60", "t15", "result")
EVENTS = ("odds", "scratching", "result")


@dataclass(frozen=True)
class Fetch:
    """One call for one race: when (simulated) and whether it gave a payload."""

    key: RaceKey
    at: datetime
    ok: bool = True


@dataclass(frozen=True)
class ScrapeRow:
    """One of our Scrape rows, keyed like the timelines."""

    key: RaceKey
    kind: str
    outcome: str
    at: datetime


@dataclass(frozen=True)
class Lags:
    """How long after each event of one kind the data was stored."""

    stored: tuple[timedelta, ...] = ()
    # Events no fetch ever followed (the strategy stopped looking first).
    never: int = 0

    @property
    def median(self) -> timedelta | None:
        if not self.stored:
            return None
        ordered = sorted(self.stored)
        middle = len(ordered) // 2
        if len(ordered) % 2:
            return ordered[middle]
        return (ordered[middle - 1] + ordered[middle]) / 2

    @property
    def worst(self) -> timedelta | None:
        return max(self.stored) if self.stored else None


@dataclass(frozen=True)
class Figures:
    """One strategy's score over one day."""

    strategy: str
    races: int
    races_run: int
    calls: int
    covered: dict[str, int]
    duplicates: int
    missed: int
    lags: dict[str, Lags]
    other_calls: int = 0

    @property
    def calls_per_race(self) -> float:
        return self.calls / self.races if self.races else 0.0

    def coverage(self, window: str) -> float:
        """Share of the races that ran with a successful fetch of the window, in %."""
        if not self.races_run:
            return 0.0
        return 100.0 * self.covered.get(window, 0) / self.races_run


def fetches_from_log(records: Iterable[RequestRecord]) -> list[Fetch]:
    """The single-race calls of a simulator's request log; a 200 is a success
    (without faults; an injected bad payload also answers 200)."""
    fetches = []
    for record in records:
        if record.endpoint != "race":
            continue
        # .../meetings/{raceType}/{venue}/races/{number}
        parts = record.path.rstrip("/").split("/")
        key = (unquote(parts[-4]), unquote(parts[-3]), int(parts[-1]))
        fetches.append(Fetch(key, record.simulated_now, record.status == 200))
    return fetches


def fetches_from_scrapes(rows: Iterable[ScrapeRow]) -> list[Fetch]:
    """Our Scrape rows as fetches: a row whose payload was stored is a success."""
    stored = (ScrapeOutcome.OK.value, ScrapeOutcome.MOVED.value)
    return [Fetch(row.key, row.at, row.outcome in stored) for row in rows]


def score(
    strategy: str,
    timelines: Sequence[RaceTimeline],
    fetches: Iterable[Fetch],
    *,
    since: datetime,
    calls: int | None = None,
    other_calls: int = 0,
) -> Figures:
    """Score a strategy's fetches against the day's timelines.

    `since` is when the replay started: scratchings lodged before it are not events
    of the day. Odds changes count from `LEAD` (75 minutes) before each race's start,
    the span in which every strategy is looking. `calls` None counts the fetches;
    give it when one fetch may have taken several requests (HTTP retries).
    """
    by_race: dict[RaceKey, list[datetime]] = {tl.key: [] for tl in timelines}
    fetched = 0
    for fetch in fetches:
        fetched += 1
        if fetch.ok:
            by_race.setdefault(fetch.key, []).append(fetch.at)
    covered = dict.fromkeys(WINDOWS, 0)
    missed = duplicates = 0
    events: dict[str, list[timedelta | None]] = {kind: [] for kind in EVENTS}
    for tl in timelines:
        seen = sorted(by_race[tl.key])
        duplicates += count_duplicates(tl, seen)
        if not tl.ran:
            continue
        windows = covered_windows(tl, seen)
        for window in windows:
            covered[window] += 1
        missed += len(windows) < len(WINDOWS)
        for kind, instants in race_events(tl, since).items():
            events[kind].extend(lag_after(instant, seen) for instant in instants)
    return Figures(
        strategy=strategy,
        races=len(timelines),
        races_run=sum(tl.ran for tl in timelines),
        calls=fetched if calls is None else calls,
        covered=covered,
        duplicates=duplicates,
        missed=missed,
        lags={kind: _lags(found) for kind, found in events.items()},
        other_calls=other_calls,
    )


def covered_windows(tl: RaceTimeline, seen: Sequence[datetime]) -> set[str]:
    """The windows a race's successful fetches covered.

    T-60 and T-15: fetched while the start the feed showed then was in the window.
    Result: fetched once the final result showed.
    """
    windows = set()
    for at in seen:
        start = tl.advertised_start(at)
        if T60.contains(start, at):
            windows.add("t60")
        if T15.contains(start, at):
            windows.add("t15")
        if tl.result_at is not None and at >= tl.result_at:
            windows.add("result")
    return windows


def count_duplicates(tl: RaceTimeline, seen: Sequence[datetime]) -> int:
    """Successful fetches that showed nothing new since the race's previous one."""
    duplicates = 0
    previous = None
    for at in sorted(seen):
        state = tl.state(at)
        duplicates += state == previous
        previous = state
    return duplicates


def race_events(tl: RaceTimeline, since: datetime) -> dict[str, list[datetime]]:
    """When new data appeared: odds moves from T-75, scratchings lodged since the
    replay began, and the official result."""
    return {
        "odds": tl.odds_changes(tl.final_start - LEAD),
        "scratching": [at for at in tl.scratchings if since <= at < tl.jump],
        "result": [tl.paying_at] if tl.paying_at is not None else [],
    }


def lag_after(instant: datetime, seen: Sequence[datetime]) -> timedelta | None:
    """Time from `instant` to the first fetch at or after it (sorted `seen`); None
    if there was none. A later fetch holds the change or something newer."""
    index = bisect_left(seen, instant)
    return seen[index] - instant if index < len(seen) else None


def _lags(found: list[timedelta | None]) -> Lags:
    stored = tuple(lag for lag in found if lag is not None)
    return Lags(stored, never=len(found) - len(stored))
