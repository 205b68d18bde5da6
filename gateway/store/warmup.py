"""`SqlStore`'s warm-up: the hot path's statements run once in a transaction that is rolled back."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from sqlalchemy.engine import Connection

from gateway.models import DeliveryState, MessageState, Platform, Priority
from gateway.store import claim, rows
from gateway.store.claim import ClaimQueries
from gateway.store.deliveries import _AUDIT_CONSTANTS, DeliveryQueries, _pg_transition_statement
from gateway.store.messages import MessageQueries, _pg_insert_all
from gateway.store.records import NewDelivery
from gateway.store.schema import messages, new_id
from gateway.store.txn import _RolledBack


class WarmUp(MessageQueries, DeliveryQueries, ClaimQueries):
    """Compiling the hot path's statements at start-up (needs messages, deliveries and the claim)."""

    async def warm_up(self) -> None:
        """Run the hot path's statements once in a transaction that is rolled back.

        SQLAlchemy compiles each statement shape on first use (tens of milliseconds); doing it at
        start-up keeps that cost off the first alert after a restart.
        """
        now = self._clock()
        message = {"id": new_id("m"), "municipality": "_warm_up", "state": MessageState.PLANNED.value,
                   "priority": Priority.EMERGENCY.value, "priority_rank": Priority.EMERGENCY.rank,
                   "submitted_by": "_warm_up", "source": "warm_up", "body": {}, "check": {}, "accounts": [],
                   "overrides": {}, "created_at": now, "updated_at": now}

        audit = rows.audit_values(at=now, actor="_warm_up", action="delivery.sent", to_state="sent")

        def rehearse(conn: Connection) -> None:
            one = [NewDelivery("_warm_up", next(iter(Platform)), DeliveryState.QUEUED, now)]
            if self._sqlite is None:
                # An alert's message goes in as one statement whose shape depends on its number
                # of deliveries: compile the usual ones (one per account of a city, up to four).
                for count in range(4, 0, -1):
                    trial = {**message, "id": new_id("m")}
                    planned, trail, _ = self._planned_rows(trial, one * count, actor="_warm_up", now=now,
                                                           from_state=MessageState.APPROVED.value)
                    accepted = rows.audit_values(at=now, actor="_warm_up", action="message.accepted",
                                                 message_id=str(trial["id"]), to_state=MessageState.APPROVED.value)
                    # (a NOTIFY in a transaction that rolls back is never sent)
                    conn.execute(*_pg_insert_all(trial, planned, [accepted, *trail],
                                                 notify=Priority.EMERGENCY.value))
            conn.execute(messages.insert().values(message))
            self._insert_deliveries(conn, message, one, actor="_warm_up", now=now,
                                    from_state=MessageState.APPROVED.value)
            for priorities in ({Priority.EMERGENCY}, None):
                if self._sqlite is None:
                    claimed = [rows.to_delivery(r) for r in claim.take_pg(
                        conn, now=now, limit=1, priorities=priorities, worker="_warm_up", lease_expires=now)]
                else:
                    due = claim.choose(conn, now=now, limit=1, priorities=priorities)
                    claimed = self._mark_sending(conn, due, worker="_warm_up", now=now, lease=timedelta(0))
                for delivery in claimed:
                    if self._sqlite is None:
                        # The columns a dispatcher's `sent` sets (the statement is built per column set).
                        changes = self._delivery_changes(DeliveryState.SENT, dict.fromkeys(
                            ("remote_id", "remote_url", "error_code", "error_text", "lease_owner", "lease_expires")),
                            now)
                        conn.execute(_pg_transition_statement(tuple(sorted(changes))), {
                            "delivery_id": delivery.id, "allowed": ["sending"],
                            **{f"set_{name}": value for name, value in changes.items()},
                            **{f"audit_{name}": audit[name] for name in _AUDIT_CONSTANTS}})
                    else:
                        self._lock_delivery_state(conn, delivery.id)
            raise _RolledBack

        with contextlib.suppress(_RolledBack):
            await self._write(rehearse, urgent=True)
