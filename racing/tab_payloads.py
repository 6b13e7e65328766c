"""Typed records built from TAB racing JSON, after checking every field we use.

The feed is untrusted: fields go missing, change type or change case. Parsing has two
layers. Private `_...Payload` models mirror the TAB's camelCase shape and refuse
anything off-shape; the public records hold what the scheduler uses, in its own names,
with every time in UTC. Any failure becomes a one-line `PayloadError` naming the item
and the TAB field path, and it is never worth retrying.
"""

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

from racing.errors import PayloadError

logger = logging.getLogger(__name__)

_E = TypeVar("_E", bound=StrEnum)
_M = TypeVar("_M", bound=BaseModel)
_T = TypeVar("_T")

RACE_TYPES = ("R", "H", "G")
# Widths of the columns the feed's text is stored in (racing/models.py). A longer value
# (or a NUL) fails its whole transaction on PostgreSQL, other meetings' rows with it,
# so it fails its own record here instead, with the field named.
NAME_CHARS = 100
RACE_NAME_CHARS = 200
LOCATION_CHARS = 8
CONDITION_CHARS = 32
# The largest number an INTEGER column holds on PostgreSQL (race and runner numbers,
# barriers, distances, placings): a bigger one in a payload is refused with it.
MAX_STORED_INT = 2**31 - 1
PRODUCT_CHARS = 32
# Venue codes become URL path segments and database keys, so only plain codes pass.
_VENUE_PATTERN = re.compile(r"[A-Za-z0-9]{1,16}")


class RaceStatus(StrEnum):
    """Where a race is in its lifecycle, whatever spelling the feed used."""

    OPEN = "open"
    CLOSED = "closed"
    INTERIM = "interim"
    PAYING = "paying"
    ABANDONED = "abandoned"

    @classmethod
    def _missing_(cls, value: object) -> "RaceStatus | None":
        return _RACE_STATUS_WORDS.get(_squash(value))


class BettingStatus(StrEnum):
    """Whether a runner can be backed; a scratching outranks any price shown."""

    OPEN = "open"
    CLOSED = "closed"
    SCRATCHED = "scratched"
    LATE_SCRATCHED = "late_scratched"

    @classmethod
    def _missing_(cls, value: object) -> "BettingStatus | None":
        return _BETTING_STATUS_WORDS.get(_squash(value))


# Feeds differ in case and spelling, so statuses are matched on lower-case letters only.
_RACE_STATUS_WORDS = {
    "open": RaceStatus.OPEN,
    "normal": RaceStatus.OPEN,  # what some Australian feeds call an open race
    "closed": RaceStatus.CLOSED,
    "interim": RaceStatus.INTERIM,
    "paying": RaceStatus.PAYING,
    "final": RaceStatus.PAYING,  # New Zealand's word for the official result
    "abandoned": RaceStatus.ABANDONED,
}
_BETTING_STATUS_WORDS = {
    "open": BettingStatus.OPEN,
    "closed": BettingStatus.CLOSED,
    "scratched": BettingStatus.SCRATCHED,
    "latescratched": BettingStatus.LATE_SCRATCHED,
}
_SCRATCHED = frozenset({BettingStatus.SCRATCHED, BettingStatus.LATE_SCRATCHED})


def _squash(value: object) -> str:
    return re.sub(r"[^a-z]", "", value.lower()) if isinstance(value, str) else ""


def _json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages about the wrong type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _status_parser(kind: type[_E], expected: str) -> BeforeValidator:
    """Read a status string in whatever case or spelling the feed uses."""

    def parse(value: object) -> _E:
        if not isinstance(value, str):
            raise ValueError(f"expected a status string, got {_json_type(value)}")
        try:
            return kind(value)
        except ValueError:
            raise ValueError(
                f"unknown status {value!r:.40}; expected {expected}"
            ) from None

    return BeforeValidator(parse)


