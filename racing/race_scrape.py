"""One attempt to scrape one race: fetch, record the Scrape row, store the data.

Every job that reads a single race (the morning scrape, the pre-race windows, the
result checks) goes through `scrape_race`, so an attempt always leaves exactly one
Scrape row, and a fetched payload is stored in the same transaction as that row.
"""

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from racing.database import first_line, run_transaction
from racing.errors import FetchError, TabError
from racing.models import Scrape, ScrapeOutcome
from racing.scrapes import claim_scrape, finish_scrape
from racing.store import RaceRef, store_race
from racing.tab_client import TabClient
from racing.tab_payloads import RaceRecord

log = logging.getLogger(__name__)

# Decides the outcome of a fetched payload, e.g. MOVED when the race was re-timed.
Judge = Callable[[RaceRecord], ScrapeOutcome]


@dataclass(frozen=True)
class RaceAttempt:
    """What one attempt gave: its outcome, and the error when it failed."""

    race: RaceRef
    attempt: int
    outcome: ScrapeOutcome
    error: str | None = None
    # A timeout or 5xx may pass; a refused request or a bad payload will not.
    retryable: bool = False
    record: RaceRecord | None = None


def scrape_race(
    race: RaceRef,
    *,
    kind: str,
    client: TabClient,
    sessions: sessionmaker[Session],
    job_run_id: int,
    clock: Callable[[], datetime],
    attempt: int | None = None,
    busy: Collection[ScrapeOutcome] = (ScrapeOutcome.RUNNING,),
    judge: Judge | None = None,
    late: bool = False,
) -> RaceAttempt | None:
    """Claim, fetch and record one attempt; None if another run holds the race.

    `attempt` None numbers it across runs; `busy` are the outcomes of an earlier
    attempt that keep this one from starting (see `claim_scrape`).
    """
    started = clock()
    claim = run_transaction(
        sessions,
        lambda session: claim_scrape(
            session=session,
            job_run_id=job_run_id,
            kind=kind,
            race_id=race.race_id,
            meeting_id=race.meeting_id,
            started_at=started,
            attempt=attempt,
            busy=busy,
            late=late,
        ),
    )
    if claim is None:
        log.info("%s scrape of %s: another run holds it", kind, race.code)
        return None
    claimed = claim.attempt

    result = _fetch(race, kind, claimed, client)
    if result.record is not None and judge is not None:
        result = RaceAttempt(race, claimed, judge(result.record), record=result.record)

    finished = clock()

    def record(session: Session) -> None:
        scrape = session.merge(claim)
        finish_scrape(
            scrape, outcome=result.outcome, finished_at=finished, error=result.error
        )
        if result.record is not None:
            store_race(
                race, result.record, session=session, now=started, scrape_id=scrape.id
            )

    try:
        run_transaction(sessions, record)
    except DBAPIError as exc:
        # Not transient (those are retried, then raise DatabaseUnavailable): the
        # database refused this payload. The race fails alone; its claim is closed
        # so it does not hold the race until the reaper comes.
        return _store_failed(race, kind, claim, exc, sessions, finished)
    return result


def _store_failed(
    race: RaceRef,
    kind: str,
    claim: Scrape,
    exc: DBAPIError,
    sessions: sessionmaker[Session],
    finished: datetime,
) -> RaceAttempt:
    error = f"could not store the payload: {type(exc).__name__}: {first_line(exc)}"
    log.error("%s scrape of %s attempt %d: %s", kind, race.code, claim.attempt, error)

    def close(session: Session) -> None:
        finish_scrape(
            session.merge(claim),
            outcome=ScrapeOutcome.FAILED,
            finished_at=finished,
            error=error,
        )

    run_transaction(sessions, close)
    return RaceAttempt(race, claim.attempt, ScrapeOutcome.FAILED, error)


def _fetch(race: RaceRef, kind: str, attempt: int, client: TabClient) -> RaceAttempt:
    try:
        record = client.race(
            race.meeting_date, race.race_type, race.venue_mnemonic, race.race_number
        )
    except FetchError as exc:
        log.warning(
            "%s scrape of %s attempt %d failed (%s): %s",
            kind,
            race.code,
            attempt,
            "transient" if exc.transient else "permanent",
            exc,
        )
        return RaceAttempt(
            race, attempt, ScrapeOutcome.FAILED, str(exc), retryable=exc.transient
        )
    except TabError as exc:
        log.warning(
            "%s scrape of %s attempt %d rejected the payload (not retried): %s",
            kind,
            race.code,
            attempt,
            exc,
        )
        return RaceAttempt(race, attempt, ScrapeOutcome.FAILED, f"bad payload: {exc}")
    return RaceAttempt(race, attempt, ScrapeOutcome.OK, record=record)
