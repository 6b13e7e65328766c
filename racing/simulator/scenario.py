"""The scenario file: one racing day, its special cases and its injected faults.

A scenario is JSON validated into frozen pydantic models. Everything the simulator
serves is derived from it and the simulated clock, so the file is the whole truth.
docs/scenario-format.md describes each field.
"""

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from racing.errors import ConfigError
from racing.settings import check_timezone

EndpointKind = Literal["meetings", "meeting_races", "race"]
RaceType = Literal["R", "H", "G"]
FaultKind = Literal["status", "timeout", "malformed", "html", "empty", "wrong_types"]

ENDPOINT_KINDS: tuple[EndpointKind, ...] = ("meetings", "meeting_races", "race")
Placings = tuple[tuple[PositiveInt, ...], ...]

# A night meeting may run a little past local midnight; anything later is a typo.
_LATEST_LOCAL_HOUR_NEXT_DAY = 6


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
    )


class Timings(_Model):
    """Scenario-wide defaults for how long after the jump a race resolves."""

    interim_after_seconds: PositiveInt = 300
    paying_after_seconds: PositiveInt = 720


class Scratching(_Model):
    """A runner withdrawn at `at`; late ones carry deductions."""

    at: AwareDatetime
    late: bool = True
    # Cents in the dollar taken off bets already struck on the other runners.
    win_deduction: Annotated[int, Field(ge=0, le=100)] = 0
    place_deduction: Annotated[int, Field(ge=0, le=100)] = 0


class Runner(_Model):
    """One runner as entered; prices drift from `fixedWin` over the day."""

    runner_number: PositiveInt
    runner_name: Annotated[str, Field(min_length=1)]
    barrier_number: PositiveInt | None = None
    emergency: bool = False
    rider_driver_name: str | None = None
    trainer_name: str | None = None
    handicap_weight: PositiveFloat | None = None
    last5_starts: str = ""
    fixed_win: Annotated[float, Field(gt=1)]
    scratching: Scratching | None = None


class StartTimeChange(_Model):
    """From `at` on, the race is advertised to start at `startTime`."""

    at: AwareDatetime
    start_time: AwareDatetime


class Race(_Model):
    """One race: its advertised times, field, placings and special cases."""

    race_number: PositiveInt
    race_name: Annotated[str, Field(min_length=1)]
    race_distance: PositiveInt
    race_class_conditions: str = ""
    start_time: AwareDatetime
    start_time_changes: tuple[StartTimeChange, ...] = ()
    jump_delay_seconds: NonNegativeInt = 0
    interim_after_seconds: PositiveInt | None = None
    paying_after_seconds: PositiveInt | None = None
    never_paying: bool = False
    abandoned_at: AwareDatetime | None = None
    has_fixed_odds: bool = True
    has_parimutuel: bool = True
    runners: Annotated[tuple[Runner, ...], Field(min_length=2)]
    results: Placings | None = None
    interim_results: Placings | None = None
    note: str | None = None

    @property
    def final_start(self) -> dt.datetime:
        """The start time advertised after the last change."""
        if self.start_time_changes:
            return self.start_time_changes[-1].start_time
        return self.start_time

    @property
    def jump_time(self) -> dt.datetime:
        """When the race actually jumps: the final advertised start plus any delay."""
        return self.final_start + dt.timedelta(seconds=self.jump_delay_seconds)

    def advertised_start(self, now: dt.datetime) -> dt.datetime:
        """The start time the feed shows at `now`."""
        start = self.start_time
        for change in self.start_time_changes:
            if change.at <= now:
                start = change.start_time
        return start

    def runner(self, number: int) -> Runner | None:
        """The runner with this number, if it is in the field."""
        return next((r for r in self.runners if r.runner_number == number), None)

    @model_validator(mode="after")
    def _check_consistency(self) -> "Race":
        _check_unique("runners", (r.runner_number for r in self.runners))
        _check_changes(self.start_time_changes)
        for runner in self.runners:
            if runner.scratching and runner.scratching.at >= self.jump_time:
                raise ValueError(
                    f"runners: runner {runner.runner_number} is scratched at or after "
                    f"the jump ({self.jump_time.isoformat()}); scratch it earlier"
                )
        self._check_placings("results", self.results)
        self._check_placings("interimResults", self.interim_results)
        if self.interim_results is not None and self.results is None:
            raise ValueError("interimResults: given without results; add results")
        return self

    def _check_placings(self, name: str, placings: Placings | None) -> None:
        if placings is None:
            return
        if not placings or any(not group for group in placings):
            raise ValueError(f"{name}: needs at least one non-empty group")
        numbers = [n for group in placings for n in group]
        _check_unique(name, numbers)
        for number in numbers:
            runner = self.runner(number)
            if runner is None:
                raise ValueError(f"{name}: runner {number} is not in the field")
            if runner.scratching is not None:
                raise ValueError(f"{name}: runner {number} is scratched")


