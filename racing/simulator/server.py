"""The TAB simulator: a real HTTP server on loopback serving a scenario's racing day.

Payloads come from `state` at the simulated instant; the only things that change while
it runs are the clock, the request log and how often each counted fault has fired.
Control endpoints under /_sim/ let another process read or set the clock.
"""

import datetime as dt
import json
import logging
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import NamedTuple, Self, cast
from urllib.parse import parse_qs, urlsplit

from racing.simulator.faults import Reply, error_reply, faulty_reply, json_reply
from racing.simulator.scenario import ENDPOINT_KINDS, EndpointKind, Fault, Scenario
from racing.simulator.state import (
    JsonObject,
    JsonValue,
    format_instant,
    meeting_races_payload,
    meetings_payload,
    race_payload,
)

logger = logging.getLogger(__name__)

JURISDICTIONS = frozenset({"NSW", "VIC", "QLD", "SA", "WA", "TAS", "NT", "ACT"})
UNKNOWN_ENDPOINT = "unknown"
# How often the serving loop checks for stop(); it bounds how long stopping takes.
_POLL_SECONDS = 0.05

_ROUTE = re.compile(
    r"^/v1/tab-info-service/racing/dates/(?P<date>[^/]+)/meetings"
    r"(?:/(?P<race_type>[^/]+)/(?P<venue>[^/]+)/races(?:/(?P<race>[^/]+))?)?/?$"
)


class RequestRecord(NamedTuple):
    """One API request as the simulator saw it."""

    endpoint: str
    path: str
    simulated_now: dt.datetime
    status: int


@dataclass(frozen=True)
class _Route:
    endpoint: EndpointKind
    date: str
    race_type: str | None = None
    venue: str | None = None
    race: str | None = None

    @property
    def race_number(self) -> int | None:
        return int(self.race) if self.race and self.race.isdigit() else None


