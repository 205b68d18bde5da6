"""Partial claim indexes: only queued / retry_wait deliveries, whatever the history's size.

Under a burst PostgreSQL's planner, with statistics lagging behind the queue, walked the
creation-time index over the whole history to find the next emergencies (20 ms per claim in
the nationwide benchmark). The partial indexes hold only what is waiting; the full ones stay
(SQLite's planner walks those).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUED_ONLY = "state = 'queued'"
RETRY_WAIT_ONLY = "state = 'retry_wait'"


def upgrade() -> None:
    op.create_index("ix_deliveries_queued", "deliveries", ["priority_rank", "created_at", "id"],
                    postgresql_where=sa.text(QUEUED_ONLY), sqlite_where=sa.text(QUEUED_ONLY))
    op.create_index("ix_deliveries_retry_due", "deliveries", ["priority_rank", "retry_at", "id"],
                    postgresql_where=sa.text(RETRY_WAIT_ONLY), sqlite_where=sa.text(RETRY_WAIT_ONLY))


def downgrade() -> None:
    op.drop_index("ix_deliveries_queued", table_name="deliveries")
    op.drop_index("ix_deliveries_retry_due", table_name="deliveries")