class Meeting(_Model):
    """One meeting of the day at one venue, in its own timezone."""

    meeting_name: Annotated[str, Field(min_length=1)]
    venue_mnemonic: Annotated[str, Field(pattern=r"^[A-Z0-9]{2,6}$")]
    race_type: RaceType
    location: Annotated[str, Field(pattern=r"^[A-Z]{2,3}$")]
    timezone: str
    track_condition: str | None = None
    weather_condition: str | None = None
    rail_position: str | None = None
    abandoned_at: AwareDatetime | None = None
    note: str | None = None
    races: Annotated[tuple[Race, ...], Field(min_length=1)]

    @property
    def zone(self) -> ZoneInfo:
        """The meeting's local timezone."""
        return ZoneInfo(self.timezone)

    def race(self, number: int) -> Race | None:
        """The race with this number, if the meeting has one."""
        return next((r for r in self.races if r.race_number == number), None)

    def race_abandoned_at(self, race: Race) -> dt.datetime | None:
        """When `race` turns Abandoned, by its own or its meeting's abandonment."""
        # A meeting called off mid-card keeps the races that had already jumped.
        meeting_at = self.abandoned_at
        if meeting_at is not None and meeting_at > race.jump_time:
            meeting_at = None
        candidates = [t for t in (race.abandoned_at, meeting_at) if t is not None]
        return min(candidates, default=None)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        return check_timezone(value)

    @model_validator(mode="after")
    def _check_races(self) -> "Meeting":
        _check_unique("races", (r.race_number for r in self.races))
        for index, race in enumerate(self.races):
            if race.results is None and self.race_abandoned_at(race) is None:
                raise ValueError(
                    f"races[{index}].results: required unless the race is abandoned"
                )
        return self


class Fault(_Model):
    """A failure injected into matching API requests while it is active."""

    endpoint: EndpointKind
    kind: FaultKind
    race_type: RaceType | None = None
    venue_mnemonic: str | None = None
    race_number: PositiveInt | None = None
    status: Annotated[int, Field(ge=400, le=599)] | None = None
    retry_after_seconds: NonNegativeInt | None = None
    delay_seconds: PositiveFloat | None = None
    active_from: AwareDatetime | None = Field(default=None, alias="from")
    active_until: AwareDatetime | None = Field(default=None, alias="until")
    count: PositiveInt | None = None
    note: str | None = None

    def is_active(self, now: dt.datetime) -> bool:
        """Whether `now` lies in [from, until)."""
        if self.active_from is not None and now < self.active_from:
            return False
        return self.active_until is None or now < self.active_until

    def matches(
        self,
        endpoint: EndpointKind,
        race_type: str | None,
        venue: str | None,
        race_number: int | None,
    ) -> bool:
        """Whether a request to this endpoint, meeting and race is one to hit."""
        wanted = (
            (self.race_type, race_type),
            (self.venue_mnemonic, venue),
            (self.race_number, race_number),
        )
        if endpoint != self.endpoint:
            return False
        return all(want is None or want == got for want, got in wanted)

    @model_validator(mode="after")
    def _check_fields(self) -> "Fault":
        if self.kind == "status" and self.status is None:
            raise ValueError("status: required when kind is 'status' (e.g. 500)")
        if self.kind != "status" and self.status is not None:
            raise ValueError(f"status: only used with kind 'status', not {self.kind!r}")
        if self.retry_after_seconds is not None and self.kind != "status":
            raise ValueError("retryAfterSeconds: only used with kind 'status'")
        if (self.kind == "timeout") != (self.delay_seconds is not None):
            raise ValueError(
                "delaySeconds: required with kind 'timeout', and only then"
            )
        if self.endpoint == "meetings" and (self.race_type or self.venue_mnemonic):
            raise ValueError("raceType/venueMnemonic: the meetings list has no meeting")
        if self.endpoint != "race" and self.race_number is not None:
            raise ValueError("raceNumber: only used with endpoint 'race'")
        start, end = self.active_from, self.active_until
        if start is not None and end is not None and end <= start:
            raise ValueError("until: must be later than from")
        return self


