"""YouTube adapter through google-api-python-client against the YouTube sandbox on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.adapters.base import IdempotencyKey
from gateway.adapters.youtube import (
    CHUNK_UNIT,
    RATE_LIMIT_WAIT,
    SKIP_NO_VIDEO,
    YoutubeAdapter,
    YoutubeSettings,
    first_line,
    fit_description,
    fit_title,
    next_pacific_midnight,
)
from gateway.credentials import StaticCredentials
from gateway.errors import (
    AuthError,
    PermanentError,
    PublishError,
    RateLimited,
    RetryableError,
    UncertainError,
)
from gateway.models import Media, MediaKind, Message, Platform, Post, Receipt
from gateway.policy import Account
from gateway.sandbox.app import SandboxServer, sandbox_state_for
from gateway.sandbox.base import Fault, FaultKind, SandboxState
from gateway.sandbox.credentials import sandbox_credentials
from tests.mediafiles import FIXTURE_MEDIA, fixture_store

MEDIA = FIXTURE_MEDIA
VIDEO = MEDIA / "clip.mp4"  # 600 KiB: three 256 KiB chunks
MAIN, PRIVATE = "atsugi_youtube", "atsugi_live_youtube"
LINK = "https://www.city.atsugi.kanagawa.jp/event/1.html"
KEY = IdempotencyKey("0" * 32)
YT = Platform.YOUTUBE


def _account(account_id: str, privacy: str) -> Account:
    purpose = "live" if "_live_" in account_id else "main"
    return Account(id=account_id, platform=YT, handle=account_id, purpose=purpose, manager="広報課",
                   categories=("city_news", "event"), categories_clause="厚木市 第3条",
                   visibility=privacy)  # type: ignore[arg-type]


ACCOUNTS = {MAIN: _account(MAIN, "unlisted"), PRIVATE: _account(PRIVATE, "private")}


def _message(text: str = "市長が市民まつりの開会を宣言しました。", *, video: bool = True, **kwargs: Any) -> Message:
    media = [{"kind": "image", "path": "city.png", "alt_text": "会場"}]
    if video:
        media.append({"kind": "video", "path": VIDEO.name})
    return Message.model_validate(
        {"municipality": "atsugi", "category": "event", "text": text, "media": media, **kwargs}
    )


@dataclass
class Env:
    state: SandboxState
    server: SandboxServer
    adapter: YoutubeAdapter

    def adapter_with(self, creds: dict[str, dict[str, str]], base_url: str | None = None) -> YoutubeAdapter:
        settings = YoutubeSettings(base_url=base_url or self.server.base_url, timeout_s=0.5)
        return YoutubeAdapter(settings, StaticCredentials(creds), ACCOUNTS, media=fixture_store(),
                              chunk_size=CHUNK_UNIT)

    def posts(self, account: str = MAIN) -> list[Any]:
        return self.state.live_posts(YT, account)

    def calls(self, method: str) -> list[str]:
        return [p for _, _, m, p in self.state.requests if m == method]

    async def publish(self, message: Message | None = None, account: str = MAIN) -> tuple[Post, Receipt]:
        post = self.adapter.render(message or _message(), ACCOUNTS[account])
        return post, await self.adapter.publish(post, KEY)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    state = sandbox_state_for({MAIN: YT, PRIVATE: YT, "atsugi_facebook": Platform.FACEBOOK})
    async with SandboxServer(state, platforms=[YT], shutdown_timeout=0.1) as server:
        adapter = YoutubeAdapter(YoutubeSettings(base_url=server.base_url, timeout_s=0.5),
                                 StaticCredentials(server.credentials()), ACCOUNTS, media=fixture_store(),
                                 chunk_size=CHUNK_UNIT)
        try:
            yield Env(state, server, adapter)
        finally:
            await adapter.aclose()


# -- upload -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("account", "privacy"), [(MAIN, "unlisted"), (PRIVATE, "private")])
async def test_resumable_upload_in_chunks_with_account_privacy(env: Env, account: str, privacy: str) -> None:
    _, receipt = await env.publish(_message(title="市民まつり開会式", link=LINK), account)
    [video] = env.posts(account)
    assert receipt.remote_id == video.remote_id and len(receipt.remote_id) == 11
    assert receipt.url == f"https://www.youtube.com/watch?v={receipt.remote_id}"
    assert video.extra["privacyStatus"] == privacy
    assert video.extra["title"] == "市民まつり開会式"
    assert video.text == f"市長が市民まつりの開会を宣言しました。\n{LINK}"
    assert video.media[0]["bytes"] == VIDEO.stat().st_size
    assert video.media[0]["content_type"] == "video/mp4"
    # One POST to open the session, three PUTs; the first two answered 308 Resume Incomplete.
    assert env.calls("POST") == ["/upload/youtube/v3/videos"]
    assert env.calls("PUT") == ["/upload/youtube/v3/videos"] * 3
    assert video.extra["resumes"] == 2
    resource = video.extra["resource"]
    assert resource["snippet"]["categoryId"] == "25"
    assert resource["status"]["selfDeclaredMadeForKids"] is False


async def test_long_title_and_description_fit_and_are_accepted(env: Env) -> None:
    title = "<速報> " + "市民まつり" * 40
    text = "会場は<中央公園>です。\n" + "あ" * 3000
    post, _ = await env.publish(_message(text, title=title, link=LINK))
    assert len(post.title or "") <= 100 and "<" not in (post.title or "") and ">" not in (post.title or "")
    assert post.title is not None and post.title.startswith("速報 市民まつり") and post.title.endswith("…")
    assert len(post.text.encode()) <= 5000
    assert post.text.endswith(f"…\n{LINK}")
    assert post.text.startswith("会場は＜中央公園＞です。")
    [video] = env.posts()
    assert video.extra["title"] == post.title and video.text == post.text


def test_title_from_first_line_and_description_cut_on_character_boundary() -> None:
    assert fit_title(first_line("\n\n  お知らせ：<道路>の通行止め  \n本文")) == "お知らせ：道路の通行止め"
    assert fit_title("<>") == "お知らせ"
    cut = fit_description("😀" * 2000, None)  # 4 bytes each: 8,000 bytes
    assert len(cut.encode()) <= 5000 and cut.endswith("…")
    assert cut[:-1] == "😀" * len(cut[:-1])
    assert fit_description("短い本文", LINK) == f"短い本文\n{LINK}"


async def test_title_defaults_to_first_line(env: Env) -> None:
    post = env.adapter.render(_message("道路工事のお知らせ\n詳しくは市のサイトへ"), ACCOUNTS[MAIN])
    assert post.title == "道路工事のお知らせ"


async def test_message_without_video_is_skipped(env: Env) -> None:
    post = env.adapter.render(_message(video=False), ACCOUNTS[MAIN])
    assert post.skip_reason == SKIP_NO_VIDEO
    with pytest.raises(PermanentError) as caught:
        await env.adapter.publish(post, KEY)
    assert caught.value.code == "skipped"
    assert env.state.requests == []


async def test_delete_and_delete_again(env: Env) -> None:
    _, receipt = await env.publish()
    await env.adapter.delete(receipt)
    assert env.posts() == []
    await env.adapter.delete(receipt)  # videoNotFound: already gone
    assert env.calls("DELETE") == ["/youtube/v3/videos"] * 2


async def test_recent_reads_the_uploads_playlist(env: Env) -> None:
    before = datetime.now(UTC) - timedelta(minutes=1)
    _, first = await env.publish(_message("一本目"))
    _, second = await env.publish(_message("二本目"))
    await env.publish(_message("別チャンネル"), PRIVATE)
    found = await env.adapter.recent(ACCOUNTS[MAIN], before)
    assert {(p.remote_id, p.text) for p in found} == {(first.remote_id, "一本目"), (second.remote_id, "二本目")}
    assert all(p.created_at is not None and p.created_at >= before for p in found)
    assert await env.adapter.recent(ACCOUNTS[MAIN], datetime.now(UTC) + timedelta(minutes=5)) == []
    assert "/youtube/v3/channels" in env.calls("GET") and "/youtube/v3/playlistItems" in env.calls("GET")


# -- failures ---------------------------------------------------------------------------------

FAULTS = [
    # kind, fault options, error class, error code
    (FaultKind.RATE_LIMIT, {}, RateLimited, "rate_limited"),
    (FaultKind.QUOTA, {}, RateLimited, "quota"),
    (FaultKind.SERVER_ERROR, {}, RetryableError, "server_error"),
    (FaultKind.SERVER_ERROR, {"status": 500}, RetryableError, "server_error"),
    (FaultKind.TIMEOUT_BEFORE, {"hang_s": 1.5}, RetryableError, "transport"),
    (FaultKind.DUPLICATE, {}, PermanentError, "duplicate"),
    (FaultKind.EXPIRED_TOKEN, {}, AuthError, "auth"),
    (FaultKind.REJECT, {}, PermanentError, "invalidTitle"),
]


@pytest.mark.parametrize(("kind", "options", "error", "code"), FAULTS, ids=[f[0].value for f in FAULTS])
async def test_fault_maps_to_error_class(
    env: Env, kind: FaultKind, options: dict[str, Any], error: type[PublishError], code: str
) -> None:
    env.state.faults.add(Fault(kind=kind, platform=YT, account=MAIN, **options))
    with pytest.raises(PublishError) as caught:
        await env.publish()
    assert type(caught.value) is error
    assert caught.value.code == code
    assert env.posts() == []
    for secret in sandbox_credentials(MAIN, YT).values():
        assert secret not in str(caught.value)
    # The fault was used once: the next attempt goes through.
    await env.publish()
    assert len(env.posts()) == 1


async def test_rate_limits_carry_their_reset_times(env: Env) -> None:
    env.state.faults.add(Fault(kind=FaultKind.QUOTA, platform=YT, account=MAIN))
    env.state.faults.add(Fault(kind=FaultKind.RATE_LIMIT, platform=YT, account=MAIN))
    with pytest.raises(RateLimited) as quota:
        await env.publish()
    assert quota.value.retry_after == next_pacific_midnight()
    with pytest.raises(RateLimited) as rate:
        await env.publish()
    assert rate.value.retry_after is not None
    assert abs(rate.value.retry_after - (datetime.now(UTC) + RATE_LIMIT_WAIT)) < timedelta(seconds=5)


def test_next_pacific_midnight_follows_daylight_saving() -> None:
    winter = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)  # 01:00 PST
    assert next_pacific_midnight(winter) == datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    summer = datetime(2026, 7, 1, 6, 59, tzinfo=UTC)  # 23:59 PDT on June 30
    assert next_pacific_midnight(summer) == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)


async def test_timeout_after_accept_is_uncertain_and_posted_once(env: Env) -> None:
    env.state.faults.add(Fault(kind=FaultKind.TIMEOUT_AFTER_ACCEPT, platform=YT, account=MAIN, hang_s=1.5))
    since = datetime.now(UTC) - timedelta(seconds=5)
    with pytest.raises(UncertainError):
        await env.publish(_message("確認用の動画"))
    assert len(env.posts()) == 1
    [found] = await env.adapter.recent(ACCOUNTS[MAIN], since)
    assert found.text == "確認用の動画"


async def test_stale_access_token_is_refreshed_at_the_token_endpoint(env: Env) -> None:
    creds = {MAIN: {**sandbox_credentials(MAIN, YT), "access_token": "ya29.stale"}}
    adapter = env.adapter_with(creds)
    post = adapter.render(_message(), ACCOUNTS[MAIN])
    await adapter.publish(post, KEY)
    await adapter.publish(post, KEY)  # the refreshed token is kept: no second refresh
    assert env.calls("POST").count("/token") == 1
    assert len(env.posts()) == 2


@pytest.mark.parametrize("case", ["bad_token_no_refresh", "revoked_refresh_token", "no_credentials"])
async def test_bad_credentials_are_auth_errors(env: Env, case: str) -> None:
    good = sandbox_credentials(MAIN, YT)
    creds = {
        "bad_token_no_refresh": {MAIN: {"access_token": "ya29.wrong"}},
        "revoked_refresh_token": {MAIN: {**good, "access_token": "ya29.wrong", "refresh_token": "1//wrong"}},
        "no_credentials": {},
    }[case]
    adapter = env.adapter_with(creds)
    with pytest.raises(AuthError) as caught:
        await adapter.publish(adapter.render(_message(), ACCOUNTS[MAIN]), KEY)
    assert "ya29.wrong" not in str(caught.value) and "1//wrong" not in str(caught.value)
    assert env.posts() == []


async def test_connection_refused_is_retryable(env: Env) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = env.adapter_with(env.server.credentials(), base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(RetryableError) as caught:
        await adapter.publish(adapter.render(_message(), ACCOUNTS[MAIN]), KEY)
    assert type(caught.value) is RetryableError


async def test_missing_video_file_is_permanent(env: Env) -> None:
    message = _message(video=False, media=[{"kind": "video", "path": "nonexistent.mp4"}])
    with pytest.raises(PermanentError) as caught:
        await env.publish(message)
    assert caught.value.code == "media_missing"
    assert env.calls("POST") == []  # refused before any upload session was opened


def test_chunk_size_must_be_a_multiple_of_256_kib() -> None:
    with pytest.raises(ValueError, match="256 KiB"):
        YoutubeAdapter(YoutubeSettings(), StaticCredentials({}), ACCOUNTS, media=fixture_store(), chunk_size=300_000)


def test_uploads_go_to_the_configured_root(env: Env) -> None:
    # platforms.md: api_endpoint would leave uploads on https; the patched rootUrl must not.
    from gateway.adapters.youtube import _discovery_doc

    assert f'"rootUrl": "{env.server.base_url}/"' in _discovery_doc(env.server.base_url)
    media: list[Media] = [Media(kind=MediaKind.VIDEO, path=VIDEO.name)]
    assert env.adapter.render(_message(video=False, media=[m.model_dump() for m in media]),
                              ACCOUNTS[MAIN]).skip_reason is None
