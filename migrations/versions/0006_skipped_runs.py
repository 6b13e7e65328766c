"""Skipped runs: scheduled flow runs that Prefect cancelled before they started.

Why: the window deployments allow one run at a time and cancel a run that comes due
while the previous one still holds the slot (CANCEL_NEW). Such a run never starts, so
no hook fires and no JobRun is written; a run stuck holding the slot would make every
later run cancel unseen. The reaper records each one here so the exporter can count
them and an alert can fire.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "skipped_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flow_run_id", sa.String(length=36), nullable=False),
        sa.Column("job_type", sa.String(length=32), nullable=False),
        sa.Column("deployment", sa.String(length=100), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skipped_runs")),
        sa.UniqueConstraint("flow_run_id", name=op.f("uq_skipped_runs_flow_run_id")),
    )
    op.create_index(
        op.f("ix_skipped_runs_job_type"), "skipped_runs", ["job_type"], unique=False
    )
    op.create_index(
        op.f("ix_skipped_runs_scheduled_at"),
        "skipped_runs",
        ["scheduled_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_skipped_runs_scheduled_at"), table_name="skipped_runs")
    op.drop_index(op.f("ix_skipped_runs_job_type"), table_name="skipped_runs")
    op.drop_table("skipped_runs")
