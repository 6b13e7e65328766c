"""The metrics exporter: every number on /metrics equals a count in the database.

The expected values are worked out here in Python from the rows themselves, not by the
exporter's SQL, and /metrics is read over HTTP and parsed by prometheus_client's own
parser, so the exposition is valid too.
"""

import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from racing.database import make_engine, transaction
from racing.job_runs import JobSummary, finish_job_run, open_job_run, save_summary
from racing.metrics import (
    JOB_DURATION_BUCKETS,
    JOB_TYPES,
    ONE_AT_A_TIME_JOB_TYPES,
    SCRAPE_DURATION_BUCKETS,
    Exporter,
    read_snapshot,
    start_exporter,
)
from racing.models import JobRun, Meeting, Race, Scrape, ScrapeOutcome, SkippedRun
from racing.reaper import CancelledRun, record_skipped_runs
from racing.retention import prune_job_runs
from racing.scrapes import record_scrape
from racing.settings import Settings, load_settings
from racing.windows import T15, T60, WINDOWS
from tests.factories import SYDNEY, local
from tests.metrics_day import MID_DAY, replayed_day

KIND_JOB_TYPES = {
    "morning": "morning_scrape",
    "t60": "pre_race_t60",
    "t15": "pre_race_t15",
    "result": "post_race",
}
FIRST_CHECK_LATE_UNTIL = timedelta(minutes=60)
# results.due_checks' reach with the default follow-ups (5, 5 and 10 minutes): the
# late first check, the follow-ups, and 20 minutes' slack for late follow-ups.
RESULT_REACH = (
    FIRST_CHECK_LATE_UNTIL + timedelta(minutes=5 + 5 + 10) + timedelta(minutes=20)
)

Labels = tuple[tuple[str, str], ...]


@dataclass
class Scraped:
    """One scrape of /metrics: sample name -> labels -> value."""

    samples: dict[str, dict[Labels, float]]

    def series(self, name: str, *labels: str) -> dict[tuple[str, ...], float]:
        """Values of one sample name, keyed by the given labels' values."""
        return {
            tuple(dict(key)[label] for label in labels): value
            for key, value in self.samples.get(name, {}).items()
        }

    def nonzero(self, name: str, *labels: str) -> dict[tuple[str, ...], float]:
        return {k: v for k, v in self.series(name, *labels).items() if v}

    def value(self, name: str) -> float:
        return self.samples[name][()]


class Clock:
    """The exporter's "now", moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def settings() -> Settings:
    return load_settings(timezone="Australia/Sydney")


@pytest.fixture
def exporter_at(
    database_url: str, settings: Settings
) -> Iterator[Callable[[datetime], Scraped]]:
    """Start the exporter on 127.0.0.1; calling the result scrapes it at an instant."""
    clock = Clock(MID_DAY)
    exporter = start_exporter(database_url, settings=settings, port=0, clock=clock)

    def scrape(now: datetime) -> Scraped:
        clock.now = now
        return scrape_metrics(exporter)

    yield scrape
    exporter.close()


def scrape_metrics(exporter: Exporter) -> Scraped:
    """GET /metrics and parse it with prometheus_client's parser."""
    response = httpx.get(f"http://127.0.0.1:{exporter.port}/metrics", timeout=10)
    response.raise_for_status()
    samples: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return Scraped(samples)


