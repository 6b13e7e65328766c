"""The racing database failing under the scheduler: retried, reported, never lost.

What the scheduler promises (see the README's guarantees):
- a transient error (deadlock, serialization failure, lost connection, locked SQLite
  file) is retried with short waits, and the work is done once;
- a database that stays away fails the run with one line naming it, and the JobRun
  reaches job_runs once it is back: finalised by the reaper from Prefect's record, or
  added by it when the run never reached the database at all;
- nothing stored is damaged or duplicated, and the next run picks up what was missed.

The outage cases run on PostgreSQL behind a proxy on loopback that the test cuts.
"""

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from racing.database import (
    DatabaseUnavailable,
    make_engine,
    run_transaction,
    session_factory,
    upgrade,
)
from racing.job_runs import JobSummary
from racing.models import JobRun, Meeting, Race, Runner, Scrape
from racing.retry_policy import RetryPolicy
from racing.settings import get_settings
from racing.simulator.faults import Reply
from racing.simulator.server import SimulatorServer
from racing.store import RaceRef
from tests.db_proxy import DatabaseProxy
from tests.factories import Day, at, local, meeting, race, scenario
from tests.postgres import fresh_database

DAY = date(2026, 11, 14)
QUICK = RetryPolicy.from_delays((0.05, 0.05))


# Retries of one unit of work, on the real databases.


@pytest.mark.postgres
def test_a_deadlock_on_postgresql_is_retried_and_the_work_done_once(
    postgres_url: str,
) -> None:
    engine = make_engine(postgres_url)
    sessions = session_factory(engine, retry=QUICK)
    first, second = _two_meetings(sessions)
    other = create_engine(postgres_url)
    other_locked = threading.Event()
    tries: list[int] = []

    def other_writer() -> None:
        # Locks `second`, waits until our work holds `first`, then wants `first`.
        with other.begin() as connection:
            connection.execute(text("SET deadlock_timeout = '10s'"))
            _rename(connection, second, "OTHER")
            other_locked.set()
            _wait_until_blocked(postgres_url, waiting=1)
            _rename(connection, first, "OTHER")

    def work(session: Session) -> str:
        tries.append(1)
        # This transaction finds the deadlock first (its timeout is the shorter),
        # so it is the one PostgreSQL aborts; the retry then runs alone.
        session.execute(text("SET LOCAL deadlock_timeout = '100ms'"))
        _rename(session, first, "OURS")
        if len(tries) == 1:
            other_locked.wait(10)
        _rename(session, second, "OURS")
        return "done"

    writer = threading.Thread(target=other_writer)
    writer.start()
    assert run_transaction(sessions, work) == "done"
    writer.join(10)

    assert len(tries) == 2
    with sessions() as session:
        names = session.scalars(select(Meeting.meeting_name).order_by(Meeting.id))
        # Ours committed last, after the other writer's whole transaction.
        assert list(names) == ["OURS", "OURS"]
    other.dispose()
    engine.dispose()


@pytest.mark.postgres
def test_a_serialization_failure_on_postgresql_is_retried(postgres_url: str) -> None:
    engine = make_engine(postgres_url).execution_options(isolation_level="SERIALIZABLE")
    sessions = session_factory(engine, retry=QUICK)
    first, _ = _two_meetings(sessions)
    other = make_engine(postgres_url)
    tries: list[int] = []

    def work(session: Session) -> int:
        tries.append(1)
        count = session.scalar(select(func.count(Meeting.id)))
        if len(tries) == 1:
            # A concurrent transaction changes what this one read and commits.
            with other.begin() as connection:
                _rename(connection, first, "CONCURRENT")
        _rename(session, first, f"SEEN {count}")
        return int(count or 0)

    assert run_transaction(sessions, work) == 2
    assert len(tries) == 2
    with sessions() as session:
        assert session.get_one(Meeting, first).meeting_name == "SEEN 2"
    other.dispose()
    engine.dispose()


