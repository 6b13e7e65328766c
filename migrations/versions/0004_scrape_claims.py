"""Scrape claims: one row per attempt number at a race's window or result check.

Why: two overlapping runs of one window (a slow run still going when the next */5 run
starts) must never scrape a race twice. Each run claims an attempt with a `running`
row before fetching; this unique index makes a second claim of the same attempt fail
on both PostgreSQL and SQLite. Morning attempts are numbered per run, so are left out.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOT_MORNING = sa.text("kind != 'morning'")


def upgrade() -> None:
    op.create_index(
        "uq_scrapes_race_id_kind_attempt",
        "scrapes",
        ["race_id", "kind", "attempt"],
        unique=True,
        sqlite_where=_NOT_MORNING,
        postgresql_where=_NOT_MORNING,
    )


def downgrade() -> None:
    op.drop_index("uq_scrapes_race_id_kind_attempt", table_name="scrapes")
