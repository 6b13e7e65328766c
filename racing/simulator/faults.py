"""What an injected fault does to a reply: the failures a scraper must survive.

Each kind imitates something the real feed does on a bad day: an error status, a rate
limit, a hang, truncated JSON, an HTML page served with 200, an empty body, or the right
shape with the wrong types.
"""

import datetime as dt
import json
from dataclasses import dataclass

from racing.simulator.scenario import Fault
from racing.simulator.state import JsonObject, JsonValue

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"

_BLOCK_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Request blocked</title></head>\n"
    "<body><h1>Sorry, you have been blocked</h1>\n"
    "<p>This request looked automated. Please try again later.</p></body></html>\n"
)


@dataclass(frozen=True)
class Reply:
    """An HTTP reply to send, after an optional real-time delay."""

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()
    delay_seconds: float = 0.0


def json_reply(status: int, payload: JsonObject) -> Reply:
    """A plain JSON reply."""
    return Reply(status, _encode(payload))


def error_reply(status: int, message: str) -> Reply:
    """A JSON error reply naming what was wrong."""
    return json_reply(status, {"error": message, "status": status})


def faulty_reply(fault: Fault, payload: JsonObject) -> Reply:
    """The reply `fault` turns the good `payload` into."""
    match fault.kind:
        case "status":
            return _status_reply(fault)
        case "timeout":
            delay = fault.delay_seconds or 0.0
            return Reply(200, _encode(payload), delay_seconds=delay)
        case "malformed":
            body = _encode(payload)
            return Reply(200, body[: max(1, len(body) // 2)])
        case "html":
            return Reply(200, _BLOCK_PAGE.encode(), content_type=HTML_TYPE)
        case "empty":
            return Reply(200, b"")
        case "wrong_types":
            return Reply(200, _encode(_mistype(payload)))


def _status_reply(fault: Fault) -> Reply:
    status = fault.status or 500
    reply = error_reply(status, f"simulated fault: status {status}")
    if fault.retry_after_seconds is None:
        return reply
    retry_after = (("Retry-After", str(fault.retry_after_seconds)),)
    return Reply(reply.status, reply.body, headers=retry_after)


def _encode(payload: JsonValue) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _mistype(value: JsonValue, key: str = "") -> JsonValue:
    """Swap the types of fields a parser relies on, keeping the overall shape."""
    if isinstance(value, dict):
        return {k: _mistype(v, k) for k, v in value.items()}
    if key == "results" and isinstance(value, list):
        groups = (g if isinstance(g, list) else [g] for g in value)
        return "-".join(",".join(str(n) for n in g) for g in groups)
    if isinstance(value, list):
        return [_mistype(item, key) for item in value]
    if key in ("raceNumber", "runnerNumber") and isinstance(value, int):
        return str(value)
    if key in ("returnWin", "returnPlace") and isinstance(value, float | int):
        return f"{value:.2f}"
    if key == "raceStartTime" and isinstance(value, str):
        instant = dt.datetime.fromisoformat(value)
        return int(instant.timestamp() * 1000)
    return value
