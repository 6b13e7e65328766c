"""Every deployment of racing-scheduler: its flow, schedules and concurrency, once.

`racing serve` builds its deployments from this table; prefect.yaml declares the same
ones for `prefect deploy` and a worker, and a test keeps the two equal. Schedules are
cron in the racing timezone, so 06:00 stays 06:00 local across daylight saving; the
every-five and every-ten-minute schedules are in UTC, so no hour goes without runs.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import time
from importlib import import_module
from typing import Any

from prefect import Flow, serve
from prefect.client.schemas.objects import (
    ConcurrencyLimitConfig,
    ConcurrencyLimitStrategy,
)
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron
from prefect.settings import PREFECT_API_URL
from prefect.types.entrypoint import EntrypointType

from flows.notifications import install_notifications
from racing import morning, reaper, results, retention
from racing.errors import ConfigError
from racing.settings import MORNING_AT, Settings
from racing.windows import T15, T60

WORK_POOL = "racing-pool"
# The default of RACING_TIMEZONE; prefect.yaml states it on every schedule.
TIMEZONE = "Australia/Sydney"
MORNING = MORNING_AT
# The default of RACING_MORNING_RETRY_TIMES.
RETRY_TIMES = (time(6, 15), time(6, 30), time(7, 0))
CLEANUP = time(3, 30)
# The timezone of the every-few-minutes schedules (see ScheduleSpec.timezone).
UTC = "UTC"
EVERY_FIVE_MINUTES = "*/5 * * * *"
EVERY_TEN_MINUTES = "*/10 * * * *"
# A run of a limited deployment that finds one still running is cancelled.
COLLISION_STRATEGY = ConcurrencyLimitStrategy.CANCEL_NEW


@dataclass(frozen=True)
class ScheduleSpec:
    """One cron schedule; its slug lets a redeploy update it in place."""

    cron: str
    slug: str
    parameters: dict[str, Any] = field(default_factory=dict)
    # None: the racing timezone. The every-few-minutes schedules run in UTC: in a
    # timezone, the hour that repeats when clocks go back would get no runs at all
    # (cron runs a repeated wall time once), and every zone's offset is a whole
    # number of five minutes, so UTC fires at the same instants all year.
    timezone: str | None = None


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment: a flow entrypoint with its schedules."""

    name: str
    # A path relative to the repository, as `prefect deploy` wants it.
    entrypoint: str
    # The jobType of the JobRuns its flow runs record (and of its skipped runs).
    job_type: str
    description: str
    tags: tuple[str, ...]
    schedules: tuple[ScheduleSpec, ...]
    # Runs allowed at once; a run over the limit is cancelled (COLLISION_STRATEGY).
    concurrency_limit: int | None = None

    @property
    def module(self) -> str:
        """The entrypoint's module, e.g. `flows.pre_race`."""
        path = self.entrypoint.partition(":")[0]
        return path.removesuffix(".py").replace("/", ".")

    @property
    def function(self) -> str:
        """The entrypoint's flow function, e.g. `pre_race_t60`."""
        return self.entrypoint.partition(":")[2]

    def load_flow(self) -> Flow[..., Any]:
        """The flow object the entrypoint names."""
        flow: Flow[..., Any] = getattr(import_module(self.module), self.function)
        return flow


def daily(at: time, slug_prefix: str = "daily") -> ScheduleSpec:
    """A schedule at `at` every day, slugged by the time, e.g. `daily-0600`."""
    return ScheduleSpec(f"{at.minute} {at.hour} * * *", f"{slug_prefix}-{at:%H%M}")


