"""The TAB racing info service over HTTP: meetings, a meeting's races, one race.

Only fetching retries, and only failures that may pass (timeouts, dropped connections,
429 and 5xx gateway errors). A refused request fails at once as a permanent
`FetchError`, and a body that is not JSON, or not the TAB's shape, is a `PayloadError`:
asking again would get the same answer.
"""

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Self
from urllib.parse import quote

import httpx

from racing.errors import FetchError, PayloadError
from racing.retry_policy import RetryPolicy
from racing.settings import Settings
from racing.tab_payloads import (
    MeetingList,
    RaceRecord,
    RaceStatus,
    RaceStub,
    parse_meeting_races,
    parse_meetings,
    parse_race,
)

logger = logging.getLogger(__name__)

USER_AGENT = "racing-scheduler/0.1 (+https://github.com/racing-scheduler)"

_ROOT = "/v1/tab-info-service/racing"
# Statuses a busy, restarting or rate-limiting server gives; any other error status
# would be the same on the next attempt.
_RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
_HINTS = {
    400: "check the jurisdiction and the date, race type and venue in the path",
    401: "the TAB API needs no login here; check RACING_TAB_BASE_URL",
    403: "the TAB refused this client (bot protection, or a host outside Australia)",
    # On race day a 404 for a race the meeting list showed means TAB withdrew it.
    404: "check the date, venue and race number, or the TAB withdrew it after "
    "listing it",
}


