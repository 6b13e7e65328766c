"""Job-run roll-ups: one row per job type and racing day, kept after the runs.

Why: the daily cleanup deletes JobRuns and their Scrape rows older than the retention
(RACING_JOB_RUN_RETENTION_DAYS) and folds them into this table first, so long-term
trends (runs by status, items, durations, retries) survive the pruning.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_run_rollups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("job_type", sa.String(length=32), nullable=False),
        sa.Column("runs_total", sa.Integer(), nullable=False),
        sa.Column("runs_success", sa.Integer(), nullable=False),
        sa.Column("runs_partial", sa.Integer(), nullable=False),
        sa.Column("runs_failed", sa.Integer(), nullable=False),
        sa.Column("items_processed", sa.Integer(), nullable=False),
        sa.Column("items_failed", sa.Integer(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("runs_retried", sa.Integer(), nullable=False),
        sa.Column("duration_histogram", sa.JSON(), nullable=False),
        sa.Column("duration_ms_p50", sa.Integer(), nullable=True),
        sa.Column("duration_ms_p90", sa.Integer(), nullable=True),
        sa.Column("duration_ms_p99", sa.Integer(), nullable=True),
        sa.Column("duration_ms_max", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_run_rollups")),
        sa.UniqueConstraint(
            "day", "job_type", name=op.f("uq_job_run_rollups_day_job_type")
        ),
    )


def downgrade() -> None:
    op.drop_table("job_run_rollups")
