"""Late scrapes: mark a window scrape that caught up after the scheduler was down.

Why: after downtime the next window run scrapes races whose window it missed, while
the data still means something; operators must be able to tell those apart.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("scrapes") as batch_op:
        batch_op.add_column(
            sa.Column("late", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("scrapes") as batch_op:
        batch_op.drop_column("late")
