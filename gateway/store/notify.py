"""Cross-process wake-ups on PostgreSQL: LISTEN on the channel the store NOTIFYs when work is queued.

Every replica's dispatcher is woken the moment any replica plans or releases a delivery, so a
second process picks up an alert without waiting for its poll interval. The listener reconnects
after a lost connection (a restarted server); polling still covers the gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from gateway.store.engine import normalize_url
from gateway.store.txn import WAKE_CHANNEL

log = logging.getLogger("gateway.store.notify")
RECONNECT_SECONDS = 2.0


def _dsn(url: str) -> str:
    return make_url(normalize_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)


class WakeListener:
    def __init__(self, url: str, on_wake: Callable[[str], None]) -> None:
        self._dsn = _dsn(url)
        self._on_wake = on_wake
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="wake-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                log.warning("wake listener lost its connection: %s", type(exc).__name__)
            self.connected.clear()
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=10)
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            await conn.add_listener(WAKE_CHANNEL, self._received)
            self.connected.set()
            await lost.wait()
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)

    def _received(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._on_wake(payload)
