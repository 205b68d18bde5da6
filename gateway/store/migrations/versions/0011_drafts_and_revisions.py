"""Drafts and edits before approval (issue 16).

- drafts: posts saved without submitting, one row each, seen by their author (and admins).
- messages.revision: the version number of a post (1 at intake, +1 with every edit before approval);
  messages.revised_by: who wrote the newest version (who may then not approve it). Existing rows are
  version 1, never edited.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-11
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("revision", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("revised_by", sa.String(128)))
    op.create_table(
        "drafts",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("municipality", sa.String(64), nullable=False),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("body", _json(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_drafts_author_updated", "drafts", ["author", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_drafts_author_updated", table_name="drafts")
    op.drop_table("drafts")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("revised_by")
        batch.drop_column("revision")
