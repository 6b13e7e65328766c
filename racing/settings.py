"""Settings read from `RACING_*` environment variables, validated once at start-up.

A bad value becomes a `ConfigError` whose one-line message names the variable, the value
and what to set instead, so an operator can fix it without reading a traceback.
"""

import re
from datetime import time
from functools import cache, cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from racing.errors import ConfigError
from racing.retry_policy import RetryPolicy

ENV_PREFIX = "RACING_"
# When the morning scrape runs (racing timezone); its retries come after it.
MORNING_AT = time(6, 0)
DEFAULT_DATA_DIR = Path("data")

_HINTS = {
    "database_url": "a SQLite file URL such as sqlite:///data/racing.db or a "
    "PostgreSQL one such as postgresql+psycopg://user@host:5432/racing",
    "database_block": "the name of a SqlAlchemyConnector block, such as racing-db, "
    "or unset it",
    "tab_base_url": "an http(s) URL such as http://127.0.0.1:8765",
    "timezone": "an IANA timezone such as Australia/Sydney",
    "morning_retry_times": "comma-separated HH:MM times such as 06:15,06:30,07:00",
    "notify_webhook_url": "the http(s) URL that should receive failure notices",
}

# Settings whose values never appear in an error message.
_SECRETS = frozenset({"notify_webhook_url"})
# The password of any `scheme://user:password@` URL in a text, even one too broken
# to parse. It runs to the last "@" of the token: an un-encoded "@" in a password
# would otherwise leave the rest of it showing.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][\w+.-]*://[^\s/:@]*:)\S*@")
# A `password=` parameter, as libpq reads it from a URL's query. The value ends at
# the next parameter or space; quotes and punctuation just before a space belong to
# the message quoting the URL (as in "given '...?password=x'"), not to the value.
_QUERY_PASSWORD = re.compile(
    r"(?P<head>\bpassword=)[^\s&#]*?(?=[\'\")\]:;,.]*(?:[\s&#]|$))", re.IGNORECASE
)
# Parts of the webhook URL masked on their own, when long enough to be a token.
_MIN_TOKEN_CHARS = 6
MASK = "***"

# The databases the scheduler runs on and is tested with, by backend and driver;
# with the installed SQLAlchemy a bare postgresql:// resolves to psycopg too.
_DRIVERS = {"sqlite": "pysqlite", "postgresql": "psycopg"}

# Prefect's rule for the name of a block document.
_BLOCK_NAME = re.compile(r"[a-z0-9-]+")

Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
SecondsList = Annotated[list[Seconds], NoDecode]


