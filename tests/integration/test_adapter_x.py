"""X adapter through tweepy and our v2 media upload against the X sandbox on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from twitter_text import parse_tweet

from gateway.adapters.base import IdempotencyKey
from gateway.adapters.render import x_length
from gateway.adapters.x import XAdapter, XSettings
from gateway.adapters.x_wire import X_HOST, XAuth
from gateway.credentials import StaticCredentials
from gateway.errors import (
    AuthError,
    PermanentError,
    PublishError,
    RateLimited,
    RetryableError,
    UncertainError,
)
from gateway.media import MediaStore
from gateway.models import Media, MediaKind, Message, Platform, Post, PostPart, Share, ShareSourceClass
from gateway.policy import Account
from gateway.sandbox import x as x_sandbox
from gateway.sandbox.base import Fault, FaultKind, SandboxState
from gateway.sandbox.credentials import sandbox_credentials, sandbox_user_id
from tests.mediafiles import fixture_store

MAIN, THREAD = "kodaira_x", "kodaira_mayor_x"
LINK = "https://www.city.kodaira.tokyo.jp/kurashi/001.html"
KEY = IdempotencyKey("0" * 32)


def _account(account_id: str, overflow: str) -> Account:
    return Account(id=account_id, platform=Platform.X, handle="@" + account_id, manager="広報課",
                   categories=("city_news", "event"), categories_clause="小平市 3(1)", x_overflow=overflow)


ACCOUNTS = {MAIN: _account(MAIN, "truncate"), THREAD: _account(THREAD, "thread")}


@dataclass
class Env:
    state: SandboxState
    adapter: XAdapter
    base_url: str
    session: aiohttp.ClientSession
    media: MediaStore
    # (method, path, status, headers) of every answer the adapter's session received
    seen: list[tuple[str, str, int, dict[str, str]]] = field(default_factory=list)

    def last_headers(self, path: str) -> dict[str, str]:
        return next(h for _, p, _, h in reversed(self.seen) if p == path)

    def adapter_with(self, creds: dict[str, dict[str, str]]) -> XAdapter:
        return XAdapter(XSettings(base_url=self.base_url, timeout_s=0.5), StaticCredentials(creds), ACCOUNTS,
                        media=self.media, session=self.session)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    state = SandboxState({MAIN: Platform.X, THREAD: Platform.X, "kodaira_line": Platform.LINE})
    app = web.Application()
    x_sandbox.install(app, state)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    seen: list[tuple[str, str, int, dict[str, str]]] = []

    async def on_end(_s: Any, _ctx: Any, params: aiohttp.TraceRequestEndParams) -> None:
        seen.append((params.method, params.url.path, params.response.status, dict(params.response.headers)))

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_end)
    session = aiohttp.ClientSession(trace_configs=[trace])
    base_url = str(server.make_url("")).rstrip("/")
    creds = {a: sandbox_credentials(a, Platform.X) for a in ACCOUNTS}
    media = MediaStore(tmp_path / "media")
    adapter = XAdapter(XSettings(base_url=base_url, timeout_s=0.5), StaticCredentials(creds), ACCOUNTS,
                       media=media, session=session)
    yield Env(state, adapter, base_url, session, media, seen)
    await adapter.aclose()
    await session.close()
    await server.close()


def _message(text: str, link: str | None = None, media: tuple[Media, ...] = ()) -> Message:
    return Message(municipality="kodaira", category="city_news", text=text, link=link, media=media)


async def _publish(env: Env, message: Message, account: str = MAIN) -> Any:
    post = env.adapter.render(message, ACCOUNTS[account])
    return await env.adapter.publish(post, KEY)


def _image(env: Env, name: str, alt: str | None) -> Media:
    stored = env.media.add(b"\x89PNG\r\n\x1a\n" + name.encode() * 50)
    return Media(kind=MediaKind.IMAGE, id=stored.id, alt_text=alt)


# --- success paths -------------------------------------------------------------------------------


async def test_text_post(env: Env) -> None:
    receipt = await _publish(env, _message("小平市からのお知らせです。", LINK))
    [post] = env.state.live_posts(Platform.X, MAIN)
    assert post.text == f"小平市からのお知らせです。\n{LINK}"
    assert receipt.remote_id == post.remote_id and receipt.extra_ids == ()
    assert receipt.url == f"https://x.com/{MAIN}/status/{post.remote_id}"
    assert receipt.platform is Platform.X and receipt.account == MAIN


async def test_images_with_alt_text_set_before_the_post(env: Env) -> None:
    media = (_image(env, "a.png", "市役所の外観"), _image(env, "b.png", "会場の地図"),
             _image(env, "c.png", None))
    await _publish(env, _message("写真で見る市役所", media=media))
    [post] = env.state.live_posts(Platform.X, MAIN)
    assert [m["alt_text"] for m in post.media] == ["市役所の外観", "会場の地図", None]
    assert {m["kind"] for m in post.media} == {"image"}
    paths = [path for _, _, _, path in env.state.requests]
    assert paths.count("/2/media/upload") == 3
    assert paths.count("/2/media/metadata") == 2
    assert max(i for i, p in enumerate(paths) if p == "/2/media/metadata") < paths.index("/2/tweets")


async def test_video_chunked_upload(env: Env) -> None:
    env.media.root.mkdir(parents=True)  # a file an operator put in the store, named by its path
    (env.media.root / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 14)  # 3,596 bytes
    env.adapter.media_chunk_bytes = 1000
    media = (Media(kind=MediaKind.VIDEO, path="clip.mp4", alt_text="防災訓練の様子"),)
    await _publish(env, _message("防災訓練の動画です", media=media))
    [post] = env.state.live_posts(Platform.X, MAIN)
    assert post.media == [{"media_id": post.media[0]["media_id"], "kind": "video", "media_type": "video/mp4",
                           "size": 3596, "alt_text": "防災訓練の様子"}]
    paths = [path for _, _, _, path in env.state.requests]
    assert sum(p.endswith("/append") for p in paths) == 4
    assert sum(p.endswith("/finalize") for p in paths) == 1
    assert paths.count("/2/media/upload") >= 1  # STATUS polled until processing succeeded


async def test_thread_overflow(env: Env) -> None:
    text = "".join(f"{i}番目のお知らせです。詳しくは市のホームページをご覧ください。" for i in range(12))
    receipt = await _publish(env, _message(text, LINK), account=THREAD)
    posts = env.state.live_posts(Platform.X, THREAD)
    assert len(posts) == 1 + len(receipt.extra_ids) >= 3
    assert [p.remote_id for p in posts] == [receipt.remote_id, *receipt.extra_ids]
    assert posts[0].reply_to is None
    assert [p.reply_to for p in posts[1:]] == [p.remote_id for p in posts[:-1]]
    assert all(parse_tweet(p.text).weightedLength <= 280 for p in posts)
    assert posts[0].text.endswith(f" (1/{len(posts)})") and LINK in posts[-1].text


async def test_truncate_overflow_keeps_link(env: Env) -> None:
    receipt = await _publish(env, _message("市" * 300, LINK))
    [post] = env.state.live_posts(Platform.X, MAIN)
    assert post.text.endswith("…\n" + LINK)
    assert parse_tweet(post.text).weightedLength <= 280
    assert receipt.extra_ids == ()


async def test_crlf_counts_two_and_the_cut_is_accepted(env: Env) -> None:
    """CR LF weighs 2 on X: counted as 1 (twitter-text-parser), the cut text was 20 over and refused."""
    await _publish(env, _message("お知らせ\r\n" * 60))
    [post] = env.state.live_posts(Platform.X, MAIN)
    assert post.text.endswith("…") and x_length(post.text).valid
    assert 270 < x_length(post.text).weighted_length <= 280


async def test_invalid_characters_are_left_out(env: Env) -> None:
    await _publish(env, _message("\ufeff小平市からの\ufffeお知らせです\uffff"))
    [post] = env.state.live_posts(Platform.X, MAIN)
    assert post.text == "小平市からのお知らせです"


async def test_alt_text_is_cut_on_a_whole_character(env: Env) -> None:
    family = "👨\u200d👩\u200d👧"
    await _publish(env, _message("写真", media=(_image(env, "a.png", "あ" * 996 + family),)))
    [post] = env.state.live_posts(Platform.X, MAIN)
    assert post.media[0]["alt_text"] == "あ" * 996


# --- shares ---------------------------------------------------------------------------------------

SOURCE_ID = "1861234567890123456"


def _share(url: str) -> Share:
    return Share(url=url, source="@tokyo_bousai", source_class=ShareSourceClass.PUBLIC_BODY)


@pytest.mark.parametrize("url", [
    f"https://x.com/tokyo_bousai/status/{SOURCE_ID}",
    f"https://twitter.com/tokyo_bousai/status/{SOURCE_ID}?s=20&t=abc",
    f"https://mobile.twitter.com/i/web/status/{SOURCE_ID}",
    f"https://www.x.com/tokyo_bousai/status/{SOURCE_ID}/photo/1",
])
async def test_share_of_an_x_post_is_a_quote(env: Env, url: str) -> None:
    message = _message("東京都防災の投稿をご覧ください。", LINK).model_copy(update={"share": _share(url)})
    await _publish(env, message)
    [post] = env.state.live_posts(Platform.X, MAIN)
    assert post.extra == {"quote_tweet_id": SOURCE_ID}  # what the sandbox received in POST /2/tweets
    assert post.text == f"東京都防災の投稿をご覧ください。\n{LINK}"  # the quote carries the source, not a URL


async def test_share_of_a_page_posts_the_checked_url_exactly(env: Env) -> None:
    url = "https://www.metro.tokyo.lg.jp/information/press/2026/12/04_01.html?utm_source=x&lang=ja#top"
    message = _message("都からのお知らせです。", LINK).model_copy(update={"share": _share(url)})
    await _publish(env, message)
    [post] = env.state.live_posts(Platform.X, MAIN)
    assert post.text == f"都からのお知らせです。\n{LINK}\n{url}"
    assert post.extra == {}


async def test_a_cut_keeps_the_shared_url_whole(env: Env) -> None:
    url = "https://www.pref.kanagawa.jp/docs/bousai/" + "a" * 120 + ".html"
    await _publish(env, _message("市" * 300).model_copy(update={"share": _share(url)}))
    [post] = env.state.live_posts(Platform.X, MAIN)
    assert post.text.endswith(f"…\n{url}") and x_length(post.text).valid


async def test_a_thread_quotes_on_its_first_part_only(env: Env) -> None:
    text = "".join(f"{i}番目のお知らせです。" for i in range(60))
    url = f"https://x.com/tokyo_bousai/status/{SOURCE_ID}"
    await _publish(env, _message(text).model_copy(update={"share": _share(url)}), account=THREAD)
    posts = env.state.live_posts(Platform.X, THREAD)
    assert len(posts) > 1
    assert [p.extra.get("quote_tweet_id") for p in posts] == [SOURCE_ID] + [None] * (len(posts) - 1)
    assert all(url not in p.text for p in posts)


async def test_a_quote_id_x_refuses_is_a_permanent_error(env: Env) -> None:
    post = env.adapter.render(_message("引用です"), ACCOUNTS[MAIN]).model_copy(update={"quote_of": "abc"})
    with pytest.raises(PermanentError) as caught:
        await env.adapter.publish(post, KEY)
    assert caught.value.code == "http_400"
    assert env.state.live_posts(Platform.X, MAIN) == []


async def test_quoting_a_deleted_post_is_refused(env: Env) -> None:
    first = await _publish(env, _message("元の投稿"))
    await env.adapter.delete(first)
    post = env.adapter.render(_message("引用です"), ACCOUNTS[MAIN]).model_copy(update={"quote_of": first.remote_id})
    with pytest.raises(PermanentError):
        await env.adapter.publish(post, KEY)


async def test_reply_to(env: Env) -> None:
    first = await _publish(env, _message("第1報: 大雨警報が発表されました"))
    post = env.adapter.render(_message("第2報: 大雨警報は解除されました"), ACCOUNTS[MAIN])
    second = await env.adapter.publish(post.model_copy(update={"reply_to": first.remote_id}), KEY)
    reply = next(p for p in env.state.posts if p.remote_id == second.remote_id)
    assert reply.reply_to == first.remote_id


async def test_delete_removes_every_part(env: Env) -> None:
    receipt = await _publish(env, _message("あ" * 400), account=THREAD)
    assert len(env.state.live_posts(Platform.X, THREAD)) == 3
    await env.adapter.delete(receipt)
    assert env.state.live_posts(Platform.X, THREAD) == []
    await env.adapter.delete(receipt)  # already gone: still fine


async def test_recent_lists_posts_since(env: Env) -> None:
    before = datetime.now(UTC) - timedelta(minutes=1)
    one = await _publish(env, _message("一件目"))
    two = await _publish(env, _message("二件目"))
    found = await env.adapter.recent(ACCOUNTS[MAIN], before)
    assert [(r.remote_id, r.text) for r in found] == [(two.remote_id, "二件目"), (one.remote_id, "一件目")]
    assert all(r.created_at is not None and r.created_at >= before.replace(microsecond=0) for r in found)
    assert await env.adapter.recent(ACCOUNTS[MAIN], datetime.now(UTC) + timedelta(minutes=5)) == []


async def test_recent_follows_pagination(env: Env) -> None:
    for i in range(7):
        await _publish(env, _message(f"お知らせ {i}"))
    env.adapter.recent_page_size = 5  # type: ignore[misc]
    found = await env.adapter.recent(ACCOUNTS[MAIN], datetime.now(UTC) - timedelta(minutes=1))
    assert [r.text for r in found] == [f"お知らせ {i}" for i in reversed(range(7))]
    assert sum(p.endswith("/tweets") and m == "GET" for _, _, m, p in env.state.requests) == 2


# --- failures ------------------------------------------------------------------------------------


def _reset(headers: dict[str, str], name: str) -> datetime:
    return datetime.fromtimestamp(int(headers[name]), UTC)


@pytest.mark.parametrize(
    ("kind", "error", "code", "reset_header"),
    [
        (FaultKind.RATE_LIMIT, RateLimited, "rate_limited", "x-rate-limit-reset"),
        (FaultKind.QUOTA, RateLimited, "rate_limited", "x-user-limit-24hour-reset"),
        (FaultKind.SERVER_ERROR, RetryableError, "server_error", None),
        (FaultKind.DUPLICATE, PermanentError, "duplicate", None),
        (FaultKind.EXPIRED_TOKEN, AuthError, "unauthorized", None),
        (FaultKind.REJECT, PermanentError, "http_400", None),
        (FaultKind.TIMEOUT_BEFORE, UncertainError, "timeout_after_send", None),
    ],
)
async def test_fault_translation(
    env: Env, kind: FaultKind, error: type[PublishError], code: str, reset_header: str | None
) -> None:
    env.state.faults.add(Fault(kind, Platform.X, MAIN, reset_s=7200, hang_s=1.5))
    with pytest.raises(error) as caught:
        await _publish(env, _message("障害時の投稿"))
    assert type(caught.value) is error and caught.value.code == code
    assert env.state.live_posts(Platform.X) == []
    if reset_header is not None:
        headers = env.last_headers("/2/tweets")
        assert isinstance(caught.value, RateLimited)
        assert caught.value.retry_after == _reset(headers, reset_header)
        assert caught.value.retry_after > datetime.now(UTC) + timedelta(minutes=100)


async def test_quota_uses_the_24_hour_reset_not_the_window(env: Env) -> None:
    env.state.faults.add(Fault(FaultKind.QUOTA, Platform.X, MAIN, reset_s=20_000))
    with pytest.raises(RateLimited) as caught:
        await _publish(env, _message("上限"))
    headers = env.last_headers("/2/tweets")
    assert headers["x-user-limit-24hour-remaining"] == "0"
    assert int(headers["x-rate-limit-reset"]) < int(headers["x-user-limit-24hour-reset"])
    assert caught.value.retry_after == _reset(headers, "x-user-limit-24hour-reset")


async def test_timeout_after_accept_is_uncertain_and_posted_once(env: Env) -> None:
    env.state.faults.add(Fault(FaultKind.TIMEOUT_AFTER_ACCEPT, Platform.X, MAIN, hang_s=1.5))
    since = datetime.now(UTC) - timedelta(minutes=1)
    with pytest.raises(UncertainError):
        await _publish(env, _message("タイムアウトする投稿"))
    assert [p.text for p in env.state.live_posts(Platform.X, MAIN)] == ["タイムアウトする投稿"]
    # What the reconciler does before any retry: the post is found, so nothing is sent again.
    found = await env.adapter.recent(ACCOUNTS[MAIN], since)
    assert [r.text for r in found] == ["タイムアウトする投稿"]
    assert sum(p == "/2/tweets" for _, _, _, p in env.state.requests) == 1


async def test_real_duplicate_text_is_refused(env: Env) -> None:
    await _publish(env, _message("同じ本文"))
    with pytest.raises(PermanentError) as caught:
        await _publish(env, _message("同じ本文"))
    assert caught.value.code == "duplicate"
    assert len(env.state.live_posts(Platform.X, MAIN)) == 1


async def test_thread_failing_half_way_is_rolled_back(env: Env) -> None:
    text = "あ" * 250
    post = env.adapter.render(_message(text), ACCOUNTS[THREAD])
    assert len(post.parts) == 2
    # Make the second part a duplicate of a live post, so X refuses it after the first went out.
    await env.adapter.publish(Post(platform=Platform.X, account=THREAD, parts=(post.parts[1],)), KEY)
    with pytest.raises(PermanentError) as caught:
        await env.adapter.publish(post, KEY)
    assert caught.value.code == "duplicate"
    assert [p.text for p in env.state.live_posts(Platform.X, THREAD)] == [post.parts[1].text]


async def test_connection_refused_is_retryable(env: Env) -> None:
    probe = web.Application()
    closed = TestServer(probe, host="127.0.0.1")
    await closed.start_server()
    url = str(closed.make_url("")).rstrip("/")
    await closed.close()
    creds = {MAIN: sandbox_credentials(MAIN, Platform.X)}
    adapter = XAdapter(XSettings(base_url=url, timeout_s=0.5), StaticCredentials(creds), ACCOUNTS, media=env.media)
    try:
        with pytest.raises(RetryableError) as caught:
            await _publish(SimpleNamespace(adapter=adapter), _message("届かない投稿"))  # type: ignore[arg-type]
        assert caught.value.code == "connect"
    finally:
        await adapter.aclose()


async def test_missing_credentials_is_auth_error(env: Env) -> None:
    adapter = env.adapter_with({MAIN: {"user_id": "1"}})
    with pytest.raises(AuthError):
        await _publish(SimpleNamespace(adapter=adapter), _message("認証情報なし"))  # type: ignore[arg-type]


# --- the signing is real -------------------------------------------------------------------------


async def test_wrong_consumer_secret_is_rejected(env: Env) -> None:
    creds = sandbox_credentials(MAIN, Platform.X) | {"consumer_secret": "not-the-secret"}
    adapter = env.adapter_with({MAIN: creds})
    with pytest.raises(AuthError):
        await _publish(SimpleNamespace(adapter=adapter), _message("署名が違う"))  # type: ignore[arg-type]
    assert env.seen[-1][2] == 401
    assert env.state.posts == []


async def test_tampered_and_replayed_requests_are_rejected(env: Env) -> None:
    creds = {k: v for k, v in sandbox_credentials(MAIN, Platform.X).items() if k != "bearer_token"}
    auth = XAuth(**creds)
    path = f"/2/users/{sandbox_user_id(MAIN)}/tweets"
    url, headers = auth.sign("GET", X_HOST + path, {"max_results": "5"})
    local = url.replace(X_HOST, env.base_url)
    async with env.session.get(local.replace("max_results=5", "max_results=50"), headers=headers) as response:
        assert response.status == 401
        assert response.content_type == "application/json"
        assert (await response.json())["title"] == "Unauthorized"
    async with env.session.get(local, headers=headers) as response:
        assert response.status == 200  # the same signature on the untouched request is accepted
    async with env.session.get(local, headers=headers) as response:
        assert response.status == 401  # and only once: the nonce is spent
    receipt = await _publish(env, _message("消さないでください"))
    url, headers = auth.sign("DELETE", X_HOST + "/2/tweets/1")
    target = f"{env.base_url}/2/tweets/{receipt.remote_id}"
    async with env.session.delete(target, headers=headers) as response:
        assert response.status == 401  # signed for another tweet id
    assert len(env.state.live_posts(Platform.X, MAIN)) == 1


async def test_oauth2_bearer_user_token(env: Env) -> None:
    full = sandbox_credentials(MAIN, Platform.X)
    adapter = env.adapter_with({MAIN: {"bearer_token": full["bearer_token"], "user_id": full["user_id"]}})
    receipt = await _publish(SimpleNamespace(adapter=adapter), _message("OAuth 2.0 で投稿"))  # type: ignore[arg-type]
    assert [p.remote_id for p in env.state.live_posts(Platform.X, MAIN)] == [receipt.remote_id]
    assert [r.text for r in await adapter.recent(ACCOUNTS[MAIN], datetime.now(UTC) - timedelta(hours=1))] == [
        "OAuth 2.0 で投稿"]
    wrong = env.adapter_with({MAIN: {"bearer_token": "x" * 64, "user_id": full["user_id"]}})
    with pytest.raises(AuthError):
        await _publish(SimpleNamespace(adapter=wrong), _message("別の本文"))  # type: ignore[arg-type]


# --- render (pure) -------------------------------------------------------------------------------


def test_render_limits_media_to_four_images_or_one_video() -> None:
    images = tuple(Media(kind=MediaKind.IMAGE, path=f"{i}.png") for i in range(6))
    video = Media(kind=MediaKind.VIDEO, path="v.mp4")
    adapter = XAdapter(XSettings(), StaticCredentials({}), ACCOUNTS, media=fixture_store())
    truncate = adapter.render(_message("写真", media=images), ACCOUNTS[MAIN])
    assert [len(p.media) for p in truncate.parts] == [4]
    thread = adapter.render(_message("写真", media=images), ACCOUNTS[THREAD])
    assert [len(p.media) for p in thread.parts] == [4, 2] and thread.parts[1].text == ""
    mixed = adapter.render(_message("動画", media=(*images[:2], video)), ACCOUNTS[MAIN])
    assert mixed.parts == (PostPart(text="動画", media=(video,)),)


async def test_bearer_token_never_reaches_the_logs(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    full = sandbox_credentials(MAIN, Platform.X)
    adapter = env.adapter_with({MAIN: {"bearer_token": full["bearer_token"], "user_id": full["user_id"]}})
    with caplog.at_level("DEBUG"):
        await _publish(SimpleNamespace(adapter=adapter), _message("ログに秘密なし"))  # type: ignore[arg-type]
        with pytest.raises(AuthError) as caught:
            bad = env.adapter_with({MAIN: full | {"consumer_secret": "bad"}})
            await _publish(SimpleNamespace(adapter=bad), _message("ログに秘密なし2"))  # type: ignore[arg-type]
    assert full["bearer_token"] not in caplog.text
    assert full["consumer_secret"] not in caplog.text and "bad" not in str(caught.value)
    assert full["access_token_secret"] not in repr(caught.value)


async def test_form_urlencoded_bodies_are_signed(env: Env) -> None:
    from oauthlib.oauth1 import Client as OAuthClient

    creds = sandbox_credentials(MAIN, Platform.X)
    client = OAuthClient(creds["consumer_key"], creds["consumer_secret"], creds["access_token"],
                         creds["access_token_secret"])
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    url, fields = X_HOST + "/2/media/upload", "media_category=tweet_image"
    _, headers, body = client.sign(url, "POST", body=fields, headers=form)
    async with env.session.post(f"{env.base_url}/2/media/upload", data=body, headers=headers) as response:
        assert response.status == 400  # authenticated; only the missing file is wrong
    _, headers, body = client.sign(url, "POST", body=fields, headers=form)
    tampered = body.replace("tweet_image", "tweet_video")
    async with env.session.post(f"{env.base_url}/2/media/upload", data=tampered, headers=headers) as response:
        assert response.status == 401


def test_truncate_keeps_a_link_that_sat_inside_the_text() -> None:
    adapter = XAdapter(XSettings(), StaticCredentials({}), ACCOUNTS, media=fixture_store())
    post = adapter.render(_message(f"詳細は {LINK} をご覧ください。" + "市" * 300, LINK), ACCOUNTS[MAIN])
    [part] = post.parts
    assert part.text.count(LINK) == 1 and part.text.endswith("…\n" + LINK)
    assert parse_tweet(part.text).weightedLength <= 280
