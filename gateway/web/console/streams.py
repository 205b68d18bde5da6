"""Live streams (Server-Sent Events) a user holds open, capped per user.

Each open stream is a connection and a task polling the store; without a cap one user, or one
stolen session, could hold any number of them. A stream's slot is freed when it ends, however it
ends. The count is per process: with several replicas a user may hold the cap on each.

When the server shuts down, `close()` ends every open stream at once: an operator's open
配信状況 page must not hold a restart for the server's shutdown timeout (60 s).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from gateway.errors import GatewayError

MAX_STREAMS_PER_USER = 4


class TooManyStreams(GatewayError):
    """Answered with 429: the user already holds every stream slot."""

    code = "too_many_streams"


class Stream:
    """One open stream: it waits between polls and learns there whether it must end."""

    def __init__(self) -> None:
        self._ended = asyncio.Event()

    def end(self) -> None:
        self._ended.set()

    async def pause(self, seconds: float) -> bool:
        """Wait `seconds` between two polls; True when the stream was asked to end meanwhile (or before)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ended.wait(), seconds)
        return self._ended.is_set()


class StreamSlots:
    def __init__(self, per_user: int = MAX_STREAMS_PER_USER) -> None:
        self._per_user = per_user
        self._open: Counter[str] = Counter()
        self._streams: set[Stream] = set()

    def close(self) -> None:
        """Ask every stream open now to end at once (the server is shutting down); later ones are not affected."""
        for stream in self._streams:
            stream.end()

    def open_count(self, user: str) -> int:
        return self._open[user]

    @contextmanager
    def hold(self, user: str) -> Iterator[Stream]:
        """One slot of `user` for the duration of the block, or TooManyStreams when none is free."""
        if self._open[user] >= self._per_user:
            raise TooManyStreams(f"配信状況の自動更新を同時に開けるのは1人{self._per_user}画面までです。"
                                 "ほかのタブやウィンドウを閉じてから開き直してください")
        self._open[user] += 1
        stream = Stream()
        self._streams.add(stream)
        try:
            yield stream
        finally:
            self._streams.discard(stream)
            self._open[user] -= 1
            if not self._open[user]:
                del self._open[user]


STREAMS: web.AppKey[StreamSlots] = web.AppKey("console_streams", StreamSlots)
