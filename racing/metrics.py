"""Prometheus metrics of the scheduler, worked out from the racing database per scrape.

Each flow run is a short-lived process, so a counter kept in its memory would start at
zero in every run and vanish with it; no single process sees all the runs. The job
record in the database does. So the exporter keeps no state: at each scrape it runs a
few aggregate queries over `job_runs`, `job_run_rollups`, `skipped_runs`, `scrapes` and
`races`, in one read snapshot, and turns the answers into metric families. Labels take
few values (job type, status, window, kind, outcome), never a race or meeting.

Two kinds of counter, because history is pruned (see README, "Metrics"):

- job runs and their durations are lifetime counts: live rows plus the daily roll-ups
  that pruned rows are folded into, so a cleanup never makes them go backwards (skipped
  runs are lifetime counts too: their rows are never pruned);
- scrapes and retries have no roll-up, so they count the current racing day and reset
  to zero when it ends, a reset Prometheus's `rate()` and `increase()` handle.
"""

import logging
import math
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from time import perf_counter
from typing import Any
from wsgiref.simple_server import WSGIServer
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Float,
    SQLColumnExpression,
    and_,
    case,
    cast,
    distinct,
    extract,
    func,
    or_,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from racing import morning, results, retention
from racing.clock import Clock, wall_clock
from racing.database import describe_database_error, make_engine
from racing.models import (
    JobRun,
    JobRunRollup,
    JobStatus,
    Meeting,
    Race,
    ResultState,
    Scrape,
    ScrapeOutcome,
    SkippedRun,
)
from racing.rollups import bucket_ceiling
from racing.settings import Settings
from racing.tab_payloads import RaceStatus
from racing.windows import WINDOWS

log = logging.getLogger(__name__)

DEFAULT_PORT = 9108
# Upper bounds of the duration histograms, in seconds (+Inf is added).
JOB_DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
SCRAPE_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# Every job type exposes zero-valued series from the start, so `increase()` sees the
# first failure of a type (Prometheus needs a sample before the change).
JOB_TYPES = (
    morning.JOB_TYPE,
    *(window.job_type for window in WINDOWS.values()),
    results.JOB_TYPE,
    retention.JOB_TYPE,
)
# The job types whose deployments run one at a time and cancel a run that collides
# (CANCEL_NEW): their skipped runs are exposed from zero.
ONE_AT_A_TIME_JOB_TYPES = (
    *(window.job_type for window in WINDOWS.values()),
    results.JOB_TYPE,
)
# The job type whose runs make each kind of Scrape row.
KIND_JOB_TYPES = {
    morning.KIND: morning.JOB_TYPE,
    **{kind: window.job_type for kind, window in WINDOWS.items()},
    results.KIND: results.JOB_TYPE,
}
# How far ahead of a race its earliest window opens.
REACH = max(window.opens_before for window in WINDOWS.values())
# Coverage windows: the two pre-race windows and the first result check.
COVERAGE_KINDS = (*WINDOWS, results.KIND)
FINISHED = tuple(status.value for status in JobStatus if status.terminal)
# A `running` Scrape row is a claim still being fetched: it is counted once it ends.
SCRAPE_OUTCOMES = tuple(
    o.value for o in ScrapeOutcome if o is not ScrapeOutcome.RUNNING
)
RESULT_STATES = ("unchecked", *(state.value for state in ResultState))

_ABANDONED = RaceStatus.ABANDONED.value


@dataclass
class Histogram:
    """Cumulative counts at each upper bound (seconds), with the total count and sum."""

    bounds: Sequence[float]
    cumulative: list[int] = field(default_factory=list)
    count: int = 0
    total: float = 0.0

    def __post_init__(self) -> None:
        self.cumulative = self.cumulative or [0] * len(self.bounds)

    def add(self, cumulative: Iterable[int], count: int, total: float) -> None:
        """Add counts that are already cumulative over the same bounds."""
        self.cumulative = [
            a + b for a, b in zip(self.cumulative, cumulative, strict=True)
        ]
        self.count += count
        self.total += total

    def buckets(self) -> list[tuple[str, float]]:
        """The buckets as prometheus_client takes them, ending with +Inf."""
        pairs = [
            (str(float(bound)), float(count))
            for bound, count in zip(self.bounds, self.cumulative, strict=True)
        ]
        return [*pairs, ("+Inf", float(self.count))]


