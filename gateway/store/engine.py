"""Database URLs and async engines for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from gateway.errors import InputError
from gateway.private_files import create_private_file, tighten

SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 10.0
PG_COMMAND_TIMEOUT_S = 60.0
# PostgreSQL connections per process, and the most it opens: processes x this must stay below the
# server's max_connections. Transactions beyond it wait their turn, emergencies first (store.gate).
PG_POOL_SIZE = 10
# Execution option read by the `begin` hook: write transactions take SQLite's write lock up front.
IMMEDIATE = "gateway_sqlite_immediate"

_ASYNC_DRIVERS = {"postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg",
                  "sqlite": "sqlite+aiosqlite"}


def normalize_url(url: str) -> str:
    """`postgresql://` and `postgres://` -> asyncpg, `sqlite:///x` -> aiosqlite; async URLs unchanged."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise InputError(f"データベースURLの形式が正しくありません: {redacted(url)}")
    return f"{_ASYNC_DRIVERS.get(scheme, scheme)}://{rest}"


def is_sqlite(url: str) -> bool:
    return normalize_url(url).startswith("sqlite")


def redacted(url: str) -> str:
    """The URL with its password masked, for logs and error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable>"


def ensure_sqlite_dir(url: str) -> None:
    """Create the directory (0700) and the file (0600) of a SQLite database so a fresh checkout can
    start without setup and nobody else can read the ledger; an existing file readable by others is
    tightened. SQLite gives its -wal and -shm files the database file's mode."""
    database = make_url(normalize_url(url)).database
    if not database or database == ":memory:" or "mode=memory" in url:
        # Every pooled connection would see its own empty database (and migrations another one).
        raise InputError("SQLite のメモリデータベースは使えません。ファイルのパスを指定してください")
    if not database.startswith("file:"):
        path = Path(database).expanduser()
        create_private_file(path)
        for suffix in ("-wal", "-shm", "-journal"):
            tighten(path.with_name(path.name + suffix))


def create_engine(url: str, *, pooled: bool = True, pool_size: int = PG_POOL_SIZE) -> AsyncEngine:
    """An engine with the gateway's connection settings (SQLite: WAL, busy timeout, foreign keys)."""
    url = normalize_url(url)
    kwargs: dict[str, Any] = {} if pooled else {"poolclass": NullPool}
    if url.startswith("postgresql"):
        if pooled:
            kwargs.update(pool_size=pool_size, max_overflow=0)
        # Bounded waits: a dead server or a stuck statement surfaces as StoreError instead of
        # hanging a worker.
        connect_args = {"timeout": PG_CONNECT_TIMEOUT_S, "command_timeout": PG_COMMAND_TIMEOUT_S}
        engine = create_async_engine(url, connect_args=connect_args, **kwargs)
        _configure_postgresql(engine)
        return engine
    ensure_sqlite_dir(url)
    engine = create_async_engine(url, **kwargs)
    _configure_sqlite(engine)
    return engine


def create_sync_sqlite_engine(url: str) -> Engine:
    """A synchronous (pysqlite) engine on the same file, on which the store runs its transactions.

    Through aiosqlite every statement costs two thread hops; the store instead runs a whole
    transaction as one function in one thread, which is several times faster on the hot path.
    """
    sync_url = make_url(normalize_url(url)).set(drivername="sqlite")
    ensure_sqlite_dir(url)
    engine = sa_create_engine(sync_url, pool_size=4, max_overflow=4)
    _configure_sqlite(engine, busy_timeout_ms=0)  # the store waits for a lock asynchronously
    return engine


# Pages of WAL before a commit checkpoints by itself. The store checkpoints in the background
# (SqlStore.checkpoint) long before this, so that no commit on the hot path pays for one; the
# limit only bounds the WAL if that background work ever stops.
SQLITE_AUTOCHECKPOINT_PAGES = 20_000


def _configure_postgresql(engine: AsyncEngine) -> None:
    """Hand out only connections that are still open, without a round trip per checkout.

    SQLAlchemy's pre-ping costs three round trips per checkout on asyncpg (BEGIN, a query,
    ROLLBACK). A connection the server closed (restart, terminated backend) is already known
    as closed to asyncpg: the event loop read the server's goodbye and the EOF. Such a
    connection is replaced here; one that dies silently fails its first statement, which
    invalidates the pool, and the store retries the transaction once (see `SqlStore._write`).
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if dbapi_connection._connection.is_closed():
            raise DisconnectionError("PostgreSQL connection closed while idle in the pool")


def _configure_sqlite(engine: AsyncEngine | Engine, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> None:
    target = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(target, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's `begin` hook below issue BEGIN itself (the driver's own implicit
        # BEGIN would always be DEFERRED, which fails instead of waiting under write contention).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(target, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
