"""The T-60 and T-15 window flows, each scheduled every 5 minutes.

Each run asks the database which races are in its window at `as_of` (default: now) and
maps one task per race; an empty window ends without calling the API at all.
"""

from datetime import datetime
from typing import Any

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.logging import get_run_logger
from prefect.runtime import flow_run, task_run

from flows.database import racing_sessions
from flows.hooks import JobRunHooks, current_job_run_id, plain_utc, record_summary
from flows.pools import bounded_pool
from racing import pre_race
from racing.clock import as_instant, make_clock
from racing.errors import FetchError
from racing.models import ScrapeOutcome
from racing.race_scrape import RaceAttempt
from racing.settings import get_settings
from racing.store import RaceRef
from racing.tab_client import TabClient
from racing.windows import T15, T60, Chosen, Window, superseded


class RaceIncomplete(FetchError):
    """Raised inside a race task so Prefect retries it after the configured delay."""


@task(
    name="scrape-race",
    task_run_name="{window.kind}-{chosen.race.code}",
    cache_policy=NO_CACHE,
)
def scrape_race_task(
    chosen: Chosen,
    window: Window,
    instant: datetime,
    job_run_id: int,
    as_of: datetime | None,
    retries: int,
) -> RaceAttempt | None:
    """Scrape one race for a window; a retryable failure raises while retries remain.

    None when an overlapping run holds the race.
    """
    with TabClient.from_settings(get_settings()) as client:
        attempt = pre_race.scrape_in_window(
            chosen,
            window,
            instant,
            client=client,
            sessions=racing_sessions(),
            job_run_id=job_run_id,
            clock=make_clock(as_of),
        )
    if attempt is None or attempt.outcome is not ScrapeOutcome.FAILED:
        return attempt
    where = f"{window.kind} scrape of {chosen.race.code} attempt {attempt.attempt}"
    if attempt.retryable and task_run.run_count <= retries:
        raise RaceIncomplete(f"{where}: {attempt.error}")
    get_run_logger().warning("%s: no retry left in this run: %s", where, attempt.error)
    return attempt


def run_window(window: Window, as_of: datetime | None) -> dict[str, Any]:
    """The body shared by both window flows."""
    settings = get_settings()
    instant = as_instant(as_of, settings.zone) if as_of else make_clock(None)()
    replay_at = instant if as_of else None
    job_run_id = current_job_run_id(window.job_type)
    scheduled = flow_run.scheduled_start_time
    if as_of is None and scheduled and superseded(plain_utc(scheduled), instant):
        return record_summary(
            job_run_id, pre_race.skipped(window, instant, plain_utc(scheduled))
        )
    policy = settings.pre_race_retry_policy

    plan = pre_race.plan_window(
        window, instant, sessions=racing_sessions(), max_attempts=policy.attempts
    )
    futures = scrape_race_task.with_options(
        retries=policy.retries, retry_delay_seconds=policy.seconds()
    ).map(
        plan.races,
        unmapped(window),
        unmapped(instant),
        unmapped(job_run_id),
        unmapped(replay_at),
        unmapped(policy.retries),
    )
    attempts = [_attempt(c.race, f) for c, f in zip(plan.races, futures, strict=True)]

    summary = pre_race.summarise(plan, attempts)
    return record_summary(job_run_id, summary)


def _attempt(
    race: RaceRef, future: PrefectFuture[RaceAttempt | None]
) -> RaceAttempt | None:
    try:
        return future.result()
    except Exception as exc:
        get_run_logger().error("race %s gave up: %s", race.code, exc)
        return RaceAttempt(race, 0, ScrapeOutcome.FAILED, str(exc))


T60_HOOKS = JobRunHooks(T60.job_type)
T15_HOOKS = JobRunHooks(T15.job_type)


@flow(name="pre-race-t60", task_runner=bounded_pool(), **T60_HOOKS.as_kwargs())
def pre_race_t60(as_of: datetime | None = None) -> dict[str, Any]:
    """Scrape races starting 55-70 minutes after `as_of` (default: now)."""
    return run_window(T60, as_of)


@flow(name="pre-race-t15", task_runner=bounded_pool(), **T15_HOOKS.as_kwargs())
def pre_race_t15(as_of: datetime | None = None) -> dict[str, Any]:
    """Scrape races starting 10-25 minutes after `as_of` (default: now)."""
    return run_window(T15, as_of)
