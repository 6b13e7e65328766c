"""The racing database as flows and hooks reach it.

On a Prefect server the connection comes from a prefect-sqlalchemy connector block
(named by RACING_DATABASE_BLOCK), so the password is a secret held by Prefect; locally
RACING_DATABASE_URL is used. Hooks may run in another process than the flow, so each
process builds its own engine on first use.
"""

from functools import cache

from prefect_sqlalchemy import SqlAlchemyConnector
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from racing.database import make_engine, session_factory
from racing.settings import get_settings


@cache
def racing_engine() -> Engine:
    """The process-wide engine for the racing database."""
    settings = get_settings()
    if settings.database_block:
        connector = SqlAlchemyConnector.load(settings.database_block)
        engine: Engine = connector.get_engine(pool_pre_ping=True)
        return engine
    return make_engine(settings.database_url)


@cache
def racing_sessions() -> sessionmaker[Session]:
    """Session factory bound to `racing_engine()`."""
    return session_factory(racing_engine())


def forget_engine() -> None:
    """Drop the cached engine, e.g. after the settings changed in a test or CLI."""
    if racing_engine.cache_info().currsize:
        racing_engine().dispose()
    racing_engine.cache_clear()
    racing_sessions.cache_clear()
