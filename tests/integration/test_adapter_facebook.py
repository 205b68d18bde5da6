"""Facebook adapter over aiohttp against the Facebook sandbox (Graph API paths) on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from gateway.adapters.base import IdempotencyKey
from gateway.adapters.facebook import DEFAULT_RATE_LIMIT_WAIT, FacebookAdapter, FacebookSettings
from gateway.credentials import StaticCredentials
from gateway.errors import (
    AuthError,
    PermanentError,
    PublishError,
    RateLimited,
    RetryableError,
    UncertainError,
)
from gateway.models import Media, MediaKind, Message, Platform
from gateway.policy import Account
from gateway.sandbox.app import SandboxServer, sandbox_state_for
from gateway.sandbox.base import Fault, FaultKind, SandboxState
from gateway.sandbox.credentials import sandbox_credentials, sandbox_user_id
from tests.mediafiles import FIXTURE_MEDIA, fixture_store

MEDIA = FIXTURE_MEDIA
MAIN, OTHER = "kodaira_facebook", "zushi_facebook"
LINK = "https://www.city.kodaira.tokyo.jp/kurashi/001.html"
KEY = IdempotencyKey("0" * 32)
FB = Platform.FACEBOOK


def _account(account_id: str) -> Account:
    return Account(id=account_id, platform=FB, handle=account_id, manager="広報課",
                   categories=("city_news", "event"), categories_clause="小平市 3(1)")


ACCOUNTS = {MAIN: _account(MAIN), OTHER: _account(OTHER)}


def _message(text: str = "市民まつりを開催します。", **kwargs: object) -> Message:
    return Message.model_validate({"municipality": "kodaira", "category": "event", "text": text, **kwargs})


def _image(name: str, alt: str | None) -> Media:
    return Media(kind=MediaKind.IMAGE, path=name, alt_text=alt)


@dataclass
class Env:
    state: SandboxState
    server: SandboxServer
    adapter: FacebookAdapter

    def adapter_with(self, creds: dict[str, dict[str, str]], base_url: str | None = None) -> FacebookAdapter:
        settings = FacebookSettings(base_url=base_url or self.server.base_url, timeout_s=0.5)
        return FacebookAdapter(settings, StaticCredentials(creds), ACCOUNTS, media=fixture_store())

    def posts(self, account: str = MAIN) -> list[dict[str, object]]:
        return [p.as_dict() for p in self.state.live_posts(FB, account)]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    state = sandbox_state_for({MAIN: FB, OTHER: FB, "kodaira_youtube": Platform.YOUTUBE})
    async with SandboxServer(state, platforms=[FB], shutdown_timeout=0.1) as server:
        adapter = FacebookAdapter(FacebookSettings(base_url=server.base_url, timeout_s=0.5),
                                  StaticCredentials(server.credentials()), ACCOUNTS, media=fixture_store())
        try:
            yield Env(state, server, adapter)
        finally:
            await adapter.aclose()


async def _publish(env: Env, message: Message, account: str = MAIN) -> tuple[object, object]:
    post = env.adapter.render(message, ACCOUNTS[account])
    return post, await env.adapter.publish(post, KEY)


# -- success paths ----------------------------------------------------------------------------


async def test_text_and_link_post_goes_to_feed(env: Env) -> None:
    _, receipt = await _publish(env, _message(link=LINK, title="秋の市民まつり"))
    [post] = env.posts()
    assert receipt.remote_id == post["remote_id"]
    assert receipt.remote_id.startswith(sandbox_user_id(MAIN) + "_")
    assert post["text"] == "秋の市民まつり\n\n市民まつりを開催します。"
    assert post["extra"]["link"] == LINK
    assert post["media"] == []
    assert ("POST", f"/v26.0/{sandbox_user_id(MAIN)}/feed") in [(m, p) for _, _, m, p in env.state.requests]


async def test_single_photo_keeps_alt_text_and_puts_link_in_text(env: Env) -> None:
    _, receipt = await _publish(env, _message(link=LINK, media=[_image("city.png", "市役所の外観")]))
    [post] = env.posts()
    assert receipt.remote_id == post["remote_id"]
    assert receipt.extra_ids == (post["extra"]["photo_id"],)
    assert post["text"] == f"市民まつりを開催します。\n{LINK}"
    [photo] = post["media"]
    assert photo["alt_text"] == "市役所の外観"
    assert photo["content_type"] == "image/png"
    assert photo["bytes"] == (MEDIA / "city.png").stat().st_size


async def test_multi_photo_post_uses_attached_media(env: Env) -> None:
    images = [_image("city.png", "市役所"), _image("park.png", "中央公園")]
    _, receipt = await _publish(env, _message(media=images))
    [post] = env.posts()  # the two unpublished photos did not become posts of their own
    assert receipt.remote_id == post["remote_id"]
    assert [m["alt_text"] for m in post["media"]] == ["市役所", "中央公園"]
    assert list(receipt.extra_ids) == [m["id"] for m in post["media"]]
    calls = [p for _, _, m, p in env.state.requests if m == "POST"]
    assert calls == [f"/v26.0/{sandbox_user_id(MAIN)}/photos"] * 2 + [f"/v26.0/{sandbox_user_id(MAIN)}/feed"]


SHARED = "https://www.metro.tokyo.lg.jp/information/press/2026/12/04_01.html?lang=ja&utm_source=fb#top"
SHARE = {"url": SHARED, "source": "metro.tokyo.lg.jp", "source_class": "public_body"}


async def test_share_is_the_feed_posts_link(env: Env) -> None:
    await _publish(env, _message(link=LINK, share=SHARE))
    [post] = env.posts()
    assert post["extra"]["link"] == SHARED  # exactly the URL the checks saw
    assert post["text"] == f"市民まつりを開催します。\n{LINK}"  # the city's own link stays in the text


async def test_share_without_a_link(env: Env) -> None:
    await _publish(env, _message(share=SHARE))
    [post] = env.posts()
    assert post["extra"]["link"] == SHARED and post["text"] == "市民まつりを開催します。"


async def test_share_on_a_photo_post_goes_in_the_text(env: Env) -> None:
    await _publish(env, _message(link=LINK, share=SHARE, media=[_image("city.png", "市役所の外観")]))
    [post] = env.posts()
    assert post["text"] == f"市民まつりを開催します。\n{LINK}\n{SHARED}"
    assert "link" not in post["extra"]


async def test_delete_removes_post_and_is_idempotent(env: Env) -> None:
    _, receipt = await _publish(env, _message())
    await env.adapter.delete(receipt)
    assert env.posts() == []
    await env.adapter.delete(receipt)  # already gone: not an error
    assert [m for _, _, m, _ in env.state.requests].count("DELETE") == 2


async def test_recent_lists_own_posts_since(env: Env) -> None:
    before = datetime.now(UTC) - timedelta(minutes=1)
    _, first = await _publish(env, _message("一つ目のお知らせ"))
    _, second = await _publish(env, _message("二つ目のお知らせ"))
    await _publish(env, _message("逗子市のお知らせ"), account=OTHER)
    found = await env.adapter.recent(ACCOUNTS[MAIN], before)
    assert {(p.remote_id, p.text) for p in found} == {(first.remote_id, "一つ目のお知らせ"),
                                                       (second.remote_id, "二つ目のお知らせ")}
    assert all(p.created_at is not None and p.created_at >= before for p in found)
    assert all(p.url and sandbox_user_id(MAIN) in p.url for p in found)
    assert await env.adapter.recent(ACCOUNTS[MAIN], datetime.now(UTC) + timedelta(minutes=5)) == []


# -- failures ---------------------------------------------------------------------------------

FAULTS = [
    # kind, fault options, error class, error code, expected wait (None: no retry_after)
    (FaultKind.RATE_LIMIT, {"reset_s": 600}, RateLimited, "rate_limited", timedelta(minutes=10)),
    (FaultKind.QUOTA, {}, RateLimited, "rate_limited", DEFAULT_RATE_LIMIT_WAIT),
    (FaultKind.SERVER_ERROR, {}, RetryableError, "server_error", None),
    (FaultKind.SERVER_ERROR, {"status": 500}, RetryableError, "server_error", None),
    (FaultKind.TIMEOUT_BEFORE, {"hang_s": 1.5}, UncertainError, "no_answer", None),
    (FaultKind.DUPLICATE, {}, PermanentError, "duplicate", None),
    (FaultKind.EXPIRED_TOKEN, {}, AuthError, "auth", None),
    (FaultKind.REJECT, {}, PermanentError, "graph_100", None),
]


@pytest.mark.parametrize(("kind", "options", "error", "code", "wait"), FAULTS, ids=[f[0].value for f in FAULTS])
async def test_fault_maps_to_error_class(
    env: Env, kind: FaultKind, options: dict[str, float], error: type[PublishError], code: str,
    wait: timedelta | None,
) -> None:
    env.state.faults.add(Fault(kind=kind, platform=FB, account=MAIN, **options))  # type: ignore[arg-type]
    post = env.adapter.render(_message(), ACCOUNTS[MAIN])
    with pytest.raises(PublishError) as caught:
        await env.adapter.publish(post, KEY)
    assert type(caught.value) is error
    assert caught.value.code == code
    assert env.posts() == []
    token = sandbox_credentials(MAIN, FB)["page_access_token"]
    assert token not in str(caught.value)
    if wait is not None:
        retry_after = caught.value.retry_after  # type: ignore[attr-defined]
        assert abs(retry_after - (datetime.now(UTC) + wait)) < timedelta(seconds=5)
    # The fault was used once: the next attempt goes through.
    await env.adapter.publish(post, KEY)
    assert len(env.posts()) == 1


@pytest.mark.parametrize("media", [[], [_image("city.png", "市役所")]], ids=["feed", "photo"])
async def test_timeout_after_accept_is_uncertain_and_reconcilable(env: Env, media: list[Media]) -> None:
    env.state.faults.add(Fault(kind=FaultKind.TIMEOUT_AFTER_ACCEPT, platform=FB, account=MAIN, hang_s=1.5))
    since = datetime.now(UTC) - timedelta(seconds=5)
    post = env.adapter.render(_message("確認用の投稿", media=media), ACCOUNTS[MAIN])
    with pytest.raises(UncertainError):
        await env.adapter.publish(post, KEY)
    assert len(env.posts()) == 1  # published exactly once
    # What the reconciler does before any retry: find it on the page.
    assert [p.text for p in await env.adapter.recent(ACCOUNTS[MAIN], since)] == ["確認用の投稿"]


async def test_lost_answer_to_unpublished_photo_is_a_plain_retry(env: Env) -> None:
    env.state.faults.add(Fault(kind=FaultKind.TIMEOUT_AFTER_ACCEPT, platform=FB, account=MAIN, hang_s=1.5))
    post = env.adapter.render(_message(media=[_image("city.png", "a"), _image("park.png", "b")]), ACCOUNTS[MAIN])
    with pytest.raises(RetryableError) as caught:
        await env.adapter.publish(post, KEY)
    assert type(caught.value) is RetryableError  # an unpublished photo is not a post
    assert env.posts() == []


async def test_fault_for_other_account_does_not_fire(env: Env) -> None:
    env.state.faults.add(Fault(kind=FaultKind.DUPLICATE, platform=FB, account=OTHER))
    await _publish(env, _message())
    assert len(env.posts()) == 1
    assert len(env.state.faults.pending()) == 1


@pytest.mark.parametrize("case", ["other_page_token", "garbage_token", "missing_fields"])
async def test_bad_credentials_are_auth_errors(env: Env, case: str) -> None:
    other = sandbox_credentials(OTHER, FB)
    creds = {
        "other_page_token": {"page_id": sandbox_user_id(MAIN), "page_access_token": other["page_access_token"]},
        "garbage_token": {"page_id": sandbox_user_id(MAIN), "page_access_token": "EAAnotatoken"},
        "missing_fields": {"page_id": sandbox_user_id(MAIN)},
    }[case]
    adapter = env.adapter_with({MAIN: creds})
    try:
        with pytest.raises(AuthError) as caught:
            await adapter.publish(adapter.render(_message(), ACCOUNTS[MAIN]), KEY)
    finally:
        await adapter.aclose()
    assert "EAAnotatoken" not in str(caught.value)
    assert other["page_access_token"] not in str(caught.value)
    assert env.posts() == []


async def test_connection_refused_is_retryable(env: Env) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once closed
    adapter = env.adapter_with(env.server.credentials(), base_url=f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(RetryableError) as caught:
            await adapter.publish(adapter.render(_message(), ACCOUNTS[MAIN]), KEY)
    finally:
        await adapter.aclose()
    assert type(caught.value) is RetryableError


async def test_missing_photo_file_is_permanent(env: Env) -> None:
    post = env.adapter.render(_message(media=[Media(kind=MediaKind.IMAGE, path="nonexistent.png")]),
                              ACCOUNTS[MAIN])
    with pytest.raises(PermanentError) as caught:
        await env.adapter.publish(post, KEY)
    assert caught.value.code == "media_missing"
    assert env.posts() == []


# -- render -----------------------------------------------------------------------------------


def test_render_keeps_images_fits_alt_text_and_drops_video(env: Env) -> None:
    media = [_image("city.png", "説" * 1500), Media(kind=MediaKind.VIDEO, path="clip.mp4")]
    post = env.adapter.render(_message(link=LINK, media=media), ACCOUNTS[MAIN])
    [part] = post.parts
    assert [m.kind for m in part.media] == [MediaKind.IMAGE]
    assert part.media[0].alt_text is not None and len(part.media[0].alt_text) == 1000
    assert part.text.endswith(LINK) and post.link == LINK and post.skip_reason is None


def test_render_fits_the_longest_message_whole(env: Env) -> None:
    # A message (≤ 20,000 characters, title ≤ 500) always fits Facebook's 63,206: nothing is cut.
    post = env.adapter.render(_message("あ" * 20_000, title="題" * 500), ACCOUNTS[MAIN])
    assert post.text == "題" * 500 + "\n\n" + "あ" * 20_000
    assert len(post.text) <= FacebookAdapter.limits.max_text


# -- the sandbox checks parameters as Graph does ------------------------------------------------


async def test_sandbox_rejects_missing_parameters_and_wrong_tokens(env: Env) -> None:
    page = sandbox_user_id(MAIN)
    token = sandbox_credentials(MAIN, FB)["page_access_token"]
    base = f"{env.server.base_url}/v26.0"
    async with aiohttp.ClientSession() as http:
        cases = [
            (f"{base}/{page}/feed", {"access_token": token}, 400, 100),
            (f"{base}/{page}/feed", {"message": "x"}, 400, 2500),
            (f"{base}/{page}/feed", {"message": "x", "access_token": "EAAbad"}, 400, 190),
            (f"{base}/{page}/photos", {"message": "x", "access_token": token}, 400, 324),
            (f"{base}/{page}/feed", {"message": "x", "access_token": token, "link": "not a url"}, 400, 100),
            (f"{base}/{page}/feed", {"access_token": token, "attached_media[0]": '{"media_fbid":"9"}'}, 400, 100),
            (f"{base}/999/feed", {"message": "x", "access_token": token}, 400, 100),
        ]
        for url, data, status, code in cases:
            async with http.post(url, data=data) as resp:
                body = await resp.json()
                assert (resp.status, body["error"]["code"]) == (status, code), (url, data, body)
                assert body["error"]["fbtrace_id"]
        async with http.get(f"{base}/{page}", headers={"Authorization": f"OAuth {token}"}) as resp:
            assert (await resp.json())["id"] == page
    assert env.posts() == []
