"""The gateway's ledger: the Store protocol, its SQLAlchemy implementation and migrations."""

from __future__ import annotations

from gateway.store.base import Store
from gateway.store.engine import PG_POOL_SIZE, create_engine, is_sqlite, normalize_url, redacted
from gateway.store.migrate import upgrade, upgrade_async
from gateway.store.records import AccountPause, AuditEvent, MessageRecord, NewDelivery, NewMessage, User
from gateway.store.schema import new_id
from gateway.store.sql import SqlStore
from gateway.store.txn import Clock

__all__ = [
    "AccountPause",
    "AuditEvent",
    "MessageRecord",
    "NewDelivery",
    "NewMessage",
    "SqlStore",
    "Store",
    "User",
    "is_sqlite",
    "new_id",
    "normalize_url",
    "open_store",
    "redacted",
    "upgrade",
    "upgrade_async",
]


async def open_store(url: str, *, clock: Clock | None = None, pool_size: int = PG_POOL_SIZE) -> SqlStore:
    """Connect to the database at `url` (already upgraded; see `upgrade`)."""
    engine = create_engine(url, pool_size=pool_size)
    return SqlStore(engine) if clock is None else SqlStore(engine, clock=clock)
