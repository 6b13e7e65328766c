"""Engine and session factory for the racing database, and its migrations.

Migrations are the only way the schema is made outside tests: `racing db upgrade` runs
them as a step of its own before any flow starts.

The scrape jobs' writes and the JobRun hooks go through `run_transaction`, which runs a
unit of work again from the start after a transient database error: a deadlock or
serialization failure on PostgreSQL, a connection lost or refused while the server
restarts, a locked SQLite file. The waits are short (RACING_DB_RETRY_DELAYS_SECONDS,
seconds in all), so a database that stays away fails the item or the run with a clear
error instead. The maintenance jobs (reaper, cleanup) use plain transactions: they are
idempotent, and their next scheduled run does what a failed one did not.
"""

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker

from racing.errors import ConfigError, RacingError
from racing.retry_policy import RetryPolicy
from racing.settings import mask_url_passwords

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Waits before each retry of a unit of work that met a transient error, when the
# session factory was not given the configured ones.
DEFAULT_DB_RETRY = RetryPolicy.from_delays((0.5, 2.0, 5.0))
# A server that accepts connections but never answers would hold a run for ever:
# give up connecting after 10 s, and let TCP keepalives find a connection whose
# server went away without closing it (about a minute), so the retries can start.
PG_CONNECT_ARGS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}
# PostgreSQL error classes worth another try: serialization failure, deadlock, every
# connection exception (08xxx) and the server shutting down or restarting (57P0x).
_TRANSIENT_SQLSTATES = ("40001", "40P01", "08", "57P01", "57P02", "57P03")

T = TypeVar("T")


class DatabaseUnavailable(RacingError):
    """The racing database could not be used, even after the short retries."""


def make_engine(url: str) -> Engine:
    """An engine for `url`; a SQLite file's folder is created if missing."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, connect_args=PG_CONNECT_ARGS)

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # Mapped tasks write from several threads; wait for the lock instead of failing.
    engine = create_engine(url, connect_args={"timeout": 30})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def session_factory(
    engine: Engine, retry: RetryPolicy = DEFAULT_DB_RETRY
) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit, for summaries after the fact.

    `retry` is how `run_transaction` retries units of work on these sessions.
    """
    return sessionmaker(engine, expire_on_commit=False, info={"db_retry": retry})


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: committed if the block ends normally, rolled back if not."""
    with factory() as session, session.begin():
        yield session


def run_transaction(
    factory: sessionmaker[Session],
    work: Callable[[Session], T],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`work(session)` in one transaction, run again after a transient error.

    `work` must touch nothing but the session: after a failure it runs again from
    the start in a new transaction. When the retries are spent, a transient error
    becomes a `DatabaseUnavailable` with one line saying what happened.
    """
    policy: RetryPolicy = factory.kw.get("info", {}).get("db_retry", DEFAULT_DB_RETRY)
    for retry in range(policy.attempts):
        try:
            with transaction(factory) as session:
                return work(session)
        except DBAPIError as exc:
            if not is_transient(exc):
                raise
            if retry == policy.retries:
                url = str(factory.kw["bind"].url)
                raise DatabaseUnavailable(
                    f"{describe_database_error(url, exc)} "
                    f"(gave up after {policy.attempts} tries)"
                ) from exc
            delay = policy.delay(retry + 1)
            log.warning(
                "database error, try %d of %d, again in %.1fs: %s",
                retry + 1,
                policy.attempts,
                delay,
                first_line(exc),
            )
            sleep(delay)
    raise AssertionError("unreachable: the last try returns or raises")


def is_transient(exc: DBAPIError) -> bool:
    """Whether a driver error may pass if the same work is tried again shortly."""
    if exc.connection_invalidated:
        return True
    cause = exc.orig
    if isinstance(cause, sqlite3.OperationalError):
        return "locked" in str(cause) or "busy" in str(cause)
    sqlstate: str | None = getattr(cause, "sqlstate", None)
    if sqlstate is None:
        # psycopg gives no SQLSTATE when it cannot connect at all (refused, timed
        # out), and SQLAlchemy files those under OperationalError.
        return isinstance(exc, OperationalError)
    return sqlstate.startswith(_TRANSIENT_SQLSTATES)


def alembic_config(url: str) -> Config:
    """Alembic's configuration for this project, pointed at `url`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision`."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at `url` down to `revision` (`base` empties it)."""
    command.downgrade(alembic_config(url), revision)


def safe_url(url: str) -> str:
    """The URL with any password masked, for messages and logs."""
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        # Called on error paths: a URL too broken to parse must not raise here.
        shown = url
    # SQLAlchemy hides only the `user:password@` one, not a `?password=` in the query.
    return mask_url_passwords(shown)


def check_schema(url: str) -> None:
    """Raise a ConfigError unless the database is reachable and fully migrated."""
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise ConfigError(describe_database_error(url, exc)) from None
    finally:
        engine.dispose()
    if current != head:
        raise ConfigError(
            f"the racing database at {safe_url(url)} is at revision {current}, "
            f"not {head}: run `racing db upgrade`"
        )


def describe_database_error(url: str, exc: BaseException) -> str:
    """One line for an error from the database driver, with what to check."""
    cause = getattr(exc, "orig", None) or exc
    return (
        f"database {safe_url(url)}: {type(cause).__name__}: "
        # The driver's text may quote the URL it was given.
        f"{mask_url_passwords(first_line(exc))}; "
        "check RACING_DATABASE_URL and that the database server is running"
    )


def first_line(exc: BaseException) -> str:
    """The first line of what the driver said, without SQLAlchemy's SQL dump."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip()
    return text.splitlines()[0] if text else "?"
