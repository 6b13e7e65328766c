"""Morning retries: scheduled retry runs, lineage, and re-runs an operator asks for."""

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from racing.errors import UnknownItemError
from racing.models import JobRun, Meeting, Race, Runner, Scrape
from racing.simulator.scenario import Scenario
from racing.simulator.server import SimulatorServer
from tests.factories import local, meeting, race, scenario

pytestmark = pytest.mark.usefixtures("prefect_harness")

DAY = date(2026, 11, 14)


def _run(when: datetime, server: SimulatorServer, **params: Any) -> dict[str, Any]:
    """Run the morning flow as of `when`; a run where every meeting failed gives {}."""
    from flows.hooks import JobFailed
    from flows.morning_scrape import morning_scrape

    server.set_clock(when)
    try:
        return morning_scrape(racing_date=DAY, as_of=when, **params)
    except JobFailed:
        return {}


def _jobs(sessions: sessionmaker[Session]) -> list[JobRun]:
    with sessions() as session:
        return list(session.scalars(select(JobRun).order_by(JobRun.id)))


def test_retries_rescrape_only_still_failed_meetings_and_link_to_the_original(
    faulty_day: SimulatorServer, sessions: sessionmaker[Session]
) -> None:
    _run(local(6), faulty_day)
    for when in (local(6, 15), local(6, 30), local(7)):
        _run(when, faulty_day, retry=True)

    original, *retries = _jobs(sessions)
    assert original.meta["failedMeetings"] == [
        "2026-11-14/G/WPK",
        "2026-11-14/H/ADD",
        "2026-11-14/R/GOS",
    ]
    assert [(j.parent_job_run_id, j.retry_count) for j in retries] == [
        (original.id, 1),
        (original.id, 2),
        (original.id, 3),
    ]
    assert [sorted(j.meta["meetings"]) for j in retries] == [
        ["2026-11-14/G/WPK", "2026-11-14/H/ADD", "2026-11-14/R/GOS"],
        ["2026-11-14/G/WPK", "2026-11-14/H/ADD", "2026-11-14/R/GOS"],
        ["2026-11-14/G/WPK"],
    ]
    assert [j.status for j in retries] == ["failed", "partial", "failed"]
    # GOS and ADD recovered at 06:30: every race has its runners.
    with sessions() as session:
        bare = session.scalar(
            select(func.count(Race.id))
            .join(Meeting)
            .where(Meeting.venue_mnemonic.in_(["GOS", "ADD"]))
            .where(~Race.id.in_(select(Runner.race_id)))
        )
        assert bare == 0
        # BEN succeeded at 06:00 and was never scraped again.
        ben_scrapes = session.scalar(
            select(func.count(Scrape.id))
            .join(Meeting, Scrape.meeting_id == Meeting.id)
            .where(Meeting.venue_mnemonic == "BEN")
        )
        assert ben_scrapes == 7


def test_a_retry_with_nothing_left_records_that_and_makes_no_call(
    serve: Callable[[Scenario], SimulatorServer], sessions: sessionmaker[Session]
) -> None:
    outage = {
        "endpoint": "race",
        "kind": "status",
        "status": 503,
        "venueMnemonic": "GOS",
        "until": local(6, 10).isoformat(),
    }
    card = scenario(
        [meeting("GOS", [race(1, local(13))]), meeting("BEN", [race(1, local(14))])],
        [outage],
    )
    server = serve(card)
    _run(local(6), server)
    _run(local(6, 15), server, retry=True)
    before = server.request_counts()

    result = _run(local(6, 30), server, retry=True)

    assert server.request_counts() == before
    assert result["nothingToRetry"] is True
    original, first_retry, second_retry = _jobs(sessions)
    assert (original.status, first_retry.status) == ("partial", "success")
    assert sorted(first_retry.meta["meetings"]) == ["2026-11-14/R/GOS"]
    assert (second_retry.status, second_retry.items_processed) == ("success", 0)
    assert (second_retry.parent_job_run_id, second_retry.retry_count) == (
        original.id,
        2,
    )


def test_manual_runs_of_chosen_meetings_are_not_taken_for_the_original(
    faulty_day: SimulatorServer, sessions: sessionmaker[Session]
) -> None:
    _run(local(6), faulty_day)
    _run(local(6, 5), faulty_day, meetings=["R/BEN"])

    _run(local(6, 15), faulty_day, retry=True)

    original, manual, retry = _jobs(sessions)
    assert manual.parent_job_run_id is None
    assert retry.parent_job_run_id == original.id


def test_a_retry_of_a_named_job_run_links_to_it(
    faulty_day: SimulatorServer, sessions: sessionmaker[Session]
) -> None:
    first = _run(local(6), faulty_day)

    second = _run(local(6, 30), faulty_day, retry_of=first["jobRunId"])

    job = _jobs(sessions)[-1]
    assert job.id == second["jobRunId"]
    assert (job.parent_job_run_id, job.retry_count) == (first["jobRunId"], 1)
    assert sorted(job.meta["meetings"]) == first["failedMeetings"]


def test_chosen_meetings_are_the_only_ones_scraped(
    faulty_day: SimulatorServer, sessions: sessionmaker[Session]
) -> None:
    result = _run(local(6), faulty_day, meetings=["R/BEN", "2026-11-14/G/WPK"])

    assert sorted(result["meetings"]) == ["2026-11-14/G/WPK", "2026-11-14/R/BEN"]
    job = _jobs(sessions)[-1]
    assert (job.parent_job_run_id, job.retry_count) == (None, 0)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"retry_of": 999}, "retry_of=999: no such JobRun"),
        ({"meetings": ["R/NOPE"]}, "meetings 2026-11-14/R/NOPE are not in the TAB"),
        ({"meetings": ["GOS"]}, "give a code like 2026-11-14/R/GOS"),
    ],
)
def test_unknown_ids_fail_the_run_with_a_clear_error(
    faulty_day: SimulatorServer,
    sessions: sessionmaker[Session],
    params: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(UnknownItemError, match=message.replace("(", r"\(")):
        _run(local(6, 30), faulty_day, **params)

    job = _jobs(sessions)[-1]
    assert job.status == "failed"
    assert job.error_message is not None and message in job.error_message
