"""Post-race result checks: from provisional placings to a confirmed result, bounded.

A race gets its first check 5-20 minutes after its start, then follow-ups until the
result is confirmed: at most `len(followup_delays)` of them, each due that long after
the previous check. A first check that no run made in time (downtime, a clock jump, a
run that overran) is made late, flagged so, until an hour after the start. Checks are
Scrape rows of kind "result" (the attempt number is the check number), so the schedule
lives in the database and survives restarts; no process waits for a follow-up.

A result is confirmed when TAB marks it official (`Paying`). A feed may never do so:
then, at the last allowed check, placings unchanged since a check at least 5 minutes
earlier are taken as confirmed ("unchanged"). The fallback waits for the last check on
purpose: interim placings can sit unchanged for ten minutes and still be overturned by
a protest. Anything else at the last check is "unconfirmed", a failed item that stays
visible on the race (`races.result_state`).
"""

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from racing.clock import Clock
from racing.database import run_transaction
from racing.job_runs import JobSummary, describe_failures
from racing.models import Meeting, Race, Result, ResultState, Scrape
from racing.race_scrape import scrape_race
from racing.store import RaceRef
from racing.tab_client import TabClient
from racing.tab_payloads import RaceRecord, RaceStatus

log = logging.getLogger(__name__)

KIND = "result"
JOB_TYPE = "post_race"
FIRST_CHECK_FROM = timedelta(minutes=5)
FIRST_CHECK_UNTIL = timedelta(minutes=20)
# A first check missed by then is caught up late until this long after the start.
FIRST_CHECK_LATE_UNTIL = timedelta(minutes=60)
# Slack for follow-ups made later than due (a run late or skipped) in `check_reach`.
FOLLOWUP_SLACK = timedelta(minutes=20)
UNCHANGED_FOR = timedelta(minutes=5)


@dataclass(frozen=True)
class DueCheck:
    """A race whose next result check is due, and that check's number (1 = first)."""

    race: RaceRef
    check: int
    # A first check made after its window, caught up.
    late: bool = False


def check_reach(followup_delays: Sequence[timedelta]) -> timedelta:
    """How long after its start a race may still have a check due."""
    return FIRST_CHECK_LATE_UNTIL + sum(followup_delays, timedelta()) + FOLLOWUP_SLACK


@dataclass(frozen=True)
class CheckOutcome:
    """What one check found."""

    race: RaceRef
    check: int
    state: ResultState | None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None or self.state is ResultState.UNCONFIRMED


def due_checks(
    instant: datetime,
    *,
    session: Session,
    followup_delays: Sequence[timedelta],
) -> list[DueCheck]:
    """Races whose first check or next follow-up is due at `instant`."""
    checks = (
        select(
            Scrape.race_id,
            func.count(Scrape.id).label("done"),
            func.max(Scrape.started_at).label("last"),
        )
        .where(Scrape.kind == KIND)
        .group_by(Scrape.race_id)
        .subquery()
    )
    rows = session.execute(
        select(Race, Meeting, checks.c.done, checks.c.last)
        .join(Meeting, Race.meeting_id == Meeting.id)
        .outerjoin(checks, checks.c.race_id == Race.id)
        .where(
            Race.start_time <= instant - FIRST_CHECK_FROM,
            Race.start_time > instant - check_reach(followup_delays),
            Race.status != RaceStatus.ABANDONED.value,
            Meeting.abandoned.is_(False),
            or_(
                Race.result_state.is_(None),
                Race.result_state == ResultState.PENDING.value,
            ),
        )
        .order_by(Race.start_time, Meeting.venue_mnemonic, Race.race_number)
    ).all()

    due = []
    for race, meeting, done, last in rows:
        done = int(done or 0)
        if _is_due(race.start_time, done, last, instant, followup_delays):
            late = done == 0 and instant - race.start_time >= FIRST_CHECK_UNTIL
            due.append(DueCheck(RaceRef.of(race, meeting), done + 1, late))
    return due


