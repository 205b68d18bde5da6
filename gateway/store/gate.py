"""A fixed number of turns (database work at once), urgent work first.

SQLite (one turn, for writers): SQLite allows a single writer; when two connections of this
process contend, the loser sleeps in SQLite's busy handler (1, 2, 5, 10 … 100 ms steps), which
would put tens of milliseconds into the emergency lane. Queueing writers here instead means SQLite
never sees contention from inside the process, and an emergency write (claim, plan, mark)
overtakes routine ones waiting for the turn.

PostgreSQL (one turn per pooled connection, for every transaction): the pool never opens more
connections than its size, so that several processes stay within the server's max_connections;
work beyond it waits here, where an emergency goes ahead of routine work, rather than in the
pool's first-come queue.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class WriteGate:
    def __init__(self, capacity: int = 1) -> None:
        if capacity < 1:
            raise ValueError("a gate needs at least one turn")
        self._free = capacity
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @asynccontextmanager
    async def turn(self, *, urgent: bool = False) -> AsyncIterator[None]:
        await self._acquire(urgent)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, urgent: bool) -> None:
        if self._free and not self._waiters:
            self._free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (0 if urgent else 1, next(self._order), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release()  # we were handed the turn as we were cancelled: pass it on
            raise

    def _release(self) -> None:
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)  # the turn passes straight to the next in line
                return
        self._free += 1
