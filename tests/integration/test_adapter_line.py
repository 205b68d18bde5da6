"""LINE adapter through line-bot-sdk v3 against the LINE sandbox on 127.0.0.1."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from linebot.v3.messaging import AsyncApiClient, AsyncMessagingApi, Configuration

from gateway.adapters.base import IdempotencyKey
from gateway.adapters.line import LineAdapter, LineSettings, _env_proxy, next_month_start, problems, retry_key
from gateway.adapters.render import utf16_len
from gateway.credentials import StaticCredentials
from gateway.errors import AuthError, PermanentError, PublishError, RateLimited, RetryableError
from gateway.models import Media, MediaKind, Message, Platform, Receipt, Share, ShareSourceClass
from gateway.policy import Account
from gateway.sandbox import line as line_sandbox
from gateway.sandbox.base import Fault, FaultKind, SandboxState
from gateway.sandbox.credentials import sandbox_credentials

MAIN, MULTI, NARROW = "kodaira_line", "kodaira_school_line", "kodaira_area_line"
RECIPIENTS = tuple(f"U{i:032x}" for i in range(1201))


def _account(account_id: str, mode: str, recipients: tuple[str, ...] = ()) -> Account:
    return Account(id=account_id, platform=Platform.LINE, handle="@kodaira", manager="広報課",
                   categories=("city_news",), categories_clause="小平市 3(1)", line_mode=mode,
                   line_recipients=recipients)


ACCOUNTS = {MAIN: _account(MAIN, "broadcast"), MULTI: _account(MULTI, "multicast", RECIPIENTS),
            NARROW: _account(NARROW, "narrowcast", ("1234567890",))}


@dataclass
class Env:
    state: SandboxState
    adapter: LineAdapter
    base_url: str

    def adapter_with(self, creds: dict[str, dict[str, str]]) -> LineAdapter:
        settings = LineSettings(base_url=self.base_url, timeout_s=0.5)
        return LineAdapter(settings, StaticCredentials(creds), ACCOUNTS)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    state = SandboxState({a: Platform.LINE for a in ACCOUNTS} | {"kodaira_x": Platform.X})
    app = web.Application()
    line_sandbox.install(app, state)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    base_url = str(server.make_url("")).rstrip("/")
    creds = {a: sandbox_credentials(a, Platform.LINE) for a in ACCOUNTS}
    adapter = LineAdapter(LineSettings(base_url=base_url, timeout_s=0.5), StaticCredentials(creds), ACCOUNTS)
    yield Env(state, adapter, base_url)
    await adapter.aclose()
    await server.close()


def _message(text: str, link: str | None = None, media: tuple[Media, ...] = ()) -> Message:
    return Message(municipality="kodaira", category="city_news", text=text, link=link, media=media)


def _key() -> IdempotencyKey:
    return IdempotencyKey(uuid.uuid4().hex)  # what the pipeline stores on the delivery


async def _publish(
    adapter: LineAdapter, message: Message, key: IdempotencyKey, account: str = MAIN
) -> Receipt:
    return await adapter.publish(adapter.render(message, ACCOUNTS[account]), key)


def _sends(state: SandboxState) -> int:
    return sum(method == "POST" for _, _, method, _ in state.requests)


# --- success paths -------------------------------------------------------------------------------


async def test_broadcast_text(env: Env) -> None:
    key = _key()
    message = _message("小平市からのお知らせです。", "https://www.city.kodaira.tokyo.jp/")
    receipt = await _publish(env.adapter, message, key)
    [post] = env.state.live_posts(Platform.LINE, MAIN)
    assert post.text == "小平市からのお知らせです。\nhttps://www.city.kodaira.tokyo.jp/"
    assert post.extra["endpoint"] == "broadcast"
    assert post.extra["retry_key"] == str(uuid.UUID(key))  # the delivery's key, in LINE's UUID form
    assert receipt.remote_id == post.remote_id == post.extra["request_id"]
    assert receipt.platform is Platform.LINE and receipt.url is None


async def test_share_url_is_in_the_text(env: Env) -> None:
    url = "https://www.metro.tokyo.lg.jp/information/press/2026/12/04_01.html?lang=ja#top"
    share = Share(url=url, source="metro.tokyo.lg.jp", source_class=ShareSourceClass.PUBLIC_BODY)
    message = _message("都からのお知らせです。", "https://www.city.kodaira.tokyo.jp/").model_copy(update={"share": share})
    await _publish(env.adapter, message, _key())
    [post] = env.state.live_posts(Platform.LINE, MAIN)
    assert post.text == f"都からのお知らせです。\nhttps://www.city.kodaira.tokyo.jp/\n{url}"
    assert post.extra["messages"][0] == {"type": "text", "text": post.text}


async def test_images_carry_their_description_as_text(env: Env) -> None:
    media = (Media(kind=MediaKind.IMAGE, path="a.jpg", url="https://example.jp/a.jpg", alt_text="会場の地図"),
             Media(kind=MediaKind.IMAGE, path="b.jpg", url="https://example.jp/b.jpg"))
    await _publish(env.adapter, _message("夏祭りのお知らせ", media=media), _key())
    [post] = env.state.live_posts(Platform.LINE, MAIN)
    messages = post.extra["messages"]
    assert [m["type"] for m in messages] == ["text", "image", "image"]
    assert messages[0]["text"] == "夏祭りのお知らせ\n\n【画像の説明】\n1枚目: 会場の地図"
    assert messages[1] == {"type": "image", "originalContentUrl": "https://example.jp/a.jpg",
                           "previewImageUrl": "https://example.jp/a.jpg"}


async def test_long_text_becomes_several_messages_in_one_request(env: Env) -> None:
    text = "。\n".join("お知らせ本文" * 100 for _ in range(20))  # about 12,000 UTF-16 units
    await _publish(env.adapter, _message(text), _key())
    [post] = env.state.live_posts(Platform.LINE, MAIN)
    texts = [m["text"] for m in post.extra["messages"]]
    assert len(texts) == 3
    assert all(utf16_len(t) <= 5000 for t in texts)
    assert _sends(env.state) == 1


async def test_multicast_splits_into_batches_of_500_and_retries_safely(env: Env) -> None:
    key = _key()
    receipt = await _publish(env.adapter, _message("学校からのお知らせ"), key, account=MULTI)
    posts = env.state.live_posts(Platform.LINE, MULTI)
    assert [len(p.extra["to"]) for p in posts] == [500, 500, 201]
    assert [p.extra["to"] for p in posts] == [list(RECIPIENTS[:500]), list(RECIPIENTS[500:1000]),
                                              list(RECIPIENTS[1000:])]
    assert len({p.extra["retry_key"] for p in posts}) == 3
    assert [receipt.remote_id, *receipt.extra_ids] == [p.remote_id for p in posts]
    again = await _publish(env.adapter, _message("学校からのお知らせ"), key, account=MULTI)
    assert again.remote_id == receipt.remote_id and again.extra_ids == receipt.extra_ids
    assert len(env.state.live_posts(Platform.LINE, MULTI)) == 3


async def test_narrowcast_to_an_audience(env: Env) -> None:
    receipt = await _publish(env.adapter, _message("地区限定のお知らせ"), _key(), account=NARROW)
    [post] = env.state.live_posts(Platform.LINE, NARROW)
    assert post.extra["endpoint"] == "narrowcast" and receipt.remote_id == post.remote_id
    token = sandbox_credentials(NARROW, Platform.LINE)["channel_access_token"]
    async with AsyncApiClient(Configuration(host=env.base_url, access_token=token)) as client:
        progress = await AsyncMessagingApi(client).get_narrowcast_progress(request_id=receipt.remote_id)
    assert progress.phase == "succeeded"


async def test_quota_endpoints_speak_the_sdk(env: Env) -> None:
    await _publish(env.adapter, _message("一斉配信"), _key())
    token = sandbox_credentials(MAIN, Platform.LINE)["channel_access_token"]
    async with AsyncApiClient(Configuration(host=env.base_url, access_token=token)) as client:
        api = AsyncMessagingApi(client)
        quota = await api.get_message_quota()
        used = await api.get_message_quota_consumption()
    assert quota.type == "limited" and quota.value > 0
    assert used.total_usage > 0


# --- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error", "code"),
    [
        (FaultKind.RATE_LIMIT, RateLimited, "rate_limited"),
        (FaultKind.QUOTA, RateLimited, "quota"),
        (FaultKind.SERVER_ERROR, RetryableError, "server_error"),
        (FaultKind.TIMEOUT_BEFORE, RetryableError, "transport"),
        (FaultKind.EXPIRED_TOKEN, AuthError, "unauthorized"),
        (FaultKind.REJECT, PermanentError, "http_400"),
    ],
)
async def test_fault_translation(env: Env, kind: FaultKind, error: type[PublishError], code: str) -> None:
    env.state.faults.add(Fault(kind, Platform.LINE, MAIN, hang_s=1.5))
    before = datetime.now(UTC)
    with pytest.raises(error) as caught:
        await _publish(env.adapter, _message("障害時の配信"), _key())
    assert type(caught.value) is error and caught.value.code == code
    assert env.state.live_posts(Platform.LINE) == []
    if kind is FaultKind.RATE_LIMIT:
        assert isinstance(caught.value, RateLimited) and caught.value.retry_after is not None
        retry_after = caught.value.retry_after
        assert before + timedelta(seconds=55) <= retry_after <= datetime.now(UTC) + timedelta(minutes=1)
    if kind is FaultKind.QUOTA:
        assert isinstance(caught.value, RateLimited)
        assert caught.value.retry_after == next_month_start(before)


async def test_duplicate_is_a_replayed_key_and_counts_as_success(env: Env) -> None:
    env.state.faults.add(Fault(FaultKind.DUPLICATE, Platform.LINE, MAIN))
    receipt = await _publish(env.adapter, _message("既に受け付け済み"), _key())
    [post] = env.state.live_posts(Platform.LINE, MAIN)
    assert receipt.remote_id == post.remote_id


async def test_retry_after_timeout_sends_exactly_once(env: Env) -> None:
    env.state.faults.add(Fault(FaultKind.TIMEOUT_AFTER_ACCEPT, Platform.LINE, MAIN, hang_s=1.5))
    key = _key()
    with pytest.raises(RetryableError):  # safe to retry: the key makes a repeat harmless
        await _publish(env.adapter, _message("タイムアウト後に再送"), key)
    [accepted] = env.state.live_posts(Platform.LINE, MAIN)
    receipt = await _publish(env.adapter, _message("タイムアウト後に再送"), key)
    assert receipt.remote_id == accepted.remote_id  # from x-line-accepted-request-id of the 409
    assert len(env.state.live_posts(Platform.LINE, MAIN)) == 1
    assert _sends(env.state) == 2


async def test_retry_after_server_error_sends_once(env: Env) -> None:
    env.state.faults.add(Fault(FaultKind.SERVER_ERROR, Platform.LINE, MAIN))
    key = _key()
    with pytest.raises(RetryableError):
        await _publish(env.adapter, _message("再送で届く"), key)
    receipt = await _publish(env.adapter, _message("再送で届く"), key)
    assert [p.remote_id for p in env.state.live_posts(Platform.LINE, MAIN)] == [receipt.remote_id]


async def test_wrong_token_is_auth_error(env: Env) -> None:
    adapter = env.adapter_with({MAIN: {"channel_access_token": "not-a-token"}})
    try:
        with pytest.raises(AuthError):
            await _publish(adapter, _message("認証失敗"), _key())
    finally:
        await adapter.aclose()
    assert env.state.posts == []


async def test_too_many_messages_is_refused_before_sending(env: Env) -> None:
    media = tuple(Media(kind=MediaKind.IMAGE, path=f"{i}.jpg", url=f"https://example.jp/{i}.jpg")
                  for i in range(5))
    post = env.adapter.render(_message("写真がたくさん", media=media), ACCOUNTS[MAIN])
    assert len(post.parts) == 6
    [problem] = problems(post)
    assert "5件まで" in problem and "6件" in problem
    with pytest.raises(PermanentError) as caught:
        await env.adapter.publish(post, _key())
    assert caught.value.code == "line_invalid"
    assert env.state.requests == []


async def test_image_without_https_url_is_refused(env: Env) -> None:
    media = (Media(kind=MediaKind.IMAGE, path="var/media/map.jpg", alt_text="地図"),
             Media(kind=MediaKind.IMAGE, path="b.jpg", url="http://example.jp/b.jpg"))
    with pytest.raises(PermanentError) as caught:
        await _publish(env.adapter, _message("地図", media=media), _key())
    assert "var/media/map.jpg" in caught.value.message and "HTTPS" in caught.value.message
    assert "b.jpg" in caught.value.message
    assert env.state.requests == []


async def test_delete_is_not_possible_and_recent_is_empty(env: Env) -> None:
    receipt = await _publish(env.adapter, _message("取り消せない配信"), _key())
    with pytest.raises(PermanentError) as caught:
        await env.adapter.delete(receipt)
    assert caught.value.code == "unsupported" and "取り消せません" in caught.value.message
    assert await env.adapter.recent(ACCOUNTS[MAIN], datetime.now(UTC) - timedelta(days=1)) == []


async def test_retry_key_is_kept_24_hours(env: Env) -> None:
    key = _key()
    await _publish(env.adapter, _message("一回目"), key)
    sandbox_keys: Any = next(iter(env.state.posts)).extra["retry_key"]
    assert sandbox_keys == str(uuid.UUID(key))
    # A different key is a different request, even with the same text.
    await _publish(env.adapter, _message("一回目"), _key())
    assert len(env.state.live_posts(Platform.LINE, MAIN)) == 2


async def test_connection_refused_is_retryable() -> None:
    closed = TestServer(web.Application(), host="127.0.0.1")
    await closed.start_server()
    url = str(closed.make_url("")).rstrip("/")
    await closed.close()
    creds = {MAIN: sandbox_credentials(MAIN, Platform.LINE)}
    adapter = LineAdapter(LineSettings(base_url=url, timeout_s=0.5), StaticCredentials(creds), ACCOUNTS)
    try:
        with pytest.raises(RetryableError):
            await _publish(adapter, _message("届かない"), _key())
    finally:
        await adapter.aclose()


async def test_injected_session_is_used_and_not_closed(env: Env) -> None:
    async with aiohttp.ClientSession() as session:
        creds = {MAIN: sandbox_credentials(MAIN, Platform.LINE)}
        adapter = LineAdapter(LineSettings(base_url=env.base_url, timeout_s=0.5), StaticCredentials(creds),
                              ACCOUNTS, session=session)
        await _publish(adapter, _message("共有セッション"), _key())
        await adapter.aclose()
        assert not session.closed


# --- pure helpers --------------------------------------------------------------------------------


def test_retry_key_forms() -> None:
    hex_key = uuid.uuid4().hex
    assert retry_key(hex_key) == str(uuid.UUID(hex_key))
    assert retry_key(str(uuid.UUID(hex_key))) == str(uuid.UUID(hex_key))
    assert retry_key("delivery-42") == retry_key("delivery-42") != retry_key("delivery-43")
    assert len({retry_key(hex_key, i) for i in range(3)}) == 3
    assert all(str(uuid.UUID(retry_key(hex_key, i))) == retry_key(hex_key, i) for i in range(3))


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 11, 21, 3, 0, tzinfo=UTC), datetime(2026, 11, 30, 15, 0, tzinfo=UTC)),
        # 2027-01-01 01:00 in Tokyo is still 2026 in UTC: the reset is 1 February, Tokyo.
        (datetime(2026, 12, 31, 16, 0, tzinfo=UTC), datetime(2027, 1, 31, 15, 0, tzinfo=UTC)),
        (datetime(2026, 12, 31, 14, 59, tzinfo=UTC), datetime(2026, 12, 31, 15, 0, tzinfo=UTC)),
    ],
)
def test_next_month_start_is_tokyo_midnight(now: datetime, expected: datetime) -> None:
    assert next_month_start(now) == expected


def test_render_links_videos_and_describes_a_single_image() -> None:
    image = Media(kind=MediaKind.IMAGE, path="a.jpg", url="https://example.jp/a.jpg", alt_text="避難所の入口")
    media = (Media(kind=MediaKind.VIDEO, path="v.mp4", url="https://example.jp/v.mp4"), image)
    adapter = LineAdapter(LineSettings(), StaticCredentials({}), ACCOUNTS)
    post = adapter.render(_message("避難所の案内", media=media), ACCOUNTS[MAIN])
    assert post.parts[0].text == "避難所の案内\n\n動画: https://example.jp/v.mp4\n\n【画像の説明】\n避難所の入口"
    assert [p.media for p in post.parts[1:]] == [(media[1],)]
    assert problems(post) == []


@pytest.mark.parametrize(("environment", "expected"), [
    ({}, (None, None)),
    ({"HTTPS_PROXY": "http://proxy.city.example:3128"}, ("http://proxy.city.example:3128", None)),
    ({"HTTPS_PROXY": "http://koho:pw@proxy.city.example:3128"},
     ("http://proxy.city.example:3128", {"Proxy-Authorization": "Basic a29obzpwdw=="})),
    ({"HTTPS_PROXY": "http://proxy.city.example:3128", "NO_PROXY": "api.line.me"}, (None, None)),
])
def test_the_proxy_comes_from_the_environment_once(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], expected: tuple[object, object],
) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert _env_proxy("https://api.line.me") == expected
