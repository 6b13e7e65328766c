"""prefect.yaml and `racing serve` declare the same deployments, from one table."""

from datetime import time
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.client.schemas.schedules import CronSchedule
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.deployments import (
    RETRY_TIMES,
    TIMEZONE,
    WORK_POOL,
    deployment_specs,
    prefect_yaml_entry,
    runner_deployment,
    serve_all,
)
from racing.errors import ConfigError
from racing.settings import Settings, load_settings

PREFECT_YAML = Path(__file__).resolve().parent.parent / "prefect.yaml"


def _prefect_yaml() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(PREFECT_YAML.read_text())
    return loaded


def test_prefect_yaml_declares_exactly_the_deployment_table() -> None:
    declared = _prefect_yaml()["deployments"]

    expected = [prefect_yaml_entry(spec) for spec in deployment_specs()]
    assert [d["name"] for d in declared] == [e["name"] for e in expected]
    for found, wanted in zip(declared, expected, strict=True):
        assert found == wanted, f"prefect.yaml differs for {wanted['name']}"


def test_daily_crons_state_the_racing_timezone_and_the_others_utc() -> None:
    schedules = [s for d in _prefect_yaml()["deployments"] for s in d["schedules"]]
    daily = [s for s in schedules if not s["cron"].startswith("*/")]
    frequent = [s for s in schedules if s["cron"].startswith("*/")]

    assert len(daily) == 5 and len(frequent) == 4
    assert {s["timezone"] for s in daily} == {TIMEZONE}
    assert {s["timezone"] for s in frequent} == {"UTC"}
    assert all(s["slug"] for s in schedules)


def test_prefect_yaml_defines_the_shared_settings_once() -> None:
    text = PREFECT_YAML.read_text()

    assert text.count(f"name: {WORK_POOL}") == 1
    assert text.count("Australia/Sydney") == 1
    assert text.count("collision_strategy") == 1


def test_runs_start_in_the_directory_named_by_racing_home() -> None:
    (step,) = _prefect_yaml()["pull"]

    assert step == {
        "prefect.deployments.steps.set_working_directory": {
            "directory": "{{ $RACING_HOME }}"
        }
    }


def test_the_table_defaults_are_the_settings_defaults() -> None:
    fields = Settings.model_fields

    assert fields["timezone"].default == TIMEZONE
    assert fields["morning_retry_times"].default == list(RETRY_TIMES)


def test_slugs_are_unique_within_each_deployment() -> None:
    for spec in deployment_specs():
        slugs = [s.slug for s in spec.schedules]
        assert len(slugs) == len(set(slugs)), spec.name


@pytest.mark.parametrize("spec", deployment_specs(), ids=lambda spec: spec.name)
def test_a_served_deployment_has_the_schedules_and_limit_of_the_table(
    spec: Any,
) -> None:
    deployment = runner_deployment(spec, TIMEZONE)

    declared = prefect_yaml_entry(spec)
    assert deployment.name == spec.name
    assert deployment.tags == declared["tags"]
    assert deployment.description == declared["description"]
    served = [
        {
            "cron": _cron(s.schedule).cron,
            "timezone": _cron(s.schedule).timezone,
            "slug": s.slug,
            **({"parameters": s.parameters} if s.parameters else {}),
        }
        for s in deployment.schedules or []
    ]
    assert served == declared["schedules"]
    limit = declared.get("concurrency_limit")
    assert deployment.concurrency_limit == (limit["limit"] if limit else None)
    if limit:
        assert deployment.concurrency_options is not None
        strategy = deployment.concurrency_options.collision_strategy
        assert strategy.value == limit["collision_strategy"]


@pytest.mark.parametrize("spec", deployment_specs(), ids=lambda spec: spec.name)
def test_schedule_parameters_are_parameters_of_the_flow(spec: Any) -> None:
    deployment = runner_deployment(spec, TIMEZONE)

    accepted = set(deployment._parameter_openapi_schema.properties)
    for schedule in spec.schedules:
        assert set(schedule.parameters) <= accepted, schedule.slug


def test_serve_follows_racing_timezone_and_retry_times() -> None:
    (retries,) = [s for s in deployment_specs([time(5, 45)]) if "retry" in s.tags]

    deployment = runner_deployment(retries, "Australia/Perth")

    (schedule,) = deployment.schedules or []
    cron = _cron(schedule.schedule)
    assert (cron.cron, cron.timezone) == ("45 5 * * *", "Australia/Perth")
    assert schedule.slug == "retry-0545"


def test_serve_without_a_prefect_server_says_what_to_set() -> None:
    with (
        temporary_settings(restore_defaults={PREFECT_API_URL}),
        pytest.raises(ConfigError, match="PREFECT_API_URL"),
    ):
        serve_all(load_settings())


def _cron(schedule: object) -> CronSchedule:
    assert isinstance(schedule, CronSchedule), schedule
    return schedule


def test_each_deployment_names_the_job_type_its_flow_records() -> None:
    # The reaper files a deployment's skipped runs under this job type.
    for spec in deployment_specs():
        flow = getattr(import_module(spec.module), spec.function)
        (hook,) = flow.on_running_hooks
        assert hook.__self__.job_type == spec.job_type, spec.name
