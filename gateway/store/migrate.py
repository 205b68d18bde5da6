"""Apply the Alembic migrations from code, so an installed package can upgrade its database."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from gateway.errors import StoreError
from gateway.store.engine import IMMEDIATE, create_engine, redacted

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed 64-bit number; all replicas must agree on it.
_PG_MIGRATION_LOCK = 0x6B6F686F_6777_0001


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _upgrade_on(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Held until this transaction ends, so concurrent replicas migrate one after another;
        # the later ones then find the database at head and do nothing.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade_async(url: str) -> None:
    """Bring the database at `url` to the newest schema; running it again does nothing."""
    engine = create_engine(url, pooled=False).execution_options(**{IMMEDIATE: True})
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade_on)
    except (SQLAlchemyError, CommandError, OSError) as exc:
        raise StoreError(f"データベースの移行に失敗しました: {redacted(url)}") from exc
    finally:
        await engine.dispose()


def upgrade(url: str) -> None:
    """Synchronous `upgrade_async` for the CLI; not callable from inside a running event loop."""
    asyncio.run(upgrade_async(url))
