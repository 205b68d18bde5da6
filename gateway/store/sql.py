"""`SqlStore`: the Store protocol on SQLAlchemy Core, for SQLite and PostgreSQL.

Every state change runs in one write transaction that updates the row (compare-and-set on
its current state) and inserts one audit row, so the ledger and its history never disagree.
On SQLite write transactions start with BEGIN IMMEDIATE (one writer at a time, waiting on
the busy timeout); on PostgreSQL rows are locked with SELECT ... FOR UPDATE. How claimers
share the queue is in `claim.py`. Calls run shielded from their caller's cancellation.

Each transaction is one synchronous function of a `Connection`. On PostgreSQL it runs through
the async engine (`run_sync`, asyncpg). On SQLite it runs on a pysqlite connection right on the
event loop: an embedded SQLite transaction takes well under a millisecond of work, while handing
it to a thread costs a thread hop per statement (aiosqlite) or, under load, waits on the GIL. When
another process holds SQLite's write lock the transaction does not block the loop: it fails fast
(busy_timeout 0) and is retried after a short sleep. Writes queue at a gate, urgent ones first.

Audit actions: `message.accepted`, `message.<new state>`, `delivery.created`,
`delivery.released`, `delivery.claimed`, `delivery.<new state>`, `account.paused`,
`user.created`, `user.role_changed`, `user.password_set`, `user.disabled`, `user.enabled`,
`user.signed_out`, `user.unlocked`, `token.created`, `token.revoked`, `account.stopped`,
`account.resumed`, `credentials.rotated`, `account.hijack_suspected`, `account.hijack_resolved`,
plus whatever callers pass to `audit()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import functools
import time
import uuid
from collections.abc import Callable, Collection, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from gateway.errors import Conflict, GatewayError, InputError, NotFound, StorageFull, StoreError
from gateway.models import (
    MAX_ROW_ID,
    Delivery,
    DeliveryState,
    Message,
    MessageState,
    Platform,
    Priority,
    Role,
    Scope,
    storable_text_problem,
)
from gateway.store import claim, listings, logins, rows, schema
from gateway.store import users as users_store
from gateway.store.base import (
    AccountPause,
    AccountState,
    AuditEvent,
    HeldAlert,
    HijackAlert,
    LedgerPost,
    LoginAttempt,
    LoginLimits,
    MessageRecord,
    NewDelivery,
    NewHeldAlert,
    NewMessage,
    StepApproval,
    Store,
    SuspectPost,
    User,
)
from gateway.store.engine import IMMEDIATE, PG_POOL_SIZE, create_sync_sqlite_engine
from gateway.store.gate import WriteGate
from gateway.store.schema import (
    PARTIAL_INDEXES,
    PARTIAL_STATES,
    account_pauses,
    account_states,
    audit_events,
    deliveries,
    held_alerts,
    hijack_alerts,
    in_state,
    message_approvals,
    messages,
    new_id,
    tokens,
    users,
    utc_now,
    workers,
)

Clock = Callable[[], datetime]

# Columns a caller may set through transition_delivery (never state or ids; attempts only to give back
# an attempt that a rate limit did not use).
DELIVERY_FIELDS = frozenset(
    {"retry_at", "remote_id", "remote_url", "error_code", "error_text", "sent_at", "lease_owner",
     "lease_expires", "not_before", "attempts"}
)
_PLANNABLE = frozenset({DeliveryState.HELD, DeliveryState.QUEUED, DeliveryState.SKIPPED})
_CLAIMABLE = claim.CLAIMABLE_STATES
# Account stop (小平 3(7)): what a stop holds, and what may already be on the platform for the hijack scan.
_HOLDABLE = (DeliveryState.QUEUED.value, DeliveryState.RETRY_WAIT.value)
_PUBLISHED = (DeliveryState.SENT.value, DeliveryState.RETRACTED.value, DeliveryState.UNCERTAIN.value,
              DeliveryState.SENDING.value)
# A message whose every delivery is in one of these has gone out everywhere it can (planned -> sent).
_OUT = (DeliveryState.SENT.value, DeliveryState.SKIPPED.value)
# Ids per UPDATE ... WHERE id IN (...): far below SQLite's bound-parameter limit.
_CHUNK = 500


class _RolledBack(Exception):
    """Raised inside a transaction to roll it back on purpose."""


class IntegrityConflict(Conflict):
    """A unique or foreign-key constraint refused the write."""

    code = "integrity"


@contextmanager
def _translated() -> Iterator[None]:
    """Turn SQLAlchemy and driver errors into the gateway's error tree."""
    try:
        yield
    except GatewayError:
        raise
    except IntegrityError as exc:
        raise IntegrityConflict("データの一意性または参照の制約に反するため保存できませんでした") from exc
    except (SQLAlchemyError, OSError, UnicodeError) as exc:
        if _disk_full(exc):
            raise StorageFull("データベースのディスクに空きがないため保存できませんでした。何も保存していません。"
                              "システム管理者に連絡し、空きができてから送り直してください") from exc
        raise StoreError("データベースの操作に失敗しました") from exc


