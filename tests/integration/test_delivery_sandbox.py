"""Whole pipeline through the real adapters (tweepy, line-bot-sdk, Graph API, google-api-python-client)
against the sandbox servers: every platform failure lands in the right delivery state and retry time,
and a timeout after the platform accepted never produces a second post."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.adapters.facebook import FacebookSettings
from gateway.adapters.line import LineSettings
from gateway.adapters.x import XSettings
from gateway.adapters.youtube import YoutubeSettings
from gateway.models import Actor, DeliveryState, Platform, Role, Scope
from gateway.pipeline.intake.validation import parse_message
from gateway.runtime import Runtime, open_runtime
from gateway.sandbox.base import Fault, FaultKind
from gateway.settings import Settings
from tests.mediafiles import FIXTURE_MEDIA

ROOT = Path(__file__).resolve().parents[2]
ALERTS = Actor("jma-feed", Role.ALERT_SYSTEM, Scope.everywhere())
# The admin who posts the YouTube case as an emergency holds kodaira's emergency permission.
ADMIN = Actor("admin", Role.ADMIN, Scope.everywhere(emergency=frozenset({"kodaira"})))

# One account per platform; emergency posts skip approval and office hours, so the test is about delivery.
ACCOUNT = {Platform.X: "kisarazu_x", Platform.LINE: "kisarazu_line", Platform.FACEBOOK: "kisarazu_facebook",
           Platform.YOUTUBE: "kodaira_youtube"}


class ShiftedClock:
    """Real time plus an offset the test can move forward (retry times come due)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
async def runtime(sqlite_url: str, clock: ShiftedClock) -> AsyncIterator[Runtime]:
    timeout = 0.6  # client timeout; TIMEOUT_* faults hang longer than this
    settings = Settings(
        database_url=sqlite_url, platforms="sandbox", config_dir=ROOT / "config" / "municipalities",
        x=XSettings(timeout_s=timeout), line=LineSettings(timeout_s=timeout),
        facebook=FacebookSettings(timeout_s=timeout), youtube=YoutubeSettings(timeout_s=timeout),
        reconcile_after_seconds=0, media_dir=FIXTURE_MEDIA,
    )
    async with open_runtime(settings, start=False, clock=clock) as opened:
        await opened.store.ensure_user(ALERTS.name, ALERTS.role, actor="test", scope=ALERTS.scope)
        yield opened


async def deliver(rt: Runtime, platform: Platform, text: str = "【避難指示】警戒レベル4 木更津市に避難指示を発令しました。") -> Any:
    fields: dict[str, Any] = {"municipality": "kisarazu", "category": "emergency", "priority": "emergency",
                              "accounts": [ACCOUNT[platform]], "text": text}
    if platform is Platform.YOUTUBE:
        fields.update(municipality="kodaira", category="tourism", priority="emergency", title="小平の紅葉",
                      media=[{"kind": "video", "path": "clip.mp4"}], emergency_reason="配信経路の試験")
    submitted = await rt.gateway.submit(parse_message(fields), ALERTS if platform is not Platform.YOUTUBE
                                        else ADMIN)
    if submitted.record.state.value == "pending_approval":
        await rt.store.ensure_user("boss", Role.APPROVER, actor="test", scope=Scope.of("kodaira"))
        submitted = await rt.gateway.approve(submitted.record.id, Actor("boss", Role.APPROVER, Scope.of("kodaira")))
    (delivery,) = submitted.deliveries
    await rt.gateway.dispatcher.drain()
    return await rt.store.get_delivery(delivery.id)


def fault(rt: Runtime, kind: FaultKind, platform: Platform, **kw: Any) -> None:
    assert rt.sandbox is not None
    rt.sandbox.state.faults.add(Fault(kind, platform, ACCOUNT[platform], **kw))


def posts(rt: Runtime, platform: Platform) -> list[Any]:
    assert rt.sandbox is not None
    return rt.sandbox.state.live_posts(platform, ACCOUNT[platform])


@pytest.mark.parametrize("platform", list(ACCOUNT))
async def test_success_reaches_the_platform(runtime: Runtime, platform: Platform) -> None:
    delivery = await deliver(runtime, platform)
    assert delivery.state is DeliveryState.SENT, delivery.error_text
    assert delivery.remote_id
    assert len(posts(runtime, platform)) == 1


