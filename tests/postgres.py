"""Test databases on the PostgreSQL server at RACING_TEST_POSTGRES_URL.

Each case gets a database of its own, dropped afterwards. Outside CI an unreachable
server skips the case with the reason; in CI (CI=true) it fails it.
"""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

POSTGRES_URL = os.environ.get(
    "RACING_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def create_database(prefix: str) -> str:
    """A new, empty database named `prefix_<random>`; its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        reason = f"PostgreSQL not reachable at {POSTGRES_URL}: {exc.orig}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    finally:
        admin.dispose()
    return name


def drop_database(name: str) -> None:
    """Drop a database made by `create_database`, closing its connections."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def database_url(name: str, driver: str | None = None) -> str:
    """The URL of database `name` on the test server, with another driver if given."""
    url = make_url(POSTGRES_URL).set(database=name)
    if driver is not None:
        url = url.set(drivername=driver)
    return url.render_as_string(hide_password=False)


@contextmanager
def fresh_database(prefix: str = "racing_test") -> Iterator[str]:
    """The URL of a new, empty database, dropped at the end of the block."""
    name = create_database(prefix)
    try:
        yield database_url(name)
    finally:
        drop_database(name)