def _disk_full(exc: BaseException) -> bool:
    """SQLite's SQLITE_FULL, PostgreSQL's disk_full (53100) or ENOSPC, however the driver wraps it."""
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return True
        if getattr(seen, "sqlstate", None) == "53100" or getattr(seen, "pgcode", None) == "53100":
            return True
        text = str(seen)
        if "database or disk is full" in text or "No space left on device" in text:
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


WAKE_CHANNEL = "gateway_wake"
# The NOTIFY payload (on WAKE_CHANNEL) of an account stop or resume; other payloads are priorities.
STOPS_CHANGED = "accounts"
# How long a process trusts its copy of the stopped accounts when no NOTIFY says otherwise.
STOPS_CACHE_SECONDS = 1.0
SQLITE_LOCK_WAIT_S = 30.0
# The longest lease a claim gives (settings.lease_seconds is bounded by it).
MAX_LEASE = timedelta(days=1)


def _is_busy(exc: BaseException) -> bool:
    cause = exc.__cause__
    return isinstance(cause, OperationalError) and ("locked" in str(cause) or "busy" in str(cause))


def _connection_lost(exc: BaseException) -> bool:
    cause = exc.__cause__
    return isinstance(cause, DBAPIError) and cause.connection_invalidated


def _notify(conn: Connection, payload: str) -> None:
    """Tell every replica when this transaction commits (PostgreSQL NOTIFY): a priority wakes
    its dispatchers, STOPS_CHANGED has them read the stopped accounts again."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_notify(WAKE_CHANNEL, payload)))


def _storable(value: str) -> bool:
    return storable_text_problem(value) is None


def _values(states: Collection[Any]) -> list[str]:
    return [str(getattr(s, "value", s)) for s in states]


_P = ParamSpec("_P")
_R = TypeVar("_R")
_T = TypeVar("_T")


def _shielded(
    method: Callable[Concatenate[SqlStore, _P], Coroutine[Any, Any, _R]],
) -> Callable[Concatenate[SqlStore, _P], Coroutine[Any, Any, _R]]:
    """Run the call as its own task, so a cancelled caller cannot cut a transaction in half.

    Cancelling a coroutine inside SQLAlchemy's async drivers mid-transaction can strand the
    connection (seen with aiosqlite: the write lock stayed held and every later writer hung on
    the busy timeout). The caller still gets CancelledError at once; the database work runs
    to its commit or rollback in the background, and `aclose` waits for it.
    """

    @functools.wraps(method)
    async def run(self: SqlStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        task = asyncio.ensure_future(method(self, *args, **kwargs))
        self._pending.add(task)
        task.add_done_callback(self._settled)
        return await asyncio.shield(task)

    return run


# Claimed deliveries -> sending (built once: it runs on every claim).
_MARK_SENDING = (sa.update(deliveries)
                 .where(deliveries.c.id.in_(sa.bindparam("ids", expanding=True)),
                        deliveries.c.state.in_(claim.CLAIMABLE_STATES))
                 .values(state=DeliveryState.SENDING.value, attempts=deliveries.c.attempts + 1,
                         lease_owner=sa.bindparam("worker"),
                         lease_expires=sa.bindparam("lease_expires", type_=deliveries.c.lease_expires.type),
                         updated_at=sa.bindparam("now", type_=deliveries.c.updated_at.type))
                 .returning(*deliveries.c))

# Audit columns whose values a transition passes in; the rest come from the updated row.
_AUDIT_FROM_ROW = frozenset({"message_id", "delivery_id", "from_state"})
_AUDIT_CONSTANTS = tuple(c.name for c in audit_events.c if c.name != "id" and c.name not in _AUDIT_FROM_ROW)


@functools.lru_cache(maxsize=64)
def _pg_transition_statement(columns: tuple[str, ...]) -> sa.Select[Any]:
    """One statement: lock the row, update it if its state is allowed, insert the audit row.

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
    return sa.select(updated).add_cte(audited)


