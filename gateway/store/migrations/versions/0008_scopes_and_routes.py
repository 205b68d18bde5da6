"""Who may do what, for which city: scopes of users and tokens, and approval routes.

- users.scope: the cities (null: every city), accounts and emergency cities of the user (models.Scope as
  JSON). Existing admins and alert systems keep every city; every other existing user gets no city
  until an admin gives one (`gateway user set-scope`): nothing is opened wider by the upgrade.
- tokens.scope: a token's own narrowing of its user's scope (null: the user's).
- message_approvals: one row per approved step of a message's approval route; unique per step and per
  approver, so nobody approves two steps of one message, even when two requests race.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("scope", _json()))
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("scope", _json()))
    users = sa.table("users", sa.column("role", sa.String), sa.column("scope", _json()))
    op.execute(users.update().where(users.c.role.in_(["admin", "alert_system"]))
               .values(scope={"municipalities": None, "accounts": [], "emergency": []}))
    op.execute(users.update().where(users.c.role.not_in(["admin", "alert_system"]))
               .values(scope={"municipalities": [], "accounts": [], "emergency": []}))
    op.create_table(
        "message_approvals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(40), sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("step_name", sa.String(200), nullable=False),
        sa.Column("approver", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("overrides", _json(), nullable=False),
        sa.Column("official_view", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.UniqueConstraint("message_id", "step", name="uq_message_approvals_step"),
        sa.UniqueConstraint("message_id", "approver", name="uq_message_approvals_approver"),
    )


def downgrade() -> None:
    op.drop_table("message_approvals")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("scope")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("scope")
