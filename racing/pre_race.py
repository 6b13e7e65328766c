"""The pre-race windows: one scrape per race at T-60 and at T-15, nothing wasted.

The database chooses the races (`racing.windows`); only those are fetched. An attempt
that fails with a timeout or 5xx is retried a bounded number of times; every attempt is
a Scrape row, so a later run knows what is done and what has given up.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from racing.clock import Clock
from racing.job_runs import JobSummary, describe_failures
from racing.models import ScrapeOutcome
from racing.race_scrape import RaceAttempt, scrape_race
from racing.tab_client import TabClient
from racing.tab_payloads import RaceRecord
from racing.windows import Chosen, Window, races_in_window

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowPlan:
    """The races a window run at `instant` will scrape."""

    window: Window
    instant: datetime
    races: list[Chosen]

    @property
    def late(self) -> frozenset[int]:
        """Ids of the races caught up after their window was missed."""
        return frozenset(chosen.race.race_id for chosen in self.races if chosen.late)


def plan_window(
    window: Window,
    instant: datetime,
    *,
    sessions: sessionmaker[Session],
    max_attempts: int,
) -> WindowPlan:
    """Ask the database which races the window must scrape now."""
    with sessions() as session:
        races = races_in_window(
            window, instant, session=session, max_attempts=max_attempts
        )
    late = sum(chosen.late for chosen in races)
    log.info(
        "%s at %s: %d races in the window, %d of them caught up late",
        window.job_type,
        instant.isoformat(),
        len(races),
        late,
    )
    return WindowPlan(window, instant, races)


def scrape_in_window(
    chosen: Chosen,
    window: Window,
    instant: datetime,
    *,
    client: TabClient,
    sessions: sessionmaker[Session],
    job_run_id: int,
    clock: Clock,
) -> RaceAttempt | None:
    """One attempt at a race for a window; MOVED if it was re-timed out of it.

    None when another run is scraping the race for this window or already did.
    `instant` is the run's "now" that chose the race; `clock` stamps the data (the
    wall clock in production, the same fixed instant in a replay).
    """

    race = chosen.race

    def judge(record: RaceRecord) -> ScrapeOutcome:
        # A re-timed race is scraped again when its new time brings it into the window.
        if window.accepts(record.start_time, instant, late=chosen.late):
            return ScrapeOutcome.OK
        log.info(
            "%s: %s now starts at %s, outside the window at %s",
            window.job_type,
            race.code,
            record.start_time.isoformat(),
            instant.isoformat(),
        )
        return ScrapeOutcome.MOVED

    attempt = scrape_race(
        race,
        kind=window.kind,
        busy=(ScrapeOutcome.RUNNING, ScrapeOutcome.OK),
        client=client,
        sessions=sessions,
        job_run_id=job_run_id,
        clock=clock,
        judge=judge,
        late=chosen.late,
    )
    # A failed attempt was logged as a warning where it failed.
    if attempt is not None and attempt.outcome is not ScrapeOutcome.FAILED:
        log.info(
            "%s scrape of %s attempt %d%s: %s",
            window.kind,
            race.code,
            attempt.attempt,
            " (late)" if chosen.late else "",
            attempt.outcome.value,
        )
    return attempt


def summarise(plan: WindowPlan, attempts: Iterable[RaceAttempt | None]) -> JobSummary:
    """One item per race: ok or moved counts as processed, failed as failed.

    A race another run took (None) is not this run's item.
    """
    races: dict[str, Any] = {}
    for attempt in filter(None, attempts):
        entry: dict[str, Any] = {
            "outcome": attempt.outcome.value,
            "attempt": attempt.attempt,
        }
        if attempt.error is not None:
            entry["error"] = attempt.error
        if attempt.race.race_id in plan.late:
            entry["late"] = True
        races[attempt.race.code] = entry
    failed = [code for code, entry in races.items() if entry["outcome"] == "failed"]
    return JobSummary(
        items_processed=len(races),
        items_failed=len(failed),
        meta={
            "window": plan.window.kind,
            "asOf": plan.instant.isoformat(),
            "races": races,
            "failedRaces": failed,
        },
        error=describe_failures("races", failed, len(races)),
    )


def skipped(window: Window, instant: datetime, scheduled: datetime) -> JobSummary:
    """The summary of a run that started too late to be worth running."""
    reason = (
        f"scheduled for {scheduled.isoformat()} but started {instant.isoformat()}: "
        "a later run covers this window and catches up what it missed"
    )
    log.warning("%s skipped: %s", window.job_type, reason)
    return JobSummary(
        meta={"window": window.kind, "asOf": instant.isoformat(), "skipped": reason}
    )
