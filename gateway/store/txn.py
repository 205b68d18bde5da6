"""How `SqlStore` runs a transaction: SQLite on the loop behind the write gate, PostgreSQL through asyncpg;
errors translated into the gateway's tree, calls shielded from their caller's cancellation (see `sql.py`)."""

from __future__ import annotations

import asyncio
import errno
import functools
from collections.abc import Callable, Collection, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from gateway.errors import Conflict, GatewayError, StorageFull, StoreError
from gateway.models import storable_text_problem
from gateway.store.engine import IMMEDIATE, PG_POOL_SIZE, create_sync_sqlite_engine
from gateway.store.events import notification_rows
from gateway.store.gate import WriteGate
from gateway.store.schema import audit_events, notifications, utc_now

Clock = Callable[[], datetime]


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


SQLITE_LOCK_WAIT_S = 30.0


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
_S = TypeVar("_S", bound="SqlBase")


def _shielded(
    method: Callable[Concatenate[_S, _P], Coroutine[Any, Any, _R]],
) -> Callable[Concatenate[_S, _P], Coroutine[Any, Any, _R]]:
    """Run the call as its own task, so a cancelled caller cannot cut a transaction in half.

    Cancelling a coroutine inside SQLAlchemy's async drivers mid-transaction can strand the
    connection (seen with aiosqlite: the write lock stayed held and every later writer hung on
    the busy timeout). The caller still gets CancelledError at once; the database work runs
    to its commit or rollback in the background, and `aclose` waits for it.
    """

    @functools.wraps(method)
    async def run(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        task = asyncio.ensure_future(method(self, *args, **kwargs))
        self._pending.add(task)
        task.add_done_callback(self._settled)
        return await asyncio.shield(task)

    return run


class SqlBase:
    """The engine, the write gate and the transaction runners every part of `SqlStore` uses."""

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

    def _settled(self, task: asyncio.Future[Any]) -> None:
        self._pending.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a cancelled caller's error is not an unhandled one

    @property
    def _dialect(self) -> str:
        return str(self._engine.dialect.name)

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
        """The audit rows, and the outbox rows of those that are events people are told of (store/events.py)."""
        if entries:
            conn.execute(audit_events.insert(), list(entries))
            outbox = notification_rows(entries)
            if outbox:
                conn.execute(notifications.insert(), outbox)

    def _dialect_module(self) -> Any:
        return postgresql if self._engine.dialect.name == "postgresql" else sqlite
