"""Failed and partial runs, reported through Prefect to a webhook.

Two halves. The JobRun hooks emit one Prefect event, `racing.job-run.failed` or
`racing.job-run.partial`, when they finalise a run with that status: the one place that
knows the final status, once per run, whatever the cause (every item failed, an
unconfirmed result, an exception, a crash, a cancellation). A Prefect automation,
installed by `python -m flows.notifications install` (or `racing serve`), reacts to each
such event by sending a notification through a Custom Webhook block to
`RACING_NOTIFY_WEBHOOK_URL`. The URL is kept in the block's secrets, never logged.
"""

import argparse
import logging
import sys
from datetime import timedelta
from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.automations import AutomationCore
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.events import emit_event
from prefect.events.actions import SendNotification
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.settings import PREFECT_API_URL

from racing.errors import ConfigError, RacingError
from racing.models import JobRun, JobStatus
from racing.settings import Settings, get_settings

log = logging.getLogger(__name__)

EVENT_PREFIX = "racing.job-run."
NOTIFIED_STATUSES = (JobStatus.FAILED, JobStatus.PARTIAL)
BLOCK_NAME = "racing-notify-webhook"
AUTOMATION_NAME = "racing-job-run-problems"
MAX_FAILED_ITEMS = 20

SUBJECT = "racing-scheduler: {{ event.payload.jobType }} {{ event.payload.status }}"
BODY = """\
{{ event.payload.jobType }} run {{ event.payload.flowRunName }} finished \
{{ event.payload.status }} (JobRun {{ event.payload.jobRunId }}, \
flow run {{ event.payload.flowRunId }}).
Error: {{ event.payload.error }}
Failed items: {{ event.payload.failedItems | join(', ') }}"""


def problem_event(job_run: JobRun, flow_run_name: str) -> dict[str, Any] | None:
    """The event reporting a failed or partial JobRun, as `emit_event` arguments.

    None for any other status: only problems are reported.
    """
    status = JobStatus(job_run.status)
    if status not in NOTIFIED_STATUSES:
        return None
    settings = get_settings()
    failed = [
        *job_run.meta.get("failedMeetings", []),
        *job_run.meta.get("failedRaces", []),
    ]
    payload = {
        "jobType": job_run.job_type,
        "status": status.value,
        "jobRunId": job_run.id,
        "flowRunId": job_run.flow_run_id,
        "flowRunName": flow_run_name,
        "error": settings.redact(job_run.error_message or "none"),
        "failedItems": failed[:MAX_FAILED_ITEMS] or ["none listed"],
    }
    return {
        "event": f"{EVENT_PREFIX}{status.value}",
        "resource": {
            "prefect.resource.id": f"{EVENT_PREFIX}{job_run.id}",
            "prefect.resource.name": f"{job_run.job_type} JobRun {job_run.id}",
            "racing.job-type": job_run.job_type,
        },
        "related": [
            {
                "prefect.resource.id": f"prefect.flow-run.{job_run.flow_run_id}",
                "prefect.resource.role": "flow-run",
                "prefect.resource.name": flow_run_name,
            }
        ],
        "payload": payload,
    }


def emit_problem(event: dict[str, Any]) -> None:
    """Send a `problem_event` to Prefect (in the background, flushed at exit)."""
    emit_event(**event)
    log.info(
        "reported %s JobRun %s as %s",
        event["payload"]["jobType"],
        event["payload"]["jobRunId"],
        event["payload"]["status"],
    )


def problem_trigger() -> EventTrigger:
    """Fires once for every failed or partial JobRun event."""
    return EventTrigger(
        expect={f"{EVENT_PREFIX}{status.value}" for status in NOTIFIED_STATUSES},
        match={"prefect.resource.id": f"{EVENT_PREFIX}*"},
        for_each={"prefect.resource.id"},
        posture=Posture.Reactive,
        threshold=1,
        within=timedelta(0),
    )


def webhook_block(url: str) -> CustomWebhookNotificationBlock:
    """The block that posts each notice's subject and body as JSON to `url`.

    The rendered subject and body are put in whole, never read as templates again.
    """
    return CustomWebhookNotificationBlock(
        name="racing-scheduler",
        # The URL is a secret value, so the block shows it masked.
        url="{{ webhookUrl }}",
        json_data={"subject": "{{ subject }}", "body": "{{ body }}"},
        secrets={"webhookUrl": url},
    )


def install_notifications(settings: Settings) -> UUID:
    """Create or replace the webhook block and the automation; the automation's id."""
    if settings.notify_webhook_url is None:
        raise ConfigError(
            "RACING_NOTIFY_WEBHOOK_URL is not set: set it to the http(s) URL that "
            "should receive failure notices"
        )
    if not PREFECT_API_URL.value():
        raise ConfigError(
            "PREFECT_API_URL is not set: automations run on a Prefect server; set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    block = webhook_block(settings.notify_webhook_url.get_secret_value())
    block_id = block.save(BLOCK_NAME, overwrite=True)
    automation = AutomationCore(
        name=AUTOMATION_NAME,
        description="Notify the webhook of every failed or partial racing JobRun.",
        trigger=problem_trigger(),
        actions=[
            SendNotification(block_document_id=block_id, subject=SUBJECT, body=BODY)
        ],
    )
    with get_client(sync_client=True) as client:
        for old in client.read_automations_by_name(AUTOMATION_NAME):
            client.delete_automation(old.id)
        automation_id = client.create_automation(automation)
    log.info(
        "installed automation %s sending through block %s", AUTOMATION_NAME, BLOCK_NAME
    )
    return automation_id


def main(argv: list[str] | None = None) -> int:
    """`python -m flows.notifications install`."""
    parser = argparse.ArgumentParser(prog="python -m flows.notifications")
    parser.add_argument("command", choices=["install"])
    parser.parse_args(argv)
    try:
        automation_id = install_notifications(get_settings())
    except RacingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"automation {AUTOMATION_NAME} ({automation_id}) sends to {BLOCK_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