async def test_images_with_alt_text_reach_x_and_facebook(runtime: Runtime) -> None:
    for platform in (Platform.X, Platform.FACEBOOK):
        submitted = await runtime.gateway.submit(parse_message({
            "municipality": "kisarazu", "category": "emergency", "priority": "emergency",
            "accounts": [ACCOUNT[platform]], "text": "避難所の地図です。",
            "media": [{"kind": "image", "path": "city.png", "alt_text": "木更津市役所周辺の避難所を示した地図"}]}), ALERTS)
        await runtime.gateway.dispatcher.drain()
        done = await runtime.store.get_delivery(submitted.deliveries[0].id)
        assert done.state is DeliveryState.SENT, done.error_text
        (post,) = posts(runtime, platform)
        assert "木更津市役所周辺の避難所を示した地図" in str(post.media)


async def test_instagram_posts_a_photo_and_skips_text_only(runtime: Runtime) -> None:
    base = {"municipality": "atsugi", "category": "emergency", "priority": "emergency",
            "accounts": ["atsugi_instagram"], "text": "【避難指示】警戒レベル4 厚木市に避難指示を発令しました。"}
    photo = {**base, "text": "避難所の地図です。", "media": [{
        "kind": "image", "path": "city.png", "alt_text": "厚木市役所周辺の避難所を示した地図",
        "url": "https://www.city.atsugi.kanagawa.jp/images/map.png"}]}
    text_only = await runtime.gateway.submit(parse_message(base), ALERTS)
    with_photo = await runtime.gateway.submit(parse_message(photo), ALERTS)
    await runtime.gateway.dispatcher.drain()
    skipped = await runtime.store.get_delivery(text_only.deliveries[0].id)
    sent = await runtime.store.get_delivery(with_photo.deliveries[0].id)
    assert skipped.state is DeliveryState.SKIPPED
    events = await runtime.store.list_audit(delivery_id=skipped.id)
    assert any("Instagram" in (e.reason or "") and e.to_state == "skipped" for e in events)
    assert sent.state is DeliveryState.SENT, sent.error_text
    assert runtime.sandbox is not None
    [post] = runtime.sandbox.state.live_posts(Platform.INSTAGRAM, "atsugi_instagram")
    assert post.remote_id == sent.remote_id and post.media[0]["alt_text"] == "厚木市役所周辺の避難所を示した地図"


@pytest.mark.parametrize(("url", "quoted"), [
    ("https://x.com/CAO_BOUSAI/status/1861234567890123456?s=20", "1861234567890123456"),
    ("https://www.bousai.go.jp/kohou/oshirase/index.html?from=top#news", None),
])
async def test_a_share_goes_out_as_a_share_with_the_checked_url(
    runtime: Runtime, url: str, quoted: str | None,
) -> None:
    """Checked, approved, then published: X quotes an X post (else posts the URL), Facebook links it,
    LINE carries it in the text; the URL is the one the checks saw, unchanged."""
    accounts = [ACCOUNT[p] for p in (Platform.X, Platform.LINE, Platform.FACEBOOK)]
    submitted = await runtime.gateway.submit(parse_message({
        "municipality": "kisarazu", "category": "emergency", "priority": "emergency", "accounts": accounts,
        "text": "内閣府防災の発信をお知らせします。",
        "share": {"url": url, "source": "内閣府防災", "source_class": "public_body"}}), ALERTS)
    assert submitted.record.body.share is not None and submitted.record.body.share.url == url
    if submitted.record.state.value == "pending_approval":  # a review finding (x.com is not a city domain)
        await runtime.store.ensure_user("boss", Role.APPROVER, actor="test")
        overrides = {f.rule: "確認済み" for f in submitted.record.check.findings}
        submitted = await runtime.gateway.approve(submitted.record.id, Actor("boss", Role.APPROVER), overrides)
    await runtime.gateway.dispatcher.drain()
    assert len(submitted.deliveries) == 3
    for delivery in submitted.deliveries:
        done = await runtime.store.get_delivery(delivery.id)
        assert done.state is DeliveryState.SENT, done.error_text
    (x_post,) = posts(runtime, Platform.X)
    (line_post,) = posts(runtime, Platform.LINE)
    (fb_post,) = posts(runtime, Platform.FACEBOOK)
    if quoted:
        assert x_post.extra == {"quote_tweet_id": quoted} and url not in x_post.text
    else:
        assert x_post.extra == {} and x_post.text.endswith("\n" + url)
    assert line_post.text.endswith("\n" + url)
    assert fb_post.extra["link"] == url


