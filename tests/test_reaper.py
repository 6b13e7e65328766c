"""The stale-run reaper: JobRuns of dead flow runs are failed, live ones are kept."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from racing.database import transaction
from racing.job_runs import finish_job_run
from racing.models import JobRun, Scrape, SkippedRun
from racing.reaper import (
    SKIPPED_LOOKBACK,
    CancelledRun,
    EndedRun,
    ReapReport,
    ReportedState,
    StateLookup,
    collect_skipped_runs,
    reap_stale_runs,
    record_skipped_runs,
    record_unrecorded_runs,
    skipped_runs_since,
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


@pytest.mark.parametrize("state", ["FAILED", "CANCELLED", "CRASHED"])
def test_every_unsuccessful_flow_run_state_abandons_its_job_run(
    sessions: sessionmaker[Session], state: str
) -> None:
    job = add_running_job(sessions)

    reap(sessions, prefect_says({job.flow_run_id: ReportedState(state)}))

    found = reload(sessions, job)
    assert found.status == "failed"
    assert found.error_message == f"abandoned: Prefect reports the flow run {state}"


@pytest.mark.parametrize(
    ("processed", "failed", "status"), [(12, 0, "success"), (12, 3, "partial")]
)
def test_a_completed_run_whose_hooks_missed_the_database_is_finalised_from_its_counts(
    sessions: sessionmaker[Session], processed: int, failed: int, status: str
) -> None:
    # The flow saved its summary, then the database went away before the hook ran.
    job = add_running_job(
        sessions, items_processed=processed, items_failed=failed, meta={"window": "t60"}
    )
    ended_at = NOW - timedelta(minutes=10)

    report = reap(
        sessions,
        prefect_says({job.flow_run_id: ReportedState("COMPLETED", None, ended_at)}),
    )

    found = reload(sessions, job)
    assert (found.status, found.items_processed, found.items_failed) == (
        status,
        processed,
        failed,
    )
    assert found.completed_at == ended_at
    assert found.meta == {"window": "t60", "finalisedBy": "reaper"}
    assert found.error_message is None
    assert [r.job_run_id for r in report.recovered] == [job.id]
    assert report.abandoned == []
    assert summarise(report).meta["recovered"][0]["jobRunId"] == job.id


def ended(
    state: str = "FAILED", minutes_ago: int = 10, message: str | None = None
) -> EndedRun:
    ended_at = NOW - timedelta(minutes=minutes_ago)
    return EndedRun(
        flow_run_id=str(uuid4()),
        job_type="morning_scrape",
        state=state,
        message=message,
        ended_at=ended_at,
        started_at=ended_at - timedelta(seconds=30),
    )


def test_an_ended_run_that_never_reached_the_database_gets_a_failed_job_run(
    sessions: sessionmaker[Session],
) -> None:
    lost = ended(message="database unavailable: connection refused")
    recorded = ended()
    add_running_job(sessions, flow_run_id=recorded.flow_run_id, status="success")
    just_ended = ended(minutes_ago=1)
    report = ReapReport()

    record_unrecorded_runs(
        sessions=sessions,
        fetch=lambda since: [lost, recorded, just_ended],
        now=NOW,
        report=report,
    )
    # A second reaper run finds the same runs and adds nothing.
    record_unrecorded_runs(
        sessions=sessions, fetch=lambda since: [lost], now=NOW, report=report
    )

    with sessions() as session:
        rows = {j.flow_run_id: j for j in session.scalars(select(JobRun))}
    assert set(rows) == {lost.flow_run_id, recorded.flow_run_id}
    row = rows[lost.flow_run_id]
    assert (row.job_type, row.status, row.items_processed) == (
        "morning_scrape",
        "failed",
        0,
    )
    assert row.error_message == (
        "never recorded: the racing database was unreachable during the run; "
        "Prefect reports the flow run FAILED "
        "(database unavailable: connection refused)"
    )
    assert (row.started_at, row.completed_at, row.duration_ms) == (
        lost.started_at,
        lost.ended_at,
        30_000,
    )
    assert [(u.job_run_id, u.flow_run_id) for u in report.unrecorded] == [
        (row.id, lost.flow_run_id)
    ]
    assert summarise(report).meta["unrecorded"][0]["jobType"] == "morning_scrape"


def test_a_failed_lookup_of_ended_runs_is_reported_not_raised(
    sessions: sessionmaker[Session],
) -> None:
    def broken(since: datetime) -> list[EndedRun]:
        raise ConnectionError("Prefect API unreachable")

    report = ReapReport()
    record_unrecorded_runs(sessions=sessions, fetch=broken, now=NOW, report=report)

    assert report.unrecorded == []
    assert summarise(report).meta["unrecordedError"] == (
        "ConnectionError: Prefect API unreachable"
    )


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
    job = add_running_job(sessions, minutes_ago=59, job_type="morning_scrape")

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
    job = add_running_job(sessions, minutes_ago=75, job_type="morning_scrape")

    reap(sessions, prefect_says({job.flow_run_id: ReportedState("RUNNING")}))

    found = reload(sessions, job)
    assert found.status == "failed"
    assert found.error_message == (
        "abandoned: Prefect reports the flow run RUNNING after 75 minutes, "
        "past the limit of 60 (RACING_STALE_RUN_MINUTES)"
    )


@pytest.mark.parametrize("job_type", ["pre_race_t60", "pre_race_t15", "post_race"])
def test_a_window_or_result_run_is_abandoned_after_fifteen_minutes(
    sessions: sessionmaker[Session], job_type: str
) -> None:
    # A worker killed mid-run: its claims would keep the races from the window's
    # next runs until the reaper frees them, so a tick job does not get an hour.
    young = add_running_job(sessions, minutes_ago=14, job_type=job_type)
    dead = add_running_job(sessions, minutes_ago=16, job_type=job_type)
    running = ReportedState("RUNNING")

    reap(
        sessions, prefect_says({young.flow_run_id: running, dead.flow_run_id: running})
    )

    assert reload(sessions, young).status == "running"
    found = reload(sessions, dead)
    assert found.status == "failed"
    assert found.error_message == (
        "abandoned: Prefect reports the flow run RUNNING after 16 minutes, "
        "past the limit of 15 (a window or result run)"
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


# Runs a concurrency limit cancelled before they started.

JOB_TYPES = {
    "pre-race-t60": "pre_race_t60",
    "morning-retries": "morning_scrape",
}
LIMIT_REACHED = "Deployment concurrency limit reached."


def cancelled_run(
    deployment: str = "pre-race-t60", *, minutes_ago: int = 10, **overrides: Any
) -> CancelledRun:
    """A run Prefect cancelled at its scheduled time; overrides use field names."""
    scheduled = NOW - timedelta(minutes=minutes_ago)
    fields: dict[str, Any] = {
        "flow_run_id": str(uuid4()),
        "deployment": deployment,
        "scheduled_at": scheduled,
        "cancelled_at": scheduled + timedelta(seconds=2),
        "message": LIMIT_REACHED,
        **overrides,
    }
    return CancelledRun(**fields)


def record(sessions: sessionmaker[Session], runs: list[CancelledRun]) -> int:
    with transaction(sessions) as session:
        return record_skipped_runs(
            session=session, runs=runs, job_types=JOB_TYPES, now=NOW
        )


def skipped_rows(sessions: sessionmaker[Session]) -> dict[str, SkippedRun]:
    with sessions() as session:
        return {row.flow_run_id: row for row in session.scalars(select(SkippedRun))}


def test_a_run_cancelled_before_it_started_is_recorded_with_what_prefect_said(
    sessions: sessionmaker[Session],
) -> None:
    run = cancelled_run()

    assert record(sessions, [run]) == 1

    row = skipped_rows(sessions)[run.flow_run_id]
    assert (row.job_type, row.deployment, row.message) == (
        "pre_race_t60",
        "pre-race-t60",
        LIMIT_REACHED,
    )
    assert (row.scheduled_at, row.cancelled_at, row.recorded_at) == (
        run.scheduled_at,
        run.cancelled_at,
        NOW,
    )


def test_recording_the_same_cancelled_runs_again_adds_only_the_new_ones(
    sessions: sessionmaker[Session],
) -> None:
    first, second = cancelled_run(minutes_ago=10), cancelled_run(minutes_ago=5)
    record(sessions, [first])

    # Lookups overlap, and a page can repeat a run: each is recorded once.
    assert record(sessions, [first, second, second]) == 1
    assert record(sessions, [first, second]) == 0

    assert set(skipped_rows(sessions)) == {first.flow_run_id, second.flow_run_id}


def test_a_skipped_run_takes_its_deployments_job_type_and_strangers_are_left_out(
    sessions: sessionmaker[Session],
) -> None:
    retry = cancelled_run("morning-retries")
    stranger = cancelled_run("someone-elses-deployment")

    assert record(sessions, [retry, stranger]) == 1

    rows = skipped_rows(sessions)
    assert rows[retry.flow_run_id].job_type == "morning_scrape"
    assert stranger.flow_run_id not in rows


def test_the_lookup_reaches_a_day_back_or_an_hour_behind_the_newest_recorded_run(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        assert skipped_runs_since(session=session, now=NOW) == NOW - SKIPPED_LOOKBACK

    record(sessions, [cancelled_run(minutes_ago=30), cancelled_run(minutes_ago=10)])

    with sessions() as session:
        since = skipped_runs_since(session=session, now=NOW)
    assert since == NOW - timedelta(minutes=10) - timedelta(hours=1)


def test_skipped_runs_are_asked_for_since_the_lookup_start_and_counted_in_the_summary(
    sessions: sessionmaker[Session],
) -> None:
    asked: list[datetime] = []

    def fetch(since: datetime) -> list[CancelledRun]:
        asked.append(since)
        return [cancelled_run(), cancelled_run("someone-elses-deployment")]

    skipped = collect_skipped_runs(
        sessions=sessions, fetch=fetch, job_types=JOB_TYPES, now=NOW
    )

    assert asked == [NOW - SKIPPED_LOOKBACK]
    assert (skipped.found, skipped.recorded, skipped.error) == (2, 1, None)
    summary = summarise(ReapReport(), skipped)
    assert summary.meta["skippedRuns"] == 1
    assert "skippedRunsError" not in summary.meta


def test_a_failed_skipped_run_lookup_is_reported_without_stopping_the_reaper(
    sessions: sessionmaker[Session],
) -> None:
    def fetch(since: datetime) -> list[CancelledRun]:
        raise ConnectionError("Prefect API timed out")

    skipped = collect_skipped_runs(
        sessions=sessions, fetch=fetch, job_types=JOB_TYPES, now=NOW
    )

    summary = summarise(ReapReport(checked=2), skipped)
    assert summary.meta["skippedRuns"] == 0
    assert summary.meta["skippedRunsError"] == "ConnectionError: Prefect API timed out"
    assert summary.status.value == "success"
    assert skipped_rows(sessions) == {}


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
        # Running in Prefect for ever: its worker was killed with it.
        zombie_run = client.create_flow_run(victim, state=Running())
    crashed = add_running_job(sessions, flow_run_id=str(crashed_run.id), started_at=now)
    live = add_running_job(sessions, flow_run_id=str(live_run.id), started_at=now)
    gone = add_running_job(sessions, started_at=now - timedelta(minutes=30))
    zombie = add_running_job(
        sessions, flow_run_id=str(zombie_run.id), started_at=now - timedelta(hours=2)
    )

    # As of a little later, so the crash is past the hooks' grace period.
    state = stale_run_reaper(as_of=now + timedelta(minutes=6), return_state=True)

    assert reload(sessions, crashed).error_message == (
        "abandoned: Prefect reports the flow run CRASHED (killed)"
    )
    assert reload(sessions, gone).error_message == (
        "abandoned: Prefect has no record of the flow run"
    )
    assert reload(sessions, live).status == "running"
    reason = str(reload(sessions, zombie).error_message)
    assert reason.startswith("abandoned: Prefect reports the flow run RUNNING after 12")
    job = _reaper_run(sessions, state.state_details.flow_run_id)
    assert (job.status, job.items_processed, job.items_failed) == ("success", 4, 0)
    assert {a["jobRunId"] for a in job.meta["abandoned"]} == {
        crashed.id,
        gone.id,
        zombie.id,
    }
    # Prefect is told too: only the run it still called live changes state there.
    with get_client(sync_client=True) as client:
        zombie_state = client.read_flow_run(zombie_run.id).state
        live_state = client.read_flow_run(live_run.id).state
    assert zombie_state is not None and live_state is not None
    assert (zombie_state.type.value, zombie_state.message) == ("CRASHED", reason)
    assert live_state.type.value == "RUNNING"


@pytest.mark.usefixtures("prefect_harness", "racing_env")
def test_the_reaper_flow_records_a_run_that_never_reached_the_database(
    sessions: sessionmaker[Session],
) -> None:
    from prefect import get_client
    from prefect.states import Failed

    from flows.morning_scrape import morning_scrape
    from flows.reaper import stale_run_reaper

    # As a morning run ends whose database was down from its first statement.
    message = "DatabaseUnavailable: database postgresql://racing:***@db/racing: ..."
    with get_client(sync_client=True) as client:
        lost = client.create_flow_run(morning_scrape, state=Failed(message=message))

    state = stale_run_reaper(
        as_of=datetime.now(UTC) + timedelta(minutes=6), return_state=True
    )

    with sessions() as session:
        row = session.scalars(
            select(JobRun).where(JobRun.flow_run_id == str(lost.id))
        ).one()
    assert (row.job_type, row.status) == ("morning_scrape", "failed")
    assert row.error_message == (
        "never recorded: the racing database was unreachable during the run; "
        f"Prefect reports the flow run FAILED ({message})"
    )
    reaper_job = _reaper_run(sessions, state.state_details.flow_run_id)
    assert str(lost.id) in {u["flowRunId"] for u in reaper_job.meta["unrecorded"]}


@pytest.mark.usefixtures("prefect_harness", "racing_env")
def test_the_reaper_flow_records_a_run_the_concurrency_limit_cancelled(
    sessions: sessionmaker[Session],
) -> None:
    from prefect import get_client
    from prefect.client.schemas.objects import (
        ConcurrencyLimitStrategy,
        ConcurrencyOptions,
    )
    from prefect.states import Cancelled, Pending, Running

    from flows.reaper import stale_run_reaper

    # The post-race deployment as prefect.yaml declares its limit: one at a time,
    # CANCEL_NEW. Its runs are only created, never executed.
    with get_client(sync_client=True) as client:
        deployment_id = client.create_deployment(
            client.create_flow_from_name("post-race"),
            "post-race",
            concurrency_limit=1,
            concurrency_options=ConcurrencyOptions(
                collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
            ),
        )
        slow = client.create_flow_run_from_deployment(deployment_id)
        due = client.create_flow_run_from_deployment(deployment_id)
        client.set_flow_run_state(slow.id, Pending())
        client.set_flow_run_state(slow.id, Running())
        # The next run comes due while the slow one holds the slot.
        client.set_flow_run_state(due.id, Pending())
        cancelled = client.read_flow_run(due.id)
        # Cancelled once it ran: it has a JobRun of its own, so it is no skipped run.
        client.set_flow_run_state(slow.id, Cancelled())
    assert cancelled.state is not None and cancelled.state.is_cancelled()
    # Prefect gives it a start time all the same; it never ran.
    assert cancelled.run_count == 0

    first = stale_run_reaper(return_state=True)
    again = stale_run_reaper(return_state=True)

    rows = skipped_rows(sessions)
    row = rows[str(due.id)]
    assert (row.job_type, row.deployment) == ("post_race", "post-race")
    assert (
        row.message
        == cancelled.state.message
        == "Deployment concurrency limit reached."
    )
    assert str(slow.id) not in rows
    # The harness serves the whole session: runs of other cases are found too.
    recorded = [
        _reaper_run(sessions, state.state_details.flow_run_id).meta["skippedRuns"]
        for state in (first, again)
    ]
    assert recorded == [len(rows), 0]
