"""Alerts that never mislead: each alert post records its meaning, and held alerts wait for an operator.

- messages.alert_thread: the thread hash that starts alert_key, as its own indexed column, so that
  a follow-up finds its thread by equality (a prefix LIKE used no index on either database); filled
  in for the messages already there.
- messages.alert_subject / alert_content: what an alert post is about and what it says, whatever the
  document's identifiers, so that the same content re-sent under new identifiers is not posted twice;
  alert_issued / alert_rank: when the alert was issued and how rich its telegram scheme is, so that an
  older or poorer telegram never follows a newer or richer one.
- held_alerts: alerts too old, expired or future-dated (held for an operator to publish or dismiss),
  and restricted or private ones (shown, never posted), with the raw document.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SUBJECT_WHERE = sa.text("alert_subject IS NOT NULL")
_THREAD_WHERE = sa.text("alert_thread IS NOT NULL")


def _time(name: str, *, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _json(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("alert_thread", sa.String(32)))
        batch.add_column(sa.Column("alert_subject", sa.String(64)))
        batch.add_column(sa.Column("alert_content", sa.String(64)))
        batch.add_column(_time("alert_issued"))
        batch.add_column(sa.Column("alert_rank", sa.Integer))
    op.create_index("ix_messages_alert_subject", "messages", ["municipality", "alert_subject", "created_at"],
                    postgresql_where=_SUBJECT_WHERE, sqlite_where=_SUBJECT_WHERE)
    # alert_key = "<16 hex thread hash>#<event hash>|<accounts>"
    op.execute("UPDATE messages SET alert_thread = substr(alert_key, 1, 16) "
               "WHERE alert_key IS NOT NULL AND substr(alert_key, 17, 1) = '#'")
    op.create_index("ix_messages_alert_thread", "messages", ["alert_thread", "created_at"],
                    postgresql_where=_THREAD_WHERE, sqlite_where=_THREAD_WHERE)
    op.create_table(
        "held_alerts",
        sa.Column("id", sa.String(40), primary_key=True),
        _time("received_at", nullable=False),
        sa.Column("received_by", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("hold_code", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("alert_key", sa.String(512), nullable=False),
        sa.Column("kind", sa.String(32)),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("sender", sa.Text, nullable=False),
        _time("sent_at", nullable=False),
        sa.Column("drill", sa.Boolean, nullable=False, server_default=sa.false()),
        _json("municipalities"),
        sa.Column("forced", sa.String(64)),
        sa.Column("content", sa.String(64), nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        _json("posts"),
        sa.Column("decided_by", sa.String(128)),
        _time("decided_at"),
        sa.Column("note", sa.Text),
        _json("messages"),
    )
    op.create_index("ix_held_alerts_state_received", "held_alerts", ["state", "received_at"])
    op.create_index("ix_held_alerts_content", "held_alerts", ["content"])


def downgrade() -> None:
    op.drop_index("ix_held_alerts_content", table_name="held_alerts")
    op.drop_index("ix_held_alerts_state_received", table_name="held_alerts")
    op.drop_table("held_alerts")
    op.drop_index("ix_messages_alert_thread", table_name="messages")
    op.drop_index("ix_messages_alert_subject", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        for column in ("alert_rank", "alert_issued", "alert_content", "alert_subject", "alert_thread"):
            batch.drop_column(column)
