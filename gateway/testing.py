"""In-process fakes for unit tests: an Adapter that records posts and fails on cue.

`serve` and `demo` never use these (they run the real adapters against the sandbox); they exist so
that pipeline tests can script a platform's behaviour without HTTP.
"""

from __future__ import annotations

import itertools
from collections import deque
from datetime import UTC, datetime
from typing import ClassVar

from gateway.adapters.base import IdempotencyKey, Progress
from gateway.errors import PublishError
from gateway.models import PLATFORM_SPECS, Limits, Message, Platform, Post, PostPart, Receipt, RemotePost
from gateway.policy import Account


class FakeAdapter:
    """Publishes into a list; `fail_next(error)` makes the next publish raise `error`."""

    limits: ClassVar[Limits] = Limits(max_text=5000, max_media=10, alt_text_max=1000)
    _ids = itertools.count(1000)

    def __init__(self, platform: Platform, *, accept_before_failing: bool = False) -> None:
        self.platform = platform
        self.published: list[tuple[Post, str]] = []
        self.deleted: list[str] = []
        self.calls = 0
        self.timeline: list[RemotePost] = []  # what recent() lists: published and injected posts, by account
        self._timeline_accounts: list[str] = []
        self._failures: deque[tuple[PublishError, bool]] = deque()

    def fail_next(self, error: PublishError, *, after_publishing: bool = False, times: int = 1) -> None:
        for _ in range(times):
            self._failures.append((error, after_publishing))

    def render(self, message: Message, account: Account) -> Post:
        skip = None
        declared = self.platform.spec
        if not declared.carries_text_only and not message.media:
            skip = f"画像や動画がないため{declared.label}には投稿しません"
        text = message.text if not message.link else f"{message.text}\n{message.link}"
        return Post(platform=self.platform, account=account.id, parts=(PostPart(text=text, media=message.media),),
                    title=message.title, link=message.link, skip_reason=skip)

    async def publish(self, post: Post, key: IdempotencyKey, *, progress: Progress | None = None) -> Receipt:
        self.calls += 1
        if self._failures:
            error, after = self._failures.popleft()
            if after:
                self._record(post, key)
            raise error
        remote_id = self._record(post, key)
        return Receipt(platform=self.platform, account=post.account, remote_id=remote_id,
                       url=f"https://fake.example/{post.account}/{remote_id}", published_at=datetime.now(UTC))

    def _record(self, post: Post, key: str) -> str:
        self.published.append((post, key))
        remote_id = str(next(self._ids))
        self._add_to_timeline(post.account, RemotePost(remote_id=remote_id, text=post.text,
                                                       url=f"https://fake.example/{post.account}/{remote_id}"))
        return remote_id

    def inject_remote(self, account: str, text: str, *, created_at: datetime | None = None) -> RemotePost:
        """A post on the account that the gateway did not make (a hijacker's, or staff posting by hand)."""
        remote_id = str(next(self._ids))
        post = RemotePost(remote_id=remote_id, text=text, created_at=created_at,
                          url=f"https://fake.example/{account}/{remote_id}")
        self._add_to_timeline(account, post)
        return post

    def _add_to_timeline(self, account: str, post: RemotePost) -> None:
        self.timeline.append(post)
        self._timeline_accounts.append(account)

    async def delete(self, receipt: Receipt) -> None:
        self.deleted.append(receipt.remote_id)
        kept = [(p, a) for p, a in zip(self.timeline, self._timeline_accounts, strict=True)
                if p.remote_id != receipt.remote_id]
        self.timeline, self._timeline_accounts = [p for p, _ in kept], [a for _, a in kept]

    async def recent(self, account: Account, since: datetime) -> list[RemotePost]:
        return [post for post, owner in zip(self.timeline, self._timeline_accounts, strict=True)
                if owner == account.id and (post.created_at is None or post.created_at >= since)]

    async def aclose(self) -> None:
        return None

    def texts(self, account: str | None = None) -> list[str]:
        return [p.text for p, _ in self.published if account is None or p.account == account]


class TitledFakeAdapter(FakeAdapter):
    """A fake for a platform whose posts have a title of their own (`PlatformSpec.titled`), as its adapter."""

    limits: ClassVar[Limits] = Limits(max_text=5000, max_media=10, alt_text_max=1000, max_title=100)


def fake_adapters() -> dict[Platform, FakeAdapter]:
    """A fake for every platform; a platform whose posts have a title of their own gets a titled one."""
    return {p: TitledFakeAdapter(p) if declared.titled else FakeAdapter(p) for p, declared in PLATFORM_SPECS.items()}
