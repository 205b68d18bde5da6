"""`SqlStore`'s deliveries: listing, releasing held posts, and transitions with their audit row (one
statement on PostgreSQL)."""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.errors import Conflict, InputError, NotFound
from gateway.models import Delivery, DeliveryState, MessageState
from gateway.store import listings, rows
from gateway.store.events import notification_rows
from gateway.store.schema import PARTIAL_STATES, audit_events, deliveries, in_state, messages, notifications
from gateway.store.txn import _CHUNK, SqlBase, _notify, _shielded, _storable, _values

# Columns a caller may set through transition_delivery (never state or ids; attempts only to give back
# an attempt that a rate limit did not use).
DELIVERY_FIELDS = frozenset(
    {"retry_at", "remote_id", "remote_url", "error_code", "error_text", "sent_at", "lease_owner",
     "lease_expires", "not_before", "attempts"}
)


# Audit columns whose values a transition passes in; the rest come from the updated row.
_AUDIT_FROM_ROW = frozenset({"message_id", "delivery_id", "from_state"})


_AUDIT_CONSTANTS = tuple(c.name for c in audit_events.c if c.name != "id" and c.name not in _AUDIT_FROM_ROW)


@functools.lru_cache(maxsize=64)
def _pg_transition_statement(columns: tuple[str, ...], outbox: bool = False) -> sa.Select[Any]:
    """One statement: lock the row, update it if its state is allowed, insert the audit row (and, with
    `outbox`, the notification of the event, from `outbox_*` parameters).

    The locking subquery reads the row's latest committed state (READ COMMITTED re-reads a row it
    waited for), which the audit row records as `from_state`. Built once per set of columns and
    reused, so neither the statement nor its cache key is rebuilt per call.
    """
    d = deliveries
    old = (sa.select(d.c.id, d.c.state).where(d.c.id == sa.bindparam("delivery_id"))
           .with_for_update().subquery("old"))
    updated = (sa.update(d)
               .where(d.c.id == old.c.id, old.c.state.in_(sa.bindparam("allowed", expanding=True)))
               .values({name: sa.bindparam(f"set_{name}", type_=d.c[name].type) for name in columns})
               .returning(*d.c, old.c.state.label("from_state"))
               .cte("updated"))
    from_row = {"message_id": updated.c.message_id, "delivery_id": updated.c.id,
                "from_state": updated.c.from_state}
    columns_in_order = [c for c in audit_events.c if c.name != "id"]
    values = sa.select(*[from_row[c.name] if c.name in from_row else sa.bindparam(f"audit_{c.name}", type_=c.type)
                         for c in columns_in_order])
    audited = audit_events.insert().from_select([c.name for c in columns_in_order], values).cte("audited")
    if not outbox:
        return sa.select(updated).add_cte(audited)
    notice_columns = list(notifications.c)
    notice_values = sa.select(*[from_row[c.name] if c.name in from_row
                                else sa.bindparam(f"outbox_{c.name}", type_=c.type) for c in notice_columns])
    noticed = notifications.insert().from_select([c.name for c in notice_columns], notice_values).cte("noticed")
    return sa.select(updated).add_cte(audited, noticed)


# A message whose every delivery is in one of these has gone out everywhere it can (planned -> sent).
_OUT = (DeliveryState.SENT.value, DeliveryState.SKIPPED.value)


