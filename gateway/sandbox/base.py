"""What every sandbox platform shares: the record of what was published and the fault script.

A test (or `POST /_sandbox/faults`) queues faults per platform, optionally per account; each
platform handler asks `faults.take(platform, account)` before handling a publishing request and
fails the way the real platform fails.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.models import Platform
from gateway.sandbox.consent import ConsentDesk


class FaultKind(enum.StrEnum):
    RATE_LIMIT = "rate_limit"  # 429 with the platform's headers/body; `reset_s` from now
    QUOTA = "quota"  # daily/monthly cap (X 24-hour headers, LINE monthly limit, YouTube quotaExceeded)
    SERVER_ERROR = "server_error"  # 5xx (`status`, default 503)
    TIMEOUT_AFTER_ACCEPT = "timeout_after_accept"  # publish, then hang past the client's timeout
    TIMEOUT_BEFORE = "timeout_before"  # hang without publishing
    DUPLICATE = "duplicate"  # the platform's duplicate-content rejection
    EXPIRED_TOKEN = "expired_token"  # the platform's invalid/expired token error
    REJECT = "reject"  # a content rejection (400) that is the sender's fault
    READ_ERROR = "read_error"  # reading the account's timeline fails (5xx); publishing is not affected


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    platform: Platform
    account: str | None = None  # None: any account of the platform
    status: int | None = None
    reset_s: int = 60
    hang_s: float = 30.0


@dataclass
class PublishedPost:
    platform: Platform
    account: str
    remote_id: str
    text: str
    created_at: datetime
    media: list[dict[str, Any]] = field(default_factory=list)
    reply_to: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform.value, "account": self.account, "remote_id": self.remote_id,
            "text": self.text, "created_at": self.created_at.isoformat(), "media": self.media,
            "reply_to": self.reply_to, "extra": self.extra, "deleted": self.deleted,
        }


class Faults:
    """A queue of scripted faults; each is used once."""

    def __init__(self) -> None:
        self._queue: deque[Fault] = deque()

    def add(self, fault: Fault, times: int = 1) -> None:
        for _ in range(times):
            self._queue.append(fault)

    def clear(self) -> None:
        self._queue.clear()

    def take(self, platform: Platform, account: str | None, *, reading: bool = False) -> Fault | None:
        """The next fault for a publishing request, or (`reading`) for a timeline read."""
        for fault in self._queue:
            if (fault.platform is platform and fault.account in (None, account)
                    and (fault.kind is FaultKind.READ_ERROR) == reading):
                self._queue.remove(fault)
                return fault
        return None

    def pending(self) -> list[Fault]:
        return list(self._queue)


class SandboxState:
    """Shared by the four platform sandboxes mounted on one aiohttp app."""

    def __init__(self, accounts: dict[str, Platform], *, latency_s: float = 0.0) -> None:
        self.accounts = accounts  # account id -> platform
        self.latency_s = latency_s
        self.faults = Faults()
        self.consent = ConsentDesk()  # the authorisation endpoints' codes and issued tokens
        self.posts: list[PublishedPost] = []
        self._by_account: dict[tuple[Platform, str], list[PublishedPost]] = {}
        self._by_id: dict[str, PublishedPost] = {}
        self.requests: list[tuple[datetime, Platform, str, str]] = []  # (at, platform, method, path)
        self._ids = itertools.count(1_800_000_000_000_000_000)
        self.request_listeners: list[Any] = []  # callables(platform, method, path) for benchmarks

    def next_id(self) -> str:
        return str(next(self._ids))

    async def arrive(self, platform: Platform, method: str, path: str) -> None:
        """Record a request's arrival and apply the configured latency."""
        self.requests.append((datetime.now(UTC), platform, method, path))
        for listener in self.request_listeners:
            listener(platform, method, path)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)

    def publish(self, post: PublishedPost) -> PublishedPost:
        self.posts.append(post)
        self._by_account.setdefault((post.platform, post.account), []).append(post)
        self._by_id.setdefault(post.remote_id, post)
        return post

    def live_posts(self, platform: Platform | None = None, account: str | None = None) -> list[PublishedPost]:
        # Per account through an index: scanning every post ever made on every request made the
        # sandbox slower the longer it ran (a benchmark of thousands of posts measured that).
        found = (self._by_account.get((platform, account), []) if platform is not None and account is not None
                 else self.posts)
        return [
            p for p in found
            if not p.deleted and (platform is None or p.platform is platform)
            and (account is None or p.account == account)
        ]

    def live_post(self, platform: Platform, remote_id: str) -> PublishedPost | None:
        """The live post with this id on this platform (ids are unique across the sandbox)."""
        post = self._by_id.get(remote_id)
        return post if post is not None and not post.deleted and post.platform is platform else None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
AFTER_ACCEPT = frozenset({FaultKind.TIMEOUT_AFTER_ACCEPT})


async def scripted_fault(state: SandboxState, platform: Platform, account: str,
                         failure: Callable[[Fault], Exception], *,
                         handed_back: frozenset[FaultKind] = AFTER_ACCEPT) -> Fault | None:
    """The fault scripted for this publishing request: none; one the caller applies after accepting
    (`handed_back`, e.g. a timeout after accept); or raised as the platform's error (`failure`), after
    hanging past the client's timeout for a timeout before."""
    fault = state.faults.take(platform, account)
    if fault is None or fault.kind in handed_back:
        return fault
    if fault.kind is FaultKind.TIMEOUT_BEFORE:
        await asyncio.sleep(fault.hang_s)
    raise failure(fault)


class PlatformFailure(Exception):
    """A platform's error, raised in a handler and answered with the platform's own error document."""

    def response(self) -> web.Response:
        raise NotImplementedError


def recorded(handler: Handler, state: SandboxState, platform: Platform) -> Handler:
    """Record the request's arrival, then answer a `PlatformFailure` with its document: the one request
    recorder of the sandboxes whose routes need no more than that."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        await state.arrive(platform, request.method, request.path)
        try:
            return await handler(request)
        except PlatformFailure as failure:
            return failure.response()

    return wrapped
