"""Initial schema: racing data, scrape attempts and job runs.

Why: the first version of the database. `job_runs` keeps camelCase column names so
operators can query it with the field names of a JobRun.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flowRunId", sa.String(length=36), nullable=False),
        sa.Column("jobType", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("startedAt", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completedAt", sa.DateTime(timezone=True), nullable=True),
        sa.Column("durationMs", sa.Integer(), nullable=True),
        sa.Column("itemsProcessed", sa.Integer(), nullable=False),
        sa.Column("itemsFailed", sa.Integer(), nullable=False),
        sa.Column("errorMessage", sa.Text(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("retryCount", sa.Integer(), nullable=False),
        sa.Column("parentJobRunId", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["parentJobRunId"],
            ["job_runs.id"],
            name=op.f("fk_job_runs_parentJobRunId_job_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
        sa.UniqueConstraint("flowRunId", name=op.f("uq_job_runs_flowRunId")),
    )
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_job_runs_jobType"), ["jobType"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_job_runs_parentJobRunId"), ["parentJobRunId"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_job_runs_startedAt"), ["startedAt"], unique=False
        )

    op.create_table(
        "meetings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_date", sa.Date(), nullable=False),
        sa.Column("race_type", sa.String(length=1), nullable=False),
        sa.Column("venue_mnemonic", sa.String(length=16), nullable=False),
        sa.Column("meeting_name", sa.String(length=100), nullable=False),
        sa.Column("location", sa.String(length=8), nullable=False),
        sa.Column("track_condition", sa.String(length=32), nullable=True),
        sa.Column("weather_condition", sa.String(length=32), nullable=True),
        sa.Column("abandoned", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings")),
        sa.UniqueConstraint(
            "meeting_date",
            "race_type",
            "venue_mnemonic",
            name=op.f("uq_meetings_meeting_date_race_type_venue_mnemonic"),
        ),
    )
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meetings_meeting_date"), ["meeting_date"], unique=False
        )

    op.create_table(
        "races",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("race_number", sa.Integer(), nullable=False),
        sa.Column("race_name", sa.String(length=200), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("distance", sa.Integer(), nullable=True),
        sa.Column("resulted_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meetings.id"], name=op.f("fk_races_meeting_id_meetings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_races")),
        sa.UniqueConstraint(
            "meeting_id", "race_number", name=op.f("uq_races_meeting_id_race_number")
        ),
    )
    with op.batch_alter_table("races", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_races_meeting_id"), ["meeting_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_races_start_time"), ["start_time"], unique=False
        )

    op.create_table(
        "results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("race_id", sa.Integer(), nullable=False),
        sa.Column("positions", sa.JSON(), nullable=False),
        sa.Column("dividends", sa.JSON(), nullable=False),
        sa.Column("official", sa.Boolean(), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["race_id"], ["races.id"], name=op.f("fk_results_race_id_races")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_results")),
    )
    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_results_race_id"), ["race_id"], unique=False
        )

    op.create_table(
        "runners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("race_id", sa.Integer(), nullable=False),
        sa.Column("runner_number", sa.Integer(), nullable=False),
        sa.Column("runner_name", sa.String(length=100), nullable=False),
        sa.Column("barrier", sa.Integer(), nullable=True),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("rider", sa.String(length=100), nullable=True),
        sa.Column("trainer", sa.String(length=100), nullable=True),
        sa.Column("scratched", sa.Boolean(), nullable=False),
        sa.Column("scratched_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scratch_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["race_id"], ["races.id"], name=op.f("fk_runners_race_id_races")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runners")),
        sa.UniqueConstraint(
            "race_id", "runner_number", name=op.f("uq_runners_race_id_runner_number")
        ),
    )
    with op.batch_alter_table("runners", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_runners_race_id"), ["race_id"], unique=False
        )

    op.create_table(
        "scrapes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("jobRunId", sa.Integer(), nullable=True),
        sa.Column("meeting_id", sa.Integer(), nullable=True),
        sa.Column("race_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["jobRunId"],
            ["job_runs.id"],
            name=op.f("fk_scrapes_jobRunId_job_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meetings.id"], name=op.f("fk_scrapes_meeting_id_meetings")
        ),
        sa.ForeignKeyConstraint(
            ["race_id"], ["races.id"], name=op.f("fk_scrapes_race_id_races")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scrapes")),
    )
    with op.batch_alter_table("scrapes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_scrapes_jobRunId"), ["jobRunId"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_scrapes_meeting_id"), ["meeting_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_scrapes_race_id"), ["race_id"], unique=False
        )

    op.create_table(
        "odds_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("runner_id", sa.Integer(), nullable=False),
        sa.Column("scrape_id", sa.Integer(), nullable=True),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("betting_status", sa.String(length=16), nullable=False),
        sa.Column("win_fixed", sa.Float(), nullable=True),
        sa.Column("place_fixed", sa.Float(), nullable=True),
        sa.Column("win_tote", sa.Float(), nullable=True),
        sa.Column("place_tote", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["runner_id"],
            ["runners.id"],
            name=op.f("fk_odds_snapshots_runner_id_runners"),
        ),
        sa.ForeignKeyConstraint(
            ["scrape_id"],
            ["scrapes.id"],
            name=op.f("fk_odds_snapshots_scrape_id_scrapes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_odds_snapshots")),
    )
    with op.batch_alter_table("odds_snapshots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_odds_snapshots_runner_id"), ["runner_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_odds_snapshots_scrape_id"), ["scrape_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("odds_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_odds_snapshots_scrape_id"))
        batch_op.drop_index(batch_op.f("ix_odds_snapshots_runner_id"))

    op.drop_table("odds_snapshots")
    with op.batch_alter_table("scrapes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scrapes_race_id"))
        batch_op.drop_index(batch_op.f("ix_scrapes_meeting_id"))
        batch_op.drop_index(batch_op.f("ix_scrapes_jobRunId"))

    op.drop_table("scrapes")
    with op.batch_alter_table("runners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runners_race_id"))

    op.drop_table("runners")
    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_results_race_id"))

    op.drop_table("results")
    with op.batch_alter_table("races", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_races_start_time"))
        batch_op.drop_index(batch_op.f("ix_races_meeting_id"))

    op.drop_table("races")
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meetings_meeting_date"))

    op.drop_table("meetings")
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_runs_startedAt"))
        batch_op.drop_index(batch_op.f("ix_job_runs_parentJobRunId"))
        batch_op.drop_index(batch_op.f("ix_job_runs_jobType"))

    op.drop_table("job_runs")
