"""Workers beat: a delivery whose worker died is recovered within seconds, not after its lease.

After a kill -9, in-flight deliveries — alerts included — waited for their 120 s lease (issue 12).
Each process now records a heartbeat every second in `workers`; a `sending` delivery whose worker
has not beaten for a few seconds (or that stopped) is settled by the reconciler at once.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, *, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("worker_id", sa.String(128), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        _time("started_at", nullable=False),
        _time("heartbeat_at", nullable=False),
        _time("stopped_at"),
    )
    op.create_index("ix_workers_heartbeat", "workers", ["heartbeat_at"])


def downgrade() -> None:
    op.drop_index("ix_workers_heartbeat", table_name="workers")
    op.drop_table("workers")