class Scenario(_Model):
    """A whole racing day as the simulator serves it."""

    version: Literal[1] = 1
    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    date: dt.date
    seed: int = 0
    timings: Timings = Timings()
    latency_ms: dict[EndpointKind, NonNegativeInt] = {}
    meetings: tuple[Meeting, ...]
    faults: tuple[Fault, ...] = ()

    def meeting(self, race_type: str, venue: str) -> Meeting | None:
        """The meeting with this race type and venue mnemonic, if there is one."""
        key = (race_type, venue)
        return next(
            (m for m in self.meetings if (m.race_type, m.venue_mnemonic) == key), None
        )

    def interim_after(self, race: Race) -> dt.timedelta:
        """How long after the jump `race` shows provisional placings."""
        seconds = race.interim_after_seconds or self.timings.interim_after_seconds
        return dt.timedelta(seconds=seconds)

    def paying_after(self, race: Race) -> dt.timedelta:
        """How long after the jump `race` turns official."""
        seconds = race.paying_after_seconds or self.timings.paying_after_seconds
        return dt.timedelta(seconds=seconds)

    @model_validator(mode="after")
    def _check_day(self) -> "Scenario":
        _check_unique(
            "meetings", (f"{m.race_type}/{m.venue_mnemonic}" for m in self.meetings)
        )
        for m_index, meeting in enumerate(self.meetings):
            for r_index, race in enumerate(meeting.races):
                where = f"meetings[{m_index}].races[{r_index}]"
                self._check_local_day(where, meeting, race)
                if self.paying_after(race) <= self.interim_after(race):
                    raise ValueError(
                        f"{where}.payingAfterSeconds: must be later than "
                        "interimAfterSeconds (check the race and the timings block)"
                    )
        return self

    def _check_local_day(self, where: str, meeting: Meeting, race: Race) -> None:
        starts = [race.start_time, *(c.start_time for c in race.start_time_changes)]
        first = dt.datetime.combine(self.date, dt.time(), meeting.zone)
        last = first + dt.timedelta(days=1, hours=_LATEST_LOCAL_HOUR_NEXT_DAY)
        for start in starts:
            if not first <= start < last:
                local = start.astimezone(meeting.zone).isoformat()
                raise ValueError(
                    f"{where}.startTime: {local} is not on {self.date} in "
                    f"{meeting.timezone}"
                )


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file; any problem becomes a one-line ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"scenario {path}: cannot read it ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"scenario {path}: not valid JSON at line {exc.lineno} column "
            f"{exc.colno}: {exc.msg}"
        ) from None
    return parse_scenario(data, source=str(path))


def parse_scenario(data: object, *, source: str = "<data>") -> Scenario:
    """Validate already-decoded scenario JSON; any problem becomes a ConfigError."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"scenario {source}: {_describe(exc)}") from None


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = _format_loc(error["loc"])
    reason = str(error["msg"]).removeprefix("Value error, ")
    given = (
        ""
        if error["type"].startswith(("value_error", "missing"))
        else (f" (given {error.get('input')!r:.60})")
    )
    return f"{where}: {reason}{given}" if where else f"{reason}{given}"


def _format_loc(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _check_unique(name: str, keys: Iterable[object]) -> None:
    seen: set[object] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"{name}: {key} appears more than once")
        seen.add(key)


def _check_changes(changes: Sequence[StartTimeChange]) -> None:
    for index, change in enumerate(changes):
        if index and change.at < changes[index - 1].at:
            raise ValueError(f"startTimeChanges[{index}].at: changes must be in order")
        if change.at >= change.start_time:
            raise ValueError(
                f"startTimeChanges[{index}].at: must be before the new startTime"
            )