class Settings(BaseSettings):
    """Every knob of the scheduler; the environment wins over these defaults."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    database_url: str = f"sqlite:///{DEFAULT_DATA_DIR / 'racing.db'}"
    # Name of a prefect-sqlalchemy connector block; when set, deployments take the
    # database connection (and its secret password) from the Prefect server instead.
    database_block: str | None = None
    tab_base_url: str = "http://127.0.0.1:8765"
    tab_jurisdiction: Literal["NSW", "VIC", "QLD", "SA", "WA", "TAS", "NT", "ACT"] = (
        "NSW"
    )
    timezone: str = "Australia/Sydney"
    http_timeout_seconds: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 10.0
    http_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    http_backoff_seconds: Seconds = 0.5
    http_max_retry_after_seconds: Seconds = 30.0
    scrape_concurrency: Annotated[int, Field(ge=1, le=64)] = 8
    morning_task_retry_delays_seconds: SecondsList = [10.0, 30.0]
    pre_race_retry_delays_seconds: SecondsList = [60.0, 120.0]
    post_race_followup_delays_seconds: SecondsList = [300.0, 300.0, 600.0]
    # Waits before each new try of a database transaction that met a transient
    # error (deadlock, lost connection, server restarting); kept short on purpose.
    db_retry_delays_seconds: SecondsList = [0.5, 2.0, 5.0]
    morning_retry_times: Annotated[list[time], NoDecode] = [
        time(6, 15),
        time(6, 30),
        time(7, 0),
    ]
    # Days of JobRun and Scrape history kept before the cleanup folds it into daily
    # roll-ups and deletes it; 0 keeps it forever.
    job_run_retention_days: Annotated[int, Field(ge=0)] = 30
    # Minutes after which a JobRun still marked running is abandoned by the reaper,
    # whatever Prefect says about its flow run.
    stale_run_minutes: Annotated[int, Field(ge=1)] = 60
    # Where failed and partial runs are reported (see flows/notifications.py). A
    # secret: webhook URLs usually carry their token, so it is never logged or shown.
    notify_webhook_url: SecretStr | None = None

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        # Messages quote the value; _describe masks its password.
        url = _parse_database_url(value)
        check_database_driver(url)
        if url.get_backend_name() == "sqlite" and _in_memory(url):
            raise ValueError(
                f"{value!r} is an in-memory SQLite database, which keeps nothing "
                "between runs"
            )
        return value

    @field_validator("database_block")
    @classmethod
    def _check_database_block(cls, value: str | None) -> str | None:
        # Empty means unset; anything else Prefect would refuse only at the first run.
        if not value:
            return None
        if not _BLOCK_NAME.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a block name (lowercase letters, digits and dashes)"
            )
        return value

    @field_validator("tab_base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("notify_webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            # The value itself stays out of the message: it is a secret.
            raise ValueError("not an http(s) URL")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator(
        "morning_task_retry_delays_seconds",
        "pre_race_retry_delays_seconds",
        "post_race_followup_delays_seconds",
        "db_retry_delays_seconds",
        mode="before",
    )
    @classmethod
    def _split_delays(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("morning_retry_times", mode="before")
    @classmethod
    def _split_times(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("morning_retry_times")
    @classmethod
    def _check_retry_times(cls, value: list[time]) -> list[time]:
        early = [t for t in value if t <= MORNING_AT]
        if early:
            # A retry re-scrapes what the 06:00 run left failed: it must come after.
            raise ValueError(f"{early[0]:%H:%M} is not after the 06:00 morning scrape")
        return value

    @property
    def http_retry_policy(self) -> RetryPolicy:
        """Backoff between tries of one HTTP request (timeouts, 5xx, 429)."""
        return RetryPolicy.exponential(
            retries=self.http_attempts - 1,
            base=self.http_backoff_seconds,
            cap=self.http_max_retry_after_seconds,
        )

    @property
    def morning_retry_policy(self) -> RetryPolicy:
        """Retries of a morning meeting task that failed with a transient error."""
        return RetryPolicy.from_delays(self.morning_task_retry_delays_seconds)

    @property
    def pre_race_retry_policy(self) -> RetryPolicy:
        """Retries of a window scrape that failed with a transient error."""
        return RetryPolicy.from_delays(self.pre_race_retry_delays_seconds)

    @property
    def post_race_followups(self) -> RetryPolicy:
        """Result follow-ups after the first check, and the wait before each."""
        return RetryPolicy.from_delays(self.post_race_followup_delays_seconds)

    @property
    def db_retry_policy(self) -> RetryPolicy:
        """New tries of a database transaction after a transient error."""
        return RetryPolicy.from_delays(self.db_retry_delays_seconds)

    def redact(self, text: str) -> str:
        """`text` with the database password, the webhook URL and its token masked.

        Any other URL's password is masked too (`user:password@` or `?password=`),
        as are the password's URL-quoted forms, since an error may quote the URL
        rather than the password.
        """
        for secret in self._secret_texts:
            text = text.replace(secret, MASK)
        return mask_url_passwords(text)

    @cached_property
    def _secret_texts(self) -> list[str]:
        """Every spelling of a secret worth masking, longest first (worked out once:
        every stored error and artifact cell goes through `redact`)."""
        secrets: list[str] = []
        for password in _database_passwords(make_url(self.database_url)):
            # A short password is masked only in URL form (see mask_url_passwords):
            # replacing every "e" in a message would ruin it, and the drivers quote
            # a password only inside a URL.
            if _is_worth_masking(password):
                secrets += [
                    password,
                    quote(password, safe=""),
                    quote_plus(password),
                ]
        if self.notify_webhook_url is not None:
            secrets += _webhook_parts(self.notify_webhook_url.get_secret_value())
        return sorted(set(secrets), key=len, reverse=True)

    @property
    def zone(self) -> ZoneInfo:
        """The racing timezone, which decides the racing day and cron times."""
        return ZoneInfo(self.timezone)


def check_timezone(value: str) -> str:
    """The name of a known IANA timezone, or a ValueError saying it is not one."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not a known timezone") from exc
    return value


