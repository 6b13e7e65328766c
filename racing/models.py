"""SQLAlchemy models: the racing data, the scrape attempts and the job-run record.

Racing rows use natural keys from the TAB feed (date, race type, venue, race number,
runner number) so every store is an idempotent upsert. `job_runs` keeps camelCase column
names because operators query it by hand with the field names of a JobRun.
"""

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Stable constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    SQLite keeps no offset, so values are stored as naive UTC and made aware on the
    way out; a naive value on the way in is a programming error and is refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime | None, dialect: Any
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: racing stores aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: datetime | None, dialect: Any
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
    }


class JobStatus(StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    PARTIAL = "partial"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self is not JobStatus.RUNNING


class ResultState(StrEnum):
    """A race's result checks: pending until confirmed one way, or given up."""

    PENDING = "pending"
    OFFICIAL = "official"
    UNCHANGED = "unchanged"
    UNCONFIRMED = "unconfirmed"


class ScrapeOutcome(StrEnum):
    # Claimed by a run that is fetching it now; no other run may take the race.
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    # Fetched and stored, but the race turned out to start at another time, outside
    # the window that chose it: its window is still to come, so it is not done.
    MOVED = "moved"


class Meeting(Base):
    __tablename__ = "meetings"
    __table_args__ = (UniqueConstraint("meeting_date", "race_type", "venue_mnemonic"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_date: Mapped[date] = mapped_column(Date, index=True)
    race_type: Mapped[str] = mapped_column(String(1))
    venue_mnemonic: Mapped[str] = mapped_column(String(16))
    meeting_name: Mapped[str] = mapped_column(String(100))
    location: Mapped[str] = mapped_column(String(8))
    track_condition: Mapped[str | None] = mapped_column(String(32))
    weather_condition: Mapped[str | None] = mapped_column(String(32))
    abandoned: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime]

    races: Mapped[list["Race"]] = relationship(
        back_populates="meeting", lazy="raise", order_by="Race.race_number"
    )

    @property
    def code(self) -> str:
        """The operator-facing code of a meeting, e.g. `2026-11-14/R/GOS`."""
        return f"{self.meeting_date.isoformat()}/{self.race_type}/{self.venue_mnemonic}"


class Race(Base):
    __tablename__ = "races"
    __table_args__ = (UniqueConstraint("meeting_id", "race_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"), index=True)
    race_number: Mapped[int] = mapped_column(Integer)
    race_name: Mapped[str] = mapped_column(String(200))
    start_time: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16))
    distance: Mapped[int | None] = mapped_column(Integer)
    resulted_time: Mapped[datetime | None]
    # Where the result checks stand: None before the first, then a ResultState.
    result_state: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime]

    meeting: Mapped[Meeting] = relationship(back_populates="races", lazy="raise")


