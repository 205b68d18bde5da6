"""`SqlStore`'s outbox of notifications: claim the due ones under a lease, record how far each got.

The rows are written by the transactions of the events themselves (store/events.py). Claims are
compare-and-set on the lease, so two replicas never send the same row at once, and a crashed
sender's rows come back when its lease runs out.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.store import rows
from gateway.store.records import Notification
from gateway.store.schema import notifications
from gateway.store.txn import SqlBase, _shielded

PENDING = "pending"
FINAL_STATES = ("sent", "failed", "skipped")


def to_notification(row: rows.RowLike) -> Notification:
    return Notification(
        id=row["id"], event=row["event"], created_at=row["created_at"], message_id=row["message_id"],
        delivery_id=row["delivery_id"], subject=row["subject"], actor=row["actor"], reason=row["reason"],
        detail=dict(row["detail"] or {}), state=row["state"], attempts=int(row["attempts"]),
        next_attempt_at=row["next_attempt_at"], done=tuple(row["done"] or ()), last_error=row["last_error"],
        finished_at=row["finished_at"],
    )


class OutboxQueries(SqlBase):
    """The notification outbox (`Outbox`)."""

    @_shielded
    async def claim_notifications(self, *, now: datetime, limit: int, lease_seconds: float) -> list[Notification]:
        """Up to `limit` pending rows that are due and not leased by another sender, oldest first, leased."""
        n = notifications.c
        free = sa.or_(n.lease_until.is_(None), n.lease_until < now)
        due = (n.state == PENDING, n.next_attempt_at <= now, free)
        look = sa.select(n.id).where(*due).order_by(n.next_attempt_at, n.id).limit(limit)

        def claim(conn: Connection) -> list[Notification]:
            ids = list(conn.execute(look).scalars())
            if not ids:
                return []
            # The update re-checks the lease under the row lock: of two claimers, one gets each row.
            update = (sa.update(notifications).where(n.id.in_(ids), *due)
                      .values(lease_until=now + timedelta(seconds=lease_seconds)).returning(*notifications.c))
            return sorted((to_notification(r) for r in conn.execute(update).mappings()),
                          key=lambda item: (item.created_at, item.id))

        if not await self._read(lambda conn: conn.execute(look.limit(1)).first()):
            return []  # nothing due (every tick): one read, no write transaction
        return await self._write(claim)

    @_shielded
    async def record_notification(
        self, notification_id: str, *, state: str, done: Sequence[str], attempts: int,
        next_attempt_at: datetime, last_error: str | None,
    ) -> None:
        """How far a claimed row got; its lease ends (a final state stamps `finished_at`)."""
        now = self._clock()
        values = {"state": state, "done": list(done), "attempts": attempts, "next_attempt_at": next_attempt_at,
                  "last_error": None if last_error is None else last_error[:2000], "lease_until": None,
                  "finished_at": now if state in FINAL_STATES else None}
        query = sa.update(notifications).where(notifications.c.id == notification_id).values(**values)
        await self._write(lambda conn: conn.execute(query))

    @_shielded
    async def note_notification_progress(self, notification_id: str, done: Sequence[str]) -> None:
        """The destinations told so far, while the row is still leased (a crash then tells only the others)."""
        query = sa.update(notifications).where(notifications.c.id == notification_id).values(done=list(done))
        await self._write(lambda conn: conn.execute(query))

    @_shielded
    async def list_notifications(
        self, *, states: Collection[str] | None = None, event: str | None = None, limit: int = 500,
    ) -> list[Notification]:
        """Newest first."""
        query = (sa.select(notifications).order_by(notifications.c.created_at.desc(), notifications.c.id.desc())
                 .limit(limit))
        if states is not None:
            query = query.where(notifications.c.state.in_(list(states)))
        if event is not None:
            query = query.where(notifications.c.event == event)
        return await self._read(lambda conn: [to_notification(r) for r in conn.execute(query).mappings()])
