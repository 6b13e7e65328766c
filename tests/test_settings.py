"""Settings: defaults, parsing of lists, and one clear line for each bad value."""

from datetime import time

import pytest

from racing.errors import ConfigError
from racing.settings import load_settings


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
    monkeypatch.setenv("RACING_MORNING_RETRY_TIMES", "05:45,06:10")
    settings = load_settings()
    assert settings.morning_task_retry_delays_seconds == [1.0, 2.5, 4.0]
    assert settings.morning_retry_times == [time(5, 45), time(6, 10)]


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("RACING_TIMEZONE", "Mars/Olympus", "not a known timezone"),
        ("RACING_TAB_BASE_URL", "ftp://tab", "is not an http(s) URL"),
        ("RACING_TAB_BASE_URL", "not a url", "is not an http(s) URL"),
        ("RACING_DATABASE_URL", "nonsense", "cannot parse"),
        ("RACING_HTTP_TIMEOUT_SECONDS", "0", "greater than 0"),
        ("RACING_HTTP_TIMEOUT_SECONDS", "ten", "valid number"),
        ("RACING_HTTP_ATTEMPTS", "0", "greater than or equal to 1"),
        ("RACING_MORNING_TASK_RETRY_DELAYS_SECONDS", "10,-5", "greater than or equal"),
        ("RACING_MORNING_RETRY_TIMES", "06:15,26:00", "valid time"),
        ("RACING_SCRAPE_CONCURRENCY", "0", "greater than or equal to 1"),
    ],
)
def test_a_bad_value_names_the_variable_in_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigError) as caught:
        load_settings()

    message = str(caught.value)
    assert message.startswith(f"{variable}: ")
    assert expected in message
    assert "\n" not in message


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
