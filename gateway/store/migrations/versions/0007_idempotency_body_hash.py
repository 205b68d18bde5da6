"""Idempotency keys are tied to the message they were first used with.

- messages.body_sha256: SHA-256 of the message's canonical JSON (`gateway.models.message_digest`),
  so that a key reused with a different message is refused (409) instead of silently answering
  with the first one. Rows from before have none, and a key of theirs keeps replaying as it did.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("body_sha256", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("body_sha256")