def _utc_datetime(value: object) -> datetime:
    """An ISO 8601 time that states its offset, moved to UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r:.40} is not an ISO 8601 time") from None
    else:
        raise ValueError(f"expected an ISO 8601 time string, got {_json_type(value)}")
    if moment.utcoffset() is None:
        # Guessing the zone of a naive time would misplace races by hours.
        raise ValueError(f"time {value!s:.40} has no UTC offset")
    return moment.astimezone(UTC)


def _iso_date(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a YYYY-MM-DD string, got {_json_type(value)}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r:.40} is not a YYYY-MM-DD date") from None


def _check_race_type(value: str) -> str:
    if value not in RACE_TYPES:
        raise ValueError(
            f"unknown race type {value!r:.40}; expected R (gallops), "
            "H (harness) or G (greyhounds)"
        )
    return value


def _check_venue(value: str) -> str:
    if not _VENUE_PATTERN.fullmatch(value):
        raise ValueError(f"venue mnemonic {value!r:.40} is not a short letter code")
    return value


def _check_storable(value: str) -> str:
    """Text any database can store; the message leaves the odd value out."""
    # PostgreSQL text cannot hold a NUL. (A lone surrogate, which JSON can spell as
    # "\ud800", is already refused by the length check as not valid Unicode.)
    if "\x00" in value:
        raise ValueError("contains a NUL character, which no database text can hold")
    return value


def _unique(attribute: str, what: str) -> AfterValidator:
    """A check that no two items of a list share a number, such as two runners 3."""

    def check(items: list[_T]) -> list[_T]:
        seen: set[object] = set()
        for item in items:
            number = getattr(item, attribute)
            if number in seen:
                raise ValueError(f"{what} {number} appears twice")
            seen.add(number)
        return items

    return AfterValidator(check)


def _none_as_empty(value: object) -> object:
    # The feed sends null as well as [] for "nothing yet" (no results, no dividends).
    return [] if value is None else value


UtcDatetime = Annotated[datetime, BeforeValidator(_utc_datetime)]
_STORABLE = AfterValidator(_check_storable)
_Name = Annotated[str, StringConstraints(max_length=NAME_CHARS), _STORABLE]
_RaceName = Annotated[str, StringConstraints(max_length=RACE_NAME_CHARS), _STORABLE]
_Location = Annotated[str, StringConstraints(max_length=LOCATION_CHARS), _STORABLE]
_Condition = Annotated[str, StringConstraints(max_length=CONDITION_CHARS), _STORABLE]
_Product = Annotated[str, StringConstraints(max_length=PRODUCT_CHARS), _STORABLE]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
RaceType = Annotated[str, AfterValidator(_check_race_type)]
VenueMnemonic = Annotated[str, AfterValidator(_check_venue)]
_RaceStatusField = Annotated[
    RaceStatus,
    _status_parser(
        RaceStatus, "Open (or Normal), Closed, Interim, Paying (or Final), Abandoned"
    ),
]
_BettingStatusField = Annotated[
    BettingStatus,
    _status_parser(BettingStatus, "Open, Closed, Scratched, LateScratched"),
]
_Number = Annotated[int, Field(ge=0, le=MAX_STORED_INT)]
_Results = Annotated[list[list[_Number]], BeforeValidator(_none_as_empty)]
_UNIQUE_RACES = _unique("race_number", "race number")
_UNIQUE_RUNNERS = _unique("runner_number", "runner number")


# --- The TAB's shape -------------------------------------------------------------


class _Payload(BaseModel):
    # Strict: a number sent as a string is a change in the feed to notice, not to
    # guess at. Unknown fields are ignored so that additions to the feed are harmless.
    model_config = ConfigDict(
        frozen=True, extra="ignore", strict=True, allow_inf_nan=False
    )


class _RaceStubPayload(_Payload):
    race_number: _Number = Field(alias="raceNumber")
    race_name: _RaceName = Field(alias="raceName")
    start_time: UtcDatetime = Field(alias="raceStartTime")
    status: _RaceStatusField = Field(alias="raceStatus")
    results: _Results = Field(default_factory=list)


class _MeetingPayload(_Payload):
    meeting_date: IsoDate = Field(alias="meetingDate")
    race_type: RaceType = Field(alias="raceType")
    venue_mnemonic: VenueMnemonic = Field(alias="venueMnemonic")
    meeting_name: _Name = Field(alias="meetingName")
    location: _Location
    track_condition: _Condition | None = Field(default=None, alias="trackCondition")
    weather_condition: _Condition | None = Field(default=None, alias="weatherCondition")
    races: Annotated[list[_RaceStubPayload], _UNIQUE_RACES]


class _MeetingRacesPayload(_Payload):
    races: Annotated[list[_RaceStubPayload], _UNIQUE_RACES]


class _OddsPayload(_Payload):
    return_win: float | None = Field(default=None, alias="returnWin")
    return_place: float | None = Field(default=None, alias="returnPlace")
    betting_status: _BettingStatusField | None = Field(
        default=None, alias="bettingStatus"
    )
    scratched_time: UtcDatetime | None = Field(default=None, alias="scratchedTime")


_NO_ODDS = _OddsPayload()


class _RunnerPayload(_Payload):
    runner_number: _Number = Field(alias="runnerNumber")
    runner_name: _Name = Field(alias="runnerName")
    barrier: _Number | None = Field(default=None, alias="barrierNumber")
    emergency: bool | None = None
    rider: _Name | None = Field(default=None, alias="riderDriverName")
    trainer: _Name | None = Field(default=None, alias="trainerName")
    finishing_position: _Number | None = Field(default=None, alias="finishingPosition")
    fixed_odds: _OddsPayload | None = Field(default=None, alias="fixedOdds")
    parimutuel: _OddsPayload | None = None

    @property
    def statuses(self) -> list[BettingStatus]:
        pools = (self.fixed_odds, self.parimutuel)
        return [p.betting_status for p in pools if p and p.betting_status is not None]

    @model_validator(mode="after")
    def _has_status(self) -> Self:
        # Without a status we cannot tell a scratched runner's stale price from a
        # live one, so the runner is not usable.
        if not self.statuses:
            raise ValueError("no bettingStatus in fixedOdds or parimutuel")
        return self


class _ScratchingPayload(_Payload):
    runner_number: _Number = Field(alias="runnerNumber")
    fixed_odds: _OddsPayload | None = Field(default=None, alias="fixedOdds")


class _PoolDividendPayload(_Payload):
    selections: list[_Number]
    amount: float


class _DividendPayload(_Payload):
    product: _Product = Field(alias="wageringProduct")
    pool_dividends: Annotated[
        list[_PoolDividendPayload], BeforeValidator(_none_as_empty)
    ] = Field(default_factory=list, alias="poolDividends")


class _RaceMeetingPayload(_Payload):
    meeting_date: IsoDate | None = Field(default=None, alias="meetingDate")
    race_type: RaceType | None = Field(default=None, alias="raceType")
    venue_mnemonic: VenueMnemonic | None = Field(default=None, alias="venueMnemonic")


class _RacePayload(_RaceStubPayload):
    distance: _Number | None = Field(default=None, alias="raceDistance")
    resulted_time: UtcDatetime | None = Field(default=None, alias="resultedTime")
    meeting: _RaceMeetingPayload | None = None
    # Required, so a renamed key is noticed; an empty field (or null) is valid.
    runners: Annotated[
        list[_RunnerPayload], BeforeValidator(_none_as_empty), _UNIQUE_RUNNERS
    ]
    scratchings: Annotated[
        list[_ScratchingPayload], BeforeValidator(_none_as_empty)
    ] = Field(default_factory=list)
    dividends: Annotated[list[_DividendPayload], BeforeValidator(_none_as_empty)] = (
        Field(default_factory=list)
    )


# --- Records for the rest of the program ------------------------------------------


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RaceStub(_Record):
    """A race as the meeting list shows it: no runners, no prices."""

    race_number: int
    race_name: str
    start_time: UtcDatetime
    status: RaceStatus
    results: list[list[int]]


class MeetingRecord(_Record):
    """One meeting of the day, keyed by (meeting_date, race_type, venue_mnemonic)."""

    meeting_date: date
    race_type: RaceType
    venue_mnemonic: VenueMnemonic
    meeting_name: str
    location: str
    track_condition: str | None
    weather_condition: str | None
    races: Annotated[list[RaceStub], _UNIQUE_RACES]

    @property
    def hint(self) -> str:
        """`R/GOS`: the meeting within its day, as a rejected one is named."""
        return f"{self.race_type}/{self.venue_mnemonic}"

    @property
    def code(self) -> str:
        """`2026-11-14/R/GOS`, as the stored meeting's `code`."""
        return f"{self.meeting_date.isoformat()}/{self.hint}"


