"""Account states (runtime stop, credential rotation record) and hijack alerts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, *, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "account_states",
        sa.Column("account", sa.String(128), primary_key=True),
        sa.Column("stopped", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("stop_reason", sa.Text),
        sa.Column("stopped_by", sa.String(128)),
        _time("stopped_at"),
        _time("rotated_at"),
        sa.Column("rotated_by", sa.String(128)),
        _time("updated_at", nullable=False),
    )
    op.create_table(
        "hijack_alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("remote_id", sa.String(255), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("url", sa.String(2000)),
        _time("posted_at"),
        _time("detected_at", nullable=False),
        _time("resolved_at"),
        sa.Column("resolved_by", sa.String(128)),
        sa.Column("note", sa.Text),
        sa.UniqueConstraint("account", "remote_id", name="uq_hijack_alerts_account_remote_id"),
    )
    op.create_index("ix_hijack_alerts_resolved", "hijack_alerts", ["resolved_at"])


def downgrade() -> None:
    op.drop_table("hijack_alerts")
    op.drop_table("account_states")
