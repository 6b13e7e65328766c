"""The morning scrape: every meeting of the racing day, its races, runners and odds.

The meeting list is fetched once and stored first, so every race has a row before any
race is scraped; each meeting is then scraped on its own (a Prefect task per meeting)
and reports a `MeetingOutcome`. Nothing here knows about Prefect.
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from racing.database import first_line, run_transaction
from racing.errors import FetchError
from racing.job_runs import JobSummary, describe_failures
from racing.morning_plan import JOB_TYPE, MorningPlan
from racing.race_scrape import RaceAttempt, scrape_race
from racing.scrapes import next_attempt, race_done_in_run
from racing.store import MeetingRef, RaceRef, meeting_ref, upsert_meeting
from racing.tab_client import TabClient
from racing.tab_payloads import MeetingList, MeetingRecord, MeetingReject

log = logging.getLogger(__name__)

KIND = "morning"
__all__ = ["JOB_TYPE", "KIND", "MeetingOutcome", "scrape_meeting", "summarise"]


@dataclass(frozen=True)
class MeetingOutcome:
    """How one meeting's scrape went, as recorded in the JobRun's metadata."""

    code: str
    races_ok: int
    races_failed: int
    error: str | None = None
    # True when a failure may go away if the meeting is tried again (timeouts, 5xx).
    retryable: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_metadata(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"outcome": "ok" if self.ok else "failed"}
        entry["racesOk"] = self.races_ok
        entry["racesFailed"] = self.races_failed
        if self.error is not None:
            entry["error"] = self.error
        return entry


def racing_day(instant: datetime, zone: ZoneInfo) -> date:
    """The racing date an instant belongs to, in the racing timezone."""
    return instant.astimezone(zone).date()


def store_meeting_list(
    listing: MeetingList,
    *,
    listing_day: date,
    sessions: sessionmaker[Session],
    now: datetime,
) -> tuple[list[MeetingRef], MeetingList]:
    """Store every valid meeting of the list with its race stubs, each on its own.

    Returns the stored meetings, and the list with any meeting the database refused
    moved to its rejects (a failed item, like a meeting whose payload was bad), so
    one odd meeting never keeps the others out of the day.

    An empty list is an error rather than a quiet success: a racing day has meetings,
    so it means a wrong date or jurisdiction, or a feed that changed.
    """
    if not listing.meetings and not listing.rejects:
        raise FetchError(
            f"the TAB API lists no meetings for {listing_day}: check the racing date "
            "and RACING_TAB_JURISDICTION",
            transient=False,
        )

    refs: list[MeetingRef] = []
    stored: list[MeetingRecord] = []
    refused: list[MeetingReject] = []
    for record in listing.meetings:
        try:
            refs.append(_store_meeting(record, sessions, now))
            stored.append(record)
        except DBAPIError as exc:
            refused.append(_refused(record, exc))
    return refs, MeetingList(meetings=stored, rejects=[*listing.rejects, *refused])


def _store_meeting(
    record: MeetingRecord, sessions: sessionmaker[Session], now: datetime
) -> MeetingRef:
    def store(session: Session) -> MeetingRef:
        meeting = upsert_meeting(record, session=session, now=now)
        return meeting_ref(meeting, session=session)

    try:
        return run_transaction(sessions, store)
    except IntegrityError:
        # Another run (a retry, an operator's run) inserted the same meeting or race
        # between our look and our insert: this try finds the rows and updates them.
        return run_transaction(sessions, store)


def _refused(record: MeetingRecord, exc: DBAPIError) -> MeetingReject:
    error = f"the database refused it: {type(exc).__name__}: {first_line(exc)}"
    log.error(
        "morning scrape: meeting %s of the list not stored: %s", record.code, error
    )
    return MeetingReject(meeting_hint=record.hint, error=error)


def scrape_meeting(
    ref: MeetingRef,
    *,
    client: TabClient,
    sessions: sessionmaker[Session],
    job_run_id: int,
    clock: Callable[[], datetime],
) -> MeetingOutcome:
    """Scrape each race of a meeting not yet scraped by this job run."""
    failures: list[RaceAttempt] = []
    for race in ref.races:
        attempt = _scrape_race(race, client, sessions, job_run_id, clock)
        if attempt is not None and attempt.error is not None:
            failures.append(attempt)

    outcome = MeetingOutcome(
        code=ref.code,
        races_ok=len(ref.races) - len(failures),
        races_failed=len(failures),
        error=_describe_failures(failures, len(ref.races)),
        retryable=any(failure.retryable for failure in failures),
    )
    _log_outcome(outcome)
    return outcome


def _scrape_race(
    race: RaceRef,
    client: TabClient,
    sessions: sessionmaker[Session],
    job_run_id: int,
    clock: Callable[[], datetime],
) -> RaceAttempt | None:
    """Scrape a race unless this job run already did (a task retry skips it)."""
    # No claim guard here: the morning scrape of a race may be repeated by design.

    def plan(session: Session) -> int | None:
        if race_done_in_run(
            session=session, job_run_id=job_run_id, race_id=race.race_id, kind=KIND
        ):
            return None
        return next_attempt(
            session=session, job_run_id=job_run_id, race_id=race.race_id, kind=KIND
        )

    attempt = run_transaction(sessions, plan)
    if attempt is None:
        return None
    return scrape_race(
        race,
        kind=KIND,
        attempt=attempt,
        busy=(),
        client=client,
        sessions=sessions,
        job_run_id=job_run_id,
        clock=clock,
    )


def _describe_failures(failures: list[RaceAttempt], races: int) -> str | None:
    # One line for the JobRun: each race's own error is on its Scrape row.
    if not failures:
        return None
    numbers = ", ".join(str(failure.race.race_number) for failure in failures)
    first = failures[0]
    return (
        f"{len(failures)} of {races} races failed (races {numbers}); "
        f"race {first.race.race_number}: {first.error}"
    )


def _log_outcome(outcome: MeetingOutcome) -> None:
    if outcome.ok:
        log.info(
            "morning scrape of meeting %s: %d races ok", outcome.code, outcome.races_ok
        )
    else:
        log.warning(
            "morning scrape of meeting %s: %d ok, %d failed (%s)",
            outcome.code,
            outcome.races_ok,
            outcome.races_failed,
            outcome.error,
        )


def summarise(
    plan: MorningPlan, outcomes: Iterable[MeetingOutcome], listing: MeetingList
) -> JobSummary:
    """The JobRun summary: one item per meeting; rejected or unlisted ones failed."""
    meetings = {outcome.code: outcome.as_metadata() for outcome in outcomes}
    for reject in listing.rejects:
        code = f"{plan.day.isoformat()}/{reject.meeting_hint}"
        if plan.codes is None or code in plan.codes:
            meetings[code] = {
                "outcome": "failed",
                "error": f"bad payload: {reject.error}",
            }
    meetings.update(_unlisted(plan, listing))
    failed = sorted(
        code for code, entry in meetings.items() if entry["outcome"] != "ok"
    )
    return JobSummary(
        items_processed=len(meetings),
        items_failed=len(failed),
        meta={**plan.metadata(), "meetings": meetings, "failedMeetings": failed},
        error=describe_failures("meetings", failed, len(meetings)),
    )


def _unlisted(plan: MorningPlan, listing: MeetingList) -> dict[str, dict[str, Any]]:
    """Meetings this run was to retry that the TAB's meeting list no longer has."""
    # A meeting can be withdrawn after the 06:00 list was read. It stays failed, so
    # a later retry scrapes it if it comes back; nothing stored about it is deleted.
    if plan.codes is None:
        return {}
    day = plan.day.isoformat()
    listed = {f"{day}/{reject.meeting_hint}" for reject in listing.rejects}
    listed |= {record.code for record in listing.meetings}
    unlisted = {}
    for code in sorted(plan.codes - listed):
        error = f"meeting {code} is no longer listed by TAB for {day}"
        log.warning("morning scrape: %s; its stored rows are kept", error)
        unlisted[code] = {
            "outcome": "failed",
            "error": f"{error}; its stored rows are kept",
        }
    return unlisted


def nothing_to_retry(plan: MorningPlan) -> JobSummary:
    """The summary of a retry run that found every meeting already scraped."""
    log.info("morning retry for %s: nothing left to retry", plan.day)
    return JobSummary(meta={**plan.metadata(), "nothingToRetry": True})