def mask_url_passwords(text: str) -> str:
    """`text` with every URL password (`user:password@`, `password=`) masked."""
    text = _URL_PASSWORD.sub(rf"\g<head>{MASK}@", text)
    return _QUERY_PASSWORD.sub(rf"\g<head>{MASK}", text)


def _parse_database_url(value: str) -> URL:
    """The parsed database URL, or a ValueError saying why it cannot be parsed."""
    problem = f"cannot parse {value!r} as a database URL"
    if value.count("@") > 1:
        problem += " (write an @ in the password as %40)"
    try:
        url = make_url(value)
    except (ArgumentError, ValueError) as exc:
        # ValueError: a port that is not a number, often the tail of a password.
        raise ValueError(problem) from exc
    # SQLAlchemy splits at the first "@": the rest of the password became the host.
    if "@" in (url.host or ""):
        raise ValueError(problem)
    return url


def check_database_driver(url: URL) -> None:
    """Refuse a database the scheduler does not support, before it fails to load."""
    backend = url.get_backend_name()
    # Only the two known backends are resolved: another's dialect may not import.
    if backend not in _DRIVERS or url.get_driver_name() != _DRIVERS[backend]:
        raise ValueError(
            f"{url.drivername!r} is not a supported database "
            "(only sqlite and postgresql+psycopg are)"
        )


def _in_memory(url: URL) -> bool:
    """Whether a SQLite URL names a database that vanishes with its connection."""
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def _database_passwords(url: URL) -> list[str]:
    """The URL's password and any `password=` in its query (libpq reads both)."""
    query = url.query.get("password", ())
    passwords = [query] if isinstance(query, str) else list(query)
    if url.password:
        passwords.append(str(url.password))
    return [password for password in passwords if password]


def _is_worth_masking(password: str) -> bool:
    """Whether a password is long enough to be masked wherever it appears.

    A shorter one would turn every message into asterisks (and show what it is);
    it is still masked wherever it appears in a URL.
    """
    return len(password) >= _MIN_TOKEN_CHARS


def _webhook_parts(url: str) -> list[str]:
    """The URL, and the parts of it that may carry its token (path, query values)."""
    parts = urlsplit(url)
    path_and_query = parts.path + (f"?{parts.query}" if parts.query else "")
    pieces = [path_and_query, parts.path, parts.query]
    pieces += [value for _, value in parse_qsl(parts.query)]
    return [url, *(p for p in pieces if len(p) >= _MIN_TOKEN_CHARS)]


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, turning any bad value into a ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


@cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else "?"
    variable = ENV_PREFIX + field.upper()
    reason = str(error["msg"]).removeprefix("Value error, ")
    fix = _fix(field)
    given = "a hidden value" if field in _SECRETS else repr(error.get("input"))
    # A database URL that fails to parse still carries its password.
    return mask_url_passwords(f"{variable}: {reason} (given {given}); {fix}")


def _fix(field: str) -> str:
    """What to set a bad setting to: its hint, else a value like its default."""
    hint = _HINTS.get(field)
    if hint is not None:
        return f"set it to {hint}"
    known = Settings.model_fields.get(field)
    if known is None or known.default is None:
        return "fix the value or unset it to use the default"
    default = _as_variable(known.default)
    return f"set it to a value like the default ({default}) or unset it"


def _as_variable(value: object) -> str:
    """A default as it would be written in its environment variable."""
    if isinstance(value, list):
        return ",".join(_as_variable(item) for item in value)
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