def deployment_specs(retry_times: Sequence[time] = RETRY_TIMES) -> list[DeploymentSpec]:
    """Every deployment; `retry_times` are the morning retry runs' times of day."""
    retries = tuple(
        ScheduleSpec(daily(t).cron, f"retry-{t:%H%M}", {"retry": True})
        for t in retry_times
    )
    window = (ScheduleSpec(EVERY_FIVE_MINUTES, "every-5-minutes", timezone=UTC),)
    return [
        DeploymentSpec(
            name="morning-scrape",
            entrypoint="flows/morning_scrape.py:morning_scrape",
            job_type=morning.JOB_TYPE,
            description="Every meeting, race and runner of the racing day, at 06:00.",
            tags=("racing", "morning"),
            schedules=(daily(MORNING),),
        ),
        DeploymentSpec(
            name="morning-retries",
            entrypoint="flows/morning_scrape.py:morning_scrape",
            job_type=morning.JOB_TYPE,
            description="Scrape again the day's meetings that are still failed, "
            "linked to the morning's JobRun.",
            tags=("racing", "morning", "retry"),
            schedules=retries,
        ),
        DeploymentSpec(
            name="pre-race-t60",
            entrypoint="flows/pre_race.py:pre_race_t60",
            job_type=T60.job_type,
            description="Odds and scratchings of races 55-70 minutes from the start.",
            tags=("racing", "pre-race"),
            schedules=window,
            concurrency_limit=1,
        ),
        DeploymentSpec(
            name="pre-race-t15",
            entrypoint="flows/pre_race.py:pre_race_t15",
            job_type=T15.job_type,
            description="Odds and scratchings of races 10-25 minutes from the start.",
            tags=("racing", "pre-race"),
            schedules=window,
            concurrency_limit=1,
        ),
        DeploymentSpec(
            name="post-race",
            entrypoint="flows/post_race.py:post_race",
            job_type=results.JOB_TYPE,
            description="Result checks of races past their start, until confirmed.",
            tags=("racing", "results"),
            schedules=window,
            concurrency_limit=1,
        ),
        DeploymentSpec(
            name="job-run-cleanup",
            entrypoint="flows/cleanup.py:cleanup",
            job_type=retention.JOB_TYPE,
            description="Fold JobRuns past the retention into daily roll-ups, "
            "then delete them.",
            tags=("racing", "maintenance"),
            schedules=(daily(CLEANUP),),
        ),
        DeploymentSpec(
            name="stale-run-reaper",
            entrypoint="flows/reaper.py:stale_run_reaper",
            job_type=reaper.JOB_TYPE,
            description="Fail the JobRuns left running by flow runs that died.",
            tags=("racing", "maintenance"),
            schedules=(
                ScheduleSpec(EVERY_TEN_MINUTES, "every-10-minutes", timezone=UTC),
            ),
        ),
    ]


def prefect_yaml_entry(
    spec: DeploymentSpec, timezone: str = TIMEZONE
) -> dict[str, Any]:
    """The deployment as prefect.yaml declares it, anchors resolved."""
    entry: dict[str, Any] = {
        "name": spec.name,
        "entrypoint": spec.entrypoint,
        "description": spec.description,
        "tags": list(spec.tags),
        "work_pool": {"name": WORK_POOL},
        "schedules": [_yaml_schedule(s, timezone) for s in spec.schedules],
    }
    if spec.concurrency_limit is not None:
        entry["concurrency_limit"] = {
            "limit": spec.concurrency_limit,
            "collision_strategy": COLLISION_STRATEGY.value,
        }
    return entry


def runner_deployment(spec: DeploymentSpec, timezone: str) -> RunnerDeployment:
    """The deployment as `serve()` runs it, in this process, without a work pool."""
    flow = spec.load_flow()
    schedules = [
        Cron(
            s.cron,
            timezone=s.timezone or timezone,
            slug=s.slug,
            parameters=s.parameters,
        )
        for s in spec.schedules
    ]
    limit = None
    if spec.concurrency_limit is not None:
        limit = ConcurrencyLimitConfig(
            limit=spec.concurrency_limit, collision_strategy=COLLISION_STRATEGY
        )
    return RunnerDeployment.from_flow(
        flow,
        name=spec.name,
        schedules=schedules,
        concurrency_limit=limit,
        description=spec.description,
        tags=list(spec.tags),
        # By module, so the runs find their flow whatever the working directory.
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def serve_all(settings: Settings) -> None:
    """Serve every deployment from this process until interrupted.

    Schedules are paused when it stops: no process would be there to run them.
    """
    if not PREFECT_API_URL.value():
        raise ConfigError(
            "PREFECT_API_URL is not set: `racing serve` needs a Prefect server to "
            "schedule runs; start `prefect server start` and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    if settings.notify_webhook_url is not None:
        install_notifications(settings)
    specs = deployment_specs(settings.morning_retry_times)
    serve(*(runner_deployment(spec, settings.timezone) for spec in specs))


def _yaml_schedule(schedule: ScheduleSpec, timezone: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "cron": schedule.cron,
        "timezone": schedule.timezone or timezone,
        "slug": schedule.slug,
    }
    if schedule.parameters:
        entry["parameters"] = dict(schedule.parameters)
    return entry