def test_every_metric_equals_the_database_during_and_after_a_replayed_day(
    sessions: sessionmaker[Session],
    exporter_at: Callable[[datetime], Scraped],
) -> None:
    with replayed_day(sessions) as day:
        day.until(MID_DAY)
        add_skipped_runs(sessions, {"pre-race-t15": 2, "post-race": 1})
        mid_day = exporter_at(MID_DAY)
        with sessions() as session:
            assert_metrics_match(mid_day, session, MID_DAY)
        day.until(day.last_tick)

    evening = day.last_tick + timedelta(hours=2)
    end = exporter_at(evening)
    with sessions() as session:
        assert_metrics_match(end, session, evening)

    # What the small day was built to show, so the comparisons above are not empty.
    assert mid_day.series("scheduler_races_by_window", "window") == {
        ("t60",): 1,
        ("t15",): 1,
        ("result",): 1,
    }
    assert mid_day.value("scheduler_racing_hours") == 1
    assert end.value("scheduler_racing_hours") == 0
    assert end.series("scheduler_race_coverage_ratio", "window") == {
        ("t60",): 0.8,
        ("t15",): 1.0,
        ("result",): 1.0,
    }
    runs = end.nonzero("scheduler_job_runs_total", "job_type", "status")
    assert runs[("morning_scrape", "partial")] == 1
    assert runs[("pre_race_t60", "failed")] == 1
    retries = end.nonzero(
        "scheduler_retry_attempts_total", "job_type", "retry_number", "source"
    )
    assert retries[("pre_race_t60", "2", "scrape")] == 2
    assert end.series("scheduler_race_results", "state")[("official",)] == 5
    assert end.series("scheduler_skipped_runs_total", "job_type") == {
        ("pre_race_t60",): 0,
        ("pre_race_t15",): 2,
        ("post_race",): 1,
    }

    # The next racing day: the daily counters start again; the lifetime ones do not.
    tomorrow = exporter_at(evening + timedelta(days=1))
    assert tomorrow.nonzero("scheduler_scrapes_total", "kind", "outcome") == {}
    assert tomorrow.nonzero("scheduler_retry_attempts_total", "job_type") == {}
    assert tomorrow.series("scheduler_job_runs_total", "job_type", "status") == (
        end.series("scheduler_job_runs_total", "job_type", "status")
    )


def test_an_empty_database_has_zero_series_for_every_job_type_and_window(
    exporter_at: Callable[[datetime], Scraped],
) -> None:
    scraped = exporter_at(MID_DAY)

    runs = scraped.series("scheduler_job_runs_total", "job_type", "status")
    assert set(runs) == {
        (job, status)
        for job in JOB_TYPES
        for status in ("success", "partial", "failed")
    }
    assert set(runs.values()) == {0}
    ages = scraped.series("scheduler_last_success_age_seconds", "job_type")
    assert set(ages) == {(job,) for job in JOB_TYPES}
    assert all(math.isinf(age) for age in ages.values())
    skipped = scraped.series("scheduler_skipped_runs_total", "job_type")
    assert skipped == {(job,): 0 for job in ONE_AT_A_TIME_JOB_TYPES}
    assert set(scraped.series("scheduler_races_by_window", "window")) == {
        ("t60",),
        ("t15",),
        ("result",),
    }
    # No race ran today: no ratio rather than a made-up one.
    assert scraped.series("scheduler_race_coverage_ratio", "window") == {}
    assert scraped.value("scheduler_metrics_database_up") == 1


def test_pruning_history_never_makes_a_counter_go_backwards(
    sessions: sessionmaker[Session],
    settings: Settings,
    exporter_at: Callable[[datetime], Scraped],
) -> None:
    old = local(9) - timedelta(days=40)
    durations_ms = [0, 999, 1000, 1001, 4_990, 5_003, 59_999, 61_000, 3_600_000]
    statuses = ["success", "partial", "failed"]
    with transaction(sessions) as session:
        for n, duration in enumerate(durations_ms):
            add_finished_run(
                session,
                job_type="pre_race_t60",
                started_at=old + timedelta(minutes=5 * n),
                duration_ms=duration,
                status=statuses[n % 3],
            )
    now = local(9)
    before = exporter_at(now)
    with sessions() as session:
        stored_ms = list(session.scalars(select(JobRun.duration_ms)))

    with transaction(sessions) as session:
        report = prune_job_runs(
            session=session, now=now, retention_days=30, zone=settings.zone
        )
    assert report.runs_deleted == len(durations_ms)
    after = exporter_at(now)

    name = "scheduler_job_runs_total"
    assert after.series(name, "job_type", "status") == before.series(
        name, "job_type", "status"
    )
    for suffix, labels in (("_count", ["job_type"]), ("_bucket", ["job_type", "le"])):
        name = "scheduler_job_duration_seconds" + suffix
        old_values = before.series(name, *labels)
        new_values = after.series(name, *labels)
        assert new_values.keys() == old_values.keys()
        for key, value in new_values.items():
            assert value >= old_values[key], (name, key)
    name = "scheduler_job_duration_seconds_sum"
    old_sum = before.series(name, "job_type")[("pre_race_t60",)]
    new_sum = after.series(name, "job_type")[("pre_race_t60",)]
    assert old_sum == sum(ms or 0 for ms in stored_ms) / 1000
    assert old_sum <= new_sum <= old_sum * 1.01
    # The last success is now only known by its day: its end bounds the age.
    age = after.series("scheduler_last_success_age_seconds", "job_type")
    assert 0 < age[("pre_race_t60",)] <= (now - old).total_seconds()


