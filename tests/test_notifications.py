"""Notifications through Prefect: a failed run reaches a webhook via an automation.

Needs a real `prefect server start` (automations are evaluated by its services), so it
reuses the e2e stack and runs a webhook receiver on 127.0.0.1 in a thread.
"""

import json
import subprocess
import sys
import time
import uuid

import pytest

from tests.prefect_server import (
    COMMAND_SECONDS,
    REPO,
    Stack,
    stack_fixture,  # noqa: F401 (the `stack` fixture)
)
from tests.webhook_receiver import (
    Receiver,
    receiver_fixture,  # noqa: F401 (the `receiver` fixture)
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

NOTIFY_SECONDS = 90
# After the first notification, how long to keep listening for an unwanted second one.
QUIET_SECONDS = 10


def test_a_failed_morning_run_sends_one_notification_without_secrets(
    stack: Stack, receiver: Receiver
) -> None:
    token = uuid.uuid4().hex
    webhook_url = f"{receiver.base_url}/hooks/{token}"
    env = {**stack.env, "RACING_NOTIFY_WEBHOOK_URL": webhook_url}
    installed = _python(env, "-m", "flows.notifications", "install")
    assert installed.returncode == 0, installed.stderr
    assert token not in installed.stdout + installed.stderr

    run = _python(env, "-c", _FAILING_MORNING_RUN)
    assert run.returncode != 0, "an unknown meeting code should fail the run"
    assert token not in run.stdout + run.stderr

    received = _wait_for_notifications(receiver, stack)
    assert len(received) == 1, received
    path, raw = received[0]
    assert path == f"/hooks/{token}"
    message = json.loads(raw)
    assert message["subject"] == "racing-scheduler: morning_scrape failed"
    assert "morning_scrape run" in message["body"]
    assert "finished failed" in message["body"]
    assert "NOPE" in message["body"], "the error names the unknown meeting"
    assert token not in raw
    assert "postgresql" not in raw and stack.racing_url not in raw


_FAILING_MORNING_RUN = """
from datetime import date
from flows.morning_scrape import morning_scrape
morning_scrape(racing_date=date(2026, 11, 14), meetings=["R/NOPE"])
"""


def _python(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
    )


def _wait_for_notifications(receiver: Receiver, stack: Stack) -> list[tuple[str, str]]:
    """Every request received: polls until the first, then listens a while longer."""
    deadline = time.monotonic() + NOTIFY_SECONDS
    while not receiver.received:
        if time.monotonic() > deadline:
            pytest.fail(f"no notification after {NOTIFY_SECONDS}s\n{stack.tail()}")
        time.sleep(0.5)
    time.sleep(QUIET_SECONDS)
    return list(receiver.received)