def test_a_locked_sqlite_file_is_waited_for_then_written(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'racing.db'}"
    upgrade(url)
    # A short busy timeout, so the lock is met at once instead of after 30 s.
    engine = create_engine(url, connect_args={"timeout": 0.05})
    sessions = session_factory(engine, retry=QUICK)
    first, _ = _two_meetings(session_factory(make_engine(url)))
    holder = make_engine(url).connect()
    holder.exec_driver_sql("BEGIN EXCLUSIVE")
    waits: list[float] = []

    def release_then_wait(seconds: float) -> None:
        waits.append(seconds)
        holder.rollback()

    run_transaction(
        sessions,
        lambda session: _rename(session, first, "WRITTEN"),
        sleep=release_then_wait,
    )

    assert waits == [0.05]
    with sessions() as session:
        assert session.get_one(Meeting, first).meeting_name == "WRITTEN"
    holder.close()
    engine.dispose()


@pytest.mark.postgres
def test_a_database_that_stays_away_gives_one_line_without_its_password(
    postgres_url: str,
) -> None:
    proxy = DatabaseProxy(postgres_url).start()
    proxy.cut()
    # Trust authentication accepts any password: this one must never be shown.
    url = proxy.url.replace("postgres@", "postgres:Pa55word@")
    sessions = session_factory(make_engine(url), retry=QUICK)
    waits: list[float] = []

    with pytest.raises(DatabaseUnavailable) as caught:
        run_transaction(
            sessions, lambda s: s.scalar(text("SELECT 1")), sleep=waits.append
        )

    message = str(caught.value)
    assert waits == [0.05, 0.05]
    assert message.startswith("database postgresql+psycopg://postgres:***@127.0.0.1:")
    assert "refused" in message and "(gave up after 3 tries)" in message
    assert "\n" not in message and "Pa55word" not in message