class SimulatorServer:
    """Serves a scenario over HTTP; binds its port as soon as it is created."""

    def __init__(
        self,
        scenario: Scenario,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: dt.datetime | None = None,
    ) -> None:
        self._scenario = scenario
        self._lock = threading.Lock()
        self._clock = _as_utc(clock)
        self._log: list[RequestRecord] = []
        self._fault_hits = [0] * len(scenario.faults)
        self._httpd = _HTTPServer((host, port), self)
        self._thread: threading.Thread | None = None
        self._serving = False

    @property
    def scenario(self) -> Scenario:
        """The scenario being served."""
        return self._scenario

    @property
    def base_url(self) -> str:
        """The URL to put in front of API paths, with the port actually bound."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        """Serve in a daemon thread and return at once; a second call does nothing."""
        if self._thread is not None:
            return self
        self._serving = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            args=(_POLL_SECONDS,),
            name="tab-simulator",
            daemon=True,
        )
        self._thread.start()
        logger.info(
            "TAB simulator serving %s at %s", self._scenario.name, self.base_url
        )
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until stopped (or interrupted)."""
        self._serving = True
        logger.info(
            "TAB simulator serving %s at %s", self._scenario.name, self.base_url
        )
        try:
            self._httpd.serve_forever(_POLL_SECONDS)
        finally:
            self._httpd.server_close()

    def stop(self) -> None:
        """Stop serving and release the port."""
        # shutdown() waits for a serve_forever loop, so it would hang if none ran.
        if self._serving:
            self._httpd.shutdown()
            self._serving = False
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def set_clock(self, now: dt.datetime | None) -> None:
        """Fix the simulated now at an aware instant, or follow real time with None."""
        with self._lock:
            self._clock = _as_utc(now)

    def now(self) -> dt.datetime:
        """The current simulated instant, in UTC."""
        with self._lock:
            clock = self._clock
        return clock if clock is not None else dt.datetime.now(dt.UTC)

    def request_counts(self) -> dict[str, int]:
        """How many API requests each endpoint kind has had."""
        counts: dict[str, int] = dict.fromkeys(ENDPOINT_KINDS, 0)
        with self._lock:
            counts.update(Counter(record.endpoint for record in self._log))
        return counts

    def request_log(self) -> list[RequestRecord]:
        """Every API request so far, oldest first."""
        with self._lock:
            return list(self._log)

    def answer_api(self, path: str, query: str) -> Reply:
        """Work out the reply to an API request and record it."""
        now = self.now()
        route = _parse_route(path)
        if route is None:
            reply = error_reply(404, f"no such endpoint: {path}")
        else:
            reply = self._answer_route(route, parse_qs(query), now)
            latency = self._scenario.latency_ms.get(route.endpoint, 0) / 1000
            reply = _delayed(reply, latency)
        endpoint = route.endpoint if route else UNKNOWN_ENDPOINT
        with self._lock:
            self._log.append(RequestRecord(endpoint, path, now, reply.status))
        logger.debug("%s %s at %s -> %s", endpoint, path, now, reply.status)
        return reply

    def _answer_route(
        self, route: _Route, query: dict[str, list[str]], now: dt.datetime
    ) -> Reply:
        jurisdiction = query.get("jurisdiction", [""])[0].upper()
        if jurisdiction not in JURISDICTIONS:
            allowed = " ".join(sorted(JURISDICTIONS))
            return error_reply(400, f"jurisdiction is required, one of: {allowed}")

        fault = self._claim_fault(route, now)
        if fault is not None and fault.kind == "status":
            return faulty_reply(fault, {})
        payload = self._payload(route, now)
        if isinstance(payload, str):
            return error_reply(404, payload)
        return (
            json_reply(200, payload) if fault is None else faulty_reply(fault, payload)
        )

    def _payload(self, route: _Route, now: dt.datetime) -> JsonObject | str:
        """The payload for `route`, or why there is none."""
        scenario = self._scenario
        if route.date != scenario.date.isoformat():
            return f"no meetings on {route.date}"
        if route.race_type is None or route.venue is None:
            return meetings_payload(scenario, now)
        meeting = scenario.meeting(route.race_type.upper(), route.venue.upper())
        if meeting is None:
            return f"no meeting {route.race_type}/{route.venue} on {route.date}"
        if route.race is None:
            return meeting_races_payload(scenario, meeting, now)
        number = route.race_number
        race = meeting.race(number) if number is not None else None
        if race is None:
            return f"no race {route.race} at {meeting.venue_mnemonic} on {route.date}"
        return race_payload(scenario, meeting, race, now)

    def _claim_fault(self, route: _Route, now: dt.datetime) -> Fault | None:
        """The first active fault matching the request, counting it if limited."""
        race_type = route.race_type.upper() if route.race_type else None
        venue = route.venue.upper() if route.venue else None
        with self._lock:
            for index, fault in enumerate(self._scenario.faults):
                if not fault.is_active(now):
                    continue
                if not fault.matches(
                    route.endpoint, race_type, venue, route.race_number
                ):
                    continue
                if fault.count is not None and self._fault_hits[index] >= fault.count:
                    continue
                self._fault_hits[index] += 1
                return fault
        return None

    def answer_control(self, method: str, path: str, body: bytes) -> Reply:
        """Answer a /_sim/ control request; these are not logged as API requests."""
        if path == "/_sim/clock" and method == "GET":
            return json_reply(200, self._clock_json())
        if path == "/_sim/clock" and method == "PUT":
            try:
                self.set_clock(_parse_clock_body(body))
            except ValueError as exc:
                return error_reply(400, str(exc))
            return json_reply(200, self._clock_json())
        if path == "/_sim/stats" and method == "GET":
            counts: JsonObject = {k: v for k, v in self.request_counts().items()}
            return json_reply(200, counts)
        if path == "/_sim/requests" and method == "GET":
            return json_reply(200, {"requests": self._log_json()})
        return error_reply(404, f"no control endpoint {method} {path}")

    def _clock_json(self) -> JsonObject:
        with self._lock:
            fixed = self._clock is not None
        return {"now": format_instant(self.now()), "fixed": fixed}

    def _log_json(self) -> list[JsonValue]:
        return [
            {
                "endpoint": record.endpoint,
                "path": record.path,
                "now": format_instant(record.simulated_now),
                "status": record.status,
            }
            for record in self.request_log()
        ]


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], simulator: SimulatorServer) -> None:
        self.simulator = simulator
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        logger.exception("TAB simulator failed answering %s", client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "TabSimulator/1"
    # Headers and body go out in two writes; with Nagle on, each reply would wait
    # for the client's delayed ACK (about 40 ms on Linux).
    disable_nagle_algorithm = True

    @property
    def _simulator(self) -> SimulatorServer:
        return cast(_HTTPServer, self.server).simulator

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path.startswith("/_sim/"):
            self._send(self._simulator.answer_control("GET", parts.path, b""))
        else:
            self._send(self._simulator.answer_api(parts.path, parts.query))

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        self._send(self._simulator.answer_control("PUT", path, body))

    def _send(self, reply: Reply) -> None:
        if reply.delay_seconds:
            time.sleep(reply.delay_seconds)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            # A client that timed out on a slow fault has gone; nothing to answer.
            logger.debug("client %s left before the reply", self.client_address)
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


def _parse_route(path: str) -> _Route | None:
    match = _ROUTE.match(path)
    if match is None:
        return None
    fields = match.groupdict()
    endpoint: EndpointKind = "meetings"
    if fields["race"] is not None:
        endpoint = "race"
    elif fields["venue"] is not None:
        endpoint = "meeting_races"
    return _Route(
        endpoint, fields["date"], fields["race_type"], fields["venue"], fields["race"]
    )


def _delayed(reply: Reply, seconds: float) -> Reply:
    if not seconds:
        return reply
    return Reply(
        reply.status,
        reply.body,
        reply.content_type,
        reply.headers,
        reply.delay_seconds + seconds,
    )


def _parse_clock_body(body: bytes) -> dt.datetime | None:
    try:
        data = json.loads(body or b"null")
    except json.JSONDecodeError as exc:
        raise ValueError(f"body is not JSON: {exc.msg}") from None
    if not isinstance(data, dict) or "now" not in data:
        raise ValueError('body must be {"now": "<ISO instant>"} or {"now": null}')
    value = data["now"]
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("now must be an ISO 8601 string or null")
    try:
        instant = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"now: {value!r} is not an ISO 8601 instant") from None
    if instant.tzinfo is None:
        raise ValueError(f"now: {value!r} has no UTC offset; add Z or +hh:mm")
    return instant


def _as_utc(instant: dt.datetime | None) -> dt.datetime | None:
    if instant is None:
        return None
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("the simulated clock needs an aware datetime (with a tzinfo)")
    return instant.astimezone(dt.UTC)
