"""Overlapping runs of one window never scrape a race twice (both backends)."""

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from racing.database import transaction
from racing.models import Scrape, ScrapeOutcome
from racing.replay import DirectJobs
from racing.scrapes import LEFTOVER_ERROR, claim_scrape
from racing.settings import load_settings
from racing.tab_client import TabClient
from racing.windows import T15
from tests.factories import Day, at, local, meeting, race, race_calls, scenario

NOW = datetime(2026, 11, 14, 1, 0, tzinfo=UTC)


def _claim(session: Session, attempt: int | None = None, **kw: object) -> Scrape | None:
    return claim_scrape(
        session=session,
        job_run_id=kw.pop("job_run_id", None),  # type: ignore[arg-type]
        kind="t15",
        race_id=kw.pop("race_id"),  # type: ignore[arg-type]
        meeting_id=kw.pop("meeting_id"),  # type: ignore[arg-type]
        started_at=NOW,
        attempt=attempt,
        **kw,  # type: ignore[arg-type]
    )


def test_a_race_being_scraped_cannot_be_claimed_by_another_run(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    server, jobs = day(scenario([meeting("GOS", [race(1, local(13))])]))
    at(server, jobs, local(6), "morning")
    with sessions() as session:
        race_id, meeting_id = session.execute(
            select(Scrape.race_id, Scrape.meeting_id)
        ).first()  # type: ignore[misc]
    ids = {"race_id": race_id, "meeting_id": meeting_id}
    busy = (ScrapeOutcome.RUNNING, ScrapeOutcome.OK)

    with transaction(sessions) as session:
        first = _claim(session, busy=busy, **ids)
    with transaction(sessions) as session:
        second = _claim(session, busy=busy, **ids)

    assert first is not None and first.attempt == 1
    assert second is None


def test_a_claim_its_own_run_left_running_is_closed_and_claimed_again(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    server, jobs = day(scenario([meeting("GOS", [race(1, local(13))])]))
    at(server, jobs, local(6), "morning")
    with sessions() as session:
        race_id, meeting_id, job_run_id = session.execute(
            select(Scrape.race_id, Scrape.meeting_id, Scrape.job_run_id)
        ).one()
    ids = {"race_id": race_id, "meeting_id": meeting_id}
    busy = (ScrapeOutcome.RUNNING, ScrapeOutcome.OK)

    # The first try's outcome was never saved: its row is still running.
    with transaction(sessions) as session:
        left = _claim(session, busy=busy, job_run_id=job_run_id, **ids)
    with transaction(sessions) as session:
        # Another run is kept off by it; the run that left it, retrying, is not.
        other = _claim(session, busy=busy, **ids)
        again = _claim(session, busy=busy, job_run_id=job_run_id, **ids)

    assert left is not None and other is None
    assert again is not None and again.attempt == 2
    with sessions() as session:
        closed = session.get_one(Scrape, left.id)
    assert (closed.outcome, closed.error) == ("failed", LEFTOVER_ERROR)


def test_the_database_refuses_a_second_row_for_the_same_attempt(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    server, jobs = day(scenario([meeting("GOS", [race(1, local(13))])]))
    at(server, jobs, local(6), "morning")
    with sessions() as session:
        race_id = session.scalar(select(Scrape.race_id))

    def row() -> Scrape:
        return Scrape(
            race_id=race_id, kind="t15", attempt=1, started_at=NOW, outcome="running"
        )

    with transaction(sessions) as session:
        session.add(row())
    with pytest.raises(IntegrityError), transaction(sessions) as session:
        session.add(row())


def test_two_overlapping_runs_of_a_window_scrape_each_race_once(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    races = [race(n, local(13, n)) for n in range(1, 7)]
    card = scenario([meeting("GOS", races)])
    card = card.model_copy(update={"latency_ms": {"race": 300}})
    server, jobs = day(card)
    at(server, jobs, local(6), "morning")
    before = race_calls(server)
    server.set_clock(local(12, 45))

    settings = load_settings(tab_base_url=server.base_url, http_attempts=1)
    clients = [TabClient.from_settings(settings) for _ in range(2)]
    runs = [DirectJobs(client, sessions) for client in clients]
    threads = [
        threading.Thread(target=run.window, args=(T15, local(12, 45))) for run in runs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for client in clients:
        client.close()

    with sessions() as session:
        per_race = session.execute(
            select(Scrape.race_id, func.count(Scrape.id))
            .where(Scrape.kind == "t15")
            .group_by(Scrape.race_id)
        ).all()
        outcomes = set(session.scalars(select(Scrape.outcome).filter_by(kind="t15")))
        rows = session.execute(
            select(Scrape.race_id, Scrape.attempt, Scrape.outcome, Scrape.error).where(
                Scrape.kind == "t15"
            )
        ).all()
    assert len(per_race) == 6
    assert all(count == 1 for _, count in per_race), rows
    assert outcomes == {"ok"}
    assert race_calls(server) - before == 6