@pytest.mark.postgres
def test_a_database_that_accepts_but_never_answers_is_given_up_on(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import racing.database

    # Ten seconds in production; one here.
    monkeypatch.setitem(racing.database.PG_CONNECT_ARGS, "connect_timeout", 1)
    proxy = DatabaseProxy(postgres_url).start()
    proxy.hang()
    sessions = session_factory(make_engine(proxy.url), retry=QUICK)

    with pytest.raises(DatabaseUnavailable) as caught:
        run_transaction(sessions, lambda s: s.scalar(text("SELECT 1")))

    proxy.cut()
    assert "timeout" in str(caught.value)
    assert "(gave up after 3 tries)" in str(caught.value)


def test_an_error_that_is_not_transient_is_raised_at_once(
    sessions: sessionmaker[Session],
) -> None:
    tries: list[int] = []

    def broken(session: Session) -> None:
        tries.append(1)
        session.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(Exception, match="no_such_table"):
        run_transaction(sessions, broken, sleep=lambda s: None)
    assert tries == [1]


def test_a_payload_the_database_refuses_fails_its_race_alone(
    day: Day, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    import racing.race_scrape

    store_race = racing.race_scrape.store_race

    def refuse_race_1(race: RaceRef, record: Any, **kw: Any) -> None:
        if race.race_number == 1:
            # A row the database turns down, as it would an unforeseen payload.
            kw["session"].execute(text("INSERT INTO meetings (id) VALUES (NULL)"))
        store_race(race, record, **kw)

    monkeypatch.setattr(racing.race_scrape, "store_race", refuse_race_1)
    server, jobs = day(
        scenario([meeting("AAA", [race(1, local(12)), race(2, local(12, 30))])])
    )

    at(server, jobs, local(6), "morning")

    with sessions() as session:
        scrapes = session.execute(
            select(Race.race_number, Scrape.outcome, Scrape.error)
            .join(Race, Scrape.race_id == Race.id)
            .order_by(Race.race_number)
        ).all()
        job = session.scalars(select(JobRun)).one()
    (_, outcome_1, error_1), (_, outcome_2, error_2) = scrapes
    assert (outcome_1, outcome_2, error_2) == ("failed", "ok", None)
    assert error_1 is not None and "\n" not in error_1
    assert error_1.startswith("could not store the payload: IntegrityError: ")
    assert job.meta["meetings"]["2026-11-14/R/AAA"]["racesOk"] == 1


def test_a_meeting_the_database_refuses_is_a_failed_item_and_the_others_are_stored(
    day: Day, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    import racing.morning

    upsert = racing.morning.upsert_meeting

    def refuse_bbb(record: Any, *, session: Session, now: datetime) -> Meeting:
        if record.venue_mnemonic == "BBB":
            session.execute(text("INSERT INTO meetings (id) VALUES (NULL)"))
        return upsert(record, session=session, now=now)

    monkeypatch.setattr(racing.morning, "upsert_meeting", refuse_bbb)
    server, jobs = day(_two_meeting_card())

    at(server, jobs, local(6), "morning")

    with sessions() as session:
        venues = session.scalars(select(Meeting.venue_mnemonic)).all()
        job = session.scalars(select(JobRun)).one()
    assert venues == ["AAA"]
    assert (job.status, job.items_processed, job.items_failed) == ("partial", 2, 1)
    assert job.meta["failedMeetings"] == ["2026-11-14/R/BBB"]
    error = job.meta["meetings"]["2026-11-14/R/BBB"]["error"]
    assert error.startswith("bad payload: the database refused it: IntegrityError: ")
    assert "\n" not in error


def test_a_meeting_another_run_inserts_meanwhile_is_updated_not_failed(
    day: Day, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    import racing.morning

    upsert = racing.morning.upsert_meeting
    raced: list[str] = []

    def lose_the_race_once(record: Any, *, session: Session, now: datetime) -> Meeting:
        if not raced:
            raced.append(record.venue_mnemonic)
            # Another run stores the meeting first; our insert then hits the
            # unique key, as two morning runs starting together would.
            with sessions.begin() as other:
                upsert(record, session=other, now=now)
            session.add(
                Meeting(
                    meeting_date=record.meeting_date,
                    race_type=record.race_type,
                    venue_mnemonic=record.venue_mnemonic,
                    meeting_name="DUPLICATE",
                    location="NSW",
                    updated_at=now,
                )
            )
            session.flush()
        return upsert(record, session=session, now=now)

    monkeypatch.setattr(racing.morning, "upsert_meeting", lose_the_race_once)
    server, jobs = day(_two_meeting_card())

    at(server, jobs, local(6), "morning")

    with sessions() as session:
        names = session.scalars(
            select(Meeting.meeting_name).order_by(Meeting.venue_mnemonic)
        ).all()
        job = session.scalars(select(JobRun)).one()
        races = _count(session, Race)
    assert raced == ["AAA"]
    assert names == ["VENUE AAA", "VENUE BBB"]
    assert (job.status, races) == ("success", 4)


# The flows with the database cut at each point of a run (PostgreSQL behind a proxy).


@pytest.mark.postgres
@pytest.mark.usefixtures("prefect_harness")
def test_a_morning_run_with_the_database_down_from_the_start_fails_and_is_recorded(
    outage: "Outage",
) -> None:
    from flows.morning_scrape import morning_scrape

    outage.serve()
    outage.proxy.cut()

    state = morning_scrape(racing_date=DAY, return_state=True)

    assert state.is_failed()
    assert state.message is not None and "\n" not in state.message
    assert "DatabaseUnavailable: database postgresql+psycopg://" in state.message
    assert "check RACING_DATABASE_URL" in state.message
    assert outage.race_calls() == 0, "no scrape without a record"

    outage.proxy.restore()
    outage.reap()

    job = outage.job_run(str(state.state_details.flow_run_id))
    assert (job.job_type, job.status) == ("morning_scrape", "failed")
    assert job.error_message is not None
    assert job.error_message.startswith(
        "never recorded: the racing database was unreachable during the run; "
        "Prefect reports the flow run FAILED (Flow run encountered an exception: "
        "DatabaseUnavailable: database postgresql+psycopg://"
    )


@pytest.mark.postgres
@pytest.mark.usefixtures("prefect_harness")
def test_a_database_lost_mid_run_fails_the_run_and_the_next_run_picks_up(
    outage: "Outage",
) -> None:
    from flows.morning_scrape import morning_scrape

    # The database goes away just after the third race page is fetched.
    outage.serve(cut_after_races=3)

    lost = morning_scrape(racing_date=DAY, as_of=local(6), return_state=True)

    assert lost.is_failed()
    assert lost.message is not None and "DatabaseUnavailable" in lost.message
    outage.proxy.restore()
    flow_run_id = str(lost.state_details.flow_run_id)
    # Its hooks could not write: the JobRun is still open, with claims left running.
    assert outage.job_run(flow_run_id).status == "running"
    outage.reap()
    job = outage.job_run(flow_run_id)
    assert job.status == "failed"
    assert job.error_message is not None
    assert job.error_message.startswith(
        "abandoned: Prefect reports the flow run FAILED"
    )
    assert "DatabaseUnavailable" in job.error_message
    assert outage.scrape_outcomes(job.id) <= {"ok", "failed"}

    retry = morning_scrape(racing_date=DAY, as_of=local(6, 15), retry=True)

    retry_job = outage.job_run_by_id(int(str(retry["jobRunId"])))
    assert retry_job.status == "success"
    assert outage.scrape_outcomes(retry_job.id) == {"ok"}
    with outage.sessions() as session:
        # Every race and runner once, whatever the lost run had stored.
        assert _count(session, Race) == 4
        assert _count(session, Runner) == 16
        assert (
            session.scalar(
                select(func.count(Scrape.id)).where(
                    Scrape.job_run_id == retry_job.id, Scrape.outcome == "ok"
                )
            )
            == 4
        )


@pytest.mark.postgres
@pytest.mark.usefixtures("prefect_harness")
def test_a_run_whose_hook_cannot_reach_the_database_is_finalised_by_the_reaper(
    outage: "Outage",
) -> None:
    from prefect import flow

    from flows.hooks import JobRunHooks, current_job_run_id, record_summary

    @flow(name="database-fault-victim", **JobRunHooks("victim").as_kwargs())
    def victim() -> dict[str, Any]:
        job_run_id = current_job_run_id("victim")
        result = record_summary(job_run_id, JobSummary(items_processed=5))
        # Gone between the flow's last write and its completion hook.
        outage.proxy.cut()
        return result

    state = victim(return_state=True)

    assert state.is_completed()
    outage.proxy.restore()
    flow_run_id = str(state.state_details.flow_run_id)
    assert outage.job_run(flow_run_id).status == "running"
    outage.reap()
    job = outage.job_run(flow_run_id)
    assert (job.status, job.items_processed, job.items_failed) == ("success", 5, 0)
    assert job.meta["finalisedBy"] == "reaper"
    assert job.completed_at is not None and job.duration_ms is not None


# Fixtures and helpers.


class Outage:
    """A database behind a proxy, the simulator, and the flows pointed at both."""

    def __init__(
        self,
        proxy: DatabaseProxy,
        sessions: sessionmaker[Session],
        env: pytest.MonkeyPatch,
    ) -> None:
        self.proxy = proxy
        self.sessions = sessions
        self.env = env
        self.server: SimulatorServer | None = None

    def serve(self, cut_after_races: int | None = None) -> None:
        """Serve two meetings of two races; cut the database after that many."""
        card = _two_meeting_card()
        self.server = CuttingSimulator(card, self.proxy, cut_after_races).start()
        self.env.setenv("RACING_TAB_BASE_URL", self.server.base_url)
        get_settings.cache_clear()

    def race_calls(self) -> int:
        assert self.server is not None
        return self.server.request_counts()["race"]

    def reap(self) -> None:
        """The stale-run reaper as it runs once the hooks' grace period is over."""
        from flows.reaper import stale_run_reaper

        stale_run_reaper(as_of=datetime.now(UTC) + timedelta(minutes=6))

    def job_run(self, flow_run_id: str) -> JobRun:
        with self.sessions() as session:
            return session.scalars(
                select(JobRun).where(JobRun.flow_run_id == flow_run_id)
            ).one()

    def job_run_by_id(self, job_run_id: int) -> JobRun:
        with self.sessions() as session:
            return session.get_one(JobRun, job_run_id)

    def scrape_outcomes(self, job_run_id: int) -> set[str]:
        with self.sessions() as session:
            return set(
                session.scalars(
                    select(Scrape.outcome).where(Scrape.job_run_id == job_run_id)
                )
            )


class CuttingSimulator(SimulatorServer):
    """The simulator, cutting the database proxy once it served N race pages."""

    def __init__(
        self, card: Any, proxy: DatabaseProxy, cut_after_races: int | None
    ) -> None:
        super().__init__(card, clock=local(6))
        self._proxy = proxy
        self._cut_after = cut_after_races

    def answer_api(self, path: str, query: str) -> Reply:
        reply = super().answer_api(path, query)
        if self._cut_after is not None and self.request_counts()["race"] == (
            self._cut_after
        ):
            self._cut_after = None
            self._proxy.cut()
        return reply


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, migrated PostgreSQL database (these cases need a database server)."""
    with fresh_database() as url:
        upgrade(url)
        yield url


@pytest.fixture
def outage(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Outage]:
    """The flows' database behind a proxy the test cuts; quick retries everywhere."""
    from flows.database import forget_engine

    proxy = DatabaseProxy(postgres_url).start()
    for name, value in {
        "RACING_DATABASE_URL": proxy.url,
        "RACING_DB_RETRY_DELAYS_SECONDS": "0.05,0.05",
        "RACING_MORNING_TASK_RETRY_DELAYS_SECONDS": "0",
        "RACING_HTTP_BACKOFF_SECONDS": "0",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    forget_engine()
    engine = make_engine(postgres_url)
    found = Outage(proxy, session_factory(engine), monkeypatch)
    yield found
    proxy.cut()
    if found.server is not None:
        found.server.stop()
    forget_engine()
    engine.dispose()
    get_settings.cache_clear()


def _two_meeting_card() -> Any:
    return scenario(
        [
            meeting("AAA", [race(1, local(12)), race(2, local(12, 30))]),
            meeting("BBB", [race(1, local(13)), race(2, local(13, 30))]),
        ]
    )


def _two_meetings(sessions: sessionmaker[Session]) -> tuple[int, int]:
    def add(session: Session) -> tuple[int, int]:
        rows = [
            Meeting(
                meeting_date=DAY,
                race_type="R",
                venue_mnemonic=venue,
                meeting_name=venue,
                location="NSW",
                updated_at=datetime.now(UTC),
            )
            for venue in ("AAA", "BBB")
        ]
        session.add_all(rows)
        session.flush()
        return rows[0].id, rows[1].id

    return run_transaction(sessions, add)


def _rename(target: Any, meeting_id: int, name: str) -> None:
    target.execute(
        update(Meeting).where(Meeting.id == meeting_id).values(meeting_name=name)
    )


def _wait_until_blocked(url: str, waiting: int) -> None:
    """Until `waiting` sessions of this database wait for a lock."""
    probe: Engine = create_engine(url)
    try:
        for _ in range(200):
            with probe.connect() as connection:
                blocked = connection.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                        "current_database() AND wait_event_type = 'Lock'"
                    )
                )
            if (blocked or 0) >= waiting:
                return
            threading.Event().wait(0.02)
    finally:
        probe.dispose()


def _count(session: Session, model: type[object]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)