@dataclass(frozen=True)
class RacingDay:
    """A racing day (a date in the racing timezone) as UTC bounds [start, end)."""

    day: date
    start: datetime
    end: datetime

    @classmethod
    def on(cls, day: date, zone: ZoneInfo) -> "RacingDay":
        """The racing day of a date: local midnight to the next local midnight."""
        start, end = (
            datetime.combine(d, time(0), tzinfo=zone).astimezone(UTC)
            for d in (day, day + timedelta(days=1))
        )
        return cls(day, start, end)

    @classmethod
    def of(cls, instant: datetime, zone: ZoneInfo) -> "RacingDay":
        """The racing day an instant falls in."""
        return cls.on(instant.astimezone(zone).date(), zone)


class SchedulerCollector(Collector):
    """Reads every scheduler metric from the racing database when scraped."""

    def __init__(
        self, engine: Engine, *, settings: Settings, clock: Clock = wall_clock
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        """All metric families; only the exporter's own health if the database fails."""
        began = perf_counter()
        try:
            with read_snapshot(self.engine) as connection:
                families = list(_Reading(connection, self.settings, self.clock()).all())
        except SQLAlchemyError as exc:
            url = self.engine.url.render_as_string(hide_password=False)
            # describe_database_error masks the password.
            log.error("metrics: %s", describe_database_error(url, exc))
            families = []
        yield from families
        yield GaugeMetricFamily(
            "scheduler_metrics_database_up",
            "1 when the last scrape could read the racing database, else 0.",
            value=1 if families else 0,
        )
        yield GaugeMetricFamily(
            "scheduler_metrics_collect_seconds",
            "How long the exporter took to read this scrape's numbers.",
            value=perf_counter() - began,
        )


@contextmanager
def read_snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction in which every query sees the same committed state.

    A cleanup moves runs from `job_runs` into `job_run_rollups` in one transaction; read
    in two snapshots, a run could be counted in both or neither, and a counter would
    jump and fall back. PostgreSQL gets REPEATABLE READ; SQLite's driver opens no
    transaction for a SELECT, so one is begun explicitly (its snapshot then holds).
    """
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            with connection.begin():
                connection.exec_driver_sql("BEGIN")
                yield connection
            return
        snapshot = connection.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
        with snapshot.begin():
            yield snapshot


class _Reading:
    """One scrape's queries, all at the same instant and in the same snapshot."""

    def __init__(self, connection: Connection, settings: Settings, now: datetime):
        self.connection = connection
        self.settings = settings
        self.now = now.astimezone(UTC)
        # The calendar day the daily counters count, reset at local midnight.
        self.day = RacingDay.of(self.now, settings.zone)
        # The same reach as results.due_checks: past it no check is ever due again.
        self.result_horizon = results.check_reach(
            settings.post_race_followups.timedeltas()
        )
        self.races_day = self._races_day()

    def all(self) -> Iterator[Metric]:
        yield self.job_runs_total()
        yield self.job_durations()
        yield self.last_success_age()
        yield self.skipped_runs_total()
        yield self.scrapes_total()
        yield self.scrape_durations()
        yield self.retry_attempts()
        yield self.races_by_window()
        yield from self.coverage()
        yield self.result_states()
        yield self.racing_hours()

    # Job runs: lifetime counts, live rows plus the roll-ups of pruned ones.

    def job_runs_total(self) -> Metric:
        counts = {(job, status): 0 for job in JOB_TYPES for status in FINISHED}
        live = select(JobRun.job_type, JobRun.status, func.count()).where(
            JobRun.status.in_(FINISHED)
        )
        for job_type, status, count in self.connection.execute(
            live.group_by(JobRun.job_type, JobRun.status)
        ):
            counts[job_type, status] = counts.get((job_type, status), 0) + count
        rolled = select(
            JobRunRollup.job_type,
            func.sum(JobRunRollup.runs_success),
            func.sum(JobRunRollup.runs_partial),
            func.sum(JobRunRollup.runs_failed),
        ).group_by(JobRunRollup.job_type)
        statuses = (JobStatus.SUCCESS, JobStatus.PARTIAL, JobStatus.FAILED)
        for job_type, *by_status in self.connection.execute(rolled):
            for status, count in zip(statuses, by_status, strict=True):
                key = (job_type, status.value)
                counts[key] = counts.get(key, 0) + int(count or 0)

        family = CounterMetricFamily(
            "scheduler_job_runs_total",
            "Finished job runs by final status, including pruned runs kept in the "
            "daily roll-ups.",
            labels=["job_type", "status"],
        )
        for (job_type, status), count in sorted(counts.items()):
            family.add_metric([job_type, status], count)
        return family

    def job_durations(self) -> Metric:
        histograms = {job: Histogram(JOB_DURATION_BUCKETS) for job in JOB_TYPES}
        duration = JobRun.duration_ms
        live = (
            select(
                JobRun.job_type,
                func.count(),
                func.coalesce(func.sum(duration), 0),
                *_cumulative(duration, [b * 1000 for b in JOB_DURATION_BUCKETS]),
            )
            .where(JobRun.status.in_(FINISHED), duration.is_not(None))
            .group_by(JobRun.job_type)
        )
        for job_type, count, total_ms, *cumulative in self.connection.execute(live):
            histogram = histograms.setdefault(job_type, Histogram(JOB_DURATION_BUCKETS))
            histogram.add(cumulative, count, int(total_ms or 0) / 1000)
        rollups = select(JobRunRollup.job_type, JobRunRollup.duration_histogram)
        for job_type, buckets in self.connection.execute(rollups):
            histogram = histograms.setdefault(job_type, Histogram(JOB_DURATION_BUCKETS))
            _add_rolled_up(histogram, buckets)
        return _histogram_family(
            "scheduler_job_duration_seconds",
            "Duration of finished job runs (durationMs), including pruned runs.",
            "job_type",
            histograms,
        )

    def last_success_age(self) -> Metric:
        latest: dict[str, datetime] = {}
        live = (
            select(JobRun.job_type, func.max(JobRun.completed_at))
            .where(JobRun.status == JobStatus.SUCCESS.value)
            .group_by(JobRun.job_type)
        )
        for job_type, completed in self.connection.execute(live):
            if completed is not None:
                latest[job_type] = completed
        rolled = (
            select(JobRunRollup.job_type, func.max(JobRunRollup.day))
            .where(JobRunRollup.runs_success > 0)
            .group_by(JobRunRollup.job_type)
        )
        for job_type, day in self.connection.execute(rolled):
            # Only the day is kept: its end is the latest the success can have been.
            end = RacingDay.on(day, self.settings.zone).end
            latest[job_type] = max(latest.get(job_type, end), end)

        family = GaugeMetricFamily(
            "scheduler_last_success_age_seconds",
            "Seconds since the last successful run of each job type; +Inf if none.",
            labels=["job_type"],
        )
        for job_type in sorted({*JOB_TYPES, *latest}):
            when = latest.get(job_type)
            age = math.inf if when is None else (self.now - when).total_seconds()
            family.add_metric([job_type], max(age, 0.0))
        return family

    def skipped_runs_total(self) -> Metric:
        # A lifetime count: the cleanup never prunes skipped_runs.
        counts = dict.fromkeys(ONE_AT_A_TIME_JOB_TYPES, 0)
        query = select(SkippedRun.job_type, func.count()).group_by(SkippedRun.job_type)
        for job_type, count in self.connection.execute(query):
            counts[job_type] = count

        family = CounterMetricFamily(
            "scheduler_skipped_runs_total",
            "Scheduled runs Prefect cancelled before they started (a concurrency "
            "limit: the previous run still held the slot), as the reaper recorded "
            "them.",
            labels=["job_type"],
        )
        for job_type, count in sorted(counts.items()):
            family.add_metric([job_type], count)
        return family

    # Scrapes and retries: counts of the current racing day.
    # TODO: TAB API requests by endpoint and outcome, with latency (a Scrape row hides
    # the client's own retries, and meeting-list calls have none); remove when
    # TabClient records each HTTP request where this exporter can read it.

    def scrapes_total(self) -> Metric:
        counts = {(k, o): 0 for k in KIND_JOB_TYPES for o in SCRAPE_OUTCOMES}
        query = (
            select(Scrape.kind, Scrape.outcome, func.count())
            .where(self._scraped_today(), self._scrape_ended())
            .group_by(Scrape.kind, Scrape.outcome)
        )
        for kind, outcome, count in self.connection.execute(query):
            counts[kind, outcome] = count

        family = CounterMetricFamily(
            "scheduler_scrapes_total",
            "Scrape attempts (one TAB race call each) by kind and outcome, this "
            "racing day.",
            labels=["kind", "outcome"],
        )
        for (kind, outcome), count in sorted(counts.items()):
            family.add_metric([kind, outcome], count, created=self._day_created)
        return family

    def scrape_durations(self) -> Metric:
        histograms = {
            kind: Histogram(SCRAPE_DURATION_BUCKETS) for kind in KIND_JOB_TYPES
        }
        seconds = _seconds_between(
            Scrape.started_at, Scrape.finished_at, self.connection.dialect.name
        )
        query = (
            select(
                Scrape.kind,
                func.count(),
                func.coalesce(func.sum(seconds), 0.0),
                *_cumulative(seconds, SCRAPE_DURATION_BUCKETS),
            )
            .where(
                self._scraped_today(),
                self._scrape_ended(),
                Scrape.finished_at.is_not(None),
            )
            .group_by(Scrape.kind)
        )
        for kind, count, total, *cumulative in self.connection.execute(query):
            histogram = histograms.setdefault(kind, Histogram(SCRAPE_DURATION_BUCKETS))
            histogram.add(cumulative, count, float(total))
        return _histogram_family(
            "scheduler_scrape_duration_seconds",
            "Duration of scrape attempts (finished_at - started_at), this racing day.",
            "kind",
            histograms,
        )

    def retry_attempts(self) -> Metric:
        counts = self._expected_retries()
        by_attempt = (
            select(Scrape.kind, Scrape.attempt, func.count())
            .where(self._scraped_today(), self._scrape_ended(), Scrape.attempt > 1)
            .group_by(Scrape.kind, Scrape.attempt)
        )
        for kind, attempt, count in self.connection.execute(by_attempt):
            job_type = KIND_JOB_TYPES.get(kind, kind)
            counts[job_type, str(attempt - 1), "scrape"] = count
        retry_runs = (
            select(JobRun.job_type, JobRun.retry_count, func.count())
            .where(
                JobRun.started_at >= self.day.start,
                JobRun.started_at < self.day.end,
                JobRun.retry_count > 0,
            )
            .group_by(JobRun.job_type, JobRun.retry_count)
        )
        for job_type, retry, count in self.connection.execute(retry_runs):
            counts[job_type, str(retry), "job_run"] = count

        family = CounterMetricFamily(
            "scheduler_retry_attempts_total",
            "Retries this racing day: Scrape attempts after the first (source=scrape) "
            "and retry runs of a job (source=job_run), by retry number.",
            labels=["job_type", "retry_number", "source"],
        )
        for labels, count in sorted(counts.items()):
            family.add_metric(list(labels), count, created=self._day_created)
        return family

    # Races: gauges at "now", of the racing date still in reach (see _races_day).

    def races_by_window(self) -> Metric:
        now = self.now
        open_race = and_(Race.status == RaceStatus.OPEN.value, _meeting_on())
        columns = [
            _count_if(
                and_(
                    open_race,
                    Race.start_time > now + window.closes_before,
                    Race.start_time <= now + window.opens_before,
                )
            )
            for window in WINDOWS.values()
        ]
        awaiting = and_(
            _ran(),
            Race.start_time <= now,
            Race.start_time > now - self.result_horizon,
            or_(
                Race.result_state.is_(None),
                Race.result_state == ResultState.PENDING.value,
            ),
        )
        query = (
            select(*columns, _count_if(awaiting))
            .select_from(Race)
            .join(Meeting, Race.meeting_id == Meeting.id)
            .where(
                Race.start_time > now - self.result_horizon,
                Race.start_time <= now + REACH,
            )
        )
        counts = self.connection.execute(query).one()

        family = GaugeMetricFamily(
            "scheduler_races_by_window",
            "Races now in each pre-race window (open, meeting on), and races started "
            "whose result checks are not settled (window=result).",
            labels=["window"],
        )
        for kind, count in zip(COVERAGE_KINDS, counts, strict=True):
            family.add_metric([kind], int(count or 0))
        return family

    def coverage(self) -> Iterator[Metric]:
        day_races = self._day_races()
        ran = GaugeMetricFamily(
            "scheduler_races_ran",
            "Races of the racing day that ran (not abandoned).",
            value=day_races.ran,
        )
        ratio = GaugeMetricFamily(
            "scheduler_race_coverage_ratio",
            "Share of the racing day's races that ran with an ok scrape of each "
            "window; absent while no race ran.",
            labels=["window"],
        )
        closed = GaugeMetricFamily(
            "scheduler_window_closed_races",
            "Races of the racing day that ran whose window is over (no late catch-up "
            "can count any more).",
            labels=["window"],
        )
        closed_covered = GaugeMetricFamily(
            "scheduler_window_closed_covered_races",
            "Of those, the races with an ok scrape of the window.",
            labels=["window"],
        )
        for kind in COVERAGE_KINDS:
            covered, covered_closed = self._covered(kind)
            if day_races.ran:
                ratio.add_metric([kind], covered / day_races.ran)
            closed.add_metric([kind], day_races.closed[kind])
            closed_covered.add_metric([kind], covered_closed)
        yield from (ran, ratio, closed, closed_covered)

    def result_states(self) -> Metric:
        counts = dict.fromkeys(RESULT_STATES, 0)
        query = (
            select(Race.result_state, func.count())
            .join(Meeting, Race.meeting_id == Meeting.id)
            .where(_ran(), Meeting.meeting_date == self.races_day)
            .group_by(Race.result_state)
        )
        for state, count in self.connection.execute(query):
            counts[state or "unchecked"] = count

        family = GaugeMetricFamily(
            "scheduler_race_results",
            "Races of the racing day that ran, by where their result checks stand.",
            labels=["state"],
        )
        for state, count in counts.items():
            family.add_metric([state], count)
        return family

    def racing_hours(self) -> Metric:
        query = (
            select(func.min(Race.start_time), func.max(Race.start_time))
            .join(Meeting, Race.meeting_id == Meeting.id)
            .where(_ran(), Meeting.meeting_date == self.races_day)
        )
        first, last = self.connection.execute(query).one()
        racing = (
            first is not None
            and first - REACH <= self.now <= last + self.result_horizon
        )
        return GaugeMetricFamily(
            "scheduler_racing_hours",
            "1 from the first T-60 window of the racing day to the last result check "
            "reach, else 0.",
            value=int(racing),
        )

    # Helpers.

    def _races_day(self) -> date:
        """The racing date the race gauges describe: the previous one while in reach.

        A meeting's date is its local racing day, yet its last races can start after
        local midnight (Perth, overseas). Until the last of them that ran is past the
        reach of its result checks, that date is still being raced and checked;
        switching at midnight would empty the gauges and silence the alerts on them.
        """
        previous = self.day.day - timedelta(days=1)
        query = (
            select(func.max(Race.start_time))
            .join(Meeting, Race.meeting_id == Meeting.id)
            .where(_ran(), Meeting.meeting_date == previous)
        )
        last = self.connection.execute(query).scalar_one()
        if last is not None and self.now <= last + self.result_horizon:
            return previous
        return self.day.day

    @property
    def _day_created(self) -> float:
        return self.day.start.timestamp()

    def _scraped_today(self) -> ColumnElement[bool]:
        return and_(
            Scrape.started_at >= self.day.start, Scrape.started_at < self.day.end
        )

    def _scrape_ended(self) -> ColumnElement[bool]:
        return Scrape.outcome != ScrapeOutcome.RUNNING.value

    def _expected_retries(self) -> dict[tuple[str, str, str], int]:
        """Zero series for every retry number the settings allow."""
        settings = self.settings
        allowed = {
            morning.JOB_TYPE: len(settings.morning_task_retry_delays_seconds),
            results.JOB_TYPE: len(settings.post_race_followup_delays_seconds),
            **{
                window.job_type: len(settings.pre_race_retry_delays_seconds)
                for window in WINDOWS.values()
            },
        }
        counts = {
            (job_type, str(n), "scrape"): 0
            for job_type, retries in allowed.items()
            for n in range(1, retries + 1)
        }
        for n in range(1, len(settings.morning_retry_times) + 1):
            counts[morning.JOB_TYPE, str(n), "job_run"] = 0
        return counts

    def _day_races(self) -> "_DayRaces":
        query = (
            select(
                func.count(Race.id),
                *(_count_if(self._closed(kind)) for kind in COVERAGE_KINDS),
            )
            .join(Meeting, Race.meeting_id == Meeting.id)
            .where(_ran(), Meeting.meeting_date == self.races_day)
        )
        ran, *closed = self.connection.execute(query).one()
        counts = {
            kind: int(n or 0) for kind, n in zip(COVERAGE_KINDS, closed, strict=True)
        }
        return _DayRaces(int(ran), counts)

    def _covered(self, kind: str) -> tuple[int, int]:
        query = (
            select(
                func.count(distinct(Scrape.race_id)),
                func.count(distinct(case((self._closed(kind), Scrape.race_id)))),
            )
            .join(Race, Scrape.race_id == Race.id)
            .join(Meeting, Race.meeting_id == Meeting.id)
            .where(
                _ran(),
                Meeting.meeting_date == self.races_day,
                Scrape.kind == kind,
                Scrape.outcome == ScrapeOutcome.OK.value,
            )
        )
        covered, closed = self.connection.execute(query).one()
        return int(covered), int(closed)

    def _closed(self, kind: str) -> ColumnElement[bool]:
        """Whether no scrape can count for a race's window of this kind any more."""
        window = WINDOWS.get(kind)
        if window is not None:
            # Past its close a missed window may still be caught up late (after
            # downtime) until `late_until`; only then is its coverage final.
            return Race.start_time <= self.now + window.late_until
        # A result's first check may be caught up late until FIRST_CHECK_LATE_UNTIL.
        return Race.start_time <= self.now - results.FIRST_CHECK_LATE_UNTIL


@dataclass(frozen=True)
class _DayRaces:
    ran: int
    closed: dict[str, int]


class Exporter:
    """A running metrics HTTP server and the engine it reads through."""

    def __init__(
        self, server: WSGIServer, thread: threading.Thread, engine: Engine
    ) -> None:
        self.server = server
        self.thread = thread
        self.engine = engine

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def wait(self) -> None:
        """Block until the server stops (or Ctrl-C)."""
        self.thread.join()

    def close(self) -> None:
        """Stop serving and close the database connections."""
        self.server.shutdown()
        self.server.server_close()
        self.engine.dispose()


def start_exporter(
    database_url: str,
    *,
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    clock: Clock = wall_clock,
) -> Exporter:
    """Serve /metrics on host:port in a background thread (port 0 picks a free one)."""
    engine = make_engine(database_url)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SchedulerCollector(engine, settings=settings, clock=clock))
    server, thread = start_http_server(port, addr=host, registry=registry)
    log.info("metrics on http://%s:%d/metrics", host, server.server_port)
    return Exporter(server, thread, engine)


