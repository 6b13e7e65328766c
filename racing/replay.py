"""Replaying a race day tick by tick, and the report of what the scheduler did.

`replay_day` steps a clock in 5-minute ticks and, at each tick, runs what the schedules
would run then, with `as_of` set to the tick. Who runs a job is pluggable: `racing
replay` runs the real Prefect flows; `DirectJobs` calls the same domain functions
without Prefect, so tests can replay a whole day in seconds.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from uuid import uuid4
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from racing import morning, pre_race, results
from racing.clock import make_clock
from racing.database import transaction
from racing.job_runs import JobSummary, finish_job_run, open_job_run, save_summary
from racing.models import Meeting, Race, Scrape, ScrapeOutcome
from racing.morning_plan import start_morning
from racing.race_scrape import RaceAttempt
from racing.retry_policy import RetryPolicy
from racing.settings import MORNING_AT, load_settings
from racing.tab_client import TabClient
from racing.tab_payloads import RaceStatus
from racing.windows import WINDOWS, Chosen, Window

TICK = timedelta(minutes=5)
# The last window (T-60) opens 70 minutes ahead; the last results need half an hour.
LEAD = timedelta(minutes=75)
TAIL = timedelta(minutes=45)


class Jobs(Protocol):
    """Runs one job for an instant, the way its schedule would."""

    def morning(self, day: date, as_of: datetime, *, retry: bool = False) -> None: ...

    def window(self, window: Window, as_of: datetime) -> None: ...

    def post_race(self, as_of: datetime) -> None: ...


def day_ticks(
    day: date, zone: ZoneInfo, first_start: datetime, last_start: datetime
) -> Iterator[datetime]:
    """5-minute ticks from before the morning scrape to after the last race."""
    morning_at = datetime.combine(day, MORNING_AT, tzinfo=zone).astimezone(UTC)
    tick = min(morning_at, first_start - LEAD) - TICK
    tick = tick.replace(minute=tick.minute - tick.minute % 5, second=0, microsecond=0)
    while tick <= last_start + TAIL:
        yield tick
        tick += TICK


def replay_day(
    day: date,
    zone: ZoneInfo,
    jobs: Jobs,
    *,
    ticks: Iterator[datetime],
    set_clock: Callable[[datetime], None],
    retry_times: Sequence[time] = (),
) -> int:
    """Run every scheduled job at every tick; returns the number of ticks."""
    count = 0
    for tick in ticks:
        set_clock(tick)
        local = tick.astimezone(zone)
        if local.date() == day and local.time() == MORNING_AT:
            jobs.morning(day, tick)
        if local.date() == day and local.time() in retry_times:
            jobs.morning(day, tick, retry=True)
        for window in WINDOWS.values():
            jobs.window(window, tick)
        jobs.post_race(tick)
        count += 1
    return count


@dataclass
class DirectJobs:
    """Runs jobs through the domain functions, without Prefect, for fast replays."""

    client: TabClient
    sessions: sessionmaker[Session]
    # The retries' count matters here, not their delays: a replay does not sleep.
    window_retries: RetryPolicy = field(
        default_factory=lambda: load_settings().pre_race_retry_policy
    )
    followups: RetryPolicy = field(
        default_factory=lambda: load_settings().post_race_followups
    )
    runs: int = 0

    def morning(self, day: date, as_of: datetime, *, retry: bool = False) -> None:
        with self._job_run(morning.JOB_TYPE, as_of) as job_run_id:
            with transaction(self.sessions) as session:
                plan = start_morning(
                    session=session, job_run_id=job_run_id, day=day, retry=retry
                )
            if plan.nothing_to_do:
                self._save(job_run_id, morning.nothing_to_retry(plan))
                return
            stored, listing = morning.store_meeting_list(
                self.client.meetings(day),
                listing_day=day,
                sessions=self.sessions,
                now=as_of,
            )
            refs = plan.select(stored)
            outcomes = [
                morning.scrape_meeting(
                    ref,
                    client=self.client,
                    sessions=self.sessions,
                    job_run_id=job_run_id,
                    clock=make_clock(as_of),
                )
                for ref in refs
            ]
            self._save(job_run_id, morning.summarise(plan, outcomes, listing))

    def window(self, window: Window, as_of: datetime) -> None:
        with self._job_run(window.job_type, as_of) as job_run_id:
            plan = pre_race.plan_window(
                window,
                as_of,
                sessions=self.sessions,
                max_attempts=self.window_retries.attempts,
            )
            attempts = [self._scrape(chosen, plan, job_run_id) for chosen in plan.races]
            self._save(job_run_id, pre_race.summarise(plan, attempts))

    def post_race(self, as_of: datetime) -> None:
        with self._job_run(results.JOB_TYPE, as_of) as job_run_id:
            with self.sessions() as session:
                due = results.due_checks(
                    as_of, session=session, followup_delays=self.followups.timedeltas()
                )
            outcomes = [
                results.check_result(
                    check,
                    client=self.client,
                    sessions=self.sessions,
                    job_run_id=job_run_id,
                    clock=make_clock(as_of),
                    max_checks=self.followups.attempts,
                )
                for check in due
            ]
            self._save(job_run_id, results.summarise(as_of, outcomes))

    def _scrape(
        self, chosen: Chosen, plan: pre_race.WindowPlan, job_run_id: int
    ) -> RaceAttempt | None:
        while True:
            attempt = pre_race.scrape_in_window(
                chosen,
                plan.window,
                plan.instant,
                client=self.client,
                sessions=self.sessions,
                job_run_id=job_run_id,
                clock=make_clock(plan.instant),
            )
            if attempt is None or not attempt.retryable:
                return attempt
            if attempt.attempt >= self.window_retries.attempts:
                return attempt

    def _save(self, job_run_id: int, summary: JobSummary) -> None:
        with transaction(self.sessions) as session:
            save_summary(session=session, job_run_id=job_run_id, summary=summary)

    def _job_run(self, job_type: str, as_of: datetime) -> "_DirectRun":
        self.runs += 1
        return _DirectRun(self.sessions, job_type, as_of)


class _DirectRun:
    """Opens and finalises a JobRun the way the flow-run hooks do."""

    def __init__(
        self, sessions: sessionmaker[Session], job_type: str, as_of: datetime
    ) -> None:
        self.sessions = sessions
        self.job_type = job_type
        self.as_of = as_of
        self.flow_run_id = str(uuid4())

    def __enter__(self) -> int:
        with transaction(self.sessions) as session:
            return open_job_run(
                session=session,
                flow_run_id=self.flow_run_id,
                job_type=self.job_type,
                started_at=self.as_of,
            ).id

    def __exit__(self, kind: object, error: object, _tb: object) -> None:
        with transaction(self.sessions) as session:
            finish_job_run(
                session=session,
                flow_run_id=self.flow_run_id,
                finished_at=self.as_of,
                error=None if error is None else str(error),
            )


@dataclass
class ReplayReport:
    """What a replayed day shows: coverage, calls and failures."""

    races: int
    races_run: int
    covered: dict[str, int]
    duplicates: dict[str, int]
    scrapes: dict[str, dict[str, int]]
    result_states: dict[str, int] = field(default_factory=dict)
    max_result_checks: int = 0
    api_calls: dict[str, int] = field(default_factory=dict)
    flow_runs: int = 0

    def coverage(self, kind: str) -> float:
        """Share of races that ran with a successful scrape of this kind, in %."""
        return (
            100.0 * self.covered.get(kind, 0) / self.races_run if self.races_run else 0
        )

    def format(self) -> str:
        """A short plain-text report."""
        lines = [
            f"races: {self.races} listed, {self.races_run} ran "
            f"({self.races - self.races_run} abandoned)",
            f"flow runs: {self.flow_runs}",
        ]
        for kind in WINDOWS:
            covered, dupes = self.covered.get(kind, 0), self.duplicates.get(kind, 0)
            lines.append(
                f"{kind}: {covered}/{self.races_run} races "
                f"({self.coverage(kind):.1f}%), duplicates {dupes}"
            )
        states = ", ".join(f"{k} {n}" for k, n in sorted(self.result_states.items()))
        lines.append(
            f"results of races that ran: {states or 'none'}; "
            f"at most {self.max_result_checks} checks per race"
        )
        for kind, outcomes in sorted(self.scrapes.items()):
            counts = ", ".join(f"{name} {n}" for name, n in sorted(outcomes.items()))
            lines.append(f"scrapes {kind}: {counts}")
        calls = ", ".join(f"{name} {n}" for name, n in sorted(self.api_calls.items()))
        lines.append(f"API calls: {calls or 'none'}")
        return "\n".join(lines)


def build_report(day: date, *, session: Session) -> ReplayReport:
    """Coverage and scrape counts of a racing day, read from the database."""
    races = session.execute(
        select(Race.id, Race.status, Meeting.abandoned, Race.result_state)
        .join(Meeting)
        .where(Meeting.meeting_date == day)
    ).all()
    ran = {
        race_id
        for race_id, status, abandoned, _ in races
        if status != RaceStatus.ABANDONED.value and not abandoned
    }
    result_states: dict[str, int] = {}
    for race_id, _, _, state in races:
        if race_id in ran:
            key = state or "unchecked"
            result_states[key] = result_states.get(key, 0) + 1
    max_checks = session.scalar(
        select(func.count(Scrape.id))
        .where(Scrape.kind == results.KIND)
        .group_by(Scrape.race_id)
        .order_by(func.count(Scrape.id).desc())
        .limit(1)
    )
    ok_counts = session.execute(
        select(Scrape.kind, Scrape.race_id, func.count(Scrape.id))
        .where(Scrape.outcome == ScrapeOutcome.OK.value)
        .group_by(Scrape.kind, Scrape.race_id)
    ).all()
    covered: dict[str, int] = {}
    duplicates: dict[str, int] = {}
    for kind, scraped_race, count in ok_counts:
        if scraped_race in ran:
            covered[kind] = covered.get(kind, 0) + 1
            duplicates[kind] = duplicates.get(kind, 0) + int(count > 1)
    scrapes: dict[str, dict[str, int]] = {}
    for kind, outcome, count in session.execute(
        select(Scrape.kind, Scrape.outcome, func.count(Scrape.id)).group_by(
            Scrape.kind, Scrape.outcome
        )
    ):
        scrapes.setdefault(kind, {})[outcome] = count
    return ReplayReport(
        len(races),
        len(ran),
        covered,
        duplicates,
        scrapes,
        result_states=result_states,
        max_result_checks=int(max_checks or 0),
    )
