"""`SqlStore`'s drafts: posts saved without submitting, each seen by its author (and admins) only.

A draft is never checked, planned or queued for approval. Its audit rows name the draft and its city,
never its text (an audit reader of the city must not read a post its author has not submitted).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.errors import NotFound
from gateway.models import Message
from gateway.store import rows
from gateway.store.records import Draft
from gateway.store.schema import drafts, new_id
from gateway.store.txn import SqlBase, _shielded, _storable


def to_draft(row: rows.RowLike) -> Draft:
    return Draft(id=row["id"], municipality=row["municipality"], author=row["author"],
                 body=Message.model_validate(row["body"]), created_at=row["created_at"],
                 updated_at=row["updated_at"])


def _missing(draft_id: str) -> NotFound:
    return NotFound(f"下書きが見つかりません: {draft_id}")


def delete_draft_row(conn: Connection, draft_id: str) -> None:
    """Delete a draft in the caller's transaction; NotFound (rolling it back) when it is gone already."""
    if conn.execute(sa.delete(drafts).where(drafts.c.id == draft_id)).rowcount != 1:
        raise _missing(draft_id)


class DraftQueries(SqlBase):
    """Drafts (`DraftBook`)."""

    @_shielded
    async def add_draft(self, body: Message, *, author: str) -> Draft:
        now = self._clock()
        values = {"id": new_id("dr"), "municipality": body.municipality, "author": author,
                  "body": body.model_dump(mode="json"), "created_at": now, "updated_at": now}

        def add(conn: Connection) -> Draft:
            conn.execute(drafts.insert().values(values))
            self._add_audit(conn, [self._event(values, author, "draft.saved")])
            return to_draft(values)

        return await self._write(add)

    @_shielded
    async def update_draft(self, draft_id: str, body: Message, *, actor: str) -> Draft:
        """Replace a draft's content (its city may change with it)."""
        if not _storable(draft_id):
            raise _missing(draft_id)
        now = self._clock()
        changes = {"municipality": body.municipality, "body": body.model_dump(mode="json"), "updated_at": now}

        def update(conn: Connection) -> Draft:
            query = sa.update(drafts).where(drafts.c.id == draft_id).values(**changes).returning(*drafts.c)
            row = conn.execute(query).mappings().first()
            if row is None:
                raise _missing(draft_id)
            self._add_audit(conn, [self._event(row, actor, "draft.saved")])
            return to_draft(row)

        return await self._write(update)

    @_shielded
    async def get_draft(self, draft_id: str) -> Draft:
        if not _storable(draft_id):
            raise _missing(draft_id)
        query = sa.select(drafts).where(drafts.c.id == draft_id)
        row = await self._read(lambda conn: conn.execute(query).mappings().first())
        if row is None:
            raise _missing(draft_id)
        return to_draft(row)

    @_shielded
    async def list_drafts(self, *, author: str | None, municipalities: Collection[str] | None = None,
                          limit: int = 200) -> list[Draft]:
        """Newest first: one author's (None: everyone's, for an admin), within `municipalities` when given."""
        query = sa.select(drafts).order_by(drafts.c.updated_at.desc(), drafts.c.id.desc()).limit(limit)
        if author is not None:
            query = query.where(drafts.c.author == author)
        if municipalities is not None:
            query = query.where(drafts.c.municipality.in_(sorted(municipalities)))
        return await self._read(lambda conn: [to_draft(r) for r in conn.execute(query).mappings()])

    @_shielded
    async def delete_draft(self, draft_id: str, *, actor: str) -> None:
        draft = await self.get_draft(draft_id)

        def delete(conn: Connection) -> None:
            delete_draft_row(conn, draft_id)
            self._add_audit(conn, [self._event({"id": draft.id, "municipality": draft.municipality}, actor,
                                               "draft.deleted")])

        await self._write(delete)

    def _event(self, draft: rows.RowLike, actor: str, action: str) -> dict[str, Any]:
        return rows.audit_values(at=self._clock(), actor=actor, action=action,
                                 detail={"draft": draft["id"], "municipality": draft["municipality"]})
