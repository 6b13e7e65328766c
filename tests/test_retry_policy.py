"""The one retry policy: configured delays, or exponential backoff with a cap."""

from datetime import timedelta

import pytest

from racing.retry_policy import RetryPolicy
from racing.settings import load_settings


def test_configured_delays_are_used_in_order() -> None:
    policy = RetryPolicy.from_delays([60, 120])

    assert (policy.retries, policy.attempts) == (2, 3)
    assert [policy.delay(1), policy.delay(2)] == [60, 120]
    assert policy.timedeltas() == [timedelta(minutes=1), timedelta(minutes=2)]


def test_backoff_doubles_up_to_its_cap() -> None:
    policy = RetryPolicy.exponential(retries=5, base=0.5, cap=3)

    assert policy.seconds() == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_retry_beyond_the_policy_is_refused() -> None:
    with pytest.raises(ValueError, match=r"retry 3 is outside 1\.\.2"):
        RetryPolicy.from_delays([1, 2]).delay(3)


def test_scaling_shrinks_every_wait_for_replays() -> None:
    assert RetryPolicy.from_delays([60, 120]).scaled(0).seconds() == [0, 0]
    assert RetryPolicy.exponential(retries=2, base=1, cap=4).scaled(0.5).seconds() == [
        0.5,
        1.0,
    ]


def test_every_job_type_takes_its_policy_from_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RACING_PRE_RACE_RETRY_DELAYS_SECONDS", "30,90")
    monkeypatch.setenv("RACING_POST_RACE_FOLLOWUP_DELAYS_SECONDS", "300,600")
    monkeypatch.setenv("RACING_HTTP_ATTEMPTS", "4")
    settings = load_settings()

    assert settings.pre_race_retry_policy.seconds() == [30, 90]
    assert settings.post_race_followups.attempts == 3
    assert settings.morning_retry_policy.seconds() == [10, 30]
    assert settings.http_retry_policy.seconds() == [0.5, 1.0, 2.0]