@pytest.mark.parametrize("platform", [Platform.X, Platform.LINE, Platform.FACEBOOK])
async def test_rate_limit_waits_until_reset_and_pauses_the_account(runtime: Runtime, platform: Platform) -> None:
    fault(runtime, FaultKind.RATE_LIMIT, platform, reset_s=900)
    before = datetime.now(UTC)
    delivery = await deliver(runtime, platform)
    assert delivery.state is DeliveryState.RETRY_WAIT
    assert delivery.error_code == "rate_limited"
    assert delivery.retry_at is not None and delivery.retry_at >= before + timedelta(seconds=50)
    if platform is Platform.X:  # X says exactly when: x-rate-limit-reset
        assert abs((delivery.retry_at - (before + timedelta(seconds=900))).total_seconds()) < 3
    pauses = {p.account: p for p in await runtime.store.account_pauses(datetime.now(UTC))}
    assert pauses[ACCOUNT[platform]].until == delivery.retry_at
    assert posts(runtime, platform) == []


@pytest.mark.parametrize("platform", list(ACCOUNT))
async def test_server_error_backs_off(runtime: Runtime, platform: Platform) -> None:
    fault(runtime, FaultKind.SERVER_ERROR, platform, status=503)
    before = datetime.now(UTC)
    delivery = await deliver(runtime, platform)
    assert delivery.state is DeliveryState.RETRY_WAIT, delivery.error_text
    assert delivery.retry_at is not None and delivery.retry_at >= before + timedelta(seconds=4)
    assert delivery.attempts == 1


@pytest.mark.parametrize("platform", list(ACCOUNT))
async def test_expired_token_fails_for_a_person_to_act(runtime: Runtime, platform: Platform) -> None:
    fault(runtime, FaultKind.EXPIRED_TOKEN, platform)
    delivery = await deliver(runtime, platform)
    assert delivery.state is DeliveryState.FAILED
    assert delivery.error_code  # the adapter's code (auth, unauthorized, token_expired ...)
    assert "認証エラー" in (delivery.error_text or "")  # dispatch says a person must renew the credentials


@pytest.mark.parametrize(("platform", "state"), [
    (Platform.X, DeliveryState.FAILED), (Platform.FACEBOOK, DeliveryState.FAILED),
    (Platform.LINE, DeliveryState.SENT),  # LINE has no duplicate check: a replayed retry key is a 409 = success
])
async def test_duplicate(runtime: Runtime, platform: Platform, state: DeliveryState) -> None:
    fault(runtime, FaultKind.DUPLICATE, platform)
    delivery = await deliver(runtime, platform)
    assert delivery.state is state


@pytest.mark.parametrize("platform", list(ACCOUNT))
async def test_timeout_after_accept_never_posts_twice(
    runtime: Runtime, clock: ShiftedClock, platform: Platform,
) -> None:
    fault(runtime, FaultKind.TIMEOUT_AFTER_ACCEPT, platform, hang_s=1.5)
    delivery = await deliver(runtime, platform)
    expected = DeliveryState.RETRY_WAIT if platform is Platform.LINE else DeliveryState.UNCERTAIN
    assert delivery.state is expected, delivery.error_text
    for _ in range(3):  # time passes; reconcile, then dispatch whatever came due again
        clock.offset += timedelta(minutes=10)
        await runtime.worker.reconciler.run_once(clock())
        await runtime.gateway.dispatcher.drain()
    done = await runtime.store.get_delivery(delivery.id)
    assert done.state is DeliveryState.SENT, done.error_text
    assert len(posts(runtime, platform)) == 1
