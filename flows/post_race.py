"""The post-race flow, scheduled every 5 minutes: result checks that are due now.

The database says which races need their first check or a follow-up at `as_of`
(default: now); each is fetched once. A failed fetch is not retried in the run: the next
follow-up is already scheduled by the Scrape rows, and the number of checks is bounded.
"""

from datetime import datetime
from typing import Any

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.logging import get_run_logger

from flows.database import racing_sessions
from flows.hooks import JobRunHooks, current_job_run_id, record_summary
from flows.pools import bounded_pool
from racing import results
from racing.clock import as_instant, make_clock
from racing.settings import get_settings
from racing.tab_client import TabClient

HOOKS = JobRunHooks(results.JOB_TYPE)


@task(
    name="check-result", task_run_name="result-{due.race.code}", cache_policy=NO_CACHE
)
def check_result_task(
    due: results.DueCheck,
    job_run_id: int,
    as_of: datetime | None,
    max_checks: int,
) -> results.CheckOutcome | None:
    """Check one race's result once."""
    with TabClient.from_settings(get_settings()) as client:
        return results.check_result(
            due,
            client=client,
            sessions=racing_sessions(),
            job_run_id=job_run_id,
            clock=make_clock(as_of),
            max_checks=max_checks,
        )


@flow(name="post-race", task_runner=bounded_pool(), **HOOKS.as_kwargs())
def post_race(as_of: datetime | None = None) -> dict[str, Any]:
    """Check the results of races 5 or more minutes past their start, until settled."""
    settings = get_settings()
    instant = as_instant(as_of, settings.zone) if as_of else make_clock(None)()
    replay_at = instant if as_of else None
    job_run_id = current_job_run_id(results.JOB_TYPE)
    followups = settings.post_race_followups

    with racing_sessions()() as session:
        due = results.due_checks(
            instant, session=session, followup_delays=followups.timedeltas()
        )
    futures = check_result_task.map(
        due, unmapped(job_run_id), unmapped(replay_at), unmapped(followups.attempts)
    )
    outcomes = [_outcome(d, f) for d, f in zip(due, futures, strict=True)]

    summary = results.summarise(instant, outcomes)
    return record_summary(job_run_id, summary)


def _outcome(
    due: results.DueCheck, future: PrefectFuture[results.CheckOutcome | None]
) -> results.CheckOutcome | None:
    try:
        return future.result()
    except Exception as exc:
        get_run_logger().error("result check of %s failed: %s", due.race.code, exc)
        return results.CheckOutcome(due.race, due.check, None, str(exc))
