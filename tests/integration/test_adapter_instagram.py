"""Instagram adapter over aiohttp against the Instagram sandbox (Graph content publishing) on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from gateway.adapters.base import IdempotencyKey
from gateway.adapters.instagram import SKIP_NO_MEDIA, InstagramAdapter, InstagramSettings
from gateway.credentials import StaticCredentials
from gateway.errors import AuthError, PermanentError, PublishError, RateLimited, RetryableError, UncertainError
from gateway.models import Media, MediaKind, Message, Platform, Post
from gateway.policy import Account
from gateway.sandbox.app import BASE_PATHS, SandboxServer, sandbox_state_for
from gateway.sandbox.base import Fault, FaultKind, SandboxState
from gateway.sandbox.credentials import sandbox_credentials, sandbox_user_id

IG = Platform.INSTAGRAM
MAIN, OTHER = "atsugi_instagram", "mine_instagram"
KEY = IdempotencyKey("0" * 32)
URL = "https://www.city.atsugi.kanagawa.jp/images/"


def _account(account_id: str) -> Account:
    return Account(id=account_id, platform=IG, handle=account_id, manager="広報課",
                   categories=("city_news", "tourism"), categories_clause="厚木市 3(1)")


ACCOUNTS = {MAIN: _account(MAIN), OTHER: _account(OTHER)}


def _image(name: str, alt: str | None = None, url: str | None = None) -> Media:
    return Media(kind=MediaKind.IMAGE, path=name, alt_text=alt, url=url if url is not None else URL + name)


def _video(name: str = "clip.mp4") -> Media:
    return Media(kind=MediaKind.VIDEO, path=name, url=URL + name)


def _message(text: str = "あつぎ鮎まつりの花火です。", media: tuple[Media, ...] = ()) -> Message:
    return Message(municipality="atsugi", category="tourism", text=text, media=media)


@dataclass
class Env:
    state: SandboxState
    server: SandboxServer
    adapter: InstagramAdapter

    def posts(self, account: str = MAIN) -> list[dict[str, object]]:
        return [p.as_dict() for p in self.state.live_posts(IG, account)]

    def calls(self) -> list[tuple[str, str]]:
        prefix = f"/instagram/v26.0/{sandbox_user_id(MAIN)}"
        return [(m, p.replace(prefix, "{ig}")) for _, _, m, p in self.state.requests]

    def adapter_with(self, creds: dict[str, dict[str, str]]) -> InstagramAdapter:
        return InstagramAdapter(self.settings(), StaticCredentials(creds), ACCOUNTS)

    def settings(self) -> InstagramSettings:
        return InstagramSettings(base_url=self.server.base_url + BASE_PATHS[IG], timeout_s=0.5,
                                 poll_interval_s=0.01, max_polls=5)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    state = sandbox_state_for({MAIN: IG, OTHER: IG, "atsugi_facebook": Platform.FACEBOOK})
    async with SandboxServer(state, platforms=[IG, Platform.FACEBOOK], shutdown_timeout=0.1) as server:
        env = Env(state, server, None)  # type: ignore[arg-type]
        env.adapter = env.adapter_with(server.credentials())
        try:
            yield env
        finally:
            await env.adapter.aclose()


async def _publish(env: Env, message: Message, account: str = MAIN) -> object:
    return await env.adapter.publish(env.adapter.render(message, ACCOUNTS[account]), KEY)


# -- success paths ----------------------------------------------------------------------------


async def test_one_image_with_alt_text(env: Env) -> None:
    receipt = await _publish(env, _message(media=(_image("hanabi.jpg", "相模川の上に開く花火"),)))
    [post] = env.posts()
    assert receipt.remote_id == post["remote_id"]  # type: ignore[attr-defined]
    assert post["text"] == "あつぎ鮎まつりの花火です。"
    assert post["extra"]["media_type"] == "IMAGE"  # type: ignore[index]
    assert [(m["kind"], m["url"], m["alt_text"]) for m in post["media"]] == [  # type: ignore[attr-defined]
        ("image", URL + "hanabi.jpg", "相模川の上に開く花火")]
    # The limit is read first; the container is checked FINISHED before it is published.
    assert env.calls() == [("GET", "{ig}/content_publishing_limit"), ("POST", "{ig}/media"),
                           ("GET", f"/instagram/v26.0/{post['extra']['creation_id']}"),  # type: ignore[index]
                           ("POST", "{ig}/media_publish")]


async def test_carousel_of_images_each_with_its_alt_text(env: Env) -> None:
    images = tuple(_image(f"{i}.jpg", f"{i}枚目の説明") for i in range(3))
    await _publish(env, _message("写真で見る鮎まつり", images))
    [post] = env.posts()
    assert post["extra"]["media_type"] == "CAROUSEL"  # type: ignore[index]
    assert [m["alt_text"] for m in post["media"]] == ["0枚目の説明", "1枚目の説明", "2枚目の説明"]  # type: ignore[attr-defined]
    assert [c for c in env.calls() if c == ("POST", "{ig}/media")] == [("POST", "{ig}/media")] * 4


async def test_reel_is_polled_until_finished(env: Env) -> None:
    await _publish(env, _message("鮎まつりの動画です", (_video(), _image("x.jpg", "使われない画像"))))
    [post] = env.posts()
    assert post["extra"]["media_type"] == "REELS"  # type: ignore[index]
    assert [(m["kind"], m["alt_text"]) for m in post["media"]] == [("video", None)]  # type: ignore[attr-defined]
    statuses = [c for c in env.calls() if c[0] == "GET" and "content_publishing_limit" not in c[1]]
    assert len(statuses) == 2  # IN_PROGRESS once, then FINISHED


def test_text_only_is_skipped_with_a_reason(env: Env) -> None:
    post = env.adapter.render(_message("【避難指示】警戒レベル4 厚木市に避難指示を発令しました。"), ACCOUNTS[MAIN])
    assert post.skip_reason == SKIP_NO_MEDIA


async def test_long_caption_and_alt_text_are_cut_on_whole_characters(env: Env) -> None:
    family = "👨\u200d👩\u200d👧"
    image = _image("a.jpg", "あ" * 996 + family)
    await _publish(env, _message("鮎" * 2_198 + family, (image,)))
    [post] = env.posts()
    assert post["media"][0]["alt_text"] == "あ" * 996  # type: ignore[index]
    assert post["text"] == "鮎" * 2_198 + "…"


async def test_recent_lists_own_media(env: Env) -> None:
    before = datetime.now(UTC) - timedelta(minutes=1)
    first = await _publish(env, _message("一つ目", (_image("a.jpg", "説明"),)))
    await _publish(env, _message("美祢市", (_image("b.jpg", "説明"),)), account=OTHER)
    found = await env.adapter.recent(ACCOUNTS[MAIN], before)
    assert [(p.remote_id, p.text) for p in found] == [(first.remote_id, "一つ目")]  # type: ignore[attr-defined]
    assert found[0].created_at is not None and found[0].url


# -- refusals and failures ----------------------------------------------------------------------


async def test_spent_quota_read_from_the_api_is_a_rate_limit(env: Env) -> None:
    for i in range(50):
        await _publish(env, _message(f"{i}件目", (_image(f"{i}.jpg", "説明"),)))
    with pytest.raises(RateLimited) as caught:
        await _publish(env, _message("51件目", (_image("51.jpg", "説明"),)))
    assert "50" in caught.value.message
    assert caught.value.retry_after > datetime.now(UTC)
    assert len(env.posts()) == 50
    assert env.calls()[-1] == ("GET", "{ig}/content_publishing_limit")  # nothing created


async def test_media_without_a_public_url_is_refused_before_any_request(env: Env) -> None:
    with pytest.raises(PermanentError) as caught:
        await _publish(env, _message(media=(_image("a.jpg", "説明", url=""),)))
    assert caught.value.code == "no_public_url" and "a.jpg" in caught.value.message
    assert env.state.requests == []


async def test_publishing_a_text_only_post_is_refused(env: Env) -> None:
    with pytest.raises(PermanentError) as caught:
        await _publish(env, _message())
    assert caught.value.code == "skipped"


async def test_the_sandbox_refuses_what_instagram_refuses(env: Env) -> None:
    """A carousel of one, alt text on a reel, publishing an unfinished reel: as Graph answers them."""
    user = sandbox_user_id(MAIN)
    token = sandbox_credentials(MAIN, IG)["access_token"]
    base = f"{env.server.base_url}/instagram/v26.0"
    headers = {"Authorization": f"Bearer {token}"}
    import aiohttp

    async with aiohttp.ClientSession(headers=headers) as http:
        async def post(path: str, **data: str) -> tuple[int, dict[str, object]]:
            async with http.post(f"{base}/{path}", data=data) as resp:
                return resp.status, await resp.json()

        child = (await post(f"{user}/media", image_url=URL + "a.jpg", is_carousel_item="true"))[1]["id"]
        status, body = await post(f"{user}/media", media_type="CAROUSEL", children=str(child))
        assert status == 400 and body["error"]["error_subcode"] == 2207004  # type: ignore[index]
        status, body = await post(f"{user}/media", media_type="REELS", video_url=URL + "v.mp4", alt_text="x")
        assert status == 400
        reel = (await post(f"{user}/media", media_type="REELS", video_url=URL + "v.mp4"))[1]["id"]
        status, body = await post(f"{user}/media_publish", creation_id=str(reel))
        assert status == 400 and body["error"]["code"] == 9007  # type: ignore[index]
        status, body = await post(f"{user}/media", image_url="http://insecure.example/a.jpg")
        assert status == 400
    assert env.posts() == []


FAULTS = [
    (FaultKind.RATE_LIMIT, {"reset_s": 600}, RateLimited),
    (FaultKind.SERVER_ERROR, {}, RetryableError),
    (FaultKind.EXPIRED_TOKEN, {}, AuthError),
    (FaultKind.REJECT, {}, PermanentError),
    (FaultKind.TIMEOUT_AFTER_ACCEPT, {"hang_s": 1.5}, UncertainError),
]


@pytest.mark.parametrize(("kind", "options", "error"), FAULTS, ids=[f[0].value for f in FAULTS])
async def test_fault_maps_to_error_class(
    env: Env, kind: FaultKind, options: dict[str, float], error: type[PublishError],
) -> None:
    env.state.faults.add(Fault(kind=kind, platform=IG, account=MAIN, **options))  # type: ignore[arg-type]
    message = _message(media=(_image("a.jpg", "説明"),))
    with pytest.raises(PublishError) as caught:
        await _publish(env, message)
    assert type(caught.value) is error
    assert sandbox_credentials(MAIN, IG)["access_token"] not in str(caught.value)
    published = env.posts()
    if kind is FaultKind.TIMEOUT_AFTER_ACCEPT:  # it went out: the reconciler finds it
        assert len(published) == 1
        assert [p.remote_id for p in await env.adapter.recent(ACCOUNTS[MAIN], datetime.now(UTC) - timedelta(1))] \
            == [published[0]["remote_id"]]
    else:
        assert published == []
        await _publish(env, message)  # the fault was used once
        assert len(env.posts()) == 1


async def test_wrong_token_is_an_auth_error(env: Env) -> None:
    adapter = env.adapter_with({MAIN: {"ig_user_id": sandbox_user_id(MAIN), "access_token": "EAAIwrong"}})
    try:
        with pytest.raises(AuthError):
            await adapter.publish(adapter.render(_message(media=(_image("a.jpg", "説明"),)), ACCOUNTS[MAIN]), KEY)
    finally:
        await adapter.aclose()


async def test_another_accounts_user_id_is_refused(env: Env) -> None:
    creds = env.server.credentials()
    adapter = env.adapter_with({MAIN: {**creds[MAIN], "ig_user_id": sandbox_user_id(OTHER)}})
    try:
        with pytest.raises(AuthError):
            await adapter.publish(adapter.render(_message(media=(_image("a.jpg", "説明"),)), ACCOUNTS[MAIN]), KEY)
    finally:
        await adapter.aclose()
    assert env.posts(OTHER) == []


async def test_delete_is_not_possible(env: Env) -> None:
    receipt = await _publish(env, _message(media=(_image("a.jpg", "説明"),)))
    with pytest.raises(PermanentError) as caught:
        await env.adapter.delete(receipt)  # type: ignore[arg-type]
    assert caught.value.code == "delete_unsupported"
    assert len(env.posts()) == 1


async def test_a_carousel_of_ten(env: Env) -> None:
    images = tuple(_image(f"{i}.jpg", f"{i}枚目") for i in range(10))  # a message holds at most 10
    post: Post = env.adapter.render(_message(media=images), ACCOUNTS[MAIN])
    assert len(post.parts[0].media) == 10 and post.skip_reason is None
    await env.adapter.publish(post, KEY)
    [published] = env.posts()
    assert len(published["media"]) == 10  # type: ignore[arg-type]
