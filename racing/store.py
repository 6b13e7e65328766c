"""Idempotent upserts of validated TAB records into the racing tables.

Every function finds a row by its natural key and updates it in place, so a repeated or
replayed scrape never duplicates a meeting, race or runner. Odds snapshots are the one
exception: each scrape adds one per runner, because the history is the point.
"""

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from racing.models import Meeting, OddsSnapshot, Race, Result, Runner
from racing.tab_payloads import (
    MeetingRecord,
    RaceRecord,
    RaceStatus,
    RaceStub,
    RunnerRecord,
)


@dataclass(frozen=True)
class RaceRef:
    """Enough to fetch one race from the TAB API and find its row again."""

    race_id: int
    meeting_id: int
    meeting_date: date
    race_type: str
    venue_mnemonic: str
    race_number: int

    @classmethod
    def of(cls, race: Race, meeting: Meeting) -> "RaceRef":
        """The reference of a stored race of a stored meeting."""
        return cls(
            race_id=race.id,
            meeting_id=meeting.id,
            meeting_date=meeting.meeting_date,
            race_type=meeting.race_type,
            venue_mnemonic=meeting.venue_mnemonic,
            race_number=race.race_number,
        )

    @property
    def code(self) -> str:
        """Operator-facing code, e.g. `2026-11-14/R/GOS/3`."""
        day = self.meeting_date.isoformat()
        return f"{day}/{self.race_type}/{self.venue_mnemonic}/{self.race_number}"


@dataclass(frozen=True)
class MeetingRef:
    """A stored meeting and the races listed for it."""

    meeting_id: int
    code: str
    races: tuple[RaceRef, ...]


def upsert_meeting(
    record: MeetingRecord, *, session: Session, now: datetime
) -> Meeting:
    """Store a meeting and the race stubs of the meeting list."""
    meeting = session.scalars(
        select(Meeting).where(
            Meeting.meeting_date == record.meeting_date,
            Meeting.race_type == record.race_type,
            Meeting.venue_mnemonic == record.venue_mnemonic,
        )
    ).one_or_none()
    if meeting is None:
        meeting = Meeting(
            meeting_date=record.meeting_date,
            race_type=record.race_type,
            venue_mnemonic=record.venue_mnemonic,
        )
        session.add(meeting)

    meeting.meeting_name = record.meeting_name
    meeting.location = record.location
    meeting.track_condition = record.track_condition
    meeting.weather_condition = record.weather_condition
    meeting.abandoned = bool(record.races) and all(
        stub.status is RaceStatus.ABANDONED for stub in record.races
    )
    meeting.updated_at = now
    session.flush()

    for stub in record.races:
        _upsert_race_stub(meeting.id, stub, session=session, now=now)
    return meeting


def meeting_ref(meeting: Meeting, *, session: Session) -> MeetingRef:
    """The meeting's identity and its races, for a task that scrapes them."""
    races = session.scalars(
        select(Race).where(Race.meeting_id == meeting.id).order_by(Race.race_number)
    ).all()
    refs = tuple(RaceRef.of(race, meeting) for race in races)
    return MeetingRef(meeting_id=meeting.id, code=meeting.code, races=refs)


def store_race(
    ref: RaceRef,
    record: RaceRecord,
    *,
    session: Session,
    now: datetime,
    scrape_id: int | None = None,
) -> Race:
    """Update a race from its single-race payload: runners, odds and any result."""
    race = session.get_one(Race, ref.race_id)
    _apply_race_fields(race, record, now=now)

    runners = {
        runner.runner_number: runner
        for runner in session.scalars(select(Runner).where(Runner.race_id == race.id))
    }
    for runner_record in record.runners:
        number = runner_record.runner_number
        if number not in runners:
            runners[number] = Runner(race_id=race.id, runner_number=number)
            session.add(runners[number])
        _apply_runner_fields(runners[number], runner_record, now=now)
    session.flush()

    for runner_record in record.runners:
        runner_id = runners[runner_record.runner_number].id
        session.add(_odds_snapshot(runner_id, runner_record, now, scrape_id))

    if record.results:
        store_result(race.id, record, session=session, now=now)
    session.flush()
    return race


def store_result(
    race_id: int, record: RaceRecord, *, session: Session, now: datetime
) -> Result:
    """Keep the race's current result, adding a version when placings change."""
    current = session.scalars(
        select(Result).where(Result.race_id == race_id, Result.superseded_at.is_(None))
    ).one_or_none()
    dividends = [
        {"product": d.product, "selections": d.selections, "amount": d.amount}
        for d in record.dividends
    ]
    if current is not None and current.positions == record.results:
        current.dividends = dividends
        current.official = current.official or record.official
        return current

    if current is not None:
        current.superseded_at = now
    result = Result(
        race_id=race_id,
        positions=record.results,
        dividends=dividends,
        official=record.official,
        captured_at=now,
    )
    session.add(result)
    return result


def _upsert_race_stub(
    meeting_id: int, stub: RaceStub, *, session: Session, now: datetime
) -> Race:
    race = session.scalars(
        select(Race).where(
            Race.meeting_id == meeting_id, Race.race_number == stub.race_number
        )
    ).one_or_none()
    if race is None:
        race = Race(meeting_id=meeting_id, race_number=stub.race_number)
        session.add(race)

    race.race_name = stub.race_name
    race.start_time = stub.start_time
    race.status = stub.status.value
    race.updated_at = now
    session.flush()
    return race


def _apply_race_fields(race: Race, record: RaceRecord, *, now: datetime) -> None:
    race.race_name = record.race_name
    race.start_time = record.start_time
    race.status = record.status.value
    race.distance = record.distance
    race.resulted_time = record.resulted_time
    race.updated_at = now


def _apply_runner_fields(
    runner: Runner, record: RunnerRecord, *, now: datetime
) -> None:
    runner.runner_name = record.runner_name
    runner.barrier = record.barrier
    runner.emergency = record.emergency
    runner.rider = record.rider
    runner.trainer = record.trainer
    if record.scratched and not runner.scratched:
        runner.scratch_seen_at = now
    runner.scratched = record.scratched
    runner.scratched_time = record.scratched_time
    runner.updated_at = now


def _odds_snapshot(
    runner_id: int, record: RunnerRecord, now: datetime, scrape_id: int | None
) -> OddsSnapshot:
    return OddsSnapshot(
        runner_id=runner_id,
        scrape_id=scrape_id,
        captured_at=now,
        betting_status=record.betting_status.value,
        win_fixed=record.win_fixed,
        place_fixed=record.place_fixed,
        win_tote=record.win_tote,
        place_tote=record.place_tote,
    )
