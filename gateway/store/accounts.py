"""`SqlStore`'s accounts: rate-limit pauses, stops and resumes (小平 3(7)), credential rotations, the facts
account health reads, and hijack alerts."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.errors import Conflict, NotFound
from gateway.models import MAX_ROW_ID, Delivery, DeliveryState, Message
from gateway.store import rows
from gateway.store.records import AccountPause, AccountState, HijackAlert, LedgerPost, SuspectPost
from gateway.store.schema import (
    PARTIAL_INDEXES,
    PARTIAL_STATES,
    account_pauses,
    account_states,
    audit_events,
    deliveries,
    hijack_alerts,
    in_state,
    messages,
)
from gateway.store.txn import _CHUNK, SqlBase, _notify, _shielded

# The NOTIFY payload (on WAKE_CHANNEL) of an account stop or resume; other payloads are priorities.
STOPS_CHANGED = "accounts"


# How long a process trusts its copy of the stopped accounts when no NOTIFY says otherwise.
STOPS_CACHE_SECONDS = 1.0


# Account stop (小平 3(7)): what a stop holds, and what may already be on the platform for the hijack scan.
_HOLDABLE = (DeliveryState.QUEUED.value, DeliveryState.RETRY_WAIT.value)


_PUBLISHED = (DeliveryState.SENT.value, DeliveryState.RETRACTED.value, DeliveryState.UNCERTAIN.value,
              DeliveryState.SENDING.value)


class AccountQueries(SqlBase):
    """Accounts (`AccountLedger`)."""

    @_shielded
    async def pause_account(self, account: str, *, until: datetime, reason: str, actor: str) -> None:
        now = self._clock()
        insert = self._dialect_module().insert(account_pauses).values(
            account=account, until=until, reason=reason, updated_at=now)
        upsert = insert.on_conflict_do_update(
            index_elements=[account_pauses.c.account],
            set_={"until": insert.excluded.until, "reason": insert.excluded.reason,
                  "updated_at": insert.excluded.updated_at},
        )

        def pause(conn: Connection) -> None:
            conn.execute(upsert)
            self._add_audit(conn, [rows.audit_values(
                at=now, actor=actor, action="account.paused", reason=reason,
                detail={"account": account, "until": until},
            )])

        await self._write(pause, urgent=True)  # ahead of claims that would otherwise still see the account free

    @_shielded
    async def account_pauses(self, now: datetime) -> list[AccountPause]:
        query = (sa.select(account_pauses).where(account_pauses.c.until > now)
                 .order_by(account_pauses.c.account))
        return await self._read(lambda conn: [rows.to_pause(r) for r in conn.execute(query).mappings()])

    @_shielded
    async def last_sent(self) -> dict[str, datetime]:
        """account -> time of its most recent sent delivery (retracted ones were sent too)."""
        query = (sa.select(deliveries.c.account, sa.func.max(deliveries.c.sent_at))
                 .where(deliveries.c.sent_at.is_not(None)).group_by(deliveries.c.account))
        return await self._read(lambda conn: {account: at for account, at in conn.execute(query).all()})

    @_shielded
    async def stopped_accounts(self) -> dict[str, str]:
        """account -> reason, for accounts an operator has stopped.

        Every publish asks this, so the answer is kept: this process's own stops and resumes
        drop it at once, other replicas' do through `stops_changed` (PostgreSQL NOTIFY), and in
        any case it is read again after `STOPS_CACHE_SECONDS`.
        """
        cached, generation = self._stops, self._stops_generation
        if cached is not None and time.monotonic() - cached[0] < STOPS_CACHE_SECONDS:
            return dict(cached[1])
        read_at = time.monotonic()
        query = (sa.select(account_states.c.account, account_states.c.stop_reason)
                 .where(account_states.c.stopped.is_(True)))
        stops = await self._read(lambda conn: {a: reason or "" for a, reason in conn.execute(query).all()})
        if generation == self._stops_generation:  # no stop or resume since the read began
            self._stops = (read_at, stops)
        return dict(stops)

    def stops_changed(self) -> None:
        """An account was stopped or resumed (here or in another replica): read the stops again."""
        self._stops = None
        self._stops_generation += 1

    @_shielded
    async def stop_account(self, account: str, *, actor: str, reason: str) -> list[Delivery]:
        """Stop the account and hold its pending deliveries (no not_before), in one transaction."""
        now = self._clock()

        def stop(conn: Connection) -> list[Delivery]:
            if self._lock_account_state(conn, account, now)["stopped"]:
                raise Conflict(f"アカウント {account} はすでに停止中です")
            conn.execute(sa.update(account_states).where(account_states.c.account == account).values(
                stopped=True, stop_reason=reason, stopped_by=actor, stopped_at=now, updated_at=now))
            self._add_audit(conn, [rows.audit_values(
                at=now, actor=actor, action="account.stopped", reason=reason, detail={"account": account})])
            _notify(conn, STOPS_CHANGED)
            return self._move_account_deliveries(
                conn, account, expected=_HOLDABLE, new=DeliveryState.HELD, actor=actor,
                reason=f"アカウント停止: {reason}", now=now, changes={"not_before": None, "retry_at": None})

        try:
            return await self._write(stop)
        finally:
            self.stops_changed()

    @_shielded
    async def resume_account(self, account: str, *, actor: str, reason: str) -> list[Delivery]:
        """Clear the stop and queue the deliveries it held (held with no not_before)."""
        now = self._clock()

        def resume(conn: Connection) -> list[Delivery]:
            stopped = self._lock_account_state(conn, account, now)["stopped"]
            conn.execute(sa.update(account_states).where(account_states.c.account == account).values(
                stopped=False, stop_reason=None, stopped_by=None, stopped_at=None, updated_at=now))
            released = self._move_account_deliveries(
                conn, account, expected=(DeliveryState.HELD.value,), new=DeliveryState.QUEUED, actor=actor,
                reason=f"アカウント再開: {reason}", now=now, changes={}, untimed_only=True)
            # Not stopped here but with held deliveries: a stop in the config that has since been lifted.
            if not stopped and not released:
                raise Conflict(f"アカウント {account} は停止されていません")  # rolls the transaction back
            self._add_audit(conn, [rows.audit_values(
                at=now, actor=actor, action="account.resumed", reason=reason, detail={"account": account})])
            _notify(conn, STOPS_CHANGED)
            return released

        try:
            return await self._write(resume)
        finally:
            self.stops_changed()

    def _lock_account_state(self, conn: Connection, account: str, now: datetime) -> rows.RowLike:
        """The account's state row, created if missing and locked for this transaction."""
        conn.execute(self._dialect_module().insert(account_states).on_conflict_do_nothing()
                     .values(account=account, stopped=False, updated_at=now))
        query = sa.select(account_states).where(account_states.c.account == account).with_for_update()
        return conn.execute(query).mappings().one()

    def _move_account_deliveries(
        self, conn: Connection, account: str, *, expected: Sequence[str], new: DeliveryState, actor: str,
        reason: str, now: datetime, changes: Mapping[str, Any], untimed_only: bool = False,
    ) -> list[Delivery]:
        query = (sa.select(deliveries.c.id, deliveries.c.state)
                 .where(deliveries.c.account == account, deliveries.c.state.in_(expected))
                 .order_by(deliveries.c.id).with_for_update())
        if untimed_only:
            query = query.where(deliveries.c.not_before.is_(None))
        found = {delivery_id: state for delivery_id, state in conn.execute(query).all()}
        ids = list(found)
        moved: list[Delivery] = []
        for start in range(0, len(ids), _CHUNK):
            update = (sa.update(deliveries)
                      .where(deliveries.c.id.in_(ids[start:start + _CHUNK]), deliveries.c.state.in_(expected))
                      .values(state=new.value, updated_at=now, **changes).returning(*deliveries.c))
            moved.extend(rows.to_delivery(r) for r in conn.execute(update).mappings())
        self._add_audit(conn, [rows.audit_values(
            at=now, actor=actor, action=f"delivery.{new.value}", message_id=d.message_id, delivery_id=d.id,
            from_state=found[d.id], to_state=new.value, reason=reason,
        ) for d in moved])
        return sorted(moved, key=lambda d: (d.priority.rank, d.created_at, d.id))

    @_shielded
    async def record_rotation(self, account: str, *, actor: str, reason: str) -> datetime:
        now = self._clock()

        def record(conn: Connection) -> datetime:
            self._lock_account_state(conn, account, now)
            conn.execute(sa.update(account_states).where(account_states.c.account == account).values(
                rotated_at=now, rotated_by=actor, updated_at=now))
            self._add_audit(conn, [rows.audit_values(
                at=now, actor=actor, action="credentials.rotated", reason=reason, detail={"account": account})])
            return now

        return await self._write(record)

    @_shielded
    async def account_states(self) -> list[AccountState]:
        query = sa.select(account_states).order_by(account_states.c.account)
        return await self._read(lambda conn: [rows.to_account_state(r) for r in conn.execute(query).mappings()])

    @_shielded
    async def latest_failures(self) -> dict[str, tuple[datetime, str | None]]:
        """account -> (updated_at, error_code) of its most recent failed delivery."""
        failed = deliveries.c.state == DeliveryState.FAILED.value
        latest = (sa.select(deliveries.c.account, sa.func.max(deliveries.c.updated_at).label("at"))
                  .where(failed).group_by(deliveries.c.account).subquery())
        query = (sa.select(deliveries.c.account, deliveries.c.updated_at, deliveries.c.error_code)
                 .join(latest, sa.and_(deliveries.c.account == latest.c.account,
                                       deliveries.c.updated_at == latest.c.at))
                 .where(failed).order_by(deliveries.c.id))

        def read(conn: Connection) -> dict[str, tuple[datetime, str | None]]:
            out: dict[str, tuple[datetime, str | None]] = {}
            for account, at, code in conn.execute(query).all():
                if account not in out or code == "auth":  # a tie: the auth failure is the one that matters
                    out[account] = (at, code)
            return out

        return await self._read(read)

    @_shielded
    async def delivery_state_counts(self) -> dict[str, int]:
        open_states = [s.value for s in DeliveryState if not s.is_final]
        # One count per state, each over that state's partial index (not over the whole history).
        # `planned` has none: planning creates held or queued deliveries, never planned ones.
        counted = [state for state in open_states if state in PARTIAL_STATES]
        if self._sqlite is not None:
            # SQLite's planner prefers a full covering index for count(*); name the partial one.
            query: sa.Executable = sa.text("SELECT " + ", ".join(
                f"(SELECT count(*) FROM deliveries INDEXED BY {PARTIAL_INDEXES[state]} "
                f"WHERE state = '{state}') AS {state}" for state in counted))
        else:
            query = sa.select(*[sa.select(sa.func.count()).where(in_state(deliveries.c.state, state))
                                .scalar_subquery().label(state) for state in counted])
        counts = await self._read(lambda conn: conn.execute(query).mappings().one())
        return {state: int(counts[state]) if state in counts else 0 for state in open_states}

    @_shielded
    async def account_posts(self, account: str, since: datetime) -> list[LedgerPost]:
        """Deliveries of the account that went out or may have (sent, retracted, uncertain, sending)
        since `since`, with the message each carried and any further ids of a threaded post."""
        query = (sa.select(deliveries.c.id, deliveries.c.state, deliveries.c.remote_id, deliveries.c.language,
                           messages.c.body)
                 .join(messages, messages.c.id == deliveries.c.message_id)
                 .where(deliveries.c.account == account, deliveries.c.state.in_(_PUBLISHED),
                        sa.or_(deliveries.c.sent_at >= since, deliveries.c.updated_at >= since))
                 .order_by(deliveries.c.id))

        def read(conn: Connection) -> list[LedgerPost]:
            found = conn.execute(query).all()
            extra = self._extra_ids(conn, [row.id for row in found])
            return [LedgerPost(delivery_id=row.id, state=DeliveryState(row.state), remote_id=row.remote_id,
                               extra_ids=extra.get(row.id, ()), message=Message.model_validate(row.body),
                               language=row.language)
                    for row in found]

        return await self._read(read)

    @staticmethod
    def _extra_ids(conn: Connection, delivery_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """Further platform ids of threaded posts, which dispatch records in the `delivery.sent` audit row."""
        out: dict[str, tuple[str, ...]] = {}
        for start in range(0, len(delivery_ids), _CHUNK):
            query = (sa.select(audit_events.c.delivery_id, audit_events.c.detail)
                     .where(audit_events.c.action == "delivery.sent",
                            audit_events.c.delivery_id.in_(delivery_ids[start:start + _CHUNK])))
            for delivery_id, detail in conn.execute(query).all():
                ids = (detail or {}).get("extra_ids") or []
                out[delivery_id] = out.get(delivery_id, ()) + tuple(str(i) for i in ids)
        return out

    @_shielded
    async def add_hijack_alerts(self, found: Sequence[SuspectPost], *, actor: str) -> list[HijackAlert]:
        """Insert the posts not alerted before, each with an audit row; returns the new alerts."""
        if not found:
            return []
        now = self._clock()
        dialect = self._dialect_module()

        def add(conn: Connection) -> list[HijackAlert]:
            created: list[HijackAlert] = []
            for post in found:
                insert = (dialect.insert(hijack_alerts).on_conflict_do_nothing()
                          .values(account=post.account, remote_id=post.remote_id, text=post.text, url=post.url,
                                  posted_at=post.posted_at, detected_at=now)
                          .returning(*hijack_alerts.c))
                row = conn.execute(insert).mappings().first()
                if row is not None:
                    created.append(rows.to_hijack_alert(row))
            self._add_audit(conn, [rows.audit_values(
                at=now, actor=actor, action="account.hijack_suspected", reason="ゲートウェイが行っていない投稿を検出",
                detail={"account": a.account, "alert_id": a.id, "remote_id": a.remote_id, "url": a.url,
                        "posted_at": a.posted_at, "text": a.text[:1000]},
            ) for a in created])
            return created

        return await self._write(add)

    @_shielded
    async def list_hijack_alerts(
        self, *, open_only: bool = False, account: str | None = None, limit: int = 500,
    ) -> list[HijackAlert]:
        """Newest first."""
        query = sa.select(hijack_alerts).order_by(hijack_alerts.c.id.desc()).limit(limit)
        if open_only:
            query = query.where(hijack_alerts.c.resolved_at.is_(None))
        if account is not None:
            query = query.where(hijack_alerts.c.account == account)
        return await self._read(lambda conn: [rows.to_hijack_alert(r) for r in conn.execute(query).mappings()])

    @_shielded
    async def get_hijack_alert(self, alert_id: int) -> HijackAlert:
        if not 1 <= alert_id <= MAX_ROW_ID:
            raise NotFound("乗っ取り警告が見つかりません（番号が範囲外です）")
        query = sa.select(hijack_alerts).where(hijack_alerts.c.id == alert_id)
        row = await self._read(lambda conn: conn.execute(query).mappings().first())
        if row is None:
            raise NotFound(f"乗っ取り警告が見つかりません: {alert_id}")
        return rows.to_hijack_alert(row)

    @_shielded
    async def resolve_hijack_alert(self, alert_id: int, *, actor: str, note: str) -> HijackAlert:
        if not 1 <= alert_id <= MAX_ROW_ID:  # no row has it, and PostgreSQL would refuse the query
            raise NotFound("乗っ取り警告が見つかりません（番号が範囲外です）")
        now = self._clock()

        def resolve(conn: Connection) -> HijackAlert:
            query = sa.select(hijack_alerts).where(hijack_alerts.c.id == alert_id).with_for_update()
            row = conn.execute(query).mappings().first()
            if row is None:
                raise NotFound(f"乗っ取り警告が見つかりません: {alert_id}")
            if row["resolved_at"] is not None:
                raise Conflict(f"乗っ取り警告 {alert_id} は対応済みです")
            update = (sa.update(hijack_alerts).where(hijack_alerts.c.id == alert_id)
                      .values(resolved_at=now, resolved_by=actor, note=note).returning(*hijack_alerts.c))
            alert = rows.to_hijack_alert(conn.execute(update).mappings().one())
            self._add_audit(conn, [rows.audit_values(
                at=now, actor=actor, action="account.hijack_resolved", reason=note,
                detail={"account": alert.account, "alert_id": alert.id, "remote_id": alert.remote_id},
            )])
            return alert

        return await self._write(resolve)
