"""The combined sandbox app: control routes, the posts page and SandboxServer, driven over HTTP."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from gateway.adapters.base import IdempotencyKey
from gateway.adapters.facebook import FacebookAdapter, FacebookSettings
from gateway.adapters.youtube import CHUNK_UNIT, YoutubeAdapter, YoutubeSettings
from gateway.credentials import StaticCredentials
from gateway.errors import PermanentError, UncertainError
from gateway.models import Message, Platform
from gateway.policy import Account
from gateway.sandbox.app import SandboxServer, build_sandbox_app, sandbox_state_for
from gateway.sandbox.base import SandboxState
from gateway.sandbox.credentials import sandbox_credentials
from tests.mediafiles import fixture_store

FB_ACCOUNT, YT_ACCOUNT, QUIET = "kodaira_facebook", "kodaira_youtube", "zushi_facebook"
KEY = IdempotencyKey("0" * 32)
ACCOUNT_PLATFORMS = {FB_ACCOUNT: Platform.FACEBOOK, YT_ACCOUNT: Platform.YOUTUBE, QUIET: Platform.FACEBOOK}
ACCOUNTS = {
    a: Account(id=a, platform=p, handle=a, manager="広報課", categories=("city_news",), categories_clause="3(1)")
    for a, p in ACCOUNT_PLATFORMS.items()
}


@dataclass
class Env:
    state: SandboxState
    server: SandboxServer
    http: aiohttp.ClientSession
    facebook: FacebookAdapter
    youtube: YoutubeAdapter

    def url(self, path: str) -> str:
        return f"{self.server.base_url}{path}"

    async def get_json(self, path: str, status: int = 200) -> Any:
        async with self.http.get(self.url(path)) as resp:
            assert resp.status == status, await resp.text()
            return await resp.json()

    async def post_fault(self, body: Any, status: int = 201) -> Any:
        async with self.http.post(self.url("/_sandbox/faults"), json=body) as resp:
            assert resp.status == status, await resp.text()
            return await resp.json()


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    state = sandbox_state_for(ACCOUNT_PLATFORMS)
    server = SandboxServer(state, platforms=[Platform.FACEBOOK, Platform.YOUTUBE], shutdown_timeout=0.1)
    async with server, aiohttp.ClientSession() as http:
        creds = StaticCredentials(server.credentials())
        facebook = FacebookAdapter(FacebookSettings(base_url=server.base_url, timeout_s=0.5), creds, ACCOUNTS,
                                   media=fixture_store())
        youtube = YoutubeAdapter(YoutubeSettings(base_url=server.base_url, timeout_s=0.5), creds, ACCOUNTS,
                                 media=fixture_store(), chunk_size=CHUNK_UNIT)
        try:
            yield Env(state, server, http, facebook, youtube)
        finally:
            await facebook.aclose()
            await youtube.aclose()


def _message(text: str, **kwargs: Any) -> Message:
    return Message.model_validate({"municipality": "kodaira", "category": "city_news", "text": text, **kwargs})


async def _post_facebook(env: Env, text: str = "お知らせです", **kwargs: Any) -> None:
    await env.facebook.publish(env.facebook.render(_message(text, **kwargs), ACCOUNTS[FB_ACCOUNT]), KEY)


async def _post_youtube(env: Env, text: str = "動画のお知らせ") -> None:
    message = _message(text, title="動画タイトル", media=[{"kind": "video", "path": "clip.mp4"}])
    await env.youtube.publish(env.youtube.render(message, ACCOUNTS[YT_ACCOUNT]), KEY)


# -- faults -----------------------------------------------------------------------------------


async def test_faults_are_queued_listed_used_and_cleared(env: Env) -> None:
    queued = await env.post_fault({"kind": "duplicate", "platform": "facebook", "account": FB_ACCOUNT, "times": 2})
    assert queued == {"queued": 2, "pending": 2}
    pending = (await env.get_json("/_sandbox/faults"))["pending"]
    assert [(f["kind"], f["account"]) for f in pending] == [("duplicate", FB_ACCOUNT)] * 2
    with pytest.raises(PermanentError) as caught:
        await _post_facebook(env)
    assert caught.value.code == "duplicate"
    async with env.http.delete(env.url("/_sandbox/faults")) as resp:
        assert await resp.json() == {"cleared": 1}
    await _post_facebook(env)
    assert len(env.state.live_posts(Platform.FACEBOOK)) == 1


async def test_fault_options_reach_the_platform(env: Env) -> None:
    await env.post_fault({"kind": "timeout_after_accept", "platform": "youtube", "hang_s": 1.5})
    with pytest.raises(UncertainError):
        await _post_youtube(env)
    assert len(env.state.live_posts(Platform.YOUTUBE)) == 1
    await env.post_fault({"kind": "server_error", "platform": "facebook", "status": 502, "reset_s": 5})
    [fault] = env.state.faults.pending()
    assert (fault.status, fault.reset_s, fault.account) == (502, 5, None)


BAD_FAULTS = [
    ({"kind": "meteor", "platform": "x"}, "kind"),
    ({"kind": "quota", "platform": "myspace"}, "platform"),
    ({"kind": "quota"}, "platform"),
    ({"kind": "quota", "platform": "x", "times": 0}, "times"),
    ({"kind": "quota", "platform": "x", "times": 1.5}, "times"),
    ({"kind": "quota", "platform": "x", "status": 200}, "status"),
    ({"kind": "quota", "platform": "x", "hang_s": -1}, "hang_s"),
    ({"kind": "quota", "platform": "x", "account": 7}, "account"),
    (["quota"], "JSON"),
]


@pytest.mark.parametrize(("body", "field"), BAD_FAULTS)
async def test_bad_fault_requests_are_refused(env: Env, body: Any, field: str) -> None:
    answer = await env.post_fault(body, status=400)
    assert field in answer["error"]
    assert env.state.faults.pending() == []


async def test_fault_request_must_be_json(env: Env) -> None:
    async with env.http.post(env.url("/_sandbox/faults"), data="kind=quota") as resp:
        assert resp.status == 400
        assert "JSON" in (await resp.json())["error"]


# -- posts and requests -----------------------------------------------------------------------


async def test_posts_json_filters_by_platform_and_account(env: Env) -> None:
    await _post_facebook(env)
    await _post_youtube(env)
    everything = (await env.get_json("/_sandbox/posts"))["posts"]
    assert sorted(p["platform"] for p in everything) == ["facebook", "youtube"]
    [video] = (await env.get_json("/_sandbox/posts?platform=youtube"))["posts"]
    assert video["account"] == YT_ACCOUNT and video["extra"]["title"] == "動画タイトル"
    assert "resource" not in video["extra"]
    assert (await env.get_json(f"/_sandbox/posts?account={FB_ACCOUNT}"))["posts"][0]["text"] == "お知らせです"
    assert (await env.get_json(f"/_sandbox/posts?account={QUIET}"))["posts"] == []
    assert "platform" in (await env.get_json("/_sandbox/posts?platform=myspace", status=400))["error"]


async def test_requests_are_recorded(env: Env) -> None:
    await _post_facebook(env)
    await _post_youtube(env)
    rows = (await env.get_json("/_sandbox/requests?platform=facebook"))["requests"]
    assert [(r["platform"], r["method"]) for r in rows] == [("facebook", "POST")]
    everything = (await env.get_json("/_sandbox/requests"))["requests"]
    assert {r["path"] for r in everything} >= {"/upload/youtube/v3/videos", rows[0]["path"]}


# -- the page ---------------------------------------------------------------------------------


async def test_page_shows_posts_per_account_escaped(env: Env) -> None:
    image = {"kind": "image", "path": "city.png", "alt_text": "<b>太字</b>"}
    await _post_facebook(env, "<script>alert('x')</script> & 市役所", media=[image])
    await _post_youtube(env)
    async with env.http.get(env.url("/_sandbox/")) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        html = await resp.text()
    assert "<script>" not in html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; 市役所" in html
    assert "&lt;b&gt;太字&lt;/b&gt;" in html
    for heading in ("サンドボックス", "Facebook ページ", "YouTube", "待機中の障害"):
        assert heading in html
    for account in ACCOUNT_PLATFORMS:
        assert account in html
    assert "投稿はまだありません" in html  # the quiet account
    assert "動画タイトル" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # no external assets


# -- server and state -------------------------------------------------------------------------


async def test_server_picks_a_port_and_hands_out_credentials(env: Env) -> None:
    assert env.server.port > 0
    assert env.server.base_url == f"http://127.0.0.1:{env.server.port}"
    creds = env.server.credentials()
    assert set(creds) == set(ACCOUNT_PLATFORMS)
    assert creds[FB_ACCOUNT] == sandbox_credentials(FB_ACCOUNT, Platform.FACEBOOK)
    assert set(creds[YT_ACCOUNT]) == {"access_token", "refresh_token", "client_id", "client_secret", "channel_id"}


async def test_state_latency_applies_to_platform_requests() -> None:
    state = sandbox_state_for({FB_ACCOUNT: Platform.FACEBOOK}, latency_s=0.2)
    assert state.latency_s == 0.2 and state.accounts == {FB_ACCOUNT: Platform.FACEBOOK}
    assert state.accounts is not ACCOUNT_PLATFORMS


@pytest.mark.skipif(
    not all(importlib.util.find_spec(f"gateway.sandbox.{m}") for m in ("x", "line")),
    reason="the X and LINE sandboxes are not in the tree yet",
)
def test_default_app_mounts_all_four_platforms() -> None:
    app = build_sandbox_app(sandbox_state_for(ACCOUNT_PLATFORMS))
    paths = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    assert "/upload/youtube/v3/videos" in paths and "/_sandbox/" in paths
    assert any(p.startswith("/2/") for p in paths)  # X
    assert any(p.startswith("/v2/bot/") for p in paths)  # LINE