class RunnerRecord(_Record):
    """A runner of one race; a scratched runner carries no price at all."""

    runner_number: int
    runner_name: str
    barrier: int | None
    emergency: bool
    rider: str | None
    trainer: str | None
    betting_status: BettingStatus
    scratched_time: UtcDatetime | None
    win_fixed: float | None
    place_fixed: float | None
    win_tote: float | None
    place_tote: float | None
    finishing_position: int | None

    @property
    def scratched(self) -> bool:
        """True once scratched, late or not."""
        return self.betting_status in _SCRATCHED

    @model_validator(mode="after")
    def _no_price_when_scratched(self) -> Self:
        prices = (self.win_fixed, self.place_fixed, self.win_tote, self.place_tote)
        if self.scratched and any(price is not None for price in prices):
            raise ValueError("a scratched runner must carry no price")
        return self


class DividendRecord(_Record):
    """One declared dividend; a dead heat gives one per winning selection."""

    product: str
    selections: list[_Number]
    amount: float


class RaceRecord(_Record):
    """One race in full: runners, prices, placings and dividends."""

    meeting_date: date
    race_type: RaceType
    venue_mnemonic: VenueMnemonic
    race_number: int
    race_name: str
    start_time: UtcDatetime
    status: RaceStatus
    distance: int | None
    resulted_time: UtcDatetime | None
    runners: Annotated[list[RunnerRecord], _UNIQUE_RUNNERS]
    results: list[list[int]]
    dividends: list[DividendRecord]

    @property
    def official(self) -> bool:
        """True once dividends are declared; interim placings can still change."""
        return self.status is RaceStatus.PAYING


