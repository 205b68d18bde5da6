"""Uploaded files reach LINE and Instagram (issue 16): with a public URL set, an upload gets a signed address
under it, the preview and the checks see it, the real SDKs send it, and the gateway serves the file there
(and only there) without a sign-in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.media import PublicLinks
from gateway.models import Platform
from gateway.pipeline.intake.validation import parse_message
from gateway.runtime import Runtime, open_runtime
from gateway.settings import Settings
from gateway.web.app import build_app
from gateway.web.console.preview import preview
from tests.integration.test_preview_is_sent import BOSS, OFFICE_HOURS, ROOT, STAFF
from tests.mediafiles import PNG

PUBLIC = "https://koho.city.example.jp"


def test_a_signed_address_names_its_id_and_nothing_else() -> None:
    links = PublicLinks(PUBLIC + "/", b"k" * 32)
    media_id = "0123456789abcdef" * 2
    url = links.url(media_id, ".png")
    assert url.startswith(PUBLIC + "/media/public/" + media_id + "-") and url.endswith(".png")
    token = url.rsplit("/", 1)[1]
    assert links.media_id(token) == media_id
    assert links.media_id(token.replace(".png", "")) == media_id
    forged = token[:33] + ("0" if token[33] != "0" else "1") + token[34:]
    assert links.media_id(forged) is None  # one signature digit changed
    assert links.media_id(media_id) is None and links.media_id("../etc/passwd") is None
    assert PublicLinks(PUBLIC, b"x" * 32).media_id(token) is None  # another server's key


@pytest.fixture
async def runtime(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings(database_url=sqlite_url, platforms="sandbox", config_dir=ROOT / "config" / "municipalities",
                        media_dir=tmp_path / "media", var_dir=tmp_path, public_url=PUBLIC, reconcile_after_seconds=0)
    async with open_runtime(settings, start=False, clock=lambda: OFFICE_HOURS) as opened:
        for actor in (STAFF, BOSS):
            await opened.store.ensure_user(actor.name, actor.role, actor="test", scope=actor.scope)
        yield opened


async def test_an_upload_reaches_line_and_instagram_at_its_signed_address(runtime: Runtime) -> None:
    stored = runtime.gateway.media.add(PNG)
    assert stored.id is not None
    message = parse_message({
        "municipality": "atsugi", "category": "tourism", "accounts": ["atsugi_line", "atsugi_instagram"],
        "text": "荻野運動公園のメタセコイア並木が色づきました。",
        "media": [{"kind": "image", "id": stored.id, "alt_text": "黄金色に色づいたメタセコイアの並木道"}]})
    shown = await preview(runtime.gateway, message)
    assert shown["verdict"] == "pass", shown["findings"]
    assert all(not post["problems"] for post in shown["posts"]), shown["posts"]
    submitted = await runtime.gateway.submit(message, STAFF)
    [media] = submitted.record.body.media
    assert media.url is not None and media.url.startswith(PUBLIC + "/media/public/" + stored.id + "-")
    await runtime.gateway.approve(submitted.record.id, BOSS)
    await runtime.gateway.dispatcher.drain()
    assert runtime.sandbox is not None
    [line] = runtime.sandbox.state.live_posts(Platform.LINE, "atsugi_line")
    [image] = [m for m in line.extra["messages"] if m["type"] == "image"]
    assert image["originalContentUrl"] == media.url
    [gram] = runtime.sandbox.state.live_posts(Platform.INSTAGRAM, "atsugi_instagram")
    assert gram.media[0]["url"] == media.url

    async with TestClient(TestServer(build_app(runtime.gateway))) as client:
        path = urlsplit(media.url).path
        served = await client.get(path)  # no session, no token: the platforms fetch it like this
        assert served.status == 200 and served.headers["Content-Type"] == "image/png"
        assert await served.read() == PNG
        assert (await client.get(f"/media/public/{stored.id}.png")).status == 404  # the bare id is not enough
        assert (await client.get(path[:-6] + "0.png")).status == 404
        assert (await client.get(f"/console/media/{stored.id}", allow_redirects=False)).status in (302, 303, 401)


async def test_a_file_still_to_be_uploaded_is_previewed_with_the_address_it_will_get(runtime: Runtime) -> None:
    """The compose form previews a chosen file before sending it (console.js names it upload-1): with a
    public URL it is not refused for lacking one (the submit button stayed disabled before)."""
    message = parse_message({
        "municipality": "atsugi", "category": "tourism", "accounts": ["atsugi_line"], "text": "並木が色づきました。",
        "media": [{"kind": "image", "path": "upload-1", "alt_text": "黄金色の並木道"}]})
    shown = await preview(runtime.gateway, message)
    assert shown["verdict"] == "pass", shown["findings"]
    assert not shown["posts"][0]["problems"]