def _meeting_on() -> ColumnElement[bool]:
    return Meeting.abandoned.is_(False)


def _ran() -> ColumnElement[bool]:
    """The race ran (or will): neither it nor its meeting was abandoned."""
    return and_(Race.status != _ABANDONED, _meeting_on())


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _cumulative(
    value: SQLColumnExpression[Any], bounds: Iterable[float]
) -> list[ColumnElement[int]]:
    return [_count_if(value <= bound) for bound in bounds]


def _seconds_between(
    start: SQLColumnExpression[datetime],
    end: SQLColumnExpression[datetime | None],
    dialect: str,
) -> ColumnElement[float]:
    # SQLite keeps naive UTC text, which julianday() reads; PostgreSQL has intervals.
    if dialect == "sqlite":
        return cast((func.julianday(end) - func.julianday(start)) * 86400.0, Float)
    return cast(extract("epoch", end - start), Float)


def _add_rolled_up(histogram: Histogram, buckets: dict[str, int]) -> None:
    """Add a roll-up's duration buckets (about 1 % wide, in ms) to a histogram.

    A roll-up bucket counts under a bound when its shortest duration does, and adds
    its longest duration to the sum. Pruning a run then never lowers a bucket or the
    sum: at worst it moves a run that lay just above a bound under it, and adds under
    1 % of its duration to the sum.
    """
    bounds_ms = [bound * 1000 for bound in histogram.bounds]
    cumulative = [0] * len(bounds_ms)
    count, total_ms = 0, 0
    for key, runs in buckets.items():
        bucket = int(key)
        shortest = 0 if bucket <= 0 else bucket_ceiling(bucket - 1) + 1
        for i, bound in enumerate(bounds_ms):
            if shortest <= bound:
                cumulative[i] += runs
        count += runs
        total_ms += bucket_ceiling(bucket) * runs
    histogram.add(cumulative, count, total_ms / 1000)


def _histogram_family(
    name: str, documentation: str, label: str, histograms: dict[str, Histogram]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=[label])
    for value, histogram in sorted(histograms.items()):
        family.add_metric([value], histogram.buckets(), histogram.total)
    return family
