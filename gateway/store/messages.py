"""`SqlStore`'s messages: intake (with its plan, one statement on PostgreSQL), reads, transitions, approval
steps, and the alerts held for an operator."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.errors import Conflict, InputError, NotFound
from gateway.models import Delivery, DeliveryState, MessageState, Priority
from gateway.store import listings, rows, schema
from gateway.store import users as users_store
from gateway.store.drafts import delete_draft_row
from gateway.store.events import notification_rows
from gateway.store.records import (
    HeldAlert,
    MessageRecord,
    NewDelivery,
    NewHeldAlert,
    NewMessage,
    Revision,
    StepApproval,
)
from gateway.store.schema import (
    audit_events,
    deliveries,
    held_alerts,
    message_approvals,
    messages,
    new_id,
    notifications,
)
from gateway.store.txn import WAKE_CHANNEL, IntegrityConflict, SqlBase, _notify, _shielded, _storable, _values

_PLANNABLE = frozenset({DeliveryState.HELD, DeliveryState.QUEUED, DeliveryState.SKIPPED})


def _pg_insert_all(
    message: Mapping[str, Any], planned: Sequence[Mapping[str, Any]], audit: Sequence[Mapping[str, Any]], *,
    notify: str | None, outbox: Sequence[Mapping[str, Any]] = (),
) -> tuple[sa.Select[Any], dict[str, Any]]:
    """A message, its deliveries, their audit rows and outbox rows (and the NOTIFY) as one statement, with
    its parameters. The statement is built once per shape (columns, row counts) and reused, so that
    it is compiled once."""
    statement = _pg_insert_all_statement(tuple(message), tuple(planned[0]) if planned else (), len(planned),
                                         tuple(audit[0]), len(audit), notify is not None,
                                         tuple(outbox[0]) if outbox else (), len(outbox))
    params: dict[str, Any] = {f"m_{name}": value for name, value in message.items()}
    for table, rows_ in (("d", planned), ("a", audit), ("n", outbox)):
        for i, row in enumerate(rows_):
            params.update({f"{table}{i}_{name}": value for name, value in row.items()})
    if notify is not None:
        params["notify"] = notify
    return statement, params


@functools.lru_cache(maxsize=64)
def _pg_insert_all_statement(
    message_columns: tuple[str, ...], delivery_columns: tuple[str, ...], delivery_count: int,
    audit_columns: tuple[str, ...], audit_count: int, notify: bool,
    outbox_columns: tuple[str, ...] = (), outbox_count: int = 0,
) -> sa.Select[Any]:
    """Data-modifying WITH clauses all run, and foreign keys are checked at the end of the
    statement, when the message row is there."""

    def row(table: sa.Table, prefix: str, columns: tuple[str, ...]) -> dict[str, Any]:
        return {name: sa.bindparam(f"{prefix}_{name}", type_=table.c[name].type) for name in columns}

    # One single-row INSERT per row: SQLAlchemy does not cache the compiled form of a multi-row one.
    parts = [messages.insert().values(row(messages, "m", message_columns)).cte("new_message")]
    parts += [deliveries.insert().values(row(deliveries, f"d{i}", delivery_columns)).cte(f"new_delivery_{i}")
              for i in range(delivery_count)]
    parts += [audit_events.insert().values(row(audit_events, f"a{i}", audit_columns)).cte(f"new_audit_{i}")
              for i in range(audit_count)]
    parts += [notifications.insert().values(row(notifications, f"n{i}", outbox_columns)).cte(f"new_notice_{i}")
              for i in range(outbox_count)]
    result = (sa.select(sa.func.pg_notify(WAKE_CHANNEL, sa.bindparam("notify", type_=sa.String))) if notify
              else sa.select(sa.literal(1)))
    return result.add_cte(*parts)


class MessageQueries(SqlBase):
    """Messages, their approval steps and held alerts (`MessageLedger`)."""

    @_shielded
    async def add_message(self, new: NewMessage, *, actor: str) -> tuple[MessageRecord, bool]:
        """Insert a message (audit `message.accepted`).

        A repeated (submitter, idempotency key) or (municipality, alert key) returns the existing
        record and False, also when two requests race.
        """
        record, created, _ = await self.add_planned_message(new, None, actor=actor)
        return record, created

    @_shielded
    async def add_planned_message(
        self, new: NewMessage, deliveries: Sequence[NewDelivery] | None, *, actor: str,
    ) -> tuple[MessageRecord, bool, list[Delivery]]:
        """Insert a message and, when `deliveries` is given, plan it in the same transaction.

        An approved message that needs no approval is accepted and planned at once, so there is
        no moment at which it exists unplanned and one transaction fewer on the emergency path.
        """
        now = self._clock()
        values = rows.message_values(new, message_id=new_id("m"), now=now)
        if deliveries is not None:
            values = {**values, "state": MessageState.PLANNED.value}

        accepted = rows.audit_values(at=now, actor=actor, action="message.accepted", message_id=values["id"],
                                     to_state=new.state.value, detail=new.audit_detail)
        planned, audit, notify = ([], [], False) if deliveries is None else self._planned_rows(
            values, deliveries, actor=actor, now=now, from_state=new.state.value)
        created = rows.to_message(values), True, [rows.to_delivery(v) for v in planned]

        def insert(conn: Connection) -> tuple[MessageRecord, bool, list[Delivery]]:
            existing = self._duplicate_of(conn, new)
            if existing is not None:
                return existing, False, []
            conn.execute(messages.insert().values(values))
            if new.draft_id is not None:  # the draft becomes the message: never both, never neither
                delete_draft_row(conn, new.draft_id)
            self._add_audit(conn, [accepted])
            self._insert_planned(conn, planned, audit, notify=notify, priority=str(values["priority"]))
            return created

        def insert_at_once(conn: Connection) -> tuple[MessageRecord, bool, list[Delivery]]:
            # PostgreSQL: one statement (one round trip, atomic by itself); a duplicate shows as
            # a unique-constraint conflict, answered below with the message that exists.
            conn.execute(*_pg_insert_all(values, planned, [accepted, *audit],
                                         notify=str(values["priority"]) if notify else None,
                                         outbox=notification_rows([accepted, *audit])))
            return created

        try:
            if self._sqlite is None and new.draft_id is None:
                return await self._write(insert_at_once, urgent=new.priority is Priority.EMERGENCY, atomic=True)
            return await self._write(insert, urgent=new.priority is Priority.EMERGENCY)
        except IntegrityConflict:
            # Lost a race with an identical request between our check and our insert.
            existing = await self._read(lambda conn: self._duplicate_of(conn, new))
            if existing is None:
                raise
            return existing, False, []

    @staticmethod
    def _duplicate_of(conn: Connection, new: NewMessage) -> MessageRecord | None:
        conditions = []
        if new.idempotency_key is not None:
            conditions.append(sa.and_(messages.c.submitted_by == new.submitted_by,
                                      messages.c.idempotency_key == new.idempotency_key))
        if new.alert_key is not None:
            conditions.append(sa.and_(messages.c.municipality == new.municipality,
                                      messages.c.alert_key == new.alert_key))
        if not conditions:
            return None
        query = sa.select(messages).where(sa.or_(*conditions)).limit(1)
        row = conn.execute(query).mappings().first()
        return None if row is None else rows.to_message(row)

    @_shielded
    async def get_message(self, message_id: str) -> MessageRecord:
        if not _storable(message_id):
            raise NotFound(f"メッセージが見つかりません: {message_id!r}")
        query = sa.select(messages).where(messages.c.id == message_id)
        row = await self._read(lambda conn: conn.execute(query).mappings().first())
        if row is None:
            raise NotFound(f"メッセージが見つかりません: {message_id}")
        return rows.to_message(row)

    @_shielded
    async def get_messages(self, message_ids: Collection[str]) -> dict[str, MessageRecord]:
        """id -> message for the ids that exist, in one query."""
        wanted = sorted({i for i in message_ids if _storable(i)})
        if not wanted:
            return {}
        query = sa.select(messages).where(messages.c.id.in_(wanted))
        found = await self._read(lambda conn: [rows.to_message(r) for r in conn.execute(query).mappings()])
        return {record.id: record for record in found}

    @_shielded
    async def list_messages(
        self, *, states: Collection[MessageState] | None = None, municipality: str | None = None,
        limit: int = 100, alert_key_prefix: str | None = None, alert_thread: str | None = None,
    ) -> list[MessageRecord]:
        """Newest first."""
        query = sa.select(messages).order_by(messages.c.created_at.desc(), messages.c.id.desc()).limit(limit)
        if alert_thread is not None:
            query = query.where(messages.c.alert_thread == alert_thread)
        if alert_key_prefix is not None:
            query = query.where(messages.c.alert_key.startswith(alert_key_prefix, autoescape=True))
        if states is not None:
            query = query.where(messages.c.state.in_(_values(states)))
        if municipality is not None:
            query = query.where(messages.c.municipality == municipality)
        return await self._read(lambda conn: [rows.to_message(r) for r in conn.execute(query).mappings()])

    @_shielded
    async def alert_history(
        self, municipality: str, *, thread: str, subject: str, since: datetime,
    ) -> tuple[MessageRecord | None, MessageRecord | None]:
        """The newest message of the city's thread and the newest about `subject`: one round trip,
        each side by its own partial index."""
        newest = (messages.c.created_at.desc(), messages.c.id.desc())
        in_thread = (sa.select(messages, sa.literal(0).label("which"))
                     .where(messages.c.alert_thread == thread, messages.c.alert_thread.is_not(None),
                            messages.c.municipality == municipality)
                     .order_by(*newest).limit(1))
        about = (sa.select(messages, sa.literal(1).label("which"))
                 .where(messages.c.municipality == municipality, messages.c.alert_subject == subject,
                        messages.c.alert_subject.is_not(None), messages.c.created_at >= since)
                 .order_by(*newest).limit(1))
        query = sa.union_all(in_thread.subquery().select(), about.subquery().select())

        def read(conn: Connection) -> tuple[MessageRecord | None, MessageRecord | None]:
            found: list[MessageRecord | None] = [None, None]
            for row in conn.execute(query).mappings():
                found[int(row["which"])] = rows.to_message(row)
            return found[0], found[1]

        return await self._read(read)

    @staticmethod
    def _lock_message(conn: Connection, message_id: str) -> rows.RowLike:
        query = sa.select(messages).where(messages.c.id == message_id).with_for_update()
        row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"メッセージが見つかりません: {message_id}")
        return row

    @_shielded
    async def transition_message(
        self, message_id: str, *, expected: Collection[MessageState], new: MessageState, actor: str,
        reason: str | None = None, approved_by: str | None = None,
        overrides: Mapping[str, str] | None = None, note: str | None = None,
    ) -> MessageRecord:
        """Compare-and-set the state (audit row); Conflict when the state is not in `expected`.

        `approved_by`, `overrides` (replacing the stored mapping) and `note` are written when given.
        """
        now = self._clock()
        changes: dict[str, Any] = {"state": new.value, "updated_at": now}
        detail: dict[str, Any] = {}
        for column, value in (("approved_by", approved_by), ("overrides", overrides), ("note", note)):
            if value is not None:
                changes[column] = dict(value) if isinstance(value, Mapping) else value
                detail[column] = changes[column]

        def transition(conn: Connection) -> MessageRecord:
            row = self._cas_message(conn, message_id, expected, changes)
            self._add_audit(conn, [rows.audit_values(
                at=now, actor=actor, action=f"message.{new.value}", message_id=message_id,
                from_state=row["from_state"], to_state=new.value, reason=reason, detail=detail,
            )])
            return rows.to_message(row["row"])

        return await self._write(transition)

    def _cas_message(
        self, conn: Connection, message_id: str, expected: Collection[MessageState], changes: Mapping[str, Any],
    ) -> dict[str, Any]:
        current = self._lock_message(conn, message_id)["state"]
        allowed = _values(expected)
        if current not in allowed:
            raise Conflict(f"メッセージ {message_id} は現在「{current}」のため、この操作はできません")
        query = (sa.update(messages)
                 .where(messages.c.id == message_id, messages.c.state.in_(allowed))
                 .values(**changes).returning(*messages.c))
        row = conn.execute(query).mappings().first()
        if row is None:
            raise Conflict(f"メッセージ {message_id} は同時に変更されました。もう一度お試しください")
        return {"from_state": current, "row": row}

    @_shielded
    async def revise_message(
        self, message_id: str, revision: Revision, *, expected: Collection[MessageState], actor: str,
        reason: str,
    ) -> MessageRecord:
        """Store a new version of a post and restart its approval, in one transaction: the content and its
        check replaced, the approvals given so far deleted, the state back to `pending_approval`, the version
        number up by one, and the audit row `message.revised` (which notifies the approvers).

        Conflict when the state is not in `expected` or another edit came first (`expected_revision`)."""
        now = self._clock()
        body = revision.body
        changes: dict[str, Any] = {
            "state": MessageState.PENDING_APPROVAL.value, "updated_at": now, "body": body.model_dump(mode="json"),
            "check": revision.check.model_dump(mode="json"), "accounts": list(revision.accounts),
            "priority": body.priority.value, "priority_rank": body.priority.rank, "approved_by": None,
            "overrides": {}, "note": None, "revision": revision.expected_revision + 1, "revised_by": actor,
        }

        def revise(conn: Connection) -> MessageRecord:
            current = self._lock_message(conn, message_id)
            if int(current["revision"] or 1) != revision.expected_revision:
                raise Conflict(f"この投稿は同時に編集されました（現在は第{current['revision']}版）。"
                               "画面を開き直してから編集してください", code="revision_conflict")
            row = self._cas_message(conn, message_id, expected, changes)
            conn.execute(sa.delete(message_approvals).where(message_approvals.c.message_id == message_id))
            self._add_audit(conn, [rows.audit_values(
                at=now, actor=actor, action="message.revised", message_id=message_id, from_state=row["from_state"],
                to_state=MessageState.PENDING_APPROVAL.value, reason=reason,
                detail={**revision.audit_detail, "revision": changes["revision"]},
            )])
            return rows.to_message(row["row"])

        return await self._write(revise)

    @_shielded
    async def plan_message(
        self, message_id: str, deliveries: Sequence[NewDelivery], *, actor: str, urgent: bool = False,
    ) -> list[Delivery]:
        """Insert the deliveries and move the message approved -> planned in one transaction.

        Conflict if the message is not `approved`, so a message is planned exactly once.
        """
        now = self._clock()

        def plan(conn: Connection) -> list[Delivery]:
            planned = self._cas_message(conn, message_id, [MessageState.APPROVED],
                                        {"state": MessageState.PLANNED.value, "updated_at": now})
            values = self._insert_deliveries(conn, planned["row"], deliveries, actor=actor, now=now,
                                             from_state=planned["from_state"])
            return [rows.to_delivery(v) for v in values]

        return await self._write(plan, urgent=urgent)

    def _insert_deliveries(
        self, conn: Connection, message: Mapping[str, Any], deliveries: Sequence[NewDelivery], *,
        actor: str, now: datetime, from_state: str,
    ) -> list[dict[str, Any]]:
        """The deliveries of a message being planned, with their audit rows and `message.planned`."""
        values, audit, notify = self._planned_rows(message, deliveries, actor=actor, now=now, from_state=from_state)
        self._insert_planned(conn, values, audit, notify=notify, priority=str(message["priority"]))
        return values

    def _insert_planned(
        self, conn: Connection, values: Sequence[Mapping[str, Any]], audit: Sequence[Mapping[str, Any]], *,
        notify: bool, priority: str,
    ) -> None:
        if values:
            conn.execute(schema.deliveries.insert(), list(values))
        if notify:
            _notify(conn, priority)
        self._add_audit(conn, audit)

    def _planned_rows(
        self, message: Mapping[str, Any], deliveries: Sequence[NewDelivery], *, actor: str, now: datetime,
        from_state: str,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
        """Rows for planning a message: deliveries, their audit rows and `message.planned`, and
        whether any is queued (other replicas are then woken)."""
        for item in deliveries:
            if item.state not in _PLANNABLE:
                raise InputError(f"配信の初期状態に「{item.state.value}」は指定できません")
        values = [self._delivery_values(message, item, now) for item in deliveries]
        notify = any(item.state is DeliveryState.QUEUED for item in deliveries)
        audit = [rows.audit_values(
            at=now, actor=actor, action="delivery.created", message_id=message["id"],
            delivery_id=v["id"], to_state=v["state"], reason=item.reason,
            detail={"account": item.account, "platform": item.platform.value, "language": item.language},
        ) for v, item in zip(values, deliveries, strict=True)]
        audit.append(rows.audit_values(
            at=now, actor=actor, action="message.planned", message_id=message["id"],
            from_state=from_state, to_state=MessageState.PLANNED.value, detail={"deliveries": len(values)},
        ))
        return values, audit, notify

    @staticmethod
    def _delivery_values(message: Mapping[str, Any], item: NewDelivery, now: datetime) -> dict[str, Any]:
        return {
            "id": new_id("d"), "message_id": message["id"], "municipality": message["municipality"],
            "account": item.account, "platform": item.platform.value, "priority": message["priority"],
            "priority_rank": message["priority_rank"], "state": item.state.value,
            "not_before": item.not_before, "retry_at": None, "attempts": 0,
            "idempotency_key": uuid.uuid4().hex, "lease_owner": None, "lease_expires": None,
            "remote_id": None, "remote_url": None, "error_code": None, "error_text": None,
            "created_at": now, "updated_at": now, "sent_at": None, "language": item.language,
        }

    @_shielded
    async def approve_step(self, message_id: str, approval: StepApproval, *, final: bool, actor: str,
                           overrides: Mapping[str, str] | None = None) -> MessageRecord:
        now = self._clock()

        def approve(conn: Connection) -> MessageRecord:
            pending = [MessageState.PENDING_APPROVAL]
            changes: dict[str, Any] = {"updated_at": now}
            if final:
                changes.update(state=MessageState.APPROVED.value, approved_by=approval.approver,
                               overrides=dict(overrides or {}))
            row = self._cas_message(conn, message_id, pending, changes)
            conn.execute(message_approvals.insert().values(
                message_id=message_id, step=approval.step, step_name=approval.step_name, approver=approval.approver,
                at=now, overrides=dict(approval.overrides), official_view=approval.official_view))
            detail = {"step": approval.step + 1, "step_name": approval.step_name,
                      "overrides": dict(approval.overrides), "official_view": approval.official_view}
            events = [rows.audit_values(at=now, actor=actor, action="message.step_approved", message_id=message_id,
                                        reason=f"承認（{approval.step_name}）", detail=detail)]
            if final:
                events.append(rows.audit_values(
                    at=now, actor=actor, action="message.approved", message_id=message_id,
                    from_state=row["from_state"], to_state=MessageState.APPROVED.value, reason="承認",
                    detail={"approved_by": approval.approver, "overrides": dict(overrides or {})}))
            self._add_audit(conn, events)
            return rows.to_message(row["row"])

        try:
            return await self._write(approve)
        except IntegrityConflict:
            raise Conflict("この段階はすでに承認されたか、同じ人が別の段階をすでに承認しています"
                           "（同じ投稿の2つの段階を1人で承認することはできません）", code="already_approved") from None

    @_shielded
    async def list_approvals(self, message_id: str) -> list[StepApproval]:
        if not _storable(message_id):
            return []
        query = (sa.select(message_approvals).where(message_approvals.c.message_id == message_id)
                 .order_by(message_approvals.c.step))
        return await self._read(lambda conn: [users_store.to_approval(r) for r in conn.execute(query).mappings()])

    @_shielded
    async def add_held_alert(self, new: NewHeldAlert, *, actor: str) -> tuple[HeldAlert, bool]:
        """Record a held (or restricted) alert, unless one with the same content is still waiting."""
        now = self._clock()
        values = rows.held_alert_values(new, held_id=new_id("h"), actor=actor, now=now)
        waiting = ("restricted",) if new.restricted else ("held",)
        action = "alert.restricted" if new.restricted else "alert.held"

        def add(conn: Connection) -> tuple[HeldAlert, bool]:
            same = (sa.select(held_alerts).where(held_alerts.c.content == new.content,
                                                 held_alerts.c.state.in_(waiting))
                    .order_by(held_alerts.c.received_at.desc()).limit(1))
            existing = conn.execute(same).mappings().first()
            if existing is not None:
                return rows.to_held_alert(existing), False
            conn.execute(held_alerts.insert().values(values))
            self._add_audit(conn, [rows.audit_values(
                at=now, actor=actor, action=action, to_state=str(values["state"]), reason=new.reason[:2000],
                detail={"held_id": values["id"], "hold_code": new.hold_code, "key": new.alert_key,
                        "municipalities": list(new.municipalities)},
            )])
            return rows.to_held_alert(values), True

        return await self._write(add)

    @_shielded
    async def get_held_alert(self, held_id: str) -> HeldAlert:
        if not _storable(held_id):
            raise NotFound(f"要確認の防災情報が見つかりません: {held_id!r}")
        query = sa.select(held_alerts).where(held_alerts.c.id == held_id)
        row = await self._read(lambda conn: conn.execute(query).mappings().first())
        if row is None:
            raise NotFound(f"要確認の防災情報が見つかりません: {held_id}")
        return rows.to_held_alert(row)

    @_shielded
    async def list_held_alerts(
        self, *, states: Collection[str] | None = None, municipality: str | None = None, limit: int = 100,
    ) -> list[HeldAlert]:
        """Newest first; `municipality` keeps those that concern it."""
        query = sa.select(held_alerts).order_by(held_alerts.c.received_at.desc(), held_alerts.c.id.desc())
        if states is not None:
            query = query.where(held_alerts.c.state.in_(list(states)))
        found = await self._read(lambda conn: [rows.to_held_alert(r) for r in conn.execute(
            query.limit(limit if municipality is None else max(limit * 20, 1000))).mappings()])
        if municipality is not None:
            found = [h for h in found if municipality in h.municipalities]
        return found[:limit]

    @_shielded
    async def decide_held_alert(
        self, held_id: str, *, expected: Collection[str], new: str, actor: str, note: str | None,
        messages: Sequence[str] = (),
    ) -> HeldAlert:
        if not _storable(held_id):
            raise NotFound(f"要確認の防災情報が見つかりません: {held_id!r}")
        now = self._clock()

        def decide(conn: Connection) -> HeldAlert:
            query = sa.select(held_alerts).where(held_alerts.c.id == held_id).with_for_update()
            row = conn.execute(query).mappings().first()
            if row is None:
                raise NotFound(f"要確認の防災情報が見つかりません: {held_id}")
            if row["state"] not in expected:
                raise Conflict(f"この防災情報はすでに処理されています（{row['state']}、{row['decided_by'] or '-'}）")
            update = (sa.update(held_alerts).where(held_alerts.c.id == held_id)
                      .values(state=new, decided_by=actor, decided_at=now, note=note, messages=list(messages))
                      .returning(*held_alerts.c))
            decided = rows.to_held_alert(conn.execute(update).mappings().one())
            self._add_audit(conn, [rows.audit_values(
                at=now, actor=actor, action=f"alert.{new}", from_state=row["state"], to_state=new, reason=note,
                detail={"held_id": held_id, "key": decided.alert_key, "messages": list(messages)},
            )])
            return decided

        return await self._write(decide)

    # -- paginated listings (filters, scope, order and pages in SQL: store/listings.py) ----------------

    @_shielded
    async def page_messages(self, query: listings.MessageQuery, *, limit: int, offset: int = 0,
                            after: listings.Cursor | None = None) -> list[MessageRecord]:
        """One page of messages, newest first (by offset, or after a keyset cursor)."""
        statement = listings.messages_newest_first(query, self._dialect, limit=limit, offset=offset, after=after)
        return await self._read(lambda conn: [rows.to_message(r) for r in conn.execute(statement).mappings()])

    @_shielded
    async def count_messages(self, query: listings.MessageQuery) -> int:
        statement = listings.count_of(messages, listings.message_filter(query, self._dialect))
        return int(await self._read(lambda conn: conn.execute(statement).scalar_one()))