def _is_due(
    start: datetime,
    done: int,
    last: datetime | None,
    instant: datetime,
    delays: Sequence[timedelta],
) -> bool:
    if done == 0:
        return instant - start < FIRST_CHECK_LATE_UNTIL
    if done > len(delays) or last is None:
        return False
    return instant >= last + delays[done - 1]


def check_result(
    due: DueCheck,
    *,
    client: TabClient,
    sessions: sessionmaker[Session],
    job_run_id: int,
    clock: Clock,
    max_checks: int,
) -> CheckOutcome | None:
    """Fetch the race once, store what it shows, and settle its result if it can.

    None when an overlapping run took this check of the race.
    """
    with sessions() as session:
        before = _current_result(session, due.race.race_id)
    attempt = scrape_race(
        due.race,
        kind=KIND,
        attempt=due.check,
        client=client,
        sessions=sessions,
        job_run_id=job_run_id,
        clock=clock,
        late=due.late,
    )
    if attempt is None:
        return None
    last_check = due.check >= max_checks
    state: ResultState | None
    if attempt.record is None:
        state = ResultState.UNCONFIRMED if last_check else ResultState.PENDING
    else:
        state = _judge(attempt.record, before, clock(), last_check)

    run_transaction(
        sessions,
        lambda session: _settle(session, due.race.race_id, state, attempt.record),
    )
    outcome = CheckOutcome(due.race, due.check, state, attempt.error)
    _log(outcome)
    return outcome


def _judge(
    record: RaceRecord,
    before: tuple[list[list[int]], datetime] | None,
    now: datetime,
    last_check: bool,
) -> ResultState | None:
    if record.status is RaceStatus.ABANDONED:
        return None
    if record.official and record.results:
        return ResultState.OFFICIAL
    if not last_check:
        return ResultState.PENDING
    if (
        before is not None
        and record.results
        and before[0] == record.results
        and now - before[1] >= UNCHANGED_FOR
    ):
        return ResultState.UNCHANGED
    return ResultState.UNCONFIRMED


def _settle(
    session: Session,
    race_id: int,
    state: ResultState | None,
    record: RaceRecord | None,
) -> None:
    race = session.get_one(Race, race_id)
    race.result_state = None if state is None else state.value
    if state in (ResultState.OFFICIAL, ResultState.UNCHANGED):
        result = session.scalars(
            select(Result).where(
                Result.race_id == race_id, Result.superseded_at.is_(None)
            )
        ).one()
        result.confirmed_by = state.value


def _current_result(
    session: Session, race_id: int
) -> tuple[list[list[int]], datetime] | None:
    row = session.execute(
        select(Result.positions, Result.captured_at).where(
            Result.race_id == race_id, Result.superseded_at.is_(None)
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def _log(outcome: CheckOutcome) -> None:
    state = outcome.state.value if outcome.state else "abandoned"
    level = logging.WARNING if outcome.failed else logging.INFO
    log.log(
        level,
        "post_race check %d of %s: %s%s",
        outcome.check,
        outcome.race.code,
        state,
        f" ({outcome.error})" if outcome.error else "",
    )


def summarise(instant: datetime, outcomes: Iterable[CheckOutcome | None]) -> JobSummary:
    """One item per race checked; fetch failures and give-ups are failed items."""
    races: dict[str, Any] = {}
    for outcome in filter(None, outcomes):
        entry: dict[str, Any] = {
            "check": outcome.check,
            "followUp": outcome.check - 1,
            "state": outcome.state.value if outcome.state else "abandoned",
        }
        if outcome.error is not None:
            entry["error"] = outcome.error
        races[outcome.race.code] = entry
    failed = [
        code
        for code, entry in races.items()
        if "error" in entry or entry["state"] == ResultState.UNCONFIRMED.value
    ]
    return JobSummary(
        items_processed=len(races),
        items_failed=len(failed),
        meta={"asOf": instant.isoformat(), "races": races, "failedRaces": failed},
        error=describe_failures("races", failed, len(races)),
    )
