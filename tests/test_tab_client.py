"""The TAB client: paths, retries that may help, and failures that must not retry.

pytest-httpx fails a test that leaves a mocked response unused or sends a request
nothing was mocked for, so registering exactly N responses proves N requests.
"""

import json
import logging
import re
import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from pytest_httpx import HTTPXMock

from racing.errors import FetchError, PayloadError
from racing.settings import load_settings
from racing.tab_client import USER_AGENT, TabClient, build_http_client

FIXTURES = Path(__file__).parent / "fixtures"
BASE = "http://127.0.0.1:8765"
DAY = date(2026, 11, 14)
ROOT = "/v1/tab-info-service/racing/dates/2026-11-14/meetings"
RACE_URL = f"{BASE}{ROOT}/R/GOS/races/3?jurisdiction=NSW"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class Sleeps(list[float]):
    """Records each wait instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(sleeps: Sleeps) -> Iterator[TabClient]:
    with TabClient(httpx.Client(base_url=BASE), sleep=sleeps) as tab:
        yield tab


def add_race(httpx_mock: HTTPXMock, name: str = "race-open.json") -> None:
    httpx_mock.add_response(
        url=RACE_URL,
        content=fixture_bytes(name),
        headers={"Content-Type": "application/json"},
    )


# --- Building the client and its requests ----------------------------------------


def test_http_client_is_built_from_settings_with_our_name() -> None:
    settings = load_settings(tab_base_url=f"{BASE}/", http_timeout_seconds=7.5)

    with build_http_client(settings) as http:
        assert (http.base_url.host, http.base_url.port) == ("127.0.0.1", 8765)
        assert http.timeout == httpx.Timeout(7.5)
        assert http.headers["User-Agent"] == USER_AGENT
        assert USER_AGENT.startswith("racing-scheduler/")


def test_client_from_settings_uses_the_jurisdiction_and_attempts(
    httpx_mock: HTTPXMock,
) -> None:
    settings = load_settings(
        tab_base_url=BASE,
        tab_jurisdiction="VIC",
        http_attempts=2,
        http_backoff_seconds=0,
    )
    url = f"{BASE}{ROOT}?jurisdiction=VIC"
    httpx_mock.add_response(url=url, status_code=503)
    httpx_mock.add_response(url=url, status_code=503)

    with (
        TabClient.from_settings(settings) as tab,
        pytest.raises(FetchError, match="gave up after 2 attempts"),
    ):
        tab.meetings(DAY)

    assert tab.calls == 2


def test_meetings_are_fetched_for_the_day_with_the_jurisdiction(
    httpx_mock: HTTPXMock, client: TabClient
) -> None:
    httpx_mock.add_response(
        url=f"{BASE}{ROOT}?jurisdiction=NSW", content=fixture_bytes("meetings.json")
    )

    listing = client.meetings(DAY)

    assert [m.venue_mnemonic for m in listing.meetings] == ["GOS", "ADD"]
    assert httpx_mock.get_requests()[0].url.params["jurisdiction"] == "NSW"
    assert client.calls == 1


def test_requests_from_the_built_client_carry_our_user_agent(
    httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    httpx_mock.add_response(content=fixture_bytes("meetings.json"))
    http = build_http_client(load_settings(tab_base_url=BASE))

    with TabClient(http, sleep=sleeps) as tab:
        tab.meetings(DAY)

    assert httpx_mock.get_requests()[0].headers["User-Agent"] == USER_AGENT


def test_meeting_races_are_fetched_from_the_meeting_path(
    httpx_mock: HTTPXMock, client: TabClient
) -> None:
    meeting = json.loads(fixture_bytes("meetings.json"))["meetings"][0]
    httpx_mock.add_response(
        url=f"{BASE}{ROOT}/R/GOS/races?jurisdiction=NSW",
        json={"meeting": {"venueMnemonic": "GOS"}, "races": meeting["races"]},
    )

    stubs = client.meeting_races(DAY, "R", "GOS")

    assert [stub.race_number for stub in stubs] == [1, 2, 3]


def test_race_is_fetched_and_parsed(httpx_mock: HTTPXMock, client: TabClient) -> None:
    add_race(httpx_mock, "race-paying-dead-heat.json")

    record = client.race(DAY, "R", "GOS", 3)

    assert record.official
    assert record.results == [[4, 2], [1]]


def test_answer_about_another_race_is_a_payload_error(
    httpx_mock: HTTPXMock, client: TabClient
) -> None:
    httpx_mock.add_response(
        url=f"{BASE}{ROOT}/R/GOS/races/4?jurisdiction=NSW",
        content=fixture_bytes("race-open.json"),
    )

    with pytest.raises(PayloadError, match=r"answered with 2026-11-14 R GOS race 3$"):
        client.race(DAY, "R", "GOS", 4)


def test_bad_race_payload_names_the_race_and_field(
    httpx_mock: HTTPXMock, client: TabClient
) -> None:
    add_race(httpx_mock, "race-wrong-type-runner-number.json")

    with pytest.raises(PayloadError) as caught:
        client.race(DAY, "R", "GOS", 3)

    assert str(caught.value).startswith(
        "2026-11-14 R GOS race 3: runners[2].runnerNumber: Input should be a valid "
        "integer"
    )


def test_venue_is_quoted_as_one_path_segment(
    httpx_mock: HTTPXMock, client: TabClient
) -> None:
    httpx_mock.add_response(content=b'{"races": []}')

    client.meeting_races(DAY, "R", "A/B?x=1")

    assert httpx_mock.get_requests()[0].url.raw_path == (
        f"{ROOT}/R/A%2FB%3Fx%3D1/races?jurisdiction=NSW".encode()
    )


def test_dot_segment_venue_is_refused_before_any_request(client: TabClient) -> None:
    with pytest.raises(ValueError, match="path segment"):
        client.meeting_races(DAY, "R", "..")

    assert client.calls == 0


# --- Retried failures ------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_with_backoff(
    httpx_mock: HTTPXMock, client: TabClient, sleeps: Sleeps, status: int
) -> None:
    httpx_mock.add_response(url=RACE_URL, status_code=status, text="busy")
    add_race(httpx_mock)

    record = client.race(DAY, "R", "GOS", 3)

    assert record.race_number == 3
    assert sleeps == [0.5]
    assert client.calls == 2


@pytest.mark.parametrize(("header", "wait"), [("7", 7.0), ("2.5", 2.5), ("120", 30.0)])
def test_rate_limit_waits_as_asked_up_to_the_cap(
    httpx_mock: HTTPXMock, client: TabClient, sleeps: Sleeps, header: str, wait: float
) -> None:
    httpx_mock.add_response(
        url=RACE_URL, status_code=429, headers={"Retry-After": header}
    )
    add_race(httpx_mock)

    client.race(DAY, "R", "GOS", 3)

    assert sleeps == [wait]


@pytest.mark.parametrize(
    ("when", "wait"),
    [(datetime(2100, 1, 1, tzinfo=UTC), 30.0), (datetime(2001, 1, 1, tzinfo=UTC), 0.0)],
)
def test_rate_limit_accepts_an_http_date(
    httpx_mock: HTTPXMock,
    client: TabClient,
    sleeps: Sleeps,
    when: datetime,
    wait: float,
) -> None:
    header = format_datetime(when, usegmt=True)
    httpx_mock.add_response(
        url=RACE_URL, status_code=429, headers={"Retry-After": header}
    )
    add_race(httpx_mock)

    client.race(DAY, "R", "GOS", 3)

    assert sleeps == [wait]


@pytest.mark.parametrize("header", [None, "soon", "-4", "nan"])
def test_rate_limit_without_a_usable_wait_backs_off_exponentially(
    httpx_mock: HTTPXMock, client: TabClient, sleeps: Sleeps, header: str | None
) -> None:
    headers = {"Retry-After": header} if header else {}
    httpx_mock.add_response(url=RACE_URL, status_code=429, headers=headers)
    httpx_mock.add_response(url=RACE_URL, status_code=429, headers=headers)
    add_race(httpx_mock)

    client.race(DAY, "R", "GOS", 3)

    assert sleeps == [0.5, 1.0]
    assert client.calls == 3


def test_backoff_never_waits_longer_than_the_cap(
    httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    for _ in range(3):
        httpx_mock.add_response(status_code=502)
    http = httpx.Client(base_url=BASE)
    tab = TabClient(
        http, attempts=3, backoff_seconds=4.0, max_retry_after_seconds=5.0, sleep=sleeps
    )

    with tab, pytest.raises(FetchError):
        tab.meetings(DAY)

    assert sleeps == [4.0, 5.0]


def test_timeout_then_success(
    httpx_mock: HTTPXMock, client: TabClient, sleeps: Sleeps
) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"), url=RACE_URL)
    add_race(httpx_mock)

    assert client.race(DAY, "R", "GOS", 3).race_number == 3
    assert sleeps == [0.5]
    assert client.calls == 2


def test_dropped_connection_then_success(
    httpx_mock: HTTPXMock, client: TabClient
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("[Errno 111] Connection refused"))
    httpx_mock.add_exception(httpx.RemoteProtocolError("Server disconnected"))
    add_race(httpx_mock)

    assert client.race(DAY, "R", "GOS", 3).race_number == 3
    assert client.calls == 3


def test_gives_up_after_the_attempts_as_a_transient_fetch_error(
    httpx_mock: HTTPXMock, client: TabClient, sleeps: Sleeps
) -> None:
    httpx_mock.add_exception(httpx.ConnectTimeout("timed out"))
    httpx_mock.add_response(status_code=500)
    httpx_mock.add_response(status_code=503)

    with pytest.raises(FetchError) as caught:
        client.race(DAY, "R", "GOS", 3)

    assert caught.value.transient
    assert str(caught.value) == (
        f"GET {ROOT}/R/GOS/races/3: gave up after 3 attempts; last failure: HTTP 503"
    )
    assert sleeps == [0.5, 1.0]
    assert client.calls == 3


def test_closed_loopback_port_is_a_transient_fetch_error(sleeps: Sleeps) -> None:
    # A port we bound and released: nothing listens, so the connection is refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=2.0)

    with TabClient(http, attempts=2, sleep=sleeps) as tab:
        with pytest.raises(FetchError) as caught:
            tab.meetings(DAY)
        calls = tab.calls

    assert caught.value.transient
    assert "gave up after 2 attempts; last failure: connection failed" in str(
        caught.value
    )
    assert calls == 2
    assert sleeps == [0.5]


def test_retried_failures_are_logged_with_path_and_attempt_but_no_url(
    httpx_mock: HTTPXMock, client: TabClient, caplog: pytest.LogCaptureFixture
) -> None:
    httpx_mock.add_response(status_code=502)
    add_race(httpx_mock)

    with caplog.at_level(logging.DEBUG, logger="racing.tab_client"):
        client.race(DAY, "R", "GOS", 3)

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"GET {ROOT}/R/GOS/races/3 failed (attempt 1/3): HTTP 502; retrying in 0.50s"
    ]
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    assert not any("http://" in r.getMessage() for r in caplog.records)


# --- Failures that are not retried -----------------------------------------------


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (404, "check the date, venue and race number"),
        (403, "bot protection"),
        (400, "check the jurisdiction"),
        (410, "this status is not retried"),
        (501, "this status is not retried"),
    ],
)
def test_refusals_are_permanent_fetch_errors_sent_once(
    httpx_mock: HTTPXMock, client: TabClient, sleeps: Sleeps, status: int, hint: str
) -> None:
    httpx_mock.add_response(url=RACE_URL, status_code=status)

    with pytest.raises(FetchError) as caught:
        client.race(DAY, "R", "GOS", 3)

    assert not caught.value.transient
    assert str(caught.value).startswith(
        f"GET {ROOT}/R/GOS/races/3 answered HTTP {status}"
    )
    assert hint in str(caught.value)
    assert sleeps == []
    assert client.calls == 1


def test_redirect_is_not_followed_and_names_where_it_pointed(
    httpx_mock: HTTPXMock, client: TabClient
) -> None:
    httpx_mock.add_response(status_code=302, headers={"Location": "/challenge"})

    with pytest.raises(FetchError, match="redirected to '/challenge'") as caught:
        client.meetings(DAY)

    assert not caught.value.transient
    assert client.calls == 1


def test_html_page_with_200_is_a_payload_error_sent_once(
    httpx_mock: HTTPXMock, client: TabClient, sleeps: Sleeps
) -> None:
    httpx_mock.add_response(
        url=RACE_URL,
        content=fixture_bytes("bot-protection-page.html"),
        headers={"Content-Type": "text/html; charset=utf-8"},
    )

    with pytest.raises(PayloadError) as caught:
        client.race(DAY, "R", "GOS", 3)

    message = str(caught.value)
    assert message.startswith(f"GET {ROOT}/R/GOS/races/3: expected JSON, got text/html")
    assert "<!DOCTYPE html>" in message
    assert "\n" not in message
    assert sleeps == []
    assert client.calls == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "expected JSON, got an empty body (application/json)"),
        (b"  \n", "expected JSON, got an empty body (application/json)"),
        (fixture_bytes("race-truncated.json"), "not valid JSON"),
        (b'{"raceNumber": NaN}', "): NaN is not valid JSON"),
    ],
)
def test_body_that_is_not_json_is_a_payload_error_sent_once(
    httpx_mock: HTTPXMock, client: TabClient, content: bytes, expected: str
) -> None:
    httpx_mock.add_response(
        url=RACE_URL, content=content, headers={"Content-Type": "application/json"}
    )

    with pytest.raises(PayloadError, match=re.escape(expected)):
        client.race(DAY, "R", "GOS", 3)

    assert client.calls == 1


def test_calls_count_every_request_across_methods(
    httpx_mock: HTTPXMock, client: TabClient
) -> None:
    httpx_mock.add_response(status_code=503)
    httpx_mock.add_response(content=fixture_bytes("meetings.json"))
    add_race(httpx_mock)

    client.meetings(DAY)
    client.race(DAY, "R", "GOS", 3)

    assert client.calls == 3


def test_closing_the_client_closes_its_http_client(sleeps: Sleeps) -> None:
    http = httpx.Client(base_url=BASE)

    with TabClient(http, sleep=sleeps):
        assert not http.is_closed

    assert http.is_closed


def test_attempts_below_one_are_refused() -> None:
    with httpx.Client(base_url=BASE) as http, pytest.raises(ValueError, match="1"):
        TabClient(http, attempts=0)


def test_client_runs_on_an_injected_transport() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=fixture_bytes("race-open.json"))

    settings = load_settings(tab_base_url=BASE, tab_jurisdiction="QLD")
    transport = httpx.MockTransport(answer)
    with TabClient.from_settings(settings, transport=transport) as tab:
        record = tab.race(DAY, "R", "GOS", 3)

    assert record.race_number == 3
    assert seen[0].url.params["jurisdiction"] == "QLD"
    assert seen[0].headers["User-Agent"] == USER_AGENT


def test_deeply_nested_body_is_a_payload_error(
    httpx_mock: HTTPXMock, client: TabClient
) -> None:
    httpx_mock.add_response(content=b"[" * 100_000)

    with pytest.raises(PayloadError, match="is not valid JSON"):
        client.meetings(DAY)
