"""The task runner every flow maps its tasks on."""

from typing import Any, cast

from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from racing.settings import get_settings


def bounded_pool() -> TaskRunner[PrefectFuture[Any]]:
    """Threads bounded by RACING_SCRAPE_CONCURRENCY, so 40 meetings or races do
    not open 40 connections to the TAB API at once."""
    pool = ThreadPoolTaskRunner[Any](max_workers=get_settings().scrape_concurrency)
    # The cast works around Prefect's invariant TaskRunner typing; no runtime effect.
    return cast("TaskRunner[PrefectFuture[Any]]", pool)
