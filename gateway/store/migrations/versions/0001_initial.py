"""Initial ledger: messages, deliveries, audit events, users, tokens, account pauses.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time(name: str, *, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _messages() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("municipality", sa.String(64), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("priority_rank", sa.Integer, nullable=False),
        sa.Column("submitted_by", sa.String(128), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("body", _json(), nullable=False),
        sa.Column("check", _json(), nullable=False),
        sa.Column("accounts", _json(), nullable=False),
        sa.Column("idempotency_key", sa.String(255)),
        sa.Column("approved_by", sa.String(128)),
        sa.Column("overrides", _json(), nullable=False),
        sa.Column("alert_key", sa.String(255)),
        sa.Column("note", sa.Text),
        _time("created_at", nullable=False),
        _time("updated_at", nullable=False),
        sa.UniqueConstraint("submitted_by", "idempotency_key", name="uq_messages_submitter_idempotency_key"),
        sa.UniqueConstraint("municipality", "alert_key", name="uq_messages_municipality_alert_key"),
    )
    op.create_index("ix_messages_state_created", "messages", ["state", "created_at"])
    op.create_index("ix_messages_municipality_created", "messages", ["municipality", "created_at"])


def _deliveries() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("message_id", sa.String(40), sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("municipality", sa.String(64), nullable=False),
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("priority_rank", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        _time("not_before"),
        _time("retry_at"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("lease_owner", sa.String(128)),
        _time("lease_expires"),
        sa.Column("remote_id", sa.String(255)),
        sa.Column("remote_url", sa.String(2000)),
        sa.Column("error_code", sa.String(64)),
        sa.Column("error_text", sa.Text),
        _time("created_at", nullable=False),
        _time("updated_at", nullable=False),
        _time("sent_at"),
        sa.UniqueConstraint("idempotency_key", name="uq_deliveries_idempotency_key"),
    )
    for name, columns in (
        ("ix_deliveries_claim", ["state", "priority_rank", "created_at", "id"]),
        ("ix_deliveries_retry", ["state", "priority_rank", "retry_at", "id"]),
        ("ix_deliveries_state_retry_at", ["state", "retry_at"]),
        ("ix_deliveries_state_not_before", ["state", "not_before"]),
        ("ix_deliveries_state_lease_expires", ["state", "lease_expires"]),
        ("ix_deliveries_account_state", ["account", "state"]),
        ("ix_deliveries_account_sent", ["account", "sent_at"]),
        ("ix_deliveries_message", ["message_id"]),
        ("ix_deliveries_created", ["created_at"]),
    ):
        op.create_index(name, "deliveries", columns)


def _audit_events() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        _time("at", nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("message_id", sa.String(40)),
        sa.Column("delivery_id", sa.String(40)),
        sa.Column("from_state", sa.String(32)),
        sa.Column("to_state", sa.String(32)),
        sa.Column("reason", sa.Text),
        sa.Column("detail", _json(), nullable=False),
    )
    op.create_index("ix_audit_message", "audit_events", ["message_id"])
    op.create_index("ix_audit_delivery", "audit_events", ["delivery_id"])
    op.create_index("ix_audit_actor", "audit_events", ["actor"])
    op.create_index("ix_audit_action", "audit_events", ["action"])


def _users_and_tokens() -> None:
    op.create_table(
        "users",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        _time("created_at", nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("token_hash", sa.String(128), primary_key=True),
        sa.Column("user", sa.String(128), sa.ForeignKey("users.name"), nullable=False),
        _time("created_at", nullable=False),
        _time("expires_at", nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_tokens_user", "tokens", ["user"])


def _account_pauses() -> None:
    op.create_table(
        "account_pauses",
        sa.Column("account", sa.String(128), primary_key=True),
        _time("until", nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        _time("updated_at", nullable=False),
    )


def upgrade() -> None:
    _messages()
    _deliveries()
    _audit_events()
    _users_and_tokens()
    _account_pauses()


def downgrade() -> None:
    for table in ("account_pauses", "tokens", "users", "audit_events", "deliveries", "messages"):
        op.drop_table(table)
