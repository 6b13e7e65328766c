"""The Prefect UI artifacts every flow run publishes from its JobRun summary."""

from collections.abc import Callable
from datetime import date
from uuid import UUID

import pytest
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.client.schemas.objects import Artifact

from flows.artifacts import artifact_key, item_rows, summary_markdown
from racing.job_runs import JobSummary
from racing.simulator.scenario import Scenario
from racing.simulator.server import SimulatorServer
from tests.factories import local, meeting, race, scenario

POST_RACE = JobSummary(
    items_processed=2,
    items_failed=1,
    meta={
        "races": {
            "2026-11-14/R/GOS/1": {"check": 4, "followUp": 3, "state": "unconfirmed"},
            "2026-11-14/R/GOS/2": {"check": 1, "followUp": 0, "state": "official"},
        },
        "failedRaces": ["2026-11-14/R/GOS/1"],
    },
    error="1 of 2 races failed: 2026-11-14/R/GOS/1",
)


def test_artifact_keys_are_lowercase_with_dashes() -> None:
    assert artifact_key("morning_scrape", "summary") == "morning-scrape-summary"
    assert artifact_key("pre_race_t15", "items") == "pre-race-t15-items"


def test_every_row_has_the_same_columns_with_the_error_last() -> None:
    summary = JobSummary(
        meta={
            "races": {
                "A/1": {"outcome": "ok", "attempt": 1},
                "A/2": {"outcome": "failed", "attempt": 3, "error": "HTTP 503"},
            }
        }
    )

    rows = item_rows(summary)

    assert rows == [
        {"race": "A/1", "outcome": "ok", "attempt": 1, "error": ""},
        {"race": "A/2", "outcome": "failed", "attempt": 3, "error": "HTTP 503"},
    ]


def test_the_summary_names_an_unconfirmed_race_by_its_state() -> None:
    markdown = summary_markdown("post_race", 7, POST_RACE)

    assert markdown.startswith("## post_race: partial")
    assert "JobRun 7: 2 items, 1 failed." in markdown
    assert "- `2026-11-14/R/GOS/1`: unconfirmed" in markdown


def test_errors_in_artifacts_have_the_database_password_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from racing.settings import get_settings

    monkeypatch.setenv("RACING_DATABASE_URL", "postgresql://racer:hunter2@db/racing")
    get_settings.cache_clear()
    try:
        summary = JobSummary(
            meta={"races": {"A/1": {"outcome": "failed", "error": "hunter2 leaked"}}}
        )
        assert item_rows(summary)[0]["error"] == "*** leaked"
    finally:
        get_settings.cache_clear()


@pytest.mark.usefixtures("prefect_harness")
def test_a_morning_run_publishes_its_table_and_summary(
    serve: Callable[[Scenario], SimulatorServer],
) -> None:
    from flows.morning_scrape import morning_scrape

    serve(scenario([meeting("AAA", [race(1, local(12))])]))
    state = morning_scrape(
        racing_date=date(2026, 11, 14), as_of=local(6), return_state=True
    )

    artifacts = _artifacts_of(state.state_details.flow_run_id)
    assert set(artifacts) == {"morning-scrape-items", "morning-scrape-summary"}
    table = artifacts["morning-scrape-items"]
    assert table.type == "table"
    assert "2026-11-14/R/AAA" in str(table.data)
    summary = artifacts["morning-scrape-summary"]
    assert summary.type == "markdown"
    assert str(summary.data).startswith("## morning_scrape: success")


def _artifacts_of(flow_run_id: UUID | None) -> dict[str, Artifact]:
    assert flow_run_id is not None
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
            )
        )
    return {artifact.key: artifact for artifact in found if artifact.key}
