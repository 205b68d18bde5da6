"""Preview is the truth (issue 16): for every platform, what the console's preview shows is byte for byte
what the real SDK put on the wire, as the platform's sandbox received it (text, title, message split)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.models import Actor, Platform, Role, Scope
from gateway.pipeline.intake.validation import parse_message
from gateway.runtime import Runtime, open_runtime
from gateway.sandbox.base import PublishedPost
from gateway.settings import Settings
from gateway.web.console.preview import preview
from tests.mediafiles import FIXTURE_MEDIA

ROOT = Path(__file__).resolve().parents[2]
# Tuesday 10:00 JST: inside every seed city's office hours, so routine posts go out when approved.
OFFICE_HOURS = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
CITIES = frozenset({"atsugi", "kisarazu"})
STAFF = Actor("sato", Role.STAFF, Scope(CITIES))
BOSS = Actor("suzuki", Role.APPROVER, Scope(CITIES))
# Text that trips naive counting and cutting: CR LF from a form, an emoji sequence, a flag, a keycap,
# a kanji variation selector, half-width kana with a voiced mark, a URL.
TEXT = ("【鮎まつり】\r\n相模川の河川敷で花火大会を開きます🎆👨‍👩‍👧🇯🇵 1️⃣会場は葛󠄀城橋の下流です。"
        "ｶﾞｲﾄﾞはこちら https://www.city.atsugi.kanagawa.jp/ayu/ 問い合わせ：046-225-2820")
IMAGE = {"kind": "image", "path": "city.png", "alt_text": "河川敷の会場図。橋の下流に観覧席があります。",
         "url": "https://www.city.atsugi.kanagawa.jp/ayu/map.png"}
CASES: dict[str, dict[str, Any]] = {
    "x": {"municipality": "atsugi", "category": "tourism", "accounts": ["atsugi_x"], "text": TEXT,
          "media": [IMAGE]},
    "line": {"municipality": "atsugi", "category": "tourism", "accounts": ["atsugi_line"], "title": "鮎まつり",
             "text": TEXT + "\n\n" + "会場への道順：本厚木駅から徒歩10分です。" * 300, "media": [IMAGE]},
    "instagram": {"municipality": "atsugi", "category": "tourism", "accounts": ["atsugi_instagram"], "text": TEXT,
                  "media": [IMAGE]},
    "youtube": {"municipality": "atsugi", "category": "tourism", "accounts": ["atsugi_youtube"],
                "title": "鮎まつり 花火大会のご案内🎆", "text": TEXT, "media": [{"kind": "video", "path": "clip.mp4"}]},
    "facebook": {"municipality": "kisarazu", "category": "event", "accounts": ["kisarazu_facebook"],
                 "title": "【潮干狩り】", "text": TEXT.replace("相模川", "盤洲干潟").replace("atsugi.kanagawa.jp", "kisarazu.lg.jp"),
                 "media": [IMAGE]},
    "facebook-link": {"municipality": "kisarazu", "category": "event", "accounts": ["kisarazu_facebook"],
                      "text": "盤洲干潟の潮干狩り👨‍👩‍👧\r\n詳しくは https://www.city.kisarazu.lg.jp/ をご覧ください。"},
}


@pytest.fixture
async def runtime(sqlite_url: str) -> AsyncIterator[Runtime]:
    settings = Settings(database_url=sqlite_url, platforms="sandbox", config_dir=ROOT / "config" / "municipalities",
                        media_dir=FIXTURE_MEDIA, reconcile_after_seconds=0)
    async with open_runtime(settings, start=False, clock=lambda: OFFICE_HOURS) as opened:
        for actor in (STAFF, BOSS):
            await opened.store.ensure_user(actor.name, actor.role, actor="test", scope=actor.scope)
        yield opened


def received_parts(platform: str, posts: list[PublishedPost]) -> list[str]:
    """The texts as the platform received them, one per part of the previewed post."""
    if platform == "line":
        [post] = posts  # one broadcast, one text message per part
        return [m["text"] for m in post.extra["messages"] if m["type"] == "text"]
    return [p.text for p in posts]


@pytest.mark.parametrize("case", sorted(CASES))
async def test_the_preview_is_what_the_platform_received(runtime: Runtime, case: str) -> None:
    message = parse_message(CASES[case])
    shown = await preview(runtime.gateway, message)
    assert shown["verdict"] == "pass", shown["findings"]
    [post] = shown["posts"]
    assert "error" not in post and not post["over"], post
    submitted = await runtime.gateway.submit(message, STAFF)
    await runtime.gateway.approve(submitted.record.id, BOSS)
    await runtime.gateway.dispatcher.drain()
    assert runtime.sandbox is not None
    platform = Platform(post["platform"])
    got = runtime.sandbox.state.live_posts(platform, post["account"])
    assert got, f"{case}: nothing reached the {platform.value} sandbox"
    assert received_parts(platform.value, got) == [p["text"] for p in post["parts"] if p["text"]]
    if platform is Platform.LINE:  # each image is a message of its own, after the texts
        images = [m for m in got[0].extra["messages"] if m["type"] == "image"]
        assert len(images) == sum(len(p["media"]) for p in post["parts"] if not p["text"]) == 1
    if platform is Platform.YOUTUBE:
        assert got[0].extra["title"] == post["title"]
    else:
        assert post["title"] is None  # no separate title is sent, so none is previewed
    if case == "line":
        assert len(post["parts"]) > 1  # long enough to be split into several messages, each shown
    if post["link"] is not None:
        assert got[0].extra.get("link") == post["link"], got[0].extra


@pytest.mark.parametrize("account", ["atsugi_line", "atsugi_instagram"])
async def test_an_image_the_platform_cannot_fetch_is_refused_at_submit(runtime: Runtime, account: str) -> None:
    """Before: accepted, approved, and then failed at delivery (no_public_url)."""
    message = parse_message({**CASES["x"], "accounts": [account], "media": [{**IMAGE, "url": None}]})
    shown = await preview(runtime.gateway, message)
    assert shown["verdict"] == "block"
    [finding] = [f for f in shown["findings"] if f["rule"] == "media.public_url"]
    assert finding["account"] == account and "「city.png」" in finding["message"] and "公開URL" in finding["message"]
    [post] = shown["posts"]
    assert any("公開URL" in p for p in post["problems"]), post  # the preview's own list says it too


async def test_a_text_needing_more_than_five_line_messages_is_refused(runtime: Runtime) -> None:
    text = "会場への道順：本厚木駅から徒歩10分です。" * 560  # 11,760 UTF-16 units: three text messages
    images = [{**IMAGE, "path": name} for name in ("city.png", "park.png", "city.png")]
    message = parse_message({**CASES["line"], "text": text, "media": images})
    shown = await preview(runtime.gateway, message)
    assert shown["verdict"] == "block"
    [finding] = [f for f in shown["findings"] if f["rule"] == "length.line"]
    assert "5 通" in finding["message"] and "1 超えています" in finding["message"]
    assert shown["posts"][0]["over"] is True