class MeetingReject(_Record):
    """A meeting of the list left out because its payload was bad, and why."""

    meeting_hint: str
    error: str


class MeetingList(_Record):
    """The day's meetings that parsed, and the ones rejected on their own."""

    meetings: list[MeetingRecord]
    rejects: list[MeetingReject]


# --- Parsing ----------------------------------------------------------------------


def parse_meetings(body: object, *, where: str = "meeting list") -> MeetingList:
    """Parse a day's meeting list; a bad meeting is rejected without the others."""
    items = body.get("meetings") if isinstance(body, dict) else None
    if not isinstance(items, list):
        got = _json_type(body) if not isinstance(body, dict) else "no 'meetings' list"
        raise PayloadError(
            f"{where}: expected an object with a 'meetings' list, got {got}"
        )

    meetings: list[MeetingRecord] = []
    rejects: list[MeetingReject] = []
    keys: set[tuple[date, str, str]] = set()
    for index, raw in enumerate(items):
        hint = _meeting_hint(raw, index)
        try:
            meeting = _meeting_record(raw)
            _check_new_meeting(meeting, keys)
        except PayloadError as exc:
            logger.warning("%s: rejected meeting %s: %s", where, hint, exc)
            rejects.append(MeetingReject(meeting_hint=hint, error=str(exc)))
        else:
            meetings.append(meeting)
    return MeetingList(meetings=meetings, rejects=rejects)


