"""Scrape rows: one per attempt to scrape a meeting or a race, linked to its JobRun."""

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from racing.models import Scrape, ScrapeOutcome


def next_attempt(
    *, session: Session, race_id: int, kind: str, job_run_id: int | None = None
) -> int:
    """The number the next attempt of this kind at this race will carry.

    Counted within one job run when `job_run_id` is given (the morning scrape starts
    afresh each run), else across runs (a race has one T-60 window, whatever run).
    """
    query = select(func.count(Scrape.id)).where(
        Scrape.race_id == race_id, Scrape.kind == kind
    )
    if job_run_id is not None:
        query = query.where(Scrape.job_run_id == job_run_id)
    return int(session.scalar(query) or 0) + 1


def race_done_in_run(
    *, session: Session, job_run_id: int, race_id: int, kind: str
) -> bool:
    """Whether this job run already scraped the race successfully (a task retry)."""
    found = session.scalar(
        select(Scrape.id).where(
            Scrape.job_run_id == job_run_id,
            Scrape.race_id == race_id,
            Scrape.kind == kind,
            Scrape.outcome == ScrapeOutcome.OK.value,
        )
    )
    return found is not None


def record_scrape(
    *,
    session: Session,
    job_run_id: int,
    kind: str,
    started_at: datetime,
    finished_at: datetime,
    meeting_id: int | None = None,
    race_id: int | None = None,
    attempt: int = 1,
    outcome: ScrapeOutcome | None = None,
    error: str | None = None,
) -> Scrape:
    """Add one scrape attempt; by default it failed when `error` is given."""
    if outcome is None:
        outcome = ScrapeOutcome.OK if error is None else ScrapeOutcome.FAILED
    scrape = Scrape(
        job_run_id=job_run_id,
        kind=kind,
        meeting_id=meeting_id,
        race_id=race_id,
        attempt=attempt,
        started_at=started_at,
        finished_at=finished_at,
        outcome=outcome.value,
        error=error,
    )
    session.add(scrape)
    session.flush()
    return scrape


def claim_scrape(
    *,
    session: Session,
    job_run_id: int,
    kind: str,
    race_id: int,
    meeting_id: int,
    started_at: datetime,
    attempt: int | None = None,
    busy: Collection[ScrapeOutcome] = (ScrapeOutcome.RUNNING,),
    late: bool = False,
) -> Scrape | None:
    """Claim the next attempt at a race with a `running` row, or None if taken.

    None when another run holds a row of this race and kind with a `busy` outcome, or
    won the race to insert the same attempt number: the unique index on (race, kind,
    attempt) makes two overlapping runs unable to scrape a race twice. `attempt` None
    numbers the attempt across runs.
    """
    if job_run_id is not None:
        _close_own_leftover(session, job_run_id, kind, race_id, started_at)

    # One statement, so one snapshot: the attempt number and the busy check agree.
    # A run that commits its claim after this read makes our insert of the same
    # attempt number fail on the unique index; one that committed before is seen.
    earlier, taken = session.execute(
        select(
            func.count(Scrape.id),
            func.count(Scrape.id).filter(
                Scrape.outcome.in_([outcome.value for outcome in busy])
            ),
        ).where(Scrape.race_id == race_id, Scrape.kind == kind)
    ).one()
    if busy and taken:
        return None

    scrape = Scrape(
        job_run_id=job_run_id,
        kind=kind,
        meeting_id=meeting_id,
        race_id=race_id,
        attempt=attempt or earlier + 1,
        started_at=started_at,
        outcome=ScrapeOutcome.RUNNING.value,
        late=late,
    )
    try:
        with session.begin_nested():
            session.add(scrape)
    except IntegrityError:
        return None
    return scrape


LEFTOVER_ERROR = (
    "abandoned: the database was lost before this attempt's outcome was saved"
)


def _close_own_leftover(
    session: Session, job_run_id: int, kind: str, race_id: int, now: datetime
) -> None:
    # A run scrapes a race in one task at a time, so a claim of its own still running
    # is one an earlier try left when the database went away mid-attempt. It would
    # keep this very run (the task's retry) off the race until the reaper came.
    session.execute(
        update(Scrape)
        .where(
            Scrape.job_run_id == job_run_id,
            Scrape.race_id == race_id,
            Scrape.kind == kind,
            Scrape.outcome == ScrapeOutcome.RUNNING.value,
        )
        .values(
            outcome=ScrapeOutcome.FAILED.value, error=LEFTOVER_ERROR, finished_at=now
        )
        .execution_options(synchronize_session=False)
    )


def finish_scrape(
    scrape: Scrape,
    *,
    outcome: ScrapeOutcome,
    finished_at: datetime,
    error: str | None = None,
) -> None:
    """Record how a claimed attempt ended."""
    scrape.outcome = outcome.value
    scrape.finished_at = finished_at
    scrape.error = error