DURATIONS = (0.3, 2.0, 2.0, 45.0)


def test_scrape_durations_fall_in_their_buckets(
    sessions: sessionmaker[Session],
    exporter_at: Callable[[datetime], Scraped],
) -> None:
    start = local(8)
    with transaction(sessions) as session:
        job_run_id = open_job_run(
            session=session,
            flow_run_id="f-1",
            job_type="pre_race_t60",
            started_at=start,
        ).id
        for seconds in DURATIONS:
            record_scrape(
                session=session,
                job_run_id=job_run_id,
                kind="t60",
                started_at=start,
                finished_at=start + timedelta(seconds=seconds),
            )
        # A claim still being fetched: neither counted nor timed until it ends.
        record_scrape(
            session=session,
            job_run_id=job_run_id,
            kind="t60",
            started_at=start,
            finished_at=start,
            outcome=ScrapeOutcome.RUNNING,
        ).finished_at = None

    scraped = exporter_at(local(9))

    buckets = scraped.series("scheduler_scrape_duration_seconds_bucket", "kind", "le")
    for bound in SCRAPE_DURATION_BUCKETS:
        count = sum(1 for seconds in DURATIONS if seconds <= bound)
        assert buckets[("t60", str(bound))] == count, bound
    assert buckets[("t60", "+Inf")] == 4
    total = scraped.series("scheduler_scrape_duration_seconds_sum", "kind")
    assert total[("t60",)] == pytest.approx(49.3, abs=1e-3)
    scrapes = scraped.series("scheduler_scrapes_total", "kind", "outcome")
    assert scrapes[("t60", "ok")] == 4
    assert ("t60", "running") not in scrapes


def test_a_day_racing_past_midnight_is_described_until_its_last_check_is_out_of_reach(
    sessions: sessionmaker[Session],
    exporter_at: Callable[[datetime], Scraped],
) -> None:
    # Perth's last races of the 14th start after Sydney's midnight.
    late = [local(23, 30), local(23, 30) + timedelta(minutes=40)]
    tomorrow_noon = local(12) + timedelta(days=1)
    with transaction(sessions) as session:
        add_meeting(session, venue="PER", on=TEST_DAY, starts=late)
        add_meeting(session, venue="GOS", on=NEXT_DAY, starts=[tomorrow_noon])
        job_run_id = open_job_run(
            session=session,
            flow_run_id="f-3",
            job_type="pre_race_t60",
            started_at=local(23, 15),
        ).id
        last_race = session.scalars(select(Race).where(Race.start_time == late[-1]))
        record_scrape(
            session=session,
            job_run_id=job_run_id,
            kind="t60",
            race_id=last_race.one().id,
            started_at=local(23, 15),
            finished_at=local(23, 15),
        )

    just_after_midnight = late[-1] + timedelta(minutes=5)
    last_reach = late[-1] + RESULT_REACH
    past_reach = last_reach + timedelta(minutes=1)
    scraped = {now: exporter_at(now) for now in (just_after_midnight, past_reach)}
    with sessions() as session:
        for now, metrics in scraped.items():
            assert_metrics_match(metrics, session, now)

    # Still the 14th: its races are running and being checked.
    night = scraped[just_after_midnight]
    assert night.value("scheduler_racing_hours") == 1
    assert night.value("scheduler_races_ran") == 2
    assert night.series("scheduler_window_closed_races", "window") == {
        ("t60",): 2,
        ("t15",): 2,
        ("result",): 0,
    }
    assert night.series("scheduler_race_coverage_ratio", "window")[("t60",)] == 0.5
    assert exporter_at(last_reach).value("scheduler_racing_hours") == 1
    # Then the 15th's own card, hours before its first window.
    assert scraped[past_reach].value("scheduler_racing_hours") == 0
    assert scraped[past_reach].value("scheduler_races_ran") == 1


