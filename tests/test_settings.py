"""Settings: defaults, parsing of lists, and one clear line for each bad value."""

import contextlib
from datetime import time

import pytest

from racing.errors import ConfigError
from racing.settings import ENV_PREFIX, Settings, load_settings


def test_defaults_use_a_local_sqlite_file_and_sydney_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RACING_DATABASE_URL", raising=False)
    settings = load_settings()
    assert settings.database_url.startswith("sqlite:///data/")
    assert settings.timezone == "Australia/Sydney"
    assert settings.morning_retry_times == [time(6, 15), time(6, 30), time(7, 0)]


def test_lists_are_read_from_comma_separated_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RACING_MORNING_TASK_RETRY_DELAYS_SECONDS", "1, 2.5,4")
    monkeypatch.setenv("RACING_MORNING_RETRY_TIMES", "06:05,06:10")
    settings = load_settings()
    assert settings.morning_task_retry_delays_seconds == [1.0, 2.5, 4.0]
    assert settings.morning_retry_times == [time(6, 5), time(6, 10)]


# At least one bad value per setting: test_every_setting_has_a_bad_value_case checks.
BAD_VALUES = [
    ("RACING_DATABASE_URL", "nonsense", "cannot parse"),
    ("RACING_DATABASE_URL", "postgresql+psycopg://u@h:port/db", "cannot parse"),
    ("RACING_DATABASE_URL", "postgresql+psycopg://u:p@ss@h/db", "the password as %40"),
    ("RACING_DATABASE_URL", "mysql://u@127.0.0.1/db", "'mysql' is not a supported"),
    ("RACING_DATABASE_URL", "postgresql+asyncpg://u@h/db", "not a supported"),
    ("RACING_DATABASE_URL", "postgresql+psycopg2://u@h/db", "not a supported"),
    ("RACING_DATABASE_URL", "postgres://u@h/db", "not a supported"),
    ("RACING_DATABASE_URL", "sqlite+aiosqlite:///racing.db", "not a supported"),
    ("RACING_DATABASE_URL", "sqlite://", "in-memory SQLite database"),
    ("RACING_DATABASE_URL", "sqlite:///:memory:", "in-memory SQLite database"),
    ("RACING_DATABASE_BLOCK", "Racing DB", "is not a block name"),
    ("RACING_TAB_BASE_URL", "ftp://tab", "is not an http(s) URL"),
    ("RACING_TAB_BASE_URL", "not a url", "is not an http(s) URL"),
    ("RACING_TAB_BASE_URL", "http://", "is not an http(s) URL"),
    ("RACING_TAB_JURISDICTION", "NZ", "Input should be 'NSW'"),
    ("RACING_TIMEZONE", "Mars/Olympus", "not a known timezone"),
    ("RACING_TIMEZONE", "+11:00", "not a known timezone"),
    ("RACING_HTTP_TIMEOUT_SECONDS", "0", "greater than 0"),
    ("RACING_HTTP_TIMEOUT_SECONDS", "ten", "valid number"),
    ("RACING_HTTP_TIMEOUT_SECONDS", "inf", "finite number"),
    ("RACING_HTTP_ATTEMPTS", "0", "greater than or equal to 1"),
    ("RACING_HTTP_ATTEMPTS", "11", "less than or equal to 10"),
    ("RACING_HTTP_BACKOFF_SECONDS", "-0.5", "greater than or equal to 0"),
    ("RACING_HTTP_MAX_RETRY_AFTER_SECONDS", "-1", "greater than or equal to 0"),
    ("RACING_SCRAPE_CONCURRENCY", "0", "greater than or equal to 1"),
    ("RACING_MORNING_TASK_RETRY_DELAYS_SECONDS", "10,-5", "greater than or equal"),
    ("RACING_PRE_RACE_RETRY_DELAYS_SECONDS", "60,-120", "greater than or equal"),
    ("RACING_PRE_RACE_RETRY_DELAYS_SECONDS", "60,two", "valid number"),
    ("RACING_POST_RACE_FOLLOWUP_DELAYS_SECONDS", "-300", "greater than or equal"),
    ("RACING_DB_RETRY_DELAYS_SECONDS", "0.5,-2", "greater than or equal"),
    ("RACING_MORNING_RETRY_TIMES", "06:15,26:00", "valid time"),
    ("RACING_MORNING_RETRY_TIMES", "06:15,05:00", "05:00 is not after the 06:00"),
    ("RACING_JOB_RUN_RETENTION_DAYS", "-1", "greater than or equal to 0"),
    ("RACING_STALE_RUN_MINUTES", "0", "greater than or equal to 1"),
    ("RACING_NOTIFY_WEBHOOK_URL", "hooks.invalid/token", "not an http(s) URL"),
]


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///data/racing.db",
        "sqlite+pysqlite:////var/lib/racing/racing.db",
        "postgresql+psycopg://racer@127.0.0.1:5432/racing",
        # The installed SQLAlchemy resolves a bare postgresql:// to psycopg.
        "postgresql://racer@127.0.0.1:5432/racing",
    ],
)
def test_the_supported_databases_are_accepted(url: str) -> None:
    assert load_settings(database_url=url).database_url == url


def test_every_setting_has_a_bad_value_case() -> None:
    variables = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    tested = {variable for variable, _, _ in BAD_VALUES}

    assert sorted(variables - tested) == [], "add a bad value of each to BAD_VALUES"
    assert sorted(tested - variables) == [], "BAD_VALUES names unknown variables"


@pytest.mark.parametrize(("variable", "value", "expected"), BAD_VALUES)
def test_a_bad_value_names_the_variable_in_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigError) as caught:
        load_settings()

    message = str(caught.value)
    assert message.startswith(f"{variable}: ")
    assert expected in message
    assert "; set it to " in message, "the message says what to set instead"
    assert "\n" not in message


def test_an_empty_database_block_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RACING_DATABASE_BLOCK", "")

    assert load_settings().database_block is None


def test_a_fix_without_a_hint_names_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RACING_PRE_RACE_RETRY_DELAYS_SECONDS", "-1")

    with pytest.raises(ConfigError) as caught:
        load_settings()

    assert str(caught.value).endswith(
        "; set it to a value like the default (60,120) or unset it"
    )


def test_a_bad_webhook_url_is_refused_without_repeating_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RACING_NOTIFY_WEBHOOK_URL", "ftp://hooks/s3cr3t-token")

    with pytest.raises(ConfigError) as raised:
        load_settings()

    assert str(raised.value).startswith("RACING_NOTIFY_WEBHOOK_URL: not an http(s) URL")
    assert "s3cr3t" not in str(raised.value)


def test_the_webhook_url_is_masked_in_reprs_and_redacted_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = "https://hooks.invalid/s3cr3t-token"
    monkeypatch.setenv("RACING_NOTIFY_WEBHOOK_URL", url)

    settings = load_settings()

    assert "s3cr3t" not in repr(settings)
    assert settings.redact(f"posting to {url} failed") == "posting to *** failed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["run", "post_race", "--as-of", "0001-01-01T00:00:00+14:00"],
            "'0001-01-01T00:00:00+14:00' is not a racing day; give a date-time between",
        ),
        (["replay", "--delay-scale", "-1"], "'-1' is not a scale"),
        (["replay", "--delay-scale", "nan"], "'nan' is not a scale"),
    ],
)
def test_out_of_range_command_line_values_get_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows.cli import main

    with contextlib.suppress(SystemExit):
        status = main(args)
        assert status == 2

    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
