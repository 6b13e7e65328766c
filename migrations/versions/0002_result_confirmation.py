"""Result confirmation: where a race's result checks stand, and how it was confirmed.

Why: post-race checks follow a result from provisional to official with a bounded
number of follow-ups; the state must live in the database so any run can resume it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("races") as batch_op:
        batch_op.add_column(sa.Column("result_state", sa.String(16), nullable=True))
    with op.batch_alter_table("results") as batch_op:
        batch_op.add_column(sa.Column("confirmed_by", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("results") as batch_op:
        batch_op.drop_column("confirmed_by")
    with op.batch_alter_table("races") as batch_op:
        batch_op.drop_column("result_state")
