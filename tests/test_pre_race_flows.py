"""The window flows as deployments run them: Prefect flow runs, hooks, task retries."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from pytest_httpx import HTTPXMock
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows.database import forget_engine
from racing.database import transaction
from racing.models import JobRun, Scrape
from racing.settings import get_settings
from racing.store import upsert_meeting
from racing.tab_payloads import parse_meetings

pytestmark = pytest.mark.usefixtures("prefect_harness")

FIXTURES = Path(__file__).parent / "fixtures"
TAB = "tab.invalid"
RACE_URL = (
    f"http://{TAB}/v1/tab-info-service/racing/dates/2026-11-14/meetings/R/GOS/races/3"
    "?jurisdiction=NSW"
)
# GOS race 3 of the fixture starts at 02:15 UTC: 20 minutes later is T-15.
T15_RUN = datetime(2026, 11, 14, 1, 55, tzinfo=UTC)
ONLY_TAB = pytest.mark.httpx_mock(should_mock=lambda request: request.url.host == TAB)


@pytest.fixture
def stored_card(
    racing_env: str, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fixture meeting list stored; the TAB base URL is a mocked host."""
    monkeypatch.setenv("RACING_TAB_BASE_URL", f"http://{TAB}")
    monkeypatch.setenv("RACING_HTTP_ATTEMPTS", "1")
    monkeypatch.setenv("RACING_PRE_RACE_RETRY_DELAYS_SECONDS", "0,0")
    get_settings.cache_clear()
    forget_engine()
    listing = parse_meetings(json.loads((FIXTURES / "meetings.json").read_text()))
    with transaction(sessions) as session:
        for record in listing.meetings:
            upsert_meeting(record, session=session, now=T15_RUN)


def _race_payload() -> bytes:
    return (FIXTURES / "race-open.json").read_bytes()


@ONLY_TAB
@pytest.mark.usefixtures("stored_card")
def test_an_empty_window_makes_no_http_request(
    httpx_mock: HTTPXMock, sessions: sessionmaker[Session]
) -> None:
    from flows.pre_race import pre_race_t60

    result = pre_race_t60(as_of=T15_RUN)

    assert httpx_mock.get_requests() == []
    with sessions() as session:
        job = session.get_one(JobRun, result["jobRunId"])
        assert (job.job_type, job.status, job.items_processed) == (
            "pre_race_t60",
            "success",
            0,
        )


@ONLY_TAB
@pytest.mark.usefixtures("stored_card")
def test_a_window_run_scrapes_its_race_once_and_links_the_scrape(
    httpx_mock: HTTPXMock, sessions: sessionmaker[Session]
) -> None:
    from flows.pre_race import pre_race_t15

    httpx_mock.add_response(url=RACE_URL, content=_race_payload())

    first = pre_race_t15(as_of=T15_RUN)
    second = pre_race_t15(as_of=T15_RUN.replace(minute=58))

    assert len(httpx_mock.get_requests()) == 1
    with sessions() as session:
        job = session.get_one(JobRun, first["jobRunId"])
        assert job.status == "success" and job.items_processed == 1
        assert job.meta["races"] == {
            "2026-11-14/R/GOS/3": {"outcome": "ok", "attempt": 1}
        }
        scrape = session.scalars(select(Scrape).filter_by(kind="t15")).one()
        assert scrape.job_run_id == job.id
        assert session.get_one(JobRun, second["jobRunId"]).items_processed == 0


@ONLY_TAB
@pytest.mark.usefixtures("stored_card")
def test_task_retries_recover_a_race_that_failed_twice(
    httpx_mock: HTTPXMock, sessions: sessionmaker[Session]
) -> None:
    from flows.pre_race import pre_race_t15

    httpx_mock.add_response(url=RACE_URL, status_code=503)
    httpx_mock.add_response(url=RACE_URL, status_code=502)
    httpx_mock.add_response(url=RACE_URL, content=_race_payload())

    result = pre_race_t15(as_of=T15_RUN)

    with sessions() as session:
        attempts = session.execute(
            select(Scrape.attempt, Scrape.outcome, Scrape.job_run_id)
            .filter_by(kind="t15")
            .order_by(Scrape.attempt)
        ).all()
        job = session.get_one(JobRun, result["jobRunId"])
    assert [tuple(row) for row in attempts] == [
        (1, "failed", job.id),
        (2, "failed", job.id),
        (3, "ok", job.id),
    ]
    assert (job.status, job.meta["races"]["2026-11-14/R/GOS/3"]["attempt"]) == (
        "success",
        3,
    )


@ONLY_TAB
@pytest.mark.usefixtures("stored_card")
def test_a_run_started_long_after_its_schedule_exits_early_and_says_so(
    httpx_mock: HTTPXMock,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.pre_race import pre_race_t15

    # What Prefect reports for a run it starts late after downtime.
    long_ago = datetime(2026, 1, 1, tzinfo=UTC)
    monkeypatch.setattr(
        "flows.pre_race.flow_run", SimpleNamespace(scheduled_start_time=long_ago)
    )

    result = pre_race_t15()

    assert httpx_mock.get_requests() == []
    assert "a later run covers this window" in result["skipped"]
    with sessions() as session:
        job = session.get_one(JobRun, result["jobRunId"])
        assert (job.status, job.items_processed) == ("success", 0)


def test_only_a_run_a_whole_tick_late_is_superseded() -> None:
    from racing.windows import superseded

    scheduled = datetime(2026, 11, 14, 1, 0, tzinfo=UTC)
    assert not superseded(scheduled, scheduled + timedelta(minutes=4, seconds=59))
    assert superseded(scheduled, scheduled + timedelta(minutes=5))