def test_a_read_snapshot_does_not_see_what_commits_after_its_first_read(
    database_url: str, sessions: sessionmaker[Session]
) -> None:
    engine = make_engine(database_url)
    count = text("SELECT count(*) FROM job_runs")
    with read_snapshot(engine) as connection:
        before = connection.execute(count).scalar_one()
        with transaction(sessions) as session:
            open_job_run(
                session=session,
                flow_run_id="f-2",
                job_type="cleanup",
                started_at=local(9),
            )
        during = connection.execute(count).scalar_one()
    with engine.connect() as connection:
        after = connection.execute(count).scalar_one()
    engine.dispose()

    assert (before, during, after) == (0, 0, 1)


def test_a_database_without_the_schema_reports_it_is_down(
    tmp_path: Path, settings: Settings
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    create_engine(url).dispose()
    exporter = start_exporter(url, settings=settings, port=0)
    try:
        scraped = scrape_metrics(exporter)
    finally:
        exporter.close()

    assert scraped.value("scheduler_metrics_database_up") == 0
    assert "scheduler_job_runs_total" not in scraped.samples


def add_skipped_runs(
    sessions: sessionmaker[Session], per_deployment: dict[str, int]
) -> None:
    """Runs the concurrency limit cancelled, as the reaper records them."""
    runs = [
        CancelledRun(str(uuid4()), deployment, local(7, 5 * n))
        for deployment, count in per_deployment.items()
        for n in range(count)
    ]
    job_types = {name: name.replace("-", "_") for name in per_deployment}
    with transaction(sessions) as session:
        record_skipped_runs(
            session=session, runs=runs, job_types=job_types, now=local(7, 30)
        )


TEST_DAY = date(2026, 11, 14)
NEXT_DAY = TEST_DAY + timedelta(days=1)


def add_meeting(
    session: Session, *, venue: str, on: date, starts: list[datetime]
) -> None:
    """A meeting of racing date `on` with an open race at each start."""
    seen = local(6)
    meeting = Meeting(
        meeting_date=on,
        race_type="R",
        venue_mnemonic=venue,
        meeting_name=venue,
        location="WA",
        abandoned=False,
        updated_at=seen,
    )
    races = [
        Race(
            meeting=meeting,
            race_number=number,
            race_name=f"RACE {number}",
            start_time=start,
            status="open",
            updated_at=seen,
        )
        for number, start in enumerate(starts, start=1)
    ]
    session.add_all([meeting, *races])
    session.flush()


def add_finished_run(
    session: Session,
    *,
    job_type: str,
    started_at: datetime,
    duration_ms: int,
    status: str,
) -> None:
    """A finished JobRun that ends with `status` (success, partial or failed)."""
    job_run = open_job_run(
        session=session,
        flow_run_id=str(uuid4()),
        job_type=job_type,
        started_at=started_at,
    )
    processed, failures = {"success": (1, 0), "partial": (2, 1), "failed": (1, 1)}[
        status
    ]
    save_summary(
        session=session,
        job_run_id=job_run.id,
        summary=JobSummary(items_processed=processed, items_failed=failures),
    )
    finish_job_run(
        session=session,
        flow_run_id=job_run.flow_run_id,
        finished_at=started_at + timedelta(milliseconds=duration_ms),
    )


# Expected values, from the rows.


def assert_metrics_match(scraped: Scraped, session: Session, now: datetime) -> None:
    """Every metric family of a scrape against the database's rows at `now`."""
    runs = list(session.scalars(select(JobRun)))
    finished = [run for run in runs if run.status != "running"]
    day_start = datetime.combine(now.astimezone(SYDNEY).date(), time(0), SYDNEY)
    day_end = day_start + timedelta(days=1)
    every_scrape = list(session.scalars(select(Scrape)))
    scrapes = [
        scrape
        for scrape in every_scrape
        if day_start <= scrape.started_at < day_end and scrape.outcome != "running"
    ]
    races = session.execute(select(Race, Meeting).join(Meeting)).all()

    assert scraped.nonzero("scheduler_job_runs_total", "job_type", "status") == (
        Counter((run.job_type, run.status) for run in finished)
    )
    assert_job_durations(scraped, finished)
    assert_last_success(scraped, finished, now)
    assert scraped.nonzero("scheduler_scrapes_total", "kind", "outcome") == Counter(
        (scrape.kind, scrape.outcome) for scrape in scrapes
    )
    retries = Counter(
        (KIND_JOB_TYPES[s.kind], str(s.attempt - 1), "scrape")
        for s in scrapes
        if s.attempt > 1
    )
    retries.update(
        (run.job_type, str(run.retry_count), "job_run")
        for run in runs
        if run.retry_count > 0 and day_start <= run.started_at < day_end
    )
    assert (
        scraped.nonzero(
            "scheduler_retry_attempts_total", "job_type", "retry_number", "source"
        )
        == retries
    )
    assert_scrape_durations(scraped, scrapes)
    # Coverage counts a race's ok scrapes whenever they ran (before midnight too).
    assert_race_gauges(scraped, races, every_scrape, now)
    skipped = session.scalars(select(SkippedRun.job_type))
    assert scraped.nonzero("scheduler_skipped_runs_total", "job_type") == Counter(
        (job_type,) for job_type in skipped
    )
    assert {name.removesuffix("_created") for name in scraped.samples} == CHECKED


# Every sample name a scrape exposes; a new metric needs its comparison above first.
CHECKED = {
    "scheduler_job_runs_total",
    *(f"scheduler_job_duration_seconds_{part}" for part in ("bucket", "count", "sum")),
    "scheduler_last_success_age_seconds",
    "scheduler_skipped_runs_total",
    "scheduler_scrapes_total",
    "scheduler_scrapes",
    *(
        f"scheduler_scrape_duration_seconds_{part}"
        for part in ("bucket", "count", "sum")
    ),
    "scheduler_retry_attempts_total",
    "scheduler_retry_attempts",
    "scheduler_races_by_window",
    "scheduler_races_ran",
    "scheduler_race_coverage_ratio",
    "scheduler_window_closed_races",
    "scheduler_window_closed_covered_races",
    "scheduler_race_results",
    "scheduler_racing_hours",
    # The exporter's own health, not a count in the database.
    "scheduler_metrics_database_up",
    "scheduler_metrics_collect_seconds",
}


def assert_job_durations(scraped: Scraped, finished: list[JobRun]) -> None:
    timed = [run for run in finished if run.duration_ms is not None]
    prefix = "scheduler_job_duration_seconds"
    counts = scraped.nonzero(prefix + "_count", "job_type")
    assert counts == Counter((run.job_type,) for run in timed)
    buckets = scraped.series(prefix + "_bucket", "job_type", "le")
    for (job_type,), count in counts.items():
        durations = [r.duration_ms or 0 for r in timed if r.job_type == job_type]
        for bound in JOB_DURATION_BUCKETS:
            under = sum(1 for ms in durations if ms <= bound * 1000)
            assert buckets[(job_type, str(bound))] == under
        assert buckets[(job_type, "+Inf")] == count
        total = scraped.series(prefix + "_sum", "job_type")[(job_type,)]
        assert total == pytest.approx(sum(durations) / 1000)


def assert_scrape_durations(scraped: Scraped, scrapes: list[Scrape]) -> None:
    timed = [
        (scrape.kind, (scrape.finished_at - scrape.started_at).total_seconds())
        for scrape in scrapes
        if scrape.finished_at is not None
    ]
    prefix = "scheduler_scrape_duration_seconds"
    counts = scraped.nonzero(prefix + "_count", "kind")
    assert counts == Counter((kind,) for kind, _ in timed)
    buckets = scraped.series(prefix + "_bucket", "kind", "le")
    totals = scraped.series(prefix + "_sum", "kind")
    for (kind,), count in counts.items():
        seconds = [duration for k, duration in timed if k == kind]
        for bound in SCRAPE_DURATION_BUCKETS:
            under = sum(1 for duration in seconds if duration <= bound)
            assert buckets[(kind, str(bound))] == under
        assert buckets[(kind, "+Inf")] == count
        assert totals[(kind,)] == pytest.approx(sum(seconds), abs=1e-3)


def assert_last_success(
    scraped: Scraped, finished: list[JobRun], now: datetime
) -> None:
    latest: dict[str, datetime] = {}
    for run in finished:
        if run.status == "success" and run.completed_at is not None:
            latest[run.job_type] = max(
                run.completed_at, latest.get(run.job_type, UTC_MIN)
            )
    ages = scraped.series("scheduler_last_success_age_seconds", "job_type")
    for (job_type,), age in ages.items():
        if job_type in latest:
            assert age == (now - latest[job_type]).total_seconds(), job_type
        else:
            assert math.isinf(age), job_type


UTC_MIN = datetime.min.replace(tzinfo=UTC)


def assert_race_gauges(
    scraped: Scraped,
    races: list[tuple[Race, Meeting]],
    scrapes: list[Scrape],
    now: datetime,
) -> None:
    ran = [
        race
        for race, meeting in races
        if race.status != "abandoned" and not meeting.abandoned
    ]
    day = raced_day(races, now)
    day_ran = [
        race for race, meeting in races if race in ran and meeting.meeting_date == day
    ]
    in_window = {
        kind: sum(
            1
            for race, meeting in races
            if race.status == "open"
            and not meeting.abandoned
            and window.contains(race.start_time, now)
        )
        for kind, window in WINDOWS.items()
    }
    awaiting = sum(
        1
        for race in ran
        if now - RESULT_REACH < race.start_time <= now
        and race.result_state in (None, "pending")
    )
    assert scraped.series("scheduler_races_by_window", "window") == {
        ("t60",): in_window["t60"],
        ("t15",): in_window["t15"],
        ("result",): awaiting,
    }

    # Final once no late catch-up can count for the window either.
    closes = {
        "t60": now + T60.late_until,
        "t15": now + T15.late_until,
        "result": now - FIRST_CHECK_LATE_UNTIL,
    }
    ok = {(s.kind, s.race_id) for s in scrapes if s.outcome == ScrapeOutcome.OK}
    ratio, closed, covered = {}, {}, {}
    for kind, closing in closes.items():
        done = [race for race in day_ran if (kind, race.id) in ok]
        if day_ran:
            ratio[(kind,)] = len(done) / len(day_ran)
        closed[(kind,)] = sum(1 for race in day_ran if race.start_time <= closing)
        covered[(kind,)] = sum(1 for race in done if race.start_time <= closing)
    assert scraped.value("scheduler_races_ran") == len(day_ran)
    assert scraped.series("scheduler_race_coverage_ratio", "window") == ratio
    assert scraped.series("scheduler_window_closed_races", "window") == closed
    assert scraped.series("scheduler_window_closed_covered_races", "window") == covered

    states = Counter((race.result_state or "unchecked",) for race in day_ran)
    assert scraped.nonzero("scheduler_race_results", "state") == states
    starts = [race.start_time for race in day_ran]
    racing = min(starts) - T60.opens_before <= now <= max(starts) + RESULT_REACH
    assert scraped.value("scheduler_racing_hours") == int(racing)


def raced_day(races: list[tuple[Race, Meeting]], now: datetime) -> date:
    """The previous racing date while a race of it that ran is in reach, else today."""
    today = now.astimezone(SYDNEY).date()
    previous = today - timedelta(days=1)
    starts = [
        race.start_time
        for race, meeting in races
        if meeting.meeting_date == previous
        and race.status != "abandoned"
        and not meeting.abandoned
    ]
    in_reach = bool(starts) and now <= max(starts) + RESULT_REACH
    return previous if in_reach else today
