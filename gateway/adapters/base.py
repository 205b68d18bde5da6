"""The Adapter protocol every platform implements (its limits and other facts: `Platform.spec` in models.py).

An adapter serves every account of its platform; it looks up an account's credentials through
a `CredentialSource` at call time. `render` is pure; the others do I/O and raise only errors
from `gateway.errors` (vendor errors are translated here, at the boundary).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Protocol

from gateway.models import Limits, Message, Platform, Post, Receipt, RemotePost
from gateway.policy import Account


class IdempotencyKey(str):
    """Stored on the delivery before the first attempt (LINE's X-Line-Retry-Key)."""


async def _nothing(*_: object) -> None:
    return None


@dataclass(frozen=True)
class Progress:
    """A post of several requests (an X thread), published part by part.

    `done` holds the remote ids of the parts an earlier attempt already published (a worker killed
    half-way): publishing resumes after them. `record(index, remote_id)` is awaited as soon as a part
    is out, so that the ledger knows; `withdrawn()` when the parts posted so far were deleted again.
    """

    done: tuple[str, ...] = ()
    record: Callable[[int, str], Awaitable[None]] = field(default=_nothing)
    withdrawn: Callable[[], Awaitable[None]] = field(default=_nothing)


class Adapter(Protocol):
    platform: ClassVar[Platform]
    limits: ClassVar[Limits]

    def render(self, message: Message, account: Account) -> Post: ...

    async def publish(self, post: Post, key: IdempotencyKey, *, progress: Progress | None = None) -> Receipt: ...

    async def delete(self, receipt: Receipt) -> None: ...

    async def recent(self, account: Account, since: datetime) -> list[RemotePost]: ...

    async def aclose(self) -> None: ...
