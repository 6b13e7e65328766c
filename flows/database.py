"""The racing database as flows and hooks reach it.

On a Prefect server the connection comes from a prefect-sqlalchemy connector block
(named by RACING_DATABASE_BLOCK), so the password is a secret held by Prefect; locally
RACING_DATABASE_URL is used. Hooks may run in another process than the flow, so each
process builds its own engine on first use.
"""

from functools import cache

from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from racing.database import make_engine, session_factory
from racing.errors import ConfigError
from racing.settings import check_database_driver, get_settings


@cache
def database_url() -> str:
    """The racing database's URL: from the connector block if one is named."""
    settings = get_settings()
    if not settings.database_block:
        return settings.database_url

    # Imported here: it loads Prefect, which commands without a block do not need.
    from prefect_sqlalchemy import ConnectionComponents, SqlAlchemyConnector

    try:
        connector = SqlAlchemyConnector.load(settings.database_block)
    except ValueError as exc:
        raise ConfigError(
            f"RACING_DATABASE_BLOCK: no connector block {settings.database_block!r} "
            f"({exc}); create it in Prefect or unset the variable"
        ) from None
    info = connector.connection_info
    url: URL
    if isinstance(info, ConnectionComponents):
        url = info.create_url()
    else:
        url = make_url(str(info))
    try:
        check_database_driver(url)
    except ValueError as exc:
        raise ConfigError(
            f"RACING_DATABASE_BLOCK: block {settings.database_block!r}: {exc}; "
            "give it the postgresql+psycopg driver"
        ) from None
    return url.render_as_string(hide_password=False)


@cache
def racing_engine() -> Engine:
    """The process-wide engine for the racing database."""
    return make_engine(database_url())


@cache
def racing_sessions() -> sessionmaker[Session]:
    """Session factory bound to `racing_engine()`."""
    return session_factory(racing_engine(), retry=get_settings().db_retry_policy)


def forget_engine() -> None:
    """Drop the cached engine, e.g. after the settings changed in a test or CLI."""
    if racing_engine.cache_info().currsize:
        racing_engine().dispose()
    racing_engine.cache_clear()
    racing_sessions.cache_clear()
    database_url.cache_clear()