def parse_meeting_races(
    body: object, *, where: str = "meeting races"
) -> list[RaceStub]:
    """Parse the race stubs of one meeting (`{"races": [...]}`)."""
    with _prefixed(where):
        payload = _validated(_MeetingRacesPayload, body)
        with _as_payload_error():
            return [_stub_record(stub) for stub in payload.races]


def parse_race(
    body: object,
    *,
    where: str,
    meeting_date: date | None = None,
    race_type: str | None = None,
    venue_mnemonic: str | None = None,
) -> RaceRecord:
    """Parse one race; the keyword identity fills in what `meeting` leaves out.

    `where` names the race in error messages, e.g. "2026-11-14 R GOS race 3".
    """
    with _prefixed(where):
        payload = _validated(_RacePayload, body)
        identity = _race_identity(payload, meeting_date, race_type, venue_mnemonic)
        with _as_payload_error():
            return _race_record(payload, *identity)


def _meeting_record(raw: object) -> MeetingRecord:
    payload = _validated(_MeetingPayload, raw)
    with _as_payload_error():
        return MeetingRecord(
            meeting_date=payload.meeting_date,
            race_type=payload.race_type,
            venue_mnemonic=payload.venue_mnemonic,
            meeting_name=payload.meeting_name,
            location=payload.location,
            track_condition=payload.track_condition,
            weather_condition=payload.weather_condition,
            races=[_stub_record(stub) for stub in payload.races],
        )


def _check_new_meeting(
    meeting: MeetingRecord, keys: set[tuple[date, str, str]]
) -> None:
    # Two entries with one natural key would make the later upsert silently win.
    key = (meeting.meeting_date, meeting.race_type, meeting.venue_mnemonic)
    if key in keys:
        raise PayloadError("the same meeting appears twice in the list")
    keys.add(key)


def _meeting_hint(raw: object, index: int) -> str:
    """`R/GOS` when the entry names itself plainly, else its place in the list."""
    if isinstance(raw, dict):
        race_type, venue = raw.get("raceType"), raw.get("venueMnemonic")
        # Only plain codes go into logs and keys; anything else is untrusted text.
        codes = (race_type, venue)
        if all(isinstance(c, str) and _VENUE_PATTERN.fullmatch(c) for c in codes):
            return f"{race_type}/{venue}"
    return f"meetings[{index}]"


def _stub_record(stub: _RaceStubPayload) -> RaceStub:
    return RaceStub(
        race_number=stub.race_number,
        race_name=stub.race_name,
        start_time=stub.start_time,
        status=stub.status,
        results=stub.results,
    )


def _race_identity(
    payload: _RacePayload,
    meeting_date: date | None,
    race_type: str | None,
    venue_mnemonic: str | None,
) -> tuple[date, str, str]:
    """The race's meeting key: the payload's `meeting` first, the request's second."""
    given = payload.meeting or _RaceMeetingPayload()
    day = given.meeting_date or meeting_date
    kind = given.race_type or race_type
    venue = given.venue_mnemonic or venue_mnemonic
    if day is None or kind is None or venue is None:
        named = zip(
            ("meetingDate", "raceType", "venueMnemonic"),
            (day, kind, venue),
            strict=True,
        )
        missing = ", ".join(f"meeting.{name}" for name, value in named if value is None)
        raise PayloadError(f"{missing}: missing, and no fallback given")
    return day, kind, venue