def _pg_insert_all(
    message: Mapping[str, Any], planned: Sequence[Mapping[str, Any]], audit: Sequence[Mapping[str, Any]], *,
    notify: str | None,
) -> tuple[sa.Select[Any], dict[str, Any]]:
    """A message, its deliveries and their audit rows (and the NOTIFY) as one statement, with its
    parameters. The statement is built once per shape (columns, row counts) and reused, so that
    it is compiled once."""
    statement = _pg_insert_all_statement(tuple(message), tuple(planned[0]) if planned else (), len(planned),
                                         tuple(audit[0]), len(audit), notify is not None)
    params: dict[str, Any] = {f"m_{name}": value for name, value in message.items()}
    for table, rows_ in (("d", planned), ("a", audit)):
        for i, row in enumerate(rows_):
            params.update({f"{table}{i}_{name}": value for name, value in row.items()})
    if notify is not None:
        params["notify"] = notify
    return statement, params


@functools.lru_cache(maxsize=64)
def _pg_insert_all_statement(
    message_columns: tuple[str, ...], delivery_columns: tuple[str, ...], delivery_count: int,
    audit_columns: tuple[str, ...], audit_count: int, notify: bool,
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
    result = (sa.select(sa.func.pg_notify(WAKE_CHANNEL, sa.bindparam("notify", type_=sa.String))) if notify
              else sa.select(sa.literal(1)))
    return result.add_cte(*parts)


class SqlStore:
    """The ledger on one database; safe to share between tasks, and between processes (SQLite: on one host)."""

    def __init__(self, engine: AsyncEngine, *, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock
        self._pending: set[asyncio.Future[Any]] = set()
        self._sqlite: Engine | None = None
        if engine.dialect.name == "sqlite":
            url = engine.url.render_as_string(hide_password=False)
            self._sqlite = create_sync_sqlite_engine(url)
            self._gate = WriteGate()  # one writer at a time, urgent transactions first
        else:
            size = engine.pool.size() if isinstance(engine.pool, QueuePool) else PG_POOL_SIZE
            self._gate = WriteGate(capacity=size)  # one transaction per pooled connection
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._stops: tuple[float, dict[str, str]] | None = None  # (read at, stops): see stopped_accounts
        self._stops_generation = 0
        self._auth_generation = 0  # see auth_generation

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def aclose(self) -> None:
        """Wait for calls still running (their callers may have been cancelled), then disconnect."""
        await self.settle()
        if self._sqlite is not None:
            self._sqlite.dispose()
        await self._engine.dispose()

    async def settle(self) -> None:
        """Wait until calls whose callers were cancelled have committed or rolled back."""
        while self._pending:
            await asyncio.wait(list(self._pending))

    async def checkpoint(self) -> None:
        """SQLite: copy the WAL into the database file in a thread, off the event loop and off every
        commit (a PASSIVE checkpoint never blocks readers or writers). Nothing to do on PostgreSQL."""
        if self._sqlite is None:
            return
        engine = self._sqlite

        def run() -> None:
            with _translated(), engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

        await asyncio.to_thread(run)

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
            one = [NewDelivery("_warm_up", Platform.X, DeliveryState.QUEUED, now)]
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

    def _settled(self, task: asyncio.Future[Any]) -> None:
        self._pending.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a cancelled caller's error is not an unhandled one

    # -- running transactions -----------------------------------------------------------------

    async def _read(self, work: Callable[[Connection], _T], *, urgent: bool = False) -> _T:
        if self._sqlite is not None:
            return await self._sqlite_txn(work, write=False)
        async with self._gate.turn(urgent=urgent):
            return await self._pg_txn(work, write=False)

    async def _write(self, work: Callable[[Connection], _T], *, urgent: bool = False, atomic: bool = False) -> _T:
        """`atomic`: `work` is a single statement, which PostgreSQL commits by itself (no BEGIN/COMMIT)."""
        async with self._gate.turn(urgent=urgent):
            if self._sqlite is not None:
                return await self._sqlite_txn(work, write=True)
            return await self._pg_txn(work, write=True, atomic=atomic)

    async def _pg_txn(self, work: Callable[[Connection], _T], *, write: bool, atomic: bool = False) -> _T:
        """Run `work` on PostgreSQL: writes in one transaction, reads in autocommit.

        Under READ COMMITTED every statement sees its own snapshot anyway, so a read gains
        nothing from BEGIN/ROLLBACK but two round trips; nor does a write that is one statement
        (`atomic`), which commits on its own. A connection found dead before COMMIT was sent (a
        server restart, a terminated backend) means nothing was written: the work runs once more
        on a fresh connection. A failure at COMMIT, or of an atomic write, is not retried: it may
        have committed.
        """
        autocommit = atomic or not write
        engine = self._autocommit if autocommit else self._engine
        for attempt in range(2):
            committing = atomic
            try:
                with _translated():
                    async with engine.connect() as conn:
                        if autocommit:
                            return await conn.run_sync(work)
                        await conn.begin()
                        result = await conn.run_sync(work)
                        committing = True
                        await conn.commit()
                        return result
            except StoreError as exc:
                if attempt or committing or not _connection_lost(exc):
                    raise
        raise AssertionError("unreachable")

    async def _sqlite_txn(self, work: Callable[[Connection], _T], *, write: bool) -> _T:
        """Run `work` in one SQLite transaction on the loop; wait (asynchronously) while locked."""
        assert self._sqlite is not None
        engine = self._sqlite.execution_options(**{IMMEDIATE: True}) if write else self._sqlite
        waited, pause = 0.0, 0.001
        while True:
            try:
                with _translated(), engine.connect() as conn, conn.begin():
                    return work(conn)
            except StoreError as exc:
                if not _is_busy(exc) or waited >= SQLITE_LOCK_WAIT_S:
                    raise
            await asyncio.sleep(pause)  # another process holds the lock: let the loop run meanwhile
            waited += pause
            pause = min(pause * 2, 0.05)

    @staticmethod
    def _add_audit(conn: Connection, entries: Sequence[Mapping[str, Any]]) -> None:
        if entries:
            conn.execute(audit_events.insert(), list(entries))

    def _dialect_module(self) -> Any:
        return postgresql if self._engine.dialect.name == "postgresql" else sqlite

    # -- messages ---------------------------------------------------------------------------

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
            self._add_audit(conn, [accepted])
            self._insert_planned(conn, planned, audit, notify=notify, priority=str(values["priority"]))
            return created

        def insert_at_once(conn: Connection) -> tuple[MessageRecord, bool, list[Delivery]]:
            # PostgreSQL: one statement (one round trip, atomic by itself); a duplicate shows as
            # a unique-constraint conflict, answered below with the message that exists.
            conn.execute(*_pg_insert_all(values, planned, [accepted, *audit],
                                         notify=str(values["priority"]) if notify else None))
            return created

        try:
            if self._sqlite is None:
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
            detail={"account": item.account, "platform": item.platform.value},
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
            "created_at": now, "updated_at": now, "sent_at": None,
        }

    # -- deliveries -------------------------------------------------------------------------

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
    async def claim_due(
        self, *, worker: str, now: datetime, limit: int, lease_seconds: float,
        priorities: Collection[Priority] | None = None,
    ) -> list[Delivery]:
        """Claim queued and due retry_wait deliveries, most urgent first, skipping paused accounts
        and deliveries leased by others: state -> sending, attempts + 1, lease set (audit rows)."""
        if limit <= 0 or (priorities is not None and not priorities):
            return []
        emergency_lane = claim.only_emergency(priorities)
        # Look before taking SQLite's single write slot: an idle routine lane polling must not hold
        # it. The emergency lane goes straight in: its writes are served first anyway.
        if self._sqlite is not None and not emergency_lane and not await self._read(
                lambda conn: claim.choose(conn, now=now, limit=1, priorities=priorities)):
            return []

        lease = timedelta(seconds=lease_seconds)

        def take(conn: Connection) -> list[Delivery]:
            if self._sqlite is None:
                found = claim.take_pg(conn, now=now, limit=limit, priorities=priorities, worker=worker,
                                      lease_expires=now + lease)
                return [rows.to_delivery(row) for row in found]
            due = claim.choose(conn, now=now, limit=limit, priorities=priorities)
            if not due:
                return []
            return self._mark_sending(conn, due, worker=worker, now=now, lease=lease)

        # The emergency lane's claim is one statement on PostgreSQL (see claim.take_pg).
        claimed = await self._write(take, urgent=emergency_lane, atomic=emergency_lane)
        return sorted(claimed, key=lambda d: (d.priority.rank, d.created_at, d.id))

    def _mark_sending(
        self, conn: Connection, due: Mapping[str, str], *, worker: str, now: datetime, lease: timedelta,
    ) -> list[Delivery]:
        params = {"ids": list(due), "worker": worker, "lease_expires": now + lease, "now": now}
        claimed = [rows.to_delivery(r) for r in conn.execute(_MARK_SENDING, params).mappings()]
        self._add_audit(conn, [rows.audit_values(
            at=now, actor=worker, action="delivery.claimed", message_id=d.message_id, delivery_id=d.id,
            from_state=due[d.id], to_state=DeliveryState.SENDING.value,
            detail={"attempt": d.attempts, "lease_expires": d.lease_expires},
        ) for d in claimed])
        return claimed

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
            done = await self._pg_transition(delivery_id, allowed, changes, audit, urgent=urgent)
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
            return rows.to_delivery(row)

        done = await self._write(transition, urgent=urgent)
        await self._message_out(done, actor=actor)
        return done

    async def _message_out(self, delivery: Delivery, *, actor: str) -> None:
        """planned -> sent (audit `message.sent`) once every delivery of the message is sent or skipped.

        Run after the delivery's own commit, so of two deliveries settling at once the later one sees both."""
        if delivery.state.value not in _OUT:
            return
        now = self._clock()
        others = (sa.select(deliveries.c.id)
                  .where(deliveries.c.message_id == delivery.message_id, deliveries.c.state.not_in(_OUT)))
        update = (sa.update(messages)
                  .where(messages.c.id == delivery.message_id, messages.c.state == MessageState.PLANNED.value,
                         ~sa.exists(others))
                  .values(state=MessageState.SENT.value, updated_at=now).returning(messages.c.id))

        def settle(conn: Connection) -> None:
            if conn.execute(update).first() is not None:
                self._add_audit(conn, [rows.audit_values(
                    at=now, actor=actor, action="message.sent", message_id=delivery.message_id,
                    from_state=MessageState.PLANNED.value, to_state=MessageState.SENT.value)])

        await self._write(settle)

    async def _pg_transition(
        self, delivery_id: str, allowed: list[str], changes: Mapping[str, Any], audit: Mapping[str, Any], *,
        urgent: bool,
    ) -> Delivery:
        """PostgreSQL: lock, compare-and-set and audit in one statement (one round trip, atomic)."""
        statement = _pg_transition_statement(tuple(sorted(changes)))
        params = {"delivery_id": delivery_id, "allowed": allowed,
                  **{f"set_{name}": value for name, value in changes.items()},
                  **{f"audit_{name}": audit[name] for name in _AUDIT_CONSTANTS}}

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
    async def heartbeat(self, worker_id: str, *, host: str, pid: int, started_at: datetime) -> None:
        now = self._clock()
        values = {"worker_id": worker_id, "host": host[:255], "pid": pid, "started_at": started_at,
                  "heartbeat_at": now, "stopped_at": None}
        insert = self._dialect_module().insert(workers).values(values)
        upsert = insert.on_conflict_do_update(index_elements=[workers.c.worker_id],
                                              set_={"heartbeat_at": now, "stopped_at": None})
        await self._write(lambda conn: conn.execute(upsert), urgent=True)

    @_shielded
    async def worker_stopped(self, worker_id: str) -> None:
        now = self._clock()
        update = sa.update(workers).where(workers.c.worker_id == worker_id).values(stopped_at=now)
        await self._write(lambda conn: conn.execute(update))

    @_shielded
    async def orphaned_leases(self, stale_before: datetime) -> list[Delivery]:
        gone = sa.or_(workers.c.heartbeat_at < stale_before, workers.c.stopped_at.is_not(None))
        query = (sa.select(deliveries)
                 .join(workers, deliveries.c.lease_owner == workers.c.worker_id)
                 .where(in_state(deliveries.c.state, DeliveryState.SENDING), gone)
                 .order_by(deliveries.c.priority_rank, deliveries.c.id).limit(500))
        return await self._read(lambda conn: [rows.to_delivery(r) for r in conn.execute(query).mappings()])

    @_shielded
    async def expired_leases(self, now: datetime) -> list[Delivery]:
        """Deliveries still `sending` whose lease has expired (their worker died), or whose lease ends
        further ahead than any claim grants (`lease_seconds` is at most a day): such a lease was not
        written by a claim, and waiting for it would strand the delivery for ever."""
        ended = sa.or_(deliveries.c.lease_expires <= now, deliveries.c.lease_expires > now + MAX_LEASE)
        query = (sa.select(deliveries)
                 .where(in_state(deliveries.c.state, DeliveryState.SENDING), ended)
                 .order_by(deliveries.c.lease_expires, deliveries.c.id))
        return await self._read(lambda conn: [rows.to_delivery(r) for r in conn.execute(query).mappings()])

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

    # -- accounts ---------------------------------------------------------------------------

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

    # -- audit ------------------------------------------------------------------------------

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

    # -- paginated listings (filters, scope, order and pages in SQL: store/listings.py) ----------------

    @property
    def _dialect(self) -> str:
        return str(self._engine.dialect.name)

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
    async def count_deliveries(self, query: listings.DeliveryQuery) -> int:
        statement = listings.count_of(deliveries, listings.delivery_filter(query))
        return int(await self._read(lambda conn: conn.execute(statement).scalar_one()))

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

    # -- users and tokens -------------------------------------------------------------------

    @_shielded
    async def ensure_user(self, name: str, role: Role, *, actor: str, scope: Scope | None = None) -> User:
        """Create the user if missing; an existing user is never changed (Conflict when its role differs)."""
        existing = await self.get_user(name)
        if existing is None:
            try:
                return await self.create_user(name, role, scope or users_store.default_scope(role), actor=actor)
            except Conflict:  # created meanwhile by a concurrent call
                existing = await self.get_user(name)
                if existing is None:
                    raise
        if existing.role is not role:
            raise Conflict(f"利用者 {name} はすでに「{existing.role.value}」として登録されています。"
                           f"役割は gateway user set-role で変更してください", code="user_exists")
        return existing

    @_shielded
    async def create_user(self, name: str, role: Role, scope: Scope, *, actor: str,
                          password_hash: str | None = None) -> User:
        now = self._clock()
        return await self._write(lambda conn: users_store.create(
            conn, self._add_audit, name=name, role=role, scope=scope, password_hash=password_hash, now=now,
            actor=actor))

    @_shielded
    async def set_role(self, name: str, role: Role, *, actor: str) -> User:
        now = self._clock()
        try:
            return await self._write(lambda conn: users_store.change(
                conn, self._add_audit, name=name, values={"role": role.value}, now=now, actor=actor,
                action="user.role_changed"))
        finally:
            self._auth_generation += 1

    @_shielded
    async def set_scope(self, name: str, scope: Scope, *, actor: str) -> User:
        now = self._clock()
        try:
            return await self._write(lambda conn: users_store.change(
                conn, self._add_audit, name=name, values={"scope": scope.to_json()}, now=now, actor=actor,
                action="user.scope_changed"))
        finally:
            self._auth_generation += 1

    @_shielded
    async def list_users(self) -> list[User]:
        query = sa.select(users).order_by(users.c.name)
        return await self._read(lambda conn: [rows.to_user(r) for r in conn.execute(query).mappings()])

    @_shielded
    async def revoke_user_tokens(self, name: str, *, actor: str) -> int:
        now = self._clock()
        try:
            return await self._write(lambda conn: users_store.revoke_all(conn, self._add_audit, name=name, now=now,
                                                                         actor=actor))
        finally:
            self._auth_generation += 1

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
    async def get_user(self, name: str) -> User | None:
        query = sa.select(users).where(users.c.name == name)
        row = await self._read(lambda conn: conn.execute(query).mappings().first())
        return None if row is None else rows.to_user(row)

    @_shielded
    async def add_token(self, *, token_hash: str, user: str, expires_at: datetime, actor: str,
                        scope: Scope | None = None) -> None:
        now = self._clock()

        def add(conn: Connection) -> None:
            if conn.execute(sa.select(users.c.name).where(users.c.name == user)).first() is None:
                raise NotFound(f"利用者が見つかりません: {user}")
            conn.execute(tokens.insert().values(
                token_hash=token_hash, user=user, created_at=now, expires_at=expires_at, revoked=False,
                scope=None if scope is None else scope.to_json()))
            self._add_audit(conn, [rows.audit_values(
                at=now, actor=actor, action="token.created",
                detail={"user": user, "token": token_hash[:8], "expires_at": expires_at,
                        "scope": None if scope is None else scope.to_json()},
            )])

        await self._write(add)

    @_shielded
    async def user_for_token(self, token_hash: str, now: datetime) -> User | None:
        """The user a live (unexpired, unrevoked) token belongs to, its scope narrowed by the token's;
        None for disabled users."""
        query = (sa.select(users, tokens.c.scope.label("token_scope")).join(tokens, tokens.c.user == users.c.name)
                 .where(tokens.c.token_hash == token_hash, tokens.c.expires_at > now,
                        tokens.c.revoked.is_(False), users.c.disabled.is_(False)))
        row = await self._read(lambda conn: conn.execute(query).mappings().first())
        if row is None:
            return None
        user = rows.to_user(row)
        token_scope = None if row["token_scope"] is None else Scope.from_json(row["token_scope"])
        return dataclasses.replace(user, scope=user.scope.narrowed(token_scope))

    @_shielded
    async def revoke_token(self, token_hash: str, *, actor: str) -> bool:
        """Revoke a token; False when it was unknown or already revoked."""
        now = self._clock()
        query = (sa.update(tokens).where(tokens.c.token_hash == token_hash, tokens.c.revoked.is_(False))
                 .values(revoked=True).returning(tokens.c.user))

        def revoke(conn: Connection) -> bool:
            user = conn.execute(query).scalar_one_or_none()
            if user is None:
                return False
            self._add_audit(conn, [rows.audit_values(
                at=now, actor=actor, action="token.revoked", detail={"user": user, "token": token_hash[:8]},
            )])
            return True

        try:
            return await self._write(revoke)
        finally:
            self._auth_generation += 1  # even on an error: it may have committed

    @property
    def auth_generation(self) -> int:
        """Moves on when this store revokes a token or disables a user (see `web.auth.TokenCache`)."""
        return self._auth_generation

    # -- console ----------------------------------------------------------------------------

    @_shielded
    async def set_password(self, name: str, password_hash: str, *, actor: str) -> None:
        await self._update_user(name, {"password_hash": password_hash}, actor=actor, action="user.password_set")

    @_shielded
    async def set_user_disabled(self, name: str, disabled: bool, *, actor: str) -> None:
        action = "user.disabled" if disabled else "user.enabled"
        try:
            await self._update_user(name, {"disabled": disabled}, actor=actor, action=action)
        finally:
            self._auth_generation += 1

    @_shielded
    async def end_sessions(self, name: str, *, actor: str) -> None:
        await self._update_user(name, {}, actor=actor, action="user.signed_out")

    async def _update_user(self, name: str, values: Mapping[str, Any], *, actor: str, action: str) -> None:
        """Change the user's row, moving its session epoch on (every console session so far ends)."""
        now = self._clock()
        query = (sa.update(users).where(users.c.name == name)
                 .values(**values, session_epoch=users.c.session_epoch + 1))

        def store(conn: Connection) -> None:
            if conn.execute(query).rowcount == 0:
                raise NotFound(f"利用者が見つかりません: {name}")
            self._add_audit(conn, [rows.audit_values(at=now, actor=actor, action=action, detail={"user": name})])

        await self._write(store)

    @_shielded
    async def reserve_login(self, user: str, address: str, limits: LoginLimits) -> LoginAttempt:
        now = self._clock()
        return await self._write(lambda conn: logins.reserve(conn, user=user, address=address, now=now,
                                                             limits=limits))

    @_shielded
    async def login_succeeded(self, attempt: LoginAttempt, user: str, address: str) -> None:
        if attempt.id is None:
            raise ValueError("a refused attempt cannot succeed")
        attempt_id = attempt.id
        await self._write(lambda conn: logins.succeeded(conn, attempt_id=attempt_id, user=user, address=address))

    @_shielded
    async def unlock_logins(self, *, actor: str, user: str | None = None, address: str | None = None) -> int:
        now = self._clock()

        def unlock(conn: Connection) -> int:
            cleared = logins.unlock(conn, user=user, address=address)
            self._add_audit(conn, [rows.audit_values(at=now, actor=actor, action="user.unlocked",
                                                     detail={"user": user, "address": address, "cleared": cleared})])
            return cleared

        return await self._write(unlock)
    # -- account states and hijack alerts -------------------------------------------------------

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
        query = (sa.select(deliveries.c.id, deliveries.c.state, deliveries.c.remote_id, messages.c.body)
                 .join(messages, messages.c.id == deliveries.c.message_id)
                 .where(deliveries.c.account == account, deliveries.c.state.in_(_PUBLISHED),
                        sa.or_(deliveries.c.sent_at >= since, deliveries.c.updated_at >= since))
                 .order_by(deliveries.c.id))

        def read(conn: Connection) -> list[LedgerPost]:
            found = conn.execute(query).all()
            extra = self._extra_ids(conn, [row.id for row in found])
            return [LedgerPost(delivery_id=row.id, state=DeliveryState(row.state), remote_id=row.remote_id,
                               extra_ids=extra.get(row.id, ()), message=Message.model_validate(row.body))
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

    # -- alerts held for an operator ----------------------------------------------------------

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


if TYPE_CHECKING:
    def _satisfies_protocol(store: SqlStore) -> Store:
        return store  # mypy proves here that SqlStore implements every Store method
