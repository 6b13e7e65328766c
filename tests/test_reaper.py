"""The stale-run reaper: JobRuns of dead flow runs are failed, live ones are kept."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from racing.database import transaction
from racing.job_runs import finish_job_run
from racing.models import JobRun, Scrape
from racing.reaper import (
    ReapReport,
    ReportedState,
    StateLookup,
    reap_stale_runs,
    summarise,
)

NOW = datetime(2026, 11, 14, 2, 0, tzinfo=UTC)
MAX_AGE = timedelta(minutes=60)


def add_running_job(
    sessions: sessionmaker[Session], *, minutes_ago: int = 20, **overrides: Any
) -> JobRun:
    """A JobRun still marked running; overrides use attribute names."""
    fields: dict[str, Any] = {
        "flow_run_id": str(uuid4()),
        "job_type": "pre_race_t60",
        "status": "running",
        "started_at": NOW - timedelta(minutes=minutes_ago),
        "items_processed": 0,
        "items_failed": 0,
        "retry_count": 0,
        "meta": {},
        **overrides,
    }
    with transaction(sessions) as session:
        job_run = JobRun(**fields)
        session.add(job_run)
    return job_run


def add_scrape(sessions: sessionmaker[Session], job_run: JobRun, outcome: str) -> int:
    with transaction(sessions) as session:
        scrape = Scrape(
            job_run_id=job_run.id,
            kind="t60",
            started_at=job_run.started_at,
            finished_at=None if outcome == "running" else job_run.started_at,
            outcome=outcome,
        )
        session.add(scrape)
        session.flush()
        return scrape.id


def prefect_says(states: dict[str, ReportedState | None]) -> StateLookup:
    """A lookup answering from `states`; an unknown id is a test error."""
    return lambda flow_run_id: states[flow_run_id]


def reap(sessions: sessionmaker[Session], lookup: StateLookup, **kw: Any) -> ReapReport:
    return reap_stale_runs(
        sessions=sessions, lookup=lookup, now=NOW, max_age=MAX_AGE, **kw
    )


def scrapes_by_id(sessions: sessionmaker[Session]) -> dict[int, Scrape]:
    with sessions() as session:
        return {s.id: s for s in session.scalars(select(Scrape))}


def reload(sessions: sessionmaker[Session], job_run: JobRun) -> JobRun:
    with sessions() as session:
        return session.get_one(JobRun, job_run.id)


def test_a_job_run_whose_flow_run_crashed_is_failed_with_what_prefect_said(
    sessions: sessionmaker[Session],
) -> None:
    job = add_running_job(sessions)
    crashed_at = NOW - timedelta(minutes=12)
    crashed = ReportedState(
        "CRASHED", "Flow run process exited with signal 9", crashed_at
    )

    report = reap(sessions, prefect_says({job.flow_run_id: crashed}))

    found = reload(sessions, job)
    assert found.status == "failed"
    assert found.error_message == (
        "abandoned: Prefect reports the flow run CRASHED "
        "(Flow run process exited with signal 9)"
    )
    assert found.completed_at == crashed_at
    assert found.duration_ms == 8 * 60 * 1000
    assert [a.job_run_id for a in report.abandoned] == [job.id]


@pytest.mark.parametrize("state", ["FAILED", "CANCELLED", "COMPLETED"])
def test_every_terminal_flow_run_state_abandons_its_job_run(
    sessions: sessionmaker[Session], state: str
) -> None:
    job = add_running_job(sessions)

    reap(sessions, prefect_says({job.flow_run_id: ReportedState(state)}))

    found = reload(sessions, job)
    assert found.status == "failed"
    assert found.error_message == f"abandoned: Prefect reports the flow run {state}"


def test_a_job_run_whose_flow_run_is_gone_from_prefect_is_failed(
    sessions: sessionmaker[Session],
) -> None:
    job = add_running_job(sessions)

    reap(sessions, prefect_says({job.flow_run_id: None}))

    found = reload(sessions, job)
    assert found.status == "failed"
    assert found.error_message == "abandoned: Prefect has no record of the flow run"
    assert found.completed_at == NOW


@pytest.mark.parametrize("state", ["RUNNING", "PENDING", "SCHEDULED"])
def test_a_live_flow_run_younger_than_the_maximum_age_is_left_alone(
    sessions: sessionmaker[Session], state: str
) -> None:
    job = add_running_job(sessions, minutes_ago=59)

    report = reap(sessions, prefect_says({job.flow_run_id: ReportedState(state)}))

    found = reload(sessions, job)
    assert (found.status, found.error_message, found.completed_at) == (
        "running",
        None,
        None,
    )
    assert (report.checked, report.abandoned) == (1, [])


def test_a_live_flow_run_past_the_maximum_age_is_abandoned(
    sessions: sessionmaker[Session],
) -> None:
    job = add_running_job(sessions, minutes_ago=75)

    reap(sessions, prefect_says({job.flow_run_id: ReportedState("RUNNING")}))

    found = reload(sessions, job)
    assert found.status == "failed"
    assert found.error_message == (
        "abandoned: Prefect reports the flow run RUNNING after 75 minutes, "
        "past the limit of 60 (RACING_STALE_RUN_MINUTES)"
    )


def test_hooks_get_a_grace_period_to_finalise_a_run_that_just_ended(
    sessions: sessionmaker[Session],
) -> None:
    just_ended = add_running_job(sessions)
    just_opened = add_running_job(sessions, minutes_ago=1)
    states = {
        just_ended.flow_run_id: ReportedState("COMPLETED", None, NOW),
        just_opened.flow_run_id: None,
    }

    report = reap(sessions, prefect_says(states))

    assert report.abandoned == []
    assert reload(sessions, just_ended).status == "running"
    assert reload(sessions, just_opened).status == "running"


def test_its_running_scrapes_fail_as_abandoned_and_finished_ones_stay(
    sessions: sessionmaker[Session],
) -> None:
    job = add_running_job(sessions)
    running = add_scrape(sessions, job, "running")
    done = add_scrape(sessions, job, "ok")

    report = reap(sessions, prefect_says({job.flow_run_id: ReportedState("CRASHED")}))

    rows = scrapes_by_id(sessions)
    assert (rows[running].outcome, rows[running].error) == ("failed", "abandoned")
    assert rows[running].finished_at == NOW
    assert (rows[done].outcome, rows[done].error) == ("ok", None)
    assert report.scrapes_failed == 1


def test_claims_left_by_a_run_a_crash_hook_finalised_are_freed(
    sessions: sessionmaker[Session],
) -> None:
    # A worker killed the run mid-fetch: on_crashed failed the JobRun, but nothing
    # finished its claim, which would keep every other run away from the race.
    crashed = add_running_job(sessions)
    claim = add_scrape(sessions, crashed, "running")
    with transaction(sessions) as session:
        finish_job_run(
            session=session,
            flow_run_id=crashed.flow_run_id,
            finished_at=NOW,
            error="crashed: Flow run process exited with signal 9",
        )
    live = add_running_job(sessions, minutes_ago=1)
    live_claim = add_scrape(sessions, live, "running")

    report = reap(sessions, prefect_says({live.flow_run_id: ReportedState("RUNNING")}))

    rows = scrapes_by_id(sessions)
    assert (rows[claim].outcome, rows[claim].error) == ("failed", "abandoned")
    assert rows[live_claim].outcome == "running"
    assert (report.checked, report.abandoned, report.scrapes_failed) == (1, [], 1)
    assert summarise(report).meta["scrapesFailed"] == 1


def test_finished_job_runs_and_its_own_run_are_never_looked_up(
    sessions: sessionmaker[Session],
) -> None:
    own = add_running_job(sessions, job_type="reaper", minutes_ago=0)
    finished = add_running_job(sessions)
    with transaction(sessions) as session:
        finish_job_run(
            session=session, flow_run_id=finished.flow_run_id, finished_at=NOW
        )

    report = reap(sessions, prefect_says({}), own_flow_run_id=own.flow_run_id)

    assert (report.checked, report.abandoned) == (0, [])
    assert reload(sessions, finished).status == "success"


def test_a_hook_that_finalises_first_wins_over_the_reaper(
    sessions: sessionmaker[Session],
) -> None:
    job = add_running_job(sessions)

    def hook_then_prefect(flow_run_id: str) -> ReportedState:
        with transaction(sessions) as session:
            finish_job_run(session=session, flow_run_id=flow_run_id, finished_at=NOW)
        return ReportedState("CRASHED")

    report = reap(sessions, hook_then_prefect)

    assert report.abandoned == []
    found = reload(sessions, job)
    assert (found.status, found.error_message) == ("success", None)


def test_a_failed_lookup_is_a_failed_item_and_the_others_are_still_reaped(
    sessions: sessionmaker[Session],
) -> None:
    unreachable = add_running_job(sessions)
    crashed = add_running_job(sessions)

    def lookup(flow_run_id: str) -> ReportedState:
        if flow_run_id == unreachable.flow_run_id:
            raise ConnectionError("Prefect API timed out")
        return ReportedState("CRASHED")

    report = reap(sessions, lookup)

    assert reload(sessions, unreachable).status == "running"
    assert reload(sessions, crashed).status == "failed"
    summary = summarise(report)
    assert (summary.items_processed, summary.items_failed) == (2, 1)
    assert summary.status.value == "partial"
    assert summary.meta["lookupErrors"] == {
        str(unreachable.id): "ConnectionError: Prefect API timed out"
    }
    assert summary.meta["abandoned"] == [
        {
            "jobRunId": crashed.id,
            "jobType": "pre_race_t60",
            "flowRunId": crashed.flow_run_id,
            "reason": "abandoned: Prefect reports the flow run CRASHED",
        }
    ]


# The flow, against a real (temporary) Prefect server.


def _reaper_run(sessions: sessionmaker[Session], flow_run_id: object) -> JobRun:
    with sessions() as session:
        job = session.scalars(
            select(JobRun).where(JobRun.flow_run_id == str(flow_run_id))
        ).one()
        assert job.job_type == "reaper"
        return job


@pytest.mark.usefixtures("prefect_harness", "racing_env")
def test_the_reaper_flow_asks_prefect_and_fails_only_the_dead_runs(
    sessions: sessionmaker[Session],
) -> None:
    from prefect import flow, get_client
    from prefect.states import Crashed, Running

    from flows.reaper import stale_run_reaper

    @flow(name="reaper-test-victim")
    def victim() -> None:
        """Never called: only its flow runs are created."""

    now = datetime.now(UTC)
    with get_client(sync_client=True) as client:
        crashed_run = client.create_flow_run(victim, state=Crashed(message="killed"))
        live_run = client.create_flow_run(victim, state=Running())
    crashed = add_running_job(sessions, flow_run_id=str(crashed_run.id), started_at=now)
    live = add_running_job(sessions, flow_run_id=str(live_run.id), started_at=now)
    gone = add_running_job(sessions, started_at=now - timedelta(minutes=30))

    # As of a little later, so the crash is past the hooks' grace period.
    state = stale_run_reaper(as_of=now + timedelta(minutes=6), return_state=True)

    assert reload(sessions, crashed).error_message == (
        "abandoned: Prefect reports the flow run CRASHED (killed)"
    )
    assert reload(sessions, gone).error_message == (
        "abandoned: Prefect has no record of the flow run"
    )
    assert reload(sessions, live).status == "running"
    job = _reaper_run(sessions, state.state_details.flow_run_id)
    assert (job.status, job.items_processed, job.items_failed) == ("success", 3, 0)
    assert {a["jobRunId"] for a in job.meta["abandoned"]} == {crashed.id, gone.id}