def _race_record(
    payload: _RacePayload, meeting_date: date, race_type: str, venue_mnemonic: str
) -> RaceRecord:
    scratchings = {
        item.runner_number: (item.fixed_odds or _NO_ODDS).scratched_time
        for item in payload.scratchings
    }
    return RaceRecord(
        meeting_date=meeting_date,
        race_type=race_type,
        venue_mnemonic=venue_mnemonic,
        race_number=payload.race_number,
        race_name=payload.race_name,
        start_time=payload.start_time,
        status=payload.status,
        distance=payload.distance,
        resulted_time=payload.resulted_time,
        runners=[_runner_record(r, scratchings) for r in payload.runners],
        results=payload.results,
        dividends=[
            DividendRecord(product=d.product, selections=p.selections, amount=p.amount)
            for d in payload.dividends
            for p in d.pool_dividends
        ],
    )


def _runner_record(
    runner: _RunnerPayload, scratchings: dict[int, datetime | None]
) -> RunnerRecord:
    status = _runner_status(runner, listed=runner.runner_number in scratchings)
    scratched = status in _SCRATCHED
    fixed = runner.fixed_odds or _NO_ODDS
    tote = runner.parimutuel or _NO_ODDS
    scratched_time = fixed.scratched_time or scratchings.get(runner.runner_number)
    return RunnerRecord(
        runner_number=runner.runner_number,
        runner_name=runner.runner_name,
        barrier=runner.barrier,
        emergency=bool(runner.emergency),
        rider=runner.rider,
        trainer=runner.trainer,
        betting_status=status,
        scratched_time=scratched_time if scratched else None,
        # A late scratching can leave its last price in the feed; it must not be used.
        win_fixed=None if scratched else fixed.return_win,
        place_fixed=None if scratched else fixed.return_place,
        win_tote=None if scratched else tote.return_win,
        place_tote=None if scratched else tote.return_place,
        finishing_position=runner.finishing_position,
    )


def _runner_status(runner: _RunnerPayload, *, listed: bool) -> BettingStatus:
    """One status from the fixed and tote pools and the race's scratchings list."""
    statuses = runner.statuses
    # The pools can disagree (fixed LateScratched, tote Scratched); any scratching
    # wins, and so does a place in `scratchings` when the runner's status lags.
    if BettingStatus.LATE_SCRATCHED in statuses:
        return BettingStatus.LATE_SCRATCHED
    if BettingStatus.SCRATCHED in statuses or listed:
        return BettingStatus.SCRATCHED
    return statuses[0]


def _validated(model: type[_M], raw: object) -> _M:
    if not isinstance(raw, dict):
        raise PayloadError(f"expected a JSON object, got {_json_type(raw)}")
    with _as_payload_error():
        return model.model_validate(raw)


@contextmanager
def _as_payload_error() -> Iterator[None]:
    try:
        yield
    except ValidationError as exc:
        # `from None`: the one-line reason is the record; pydantic's own text is long.
        raise PayloadError(_describe(exc)) from None


@contextmanager
def _prefixed(where: str) -> Iterator[None]:
    try:
        yield
    except PayloadError as exc:
        raise PayloadError(f"{where}: {exc}") from None


def _describe(exc: ValidationError) -> str:
    """The first problem as `path: reason`, with a count of any others."""
    errors = exc.errors(include_url=False)
    text = _describe_error(errors[0])
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more)"
    return text


def _describe_error(error: ErrorDetails) -> str:
    reason = error["msg"].removeprefix("Value error, ")
    given = error.get("input")
    if error["type"] == "model_type":
        # Pydantic would name our private class; the feed only knows JSON types.
        reason = f"Input should be an object, got {_json_type(given)}"
    elif error["type"] not in ("missing", "value_error") and _is_scalar(given):
        reason += f" (got {given!r:.40})"
    path = _field_path(error["loc"])
    return f"{path}: {reason}" if path else reason


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _field_path(loc: tuple[int | str, ...]) -> str:
    """`("runners", 2, "runnerNumber")` as `runners[2].runnerNumber`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path
