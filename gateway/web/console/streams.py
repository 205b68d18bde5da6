"""Live streams (Server-Sent Events) a user holds open, capped per user.

Each open stream is a connection and a task polling the store; without a cap one user, or one
stolen session, could hold any number of them. A stream's slot is freed when it ends, however it
ends. The count is per process: with several replicas a user may hold the cap on each.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from gateway.errors import GatewayError

MAX_STREAMS_PER_USER = 4


class TooManyStreams(GatewayError):
    """Answered with 429: the user already holds every stream slot."""

    code = "too_many_streams"


class StreamSlots:
    def __init__(self, per_user: int = MAX_STREAMS_PER_USER) -> None:
        self._per_user = per_user
        self._open: Counter[str] = Counter()

    def open_count(self, user: str) -> int:
        return self._open[user]

    @contextmanager
    def hold(self, user: str) -> Iterator[None]:
        """One slot of `user` for the duration of the block, or TooManyStreams when none is free."""
        if self._open[user] >= self._per_user:
            raise TooManyStreams(f"配信状況の自動更新を同時に開けるのは1人{self._per_user}画面までです。"
                                 "ほかのタブやウィンドウを閉じてから開き直してください")
        self._open[user] += 1
        try:
            yield
        finally:
            self._open[user] -= 1
            if not self._open[user]:
                del self._open[user]


STREAMS: web.AppKey[StreamSlots] = web.AppKey("console_streams", StreamSlots)
