"""`SqlStore`'s audit trail: rows callers record themselves, and the listing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from gateway.store import listings, rows
from gateway.store.records import AuditEvent
from gateway.store.schema import audit_events
from gateway.store.txn import SqlBase, _shielded


class AuditQueries(SqlBase):
    """The audit trail (`AuditLog`)."""

    @_shielded
    async def audit(
        self, *, actor: str, action: str, message_id: str | None = None, delivery_id: str | None = None,
        reason: str | None = None, detail: Mapping[str, Any] | None = None,
    ) -> None:
        entry = rows.audit_values(at=self._clock(), actor=actor, action=action, message_id=message_id,
                                  delivery_id=delivery_id, reason=reason, detail=detail)
        await self._write(lambda conn: self._add_audit(conn, [entry]), atomic=True)

    @_shielded
    async def list_audit(
        self, *, message_id: str | None = None, delivery_id: str | None = None, actor: str | None = None,
        action: str | None = None, limit: int = 500,
    ) -> list[AuditEvent]:
        """The latest `limit` matching events, oldest first."""
        query = sa.select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
        for column, value in (("message_id", message_id), ("delivery_id", delivery_id),
                              ("actor", actor), ("action", action)):
            if value is not None:
                query = query.where(audit_events.c[column] == value)
        events = await self._read(lambda conn: [rows.to_audit(r) for r in conn.execute(query).mappings()])
        return events[::-1]

    @_shielded
    async def page_audit(self, query: listings.AuditQuery, *, limit: int, offset: int = 0,
                         before_id: int | None = None) -> list[AuditEvent]:
        """One page of audit events, newest first (by offset, or below `before_id` for a full export)."""
        statement = listings.audit_newest_first(query, self._dialect, limit=limit, offset=offset)
        if before_id is not None:
            statement = statement.where(audit_events.c.id < before_id)
        return await self._read(lambda conn: [rows.to_audit(r) for r in conn.execute(statement).mappings()])

    @_shielded
    async def count_audit(self, query: listings.AuditQuery) -> int:
        statement = listings.count_of(audit_events, listings.audit_filter(query, self._dialect))
        return int(await self._read(lambda conn: conn.execute(statement).scalar_one()))
