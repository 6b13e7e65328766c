"""Daily roll-ups of the job record: runs by status, items, retries and durations.

A roll-up row holds the runs of one job type on one racing day. Its counts are sums, so
runs folded by separate cleanups (a day cut in two by the retention cutoff) merge into
the same row exactly. Percentiles do not add up, so durations are kept as a histogram
of buckets about 1 % wide and the percentiles are read back from the merged histogram:
whatever order the runs were folded in, the row ends up the same, and each percentile is
at most about 1 % above the exact one (never above the exact maximum, which is kept).
"""

import math
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from itertools import accumulate
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from racing.models import JobRunRollup, JobStatus

# Bucket k holds the durations d (ms) with k - 1 < log(1 + d) / log(1.01) <= k.
_LOG_GAMMA = math.log(1.01)


@dataclass(frozen=True)
class FoldedRun:
    """What a roll-up keeps of one JobRun."""

    job_type: str
    status: str
    started_at: datetime
    duration_ms: int | None
    items_processed: int
    items_failed: int
    retry_count: int


def fold_runs(
    *, session: Session, runs: Iterable[FoldedRun], zone: ZoneInfo, now: datetime
) -> Counter[tuple[str, date]]:
    """Add finished runs to the roll-ups of their job type and racing day.

    Returns how many runs went into each (job type, day).
    """
    groups: dict[tuple[str, date], list[FoldedRun]] = defaultdict(list)
    for run in runs:
        groups[run.job_type, run.started_at.astimezone(zone).date()].append(run)

    for (job_type, day), day_runs in groups.items():
        rollup = _rollup_for(session=session, job_type=job_type, day=day)
        _add_runs(rollup, day_runs)
        rollup.updated_at = now
    session.flush()
    return Counter({key: len(day_runs) for key, day_runs in groups.items()})


def bucket_of(duration_ms: int) -> int:
    """The histogram bucket of a duration: 0 for 0 ms, then each about 1 % wider."""
    return math.ceil(math.log1p(max(duration_ms, 0)) / _LOG_GAMMA)


def bucket_ceiling(bucket: int) -> int:
    """The longest whole-millisecond duration a bucket holds."""
    return math.floor(math.expm1(bucket * _LOG_GAMMA))


def add_durations(
    histogram: Mapping[str, int], durations: Iterable[int]
) -> dict[str, int]:
    """A new histogram: `histogram` (JSON keys are strings) plus `durations`."""
    merged = Counter({int(bucket): count for bucket, count in histogram.items()})
    merged.update(bucket_of(duration) for duration in durations)
    return {str(bucket): merged[bucket] for bucket in sorted(merged)}


def percentile(histogram: Mapping[str, int], rank_percent: int) -> int | None:
    """The nearest-rank percentile of a histogram, as its bucket's ceiling."""
    buckets = sorted((int(bucket), count) for bucket, count in histogram.items())
    cumulative = list(accumulate(count for _, count in buckets))
    if not cumulative or cumulative[-1] == 0:
        return None
    rank = -(-rank_percent * cumulative[-1] // 100)
    return bucket_ceiling(buckets[bisect_left(cumulative, max(rank, 1))][0])


def _rollup_for(*, session: Session, job_type: str, day: date) -> JobRunRollup:
    # Locked so two overlapping cleanups cannot both add to a stale copy of the row.
    found = session.scalars(
        select(JobRunRollup)
        .where(JobRunRollup.day == day, JobRunRollup.job_type == job_type)
        .with_for_update()
    ).one_or_none()
    if found is not None:
        return found
    rollup = JobRunRollup(
        day=day,
        job_type=job_type,
        runs_total=0,
        runs_success=0,
        runs_partial=0,
        runs_failed=0,
        items_processed=0,
        items_failed=0,
        retries=0,
        runs_retried=0,
        duration_histogram={},
    )
    session.add(rollup)
    return rollup


def _add_runs(rollup: JobRunRollup, runs: list[FoldedRun]) -> None:
    statuses = Counter(run.status for run in runs)
    rollup.runs_total += len(runs)
    rollup.runs_success += statuses[JobStatus.SUCCESS]
    rollup.runs_partial += statuses[JobStatus.PARTIAL]
    rollup.runs_failed += statuses[JobStatus.FAILED]
    rollup.items_processed += sum(run.items_processed for run in runs)
    rollup.items_failed += sum(run.items_failed for run in runs)
    rollup.retries += sum(run.retry_count for run in runs)
    rollup.runs_retried += sum(1 for run in runs if run.retry_count > 0)

    # A finished run normally has a duration; one without is counted but not timed.
    durations = [run.duration_ms for run in runs if run.duration_ms is not None]
    if not durations:
        return
    histogram = add_durations(rollup.duration_histogram, durations)
    longest = max(*durations, rollup.duration_ms_max or 0)
    # Reassigned, not mutated in place, so the ORM sees the JSON change.
    rollup.duration_histogram = histogram
    rollup.duration_ms_max = longest
    rollup.duration_ms_p50 = _capped(percentile(histogram, 50), longest)
    rollup.duration_ms_p90 = _capped(percentile(histogram, 90), longest)
    rollup.duration_ms_p99 = _capped(percentile(histogram, 99), longest)


def _capped(value: int | None, longest: int) -> int | None:
    return None if value is None else min(value, longest)
