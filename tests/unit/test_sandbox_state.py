"""The sandbox's post indexes answer exactly what scanning every post would."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from gateway.models import Platform
from gateway.sandbox.base import PublishedPost, SandboxState

PLATFORMS = (Platform.X, Platform.LINE, Platform.FACEBOOK)


def test_indexed_lookups_match_a_scan_of_every_post() -> None:
    rng = random.Random(7)
    state = SandboxState({f"a{i}_{p.value}": p for i in range(5) for p in PLATFORMS})
    for _ in range(400):
        platform = rng.choice(PLATFORMS)
        post = state.publish(PublishedPost(platform=platform, account=f"a{rng.randrange(5)}_{platform.value}",
                                           remote_id=state.next_id(), text="t", created_at=datetime.now(UTC)))
        if rng.random() < 0.2:
            post.deleted = True
    for platform in PLATFORMS:
        for i in range(5):
            account = f"a{i}_{platform.value}"
            scanned = [p for p in state.posts if not p.deleted and p.platform is platform and p.account == account]
            assert state.live_posts(platform, account) == scanned
        assert state.live_posts(platform) == [p for p in state.posts if not p.deleted and p.platform is platform]
    for post in state.posts:
        expected = None if post.deleted else post
        assert state.live_post(post.platform, post.remote_id) is expected
        other = next(p for p in PLATFORMS if p is not post.platform)
        assert state.live_post(other, post.remote_id) is None
    assert state.live_post(Platform.X, "no-such-id") is None