def build_http_client(
    settings: Settings, *, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """The one HTTP client for the TAB: base URL, timeouts, pool limits, our name."""
    return httpx.Client(
        base_url=settings.tab_base_url,
        # One slow endpoint must not stall a run, so every phase has the same limit.
        timeout=httpx.Timeout(settings.http_timeout_seconds),
        limits=httpx.Limits(
            max_connections=settings.scrape_concurrency,
            max_keepalive_connections=settings.scrape_concurrency,
        ),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        transport=transport,
    )


class _Retryable(Exception):
    """A failed attempt that may succeed later, and the wait the server asked for."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class TabClient:
    """Reads the TAB racing API, retrying only failures that may pass."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        jurisdiction: str = "NSW",
        attempts: int = 3,
        backoff_seconds: float = 0.5,
        max_retry_after_seconds: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {attempts}")
        self._http = http
        self._jurisdiction = jurisdiction
        self._attempts = attempts
        self._policy = RetryPolicy.exponential(
            retries=attempts - 1, base=backoff_seconds, cap=max_retry_after_seconds
        )
        self._sleep = sleep
        self._calls = 0
        # One client may serve several task threads at once; the count must not race.
        self._calls_lock = threading.Lock()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, transport: httpx.BaseTransport | None = None
    ) -> "TabClient":
        """A client configured entirely from settings, owning its HTTP client."""
        return cls(
            build_http_client(settings, transport=transport),
            jurisdiction=settings.tab_jurisdiction,
            attempts=settings.http_attempts,
            backoff_seconds=settings.http_backoff_seconds,
            max_retry_after_seconds=settings.http_max_retry_after_seconds,
        )

    @property
    def calls(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self._calls

    def meetings(self, day: date) -> MeetingList:
        """The day's meetings with their race stubs; bad meetings come as rejects."""
        body = self._get_json(f"{_ROOT}/dates/{day.isoformat()}/meetings")
        return parse_meetings(body, where=f"meetings of {day.isoformat()}")

    def meeting_races(
        self, day: date, race_type: str, venue_mnemonic: str
    ) -> list[RaceStub]:
        """The race stubs of one meeting: start times and statuses, no prices."""
        path = _meeting_path(day, race_type, venue_mnemonic) + "/races"
        where = f"{day.isoformat()} {race_type} {venue_mnemonic} races"
        return parse_meeting_races(self._get_json(path), where=where)

    def race(
        self, day: date, race_type: str, venue_mnemonic: str, race_number: int
    ) -> RaceRecord:
        """One race in full: runners, prices, scratchings, results, dividends."""
        path = f"{_meeting_path(day, race_type, venue_mnemonic)}/races/{race_number:d}"
        where = f"{day.isoformat()} {race_type} {venue_mnemonic} race {race_number}"
        record = parse_race(
            self._get_json(path),
            where=where,
            meeting_date=day,
            race_type=race_type,
            venue_mnemonic=venue_mnemonic,
        )
        _check_identity(record, where, day, race_type, venue_mnemonic, race_number)
        _check_runners(record, where)
        return record

    def close(self) -> None:
        """Close the HTTP client and its pooled connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _get_json(self, path: str) -> object:
        return _json_body(self._fetch(path), path)

    def _fetch(self, path: str) -> httpx.Response:
        """GET `path`, retrying failures that may pass, up to `attempts` requests."""
        for attempt in range(1, self._attempts):
            try:
                return self._send(path, attempt)
            except _Retryable as failure:
                delay = self._delay(failure, attempt)
                logger.warning(
                    "GET %s failed (attempt %d/%d): %s; retrying in %.2fs",
                    path,
                    attempt,
                    self._attempts,
                    failure.reason,
                    delay,
                )
                self._sleep(delay)
        try:
            return self._send(path, self._attempts)
        except _Retryable as failure:
            raise FetchError(
                f"GET {path}: gave up after {self._attempts} attempts; "
                f"last failure: {failure.reason}",
                transient=True,
            ) from failure

    def _send(self, path: str, attempt: int) -> httpx.Response:
        """One request: a response to use, a `_Retryable`, or a permanent error."""
        with self._calls_lock:
            self._calls += 1
        logger.debug("GET %s (attempt %d/%d)", path, attempt, self._attempts)
        try:
            response = self._http.get(path, params={"jurisdiction": self._jurisdiction})
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timed out ({type(exc).__name__})") from exc
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise _Retryable(f"connection failed ({_describe(exc)})") from exc
        except httpx.DecodingError as exc:
            raise PayloadError(f"GET {path}: cannot decode the body ({exc})") from exc
        except httpx.RequestError as exc:
            raise FetchError(
                f"GET {path}: request failed ({_describe(exc)}); "
                "check RACING_TAB_BASE_URL",
                transient=False,
            ) from exc

        status = response.status_code
        logger.debug("GET %s answered %d in %.3fs", path, status, _elapsed(response))
        if response.is_success:
            return response
        if status in _RETRIED_STATUSES:
            raise _Retryable(f"HTTP {status}", retry_after=_retry_after(response))
        raise FetchError(_refusal(path, response), transient=False)

    def _delay(self, failure: _Retryable, attempt: int) -> float:
        """The server's Retry-After if given, else exponential backoff; both capped."""
        if failure.retry_after is None:
            return self._policy.delay(attempt)
        # A run has windows to keep; no single wait may outlast the cap.
        return min(failure.retry_after, self._policy.backoff_cap)


def _meeting_path(day: date, race_type: str, venue_mnemonic: str) -> str:
    type_part, venue_part = _segment(race_type), _segment(venue_mnemonic)
    return f"{_ROOT}/dates/{day.isoformat()}/meetings/{type_part}/{venue_part}"


def _segment(value: str) -> str:
    """A value quoted as one path segment, so a strange venue cannot change the path."""
    if value in ("", ".", ".."):
        raise ValueError(f"{value!r} cannot be a URL path segment")
    return quote(value, safe="")


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (a number or an HTTP-date), if usable."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)  # HTTP-dates are always GMT
        # A date already past means "now"; clamp rather than fall back to backoff.
        return max((when - datetime.now(UTC)).total_seconds(), 0.0)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def _refusal(path: str, response: httpx.Response) -> str:
    """Why a status will not be retried, and what to check."""
    status = response.status_code
    hint = _HINTS.get(status, "this status is not retried")
    if response.is_redirect:
        location = response.headers.get("Location", "")
        hint = f"redirected to {location!r:.80}; check RACING_TAB_BASE_URL"
    return f"GET {path} answered HTTP {status} {response.reason_phrase}; {hint}"


def _json_body(response: httpx.Response, path: str) -> object:
    """The decoded JSON body; an HTML error page or a cut-off body is a PayloadError."""
    content_type = response.headers.get("Content-Type", "")
    media_type = content_type.partition(";")[0].strip().lower() or "no content type"
    body = response.content
    if not body.strip():
        raise PayloadError(
            f"GET {path}: expected JSON, got an empty body ({media_type})"
        )
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        # Bot protection answers 200 with an HTML page; its first bytes say so.
        what = f"{len(body)} bytes, starting {body[:40]!r}"
        if content_type and "json" not in media_type:
            message = f"GET {path}: expected JSON, got {media_type} ({what})"
            raise PayloadError(message) from None
        raise PayloadError(
            f"GET {path}: body is not valid JSON ({what}): {_describe(exc)}"
        ) from None


def _refuse_constant(name: str) -> object:
    # Python's json accepts NaN and Infinity; no price or distance can be either.
    raise ValueError(f"{name} is not valid JSON")


def _check_identity(
    record: RaceRecord,
    where: str,
    day: date,
    race_type: str,
    venue_mnemonic: str,
    race_number: int,
) -> None:
    """Refuse an answer about another race: storing it would corrupt the asked one."""
    got = (record.meeting_date, record.race_type, record.venue_mnemonic.upper())
    if got != (day, race_type, venue_mnemonic.upper()) or (
        record.race_number != race_number
    ):
        raise PayloadError(
            f"{where}: the TAB answered with {record.meeting_date.isoformat()} "
            f"{record.race_type} {record.venue_mnemonic} race {record.race_number}"
        )


def _check_runners(record: RaceRecord, where: str) -> None:
    """Refuse a race page without runners unless the race is abandoned."""
    # On its day every race has a field; a page without one is a broken answer, and
    # storing it would count as a scrape (a window done) with no price in it.
    if not record.runners and record.status is not RaceStatus.ABANDONED:
        raise PayloadError(
            f"{where}: no runners in a race that is {record.status.value}; "
            "the TAB sent the race without its field"
        )


def _describe(exc: Exception) -> str:
    """An exception's message on one line, or its type name when it has none."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _elapsed(response: httpx.Response) -> float:
    try:
        return response.elapsed.total_seconds()
    except RuntimeError:
        # httpx never times a response a transport built already read, as
        # `httpx.MockTransport` does; the duration is only for the debug line.
        return 0.0