class DeliveryQueries(SqlBase):
    """Deliveries outside the claim (`DeliveryQueue`)."""

    @_shielded
    async def get_delivery(self, delivery_id: str) -> Delivery:
        if not _storable(delivery_id):
            raise NotFound(f"配信が見つかりません: {delivery_id!r}")
        query = sa.select(deliveries).where(deliveries.c.id == delivery_id)
        row = await self._read(lambda conn: conn.execute(query).mappings().first())
        if row is None:
            raise NotFound(f"配信が見つかりません: {delivery_id}")
        return rows.to_delivery(row)

    @_shielded
    async def list_deliveries(
        self, *, states: Collection[DeliveryState] | None = None, account: str | None = None,
        message_id: str | None = None, limit: int = 500, municipalities: Collection[str] | None = None,
    ) -> list[Delivery]:
        """Newest first; `municipalities` (a reader's scope) keeps only those cities' deliveries."""
        if not all(_storable(v) for v in (account, message_id) if v is not None):
            return []  # no stored id or account can contain what PostgreSQL cannot even compare
        query = (sa.select(deliveries)
                 .order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc()).limit(limit))
        if states is not None:
            wanted = _values(states)
            # One state with its own partial index (the reconciler's `uncertain`) is named literally.
            query = query.where(in_state(deliveries.c.state, wanted[0]) if len(wanted) == 1
                                and wanted[0] in PARTIAL_STATES else deliveries.c.state.in_(wanted))
        if account is not None:
            query = query.where(deliveries.c.account == account)
        if message_id is not None:
            query = query.where(deliveries.c.message_id == message_id)
        if municipalities is not None:
            query = query.where(deliveries.c.municipality.in_(sorted(municipalities)))
        return await self._read(lambda conn: [rows.to_delivery(r) for r in conn.execute(query).mappings()])

    @_shielded
    async def release_held(self, now: datetime) -> list[Delivery]:
        """held deliveries whose not_before has come -> queued (audit rows)."""
        # Rows another releaser holds are skipped rather than waited for: no deadlocks between
        # replicas, and each delivery is released (and audited) exactly once.
        held_due = (in_state(deliveries.c.state, DeliveryState.HELD), deliveries.c.not_before <= now)
        query = (sa.select(deliveries.c.id).where(*held_due)
                 .order_by(deliveries.c.not_before, deliveries.c.id).with_for_update(skip_locked=True))
        look = sa.select(deliveries.c.id).where(*held_due).limit(1)
        if not await self._read(lambda conn: conn.execute(look).first()):
            return []  # nothing due (every tick of every replica): one read, no write transaction

        def release(conn: Connection) -> list[Delivery]:
            ids = list(conn.execute(query).scalars())
            released: list[Delivery] = []
            for start in range(0, len(ids), _CHUNK):
                released.extend(self._release(conn, ids[start:start + _CHUNK], now))
            return released

        released = await self._write(release)
        return sorted(released, key=lambda d: (d.priority.rank, d.created_at, d.id))

    def _release(self, conn: Connection, ids: Sequence[str], now: datetime) -> list[Delivery]:
        query = (sa.update(deliveries)
                 .where(deliveries.c.id.in_(ids), deliveries.c.state == DeliveryState.HELD.value)
                 .values(state=DeliveryState.QUEUED.value, updated_at=now)
                 .returning(*deliveries.c))
        released = [rows.to_delivery(r) for r in conn.execute(query).mappings()]
        for priority in {d.priority.value for d in released}:
            _notify(conn, priority)
        self._add_audit(conn, [rows.audit_values(
            at=now, actor="system", action="delivery.released", message_id=d.message_id,
            delivery_id=d.id, from_state=DeliveryState.HELD.value, to_state=DeliveryState.QUEUED.value,
        ) for d in released])
        return released

    @_shielded
    async def transition_delivery(
        self, delivery_id: str, *, expected: Collection[DeliveryState], new: DeliveryState, actor: str,
        reason: str | None = None, fields: Mapping[str, Any] | None = None,
        detail: Mapping[str, Any] | None = None, urgent: bool = False,
    ) -> Delivery:
        """Compare-and-set a delivery's state and the given columns; one audit row.

        Leaving `sending` clears the lease and entering `sent` stamps `sent_at`, unless `fields`
        sets them. Conflict when the state is not in `expected`.
        """
        now = self._clock()
        changes = self._delivery_changes(new, fields or {}, now)
        allowed = _values(expected)

        if self._sqlite is None:
            audit = rows.audit_values(at=now, actor=actor, action=f"delivery.{new.value}", to_state=new.value,
                                      reason=reason, detail=detail)
            outbox = notification_rows([audit])
            done = await self._pg_transition(delivery_id, allowed, changes, audit, urgent=urgent,
                                             outbox=outbox[0] if outbox else None)
            await self._message_out(done, actor=actor)
            return done

        def transition(conn: Connection) -> Delivery:
            current = self._lock_delivery_state(conn, delivery_id)
            if current not in allowed:
                raise Conflict(f"配信 {delivery_id} は現在「{current}」のため、この操作はできません")
            query = (sa.update(deliveries)
                     .where(deliveries.c.id == delivery_id, deliveries.c.state.in_(allowed))
                     .values(**changes).returning(*deliveries.c))
            row = conn.execute(query).mappings().one()
            self._add_audit(conn, [rows.audit_values(
                at=now, actor=actor, action=f"delivery.{new.value}", message_id=row["message_id"],
                delivery_id=delivery_id, from_state=current, to_state=new.value, reason=reason,
                detail=detail,
            )])
            done = rows.to_delivery(row)
            self._settle_message(conn, done, actor=actor, now=now)  # SQLite: one writer, same transaction
            return done

        return await self._write(transition, urgent=urgent)

    async def _message_out(self, delivery: Delivery, *, actor: str) -> None:
        """PostgreSQL, after the delivery's own commit: so of two deliveries settling at once in two
        transactions the later one sees both."""
        if delivery.state.value in _OUT:
            now = self._clock()
            await self._write(lambda conn: self._settle_message(conn, delivery, actor=actor, now=now))

    def _settle_message(self, conn: Connection, delivery: Delivery, *, actor: str, now: datetime) -> None:
        """planned -> sent (audit `message.sent`) once every delivery of the message is sent or skipped."""
        if delivery.state.value not in _OUT:
            return
        others = (sa.select(deliveries.c.id)
                  .where(deliveries.c.message_id == delivery.message_id, deliveries.c.state.not_in(_OUT)))
        update = (sa.update(messages)
                  .where(messages.c.id == delivery.message_id, messages.c.state == MessageState.PLANNED.value,
                         ~sa.exists(others))
                  .values(state=MessageState.SENT.value, updated_at=now).returning(messages.c.id))
        if conn.execute(update).first() is not None:
            self._add_audit(conn, [rows.audit_values(
                at=now, actor=actor, action="message.sent", message_id=delivery.message_id,
                from_state=MessageState.PLANNED.value, to_state=MessageState.SENT.value)])

    async def _pg_transition(
        self, delivery_id: str, allowed: list[str], changes: Mapping[str, Any], audit: Mapping[str, Any], *,
        urgent: bool, outbox: Mapping[str, Any] | None = None,
    ) -> Delivery:
        """PostgreSQL: lock, compare-and-set, audit (and the outbox row) in one statement (one round trip,
        atomic)."""
        statement = _pg_transition_statement(tuple(sorted(changes)), outbox is not None)
        params = {"delivery_id": delivery_id, "allowed": allowed,
                  **{f"set_{name}": value for name, value in changes.items()},
                  **{f"audit_{name}": audit[name] for name in _AUDIT_CONSTANTS},
                  **{f"outbox_{name}": value for name, value in (outbox or {}).items()
                     if name not in _AUDIT_FROM_ROW}}

        def transition(conn: Connection) -> Delivery | str | None:
            row = conn.execute(statement, params).mappings().first()
            if row is not None:
                return rows.to_delivery(row)
            # Nothing changed: say why (this read is for the message only).
            return conn.execute(sa.select(deliveries.c.state).where(deliveries.c.id == delivery_id)).scalar()

        for _ in range(3):
            done = await self._write(transition, urgent=urgent, atomic=True)
            if isinstance(done, Delivery):
                return done
            if done is None:
                raise NotFound(f"配信が見つかりません: {delivery_id}")
            if done not in allowed:
                raise Conflict(f"配信 {delivery_id} は現在「{done}」のため、この操作はできません")
            # The state moved back into `allowed` between the two statements: try again.
        raise Conflict(f"配信 {delivery_id} の状態が変わり続けているため、この操作はできません")

    @staticmethod
    def _delivery_changes(new: DeliveryState, fields: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        unknown = set(fields) - DELIVERY_FIELDS
        if unknown:
            raise InputError(f"配信の変更できない項目が指定されました: {', '.join(sorted(unknown))}")
        changes: dict[str, Any] = {"state": new.value, "updated_at": now}
        if new is not DeliveryState.SENDING:
            changes.update(lease_owner=None, lease_expires=None)
        if new is DeliveryState.SENT:
            changes["sent_at"] = now
        if new.is_final:  # a settled delivery has no next attempt: an old retry_at would read as one
            changes["retry_at"] = None
        changes.update(fields)
        return changes

    @staticmethod
    def _lock_delivery_state(conn: Connection, delivery_id: str) -> str:
        query = sa.select(deliveries.c.state).where(deliveries.c.id == delivery_id).with_for_update()
        state = conn.execute(query).scalar_one_or_none()
        if state is None:
            raise NotFound(f"配信が見つかりません: {delivery_id}")
        return str(state)

    @_shielded
    async def next_wakeup(self) -> datetime | None:
        """The earliest not_before of a held delivery or retry_at of a waiting one."""
        held = sa.select(sa.func.min(deliveries.c.not_before)).where(
            in_state(deliveries.c.state, DeliveryState.HELD))
        waiting = sa.select(sa.func.min(deliveries.c.retry_at)).where(
            in_state(deliveries.c.state, DeliveryState.RETRY_WAIT))
        times = await self._read(lambda conn: [conn.execute(q).scalar_one_or_none() for q in (held, waiting)])
        found = [t for t in times if t is not None]
        return min(found) if found else None

    # -- paginated listings (filters, scope, order and pages in SQL: store/listings.py) ----------------

    @_shielded
    async def page_deliveries(self, query: listings.DeliveryQuery, *, limit: int, offset: int = 0) -> list[Delivery]:
        """One page of deliveries, emergencies first, then the most recently changed."""
        statement = listings.deliveries_emergency_first(query, limit=limit, offset=offset)
        return await self._read(lambda conn: [rows.to_delivery(r) for r in conn.execute(statement).mappings()])

    @_shielded
    async def deliveries_after(self, query: listings.DeliveryQuery, *, limit: int,
                               after: listings.Cursor | None = None) -> list[Delivery]:
        """One keyset page of deliveries, newest first, after the cursor of the page before."""
        statement = listings.deliveries_newest_first(query, limit=limit, after=after)
        return await self._read(lambda conn: [rows.to_delivery(r) for r in conn.execute(statement).mappings()])

    @_shielded
    async def deliveries_between(self, query: listings.DeliveryQuery, start: datetime, end: datetime, *,
                                 limit: int) -> list[Delivery]:
        """Deliveries going or gone out in [start, end) (sent, else scheduled, else planned), in time order."""
        statement = listings.deliveries_between(query, start, end, limit=limit)
        return await self._read(lambda conn: [rows.to_delivery(r) for r in conn.execute(statement).mappings()])

    @_shielded
    async def count_deliveries(self, query: listings.DeliveryQuery) -> int:
        statement = listings.count_of(deliveries, listings.delivery_filter(query))
        return int(await self._read(lambda conn: conn.execute(statement).scalar_one()))