class Runner(Base):
    __tablename__ = "runners"
    __table_args__ = (UniqueConstraint("race_id", "runner_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    race_id: Mapped[int] = mapped_column(ForeignKey("races.id"), index=True)
    runner_number: Mapped[int] = mapped_column(Integer)
    runner_name: Mapped[str] = mapped_column(String(100))
    barrier: Mapped[int | None] = mapped_column(Integer)
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    rider: Mapped[str | None] = mapped_column(String(100))
    trainer: Mapped[str | None] = mapped_column(String(100))
    scratched: Mapped[bool] = mapped_column(Boolean, default=False)
    # When TAB says the scratching happened, and when we first saw it.
    scratched_time: Mapped[datetime | None]
    scratch_seen_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class OddsSnapshot(Base):
    """One runner's prices as seen by one scrape; never updated, only added."""

    __tablename__ = "odds_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    runner_id: Mapped[int] = mapped_column(ForeignKey("runners.id"), index=True)
    scrape_id: Mapped[int | None] = mapped_column(ForeignKey("scrapes.id"), index=True)
    captured_at: Mapped[datetime]
    betting_status: Mapped[str] = mapped_column(String(16))
    win_fixed: Mapped[float | None] = mapped_column(Float)
    place_fixed: Mapped[float | None] = mapped_column(Float)
    win_tote: Mapped[float | None] = mapped_column(Float)
    place_tote: Mapped[float | None] = mapped_column(Float)


class Result(Base):
    """One version of a race's result; a changed result adds a row, keeping the old."""

    __tablename__ = "results"

    id: Mapped[int] = mapped_column(primary_key=True)
    race_id: Mapped[int] = mapped_column(ForeignKey("races.id"), index=True)
    # Finishing groups as TAB sends them: [[4, 2], [1]] is a dead heat for first.
    positions: Mapped[list[list[int]]] = mapped_column(JSON)
    dividends: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    official: Mapped[bool] = mapped_column(Boolean, default=False)
    # How the result was confirmed: "official" (TAB said so) or "unchanged" (the
    # fallback: the same placings at the last checks); None while provisional.
    confirmed_by: Mapped[str | None] = mapped_column(String(16))
    captured_at: Mapped[datetime]
    superseded_at: Mapped[datetime | None]


class Scrape(Base):
    """One attempt to scrape one meeting or race, by one job run."""

    __tablename__ = "scrapes"
    # Two overlapping runs cannot take the same attempt at a race's window or result
    # check. Morning attempts are numbered per run, so they are left out.
    __table_args__ = (
        Index(
            "uq_scrapes_race_id_kind_attempt",
            "race_id",
            "kind",
            "attempt",
            unique=True,
            sqlite_where=text("kind != 'morning'"),
            postgresql_where=text("kind != 'morning'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_run_id: Mapped[int | None] = mapped_column(
        "jobRunId", ForeignKey("job_runs.id", ondelete="CASCADE"), index=True
    )
    meeting_id: Mapped[int | None] = mapped_column(
        ForeignKey("meetings.id"), index=True
    )
    race_id: Mapped[int | None] = mapped_column(ForeignKey("races.id"), index=True)
    # What the attempt was for: "morning" now; pre-race windows and results later.
    kind: Mapped[str] = mapped_column(String(32))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    # A catch-up scrape of a window the scheduler missed (it was down).
    late: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class JobRun(Base):
    """The honest record of one flow run, written by the flow-run state hooks."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    flow_run_id: Mapped[str] = mapped_column("flowRunId", String(36), unique=True)
    job_type: Mapped[str] = mapped_column("jobType", String(32), index=True)
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column("startedAt", index=True)
    completed_at: Mapped[datetime | None] = mapped_column("completedAt")
    duration_ms: Mapped[int | None] = mapped_column("durationMs", Integer)
    items_processed: Mapped[int] = mapped_column("itemsProcessed", Integer, default=0)
    items_failed: Mapped[int] = mapped_column("itemsFailed", Integer, default=0)
    error_message: Mapped[str | None] = mapped_column("errorMessage", Text)
    # `metadata` is reserved on declarative classes, hence the attribute name.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    retry_count: Mapped[int] = mapped_column("retryCount", Integer, default=0)
    parent_job_run_id: Mapped[int | None] = mapped_column(
        "parentJobRunId", ForeignKey("job_runs.id"), index=True
    )


class JobRunRollup(Base):
    """One job type's runs on one racing day, kept after the runs themselves are pruned.

    Every column adds up, so runs of a day pruned by several cleanups merge into the
    same row. Durations are kept as a histogram of buckets about 1 % wide (bucket key ->
    runs), from which the percentile columns are recomputed after every merge.
    """

    __tablename__ = "job_run_rollups"
    __table_args__ = (UniqueConstraint("day", "job_type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The racing-timezone date of the runs' startedAt.
    day: Mapped[date] = mapped_column(Date)
    job_type: Mapped[str] = mapped_column(String(32))
    runs_total: Mapped[int] = mapped_column(Integer, default=0)
    runs_success: Mapped[int] = mapped_column(Integer, default=0)
    runs_partial: Mapped[int] = mapped_column(Integer, default=0)
    runs_failed: Mapped[int] = mapped_column(Integer, default=0)
    items_processed: Mapped[int] = mapped_column(Integer, default=0)
    items_failed: Mapped[int] = mapped_column(Integer, default=0)
    # Sum of the runs' retryCount, and how many runs had one above zero.
    retries: Mapped[int] = mapped_column(Integer, default=0)
    runs_retried: Mapped[int] = mapped_column(Integer, default=0)
    duration_histogram: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    duration_ms_p50: Mapped[int | None] = mapped_column(Integer)
    duration_ms_p90: Mapped[int | None] = mapped_column(Integer)
    duration_ms_p99: Mapped[int | None] = mapped_column(Integer)
    duration_ms_max: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class SkippedRun(Base):
    """A scheduled flow run Prefect cancelled before it ever started.

    A deployment concurrency limit (collision strategy CANCEL_NEW) cancels a run that
    comes due while the previous one still holds the slot: it never starts, so it has
    no hook and no JobRun. The reaper copies each one here from the Prefect API, once.
    """

    __tablename__ = "skipped_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    flow_run_id: Mapped[str] = mapped_column(String(36), unique=True)
    job_type: Mapped[str] = mapped_column(String(32), index=True)
    deployment: Mapped[str] = mapped_column(String(100))
    scheduled_at: Mapped[datetime] = mapped_column(index=True)
    # When Prefect cancelled it (its Cancelled state's timestamp).
    cancelled_at: Mapped[datetime | None]
    # Prefect's reason, e.g. "Deployment concurrency limit reached."
    message: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime]
