"""The morning scrape flow: every meeting of the racing day, one task per meeting."""

from datetime import date, datetime

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.logging import get_run_logger
from prefect.runtime import task_run

from flows.database import racing_sessions
from flows.hooks import JobRunHooks, current_job_run_id, record_summary
from flows.pools import bounded_pool
from racing import morning
from racing.clock import as_instant, make_clock
from racing.database import run_transaction
from racing.errors import FetchError
from racing.morning_plan import start_morning
from racing.settings import get_settings
from racing.store import MeetingRef
from racing.tab_client import TabClient
from racing.tab_payloads import MeetingList

HOOKS = JobRunHooks(morning.JOB_TYPE)


class MeetingIncomplete(FetchError):
    """Raised inside a meeting task so Prefect retries it after the configured delay."""


@task(name="fetch-meeting-list", cache_policy=NO_CACHE)
def fetch_and_store_meetings(
    day: date, as_of: datetime | None
) -> tuple[list[MeetingRef], MeetingList]:
    """Fetch the day's meetings and store them with their race stubs."""
    settings = get_settings()
    with TabClient.from_settings(settings) as client:
        listing = client.meetings(day)
    refs, listing = morning.store_meeting_list(
        listing, listing_day=day, sessions=racing_sessions(), now=make_clock(as_of)()
    )
    get_run_logger().info(
        "morning scrape %s: %d meetings listed, %d rejected",
        day,
        len(refs),
        len(listing.rejects),
    )
    return refs, listing


@task(name="scrape-meeting", task_run_name="scrape-{ref.code}", cache_policy=NO_CACHE)
def scrape_meeting(
    ref: MeetingRef, job_run_id: int, as_of: datetime | None, retries: int
) -> morning.MeetingOutcome:
    """Scrape one meeting; a retryable failure raises while retries remain."""
    with TabClient.from_settings(get_settings()) as client:
        outcome = morning.scrape_meeting(
            ref,
            client=client,
            sessions=racing_sessions(),
            job_run_id=job_run_id,
            clock=make_clock(as_of),
        )
    if outcome.retryable and task_run.run_count <= retries:
        raise MeetingIncomplete(f"meeting {ref.code} incomplete: {outcome.error}")
    return outcome


@flow(
    name="morning-scrape",
    task_runner=bounded_pool(),
    **HOOKS.as_kwargs(),
)
def morning_scrape(
    racing_date: date | None = None,
    as_of: datetime | None = None,
    retry: bool = False,
    retry_of: int | None = None,
    meetings: list[str] | None = None,
) -> dict[str, object]:
    """Scrape the meetings of `racing_date` (default: today in the racing timezone).

    By default every meeting. `retry` re-scrapes only the day's still-failed meetings
    (the scheduled 06:15, 06:30 and 07:00 runs); `retry_of` re-scrapes the failed
    meetings of that JobRun; `meetings` scrapes just those codes (e.g. `R/GOS`).
    `as_of` replays the run as if it happened at that instant (a naive value is racing
    timezone local time); it stamps the stored data and picks the default date.
    """
    settings = get_settings()
    instant = as_instant(as_of, settings.zone) if as_of else None
    day = racing_date or morning.racing_day(make_clock(instant)(), settings.zone)
    job_run_id = current_job_run_id(morning.JOB_TYPE)
    plan = run_transaction(
        racing_sessions(),
        lambda session: start_morning(
            session=session,
            job_run_id=job_run_id,
            day=day,
            retry=retry,
            retry_of=retry_of,
            meetings=meetings,
        ),
    )
    if plan.nothing_to_do:
        return record_summary(job_run_id, morning.nothing_to_retry(plan))

    refs, listing = fetch_and_store_meetings(plan.day, instant)
    refs = plan.select(refs)
    policy = settings.morning_retry_policy
    futures = scrape_meeting.with_options(
        retries=policy.retries, retry_delay_seconds=policy.seconds()
    ).map(refs, unmapped(job_run_id), unmapped(instant), unmapped(policy.retries))
    outcomes = [
        _outcome(ref, future) for ref, future in zip(refs, futures, strict=True)
    ]

    summary = morning.summarise(plan, outcomes, listing)
    return record_summary(job_run_id, summary)


def _outcome(
    ref: MeetingRef, future: PrefectFuture[morning.MeetingOutcome]
) -> morning.MeetingOutcome:
    """A meeting task that still failed after its retries becomes a failed outcome."""
    try:
        return future.result()
    except Exception as exc:
        get_run_logger().error("meeting %s gave up: %s", ref.code, exc)
        return morning.MeetingOutcome(
            code=ref.code,
            races_ok=0,
            races_failed=len(ref.races),
            error=str(exc),
        )
