"""End to end (issue 17): a real-shaped JMA tsunami telegram and an evacuation order reach 木更津市, whose
LINE account sends Japanese, やさしい日本語 and English in one broadcast and whose English X account posts in
English, through the real SDKs (line-bot-sdk, tweepy, Graph API) against the sandbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.alerts import parse_alert
from gateway.models import Actor, Platform, Role, Scope
from gateway.runtime import Runtime, open_runtime
from gateway.services.alerts import AlertIntake
from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "alerts"
ALERTS = Actor("jma-feed", Role.ALERT_SYSTEM, Scope.everywhere())


class Clock:
    def __init__(self) -> None:
        self.now = parse_alert((FIXTURES / "jma_tsunami_warning_zushi.xml").read_bytes()).sent

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


@pytest.fixture
async def runtime(database_url: str) -> AsyncIterator[tuple[Runtime, Clock]]:
    clock = Clock()
    settings = Settings(database_url=database_url, platforms="sandbox", config_dir=ROOT / "config" / "municipalities")
    async with open_runtime(settings, start=False, clock=clock) as opened:
        await opened.store.ensure_user(ALERTS.name, ALERTS.role, actor="test", scope=ALERTS.scope)
        yield opened, clock


async def _receive(rt: Runtime, clock: Clock, document: bytes) -> None:
    clock.now = parse_alert(document).sent + timedelta(minutes=1)
    result = await AlertIntake(rt.gateway).receive(document, ALERTS, municipality="kisarazu")
    assert result.outcome == "accepted", result.reason
    languages = {(p["account"], p["language"]) for p in result.posts}
    assert {("kisarazu_line", "ja-easy"), ("kisarazu_line", "en"), ("kisarazu_en_x", "en")} <= languages
    await rt.gateway.dispatcher.drain()


def _evacuation_order() -> bytes:
    return json.dumps({
        "format": "koho-alert/1", "id": "kisarazu-evac-1", "revision": 1, "sender": "木更津市",
        "sent": "2026-09-01T12:10:00+09:00", "kind": "evacuation",
        "areas": [{"code": "12206", "name": "木更津市", "subareas": ["中央一丁目"]}],
        "headline": "河川の水位上昇のため避難指示を発令しました。", "details": {"evacuation_type": "避難指示"},
    }, ensure_ascii=False).encode()


async def test_tsunami_and_evacuation_reach_every_language(runtime: tuple[Runtime, Clock]) -> None:
    rt, clock = runtime
    assert rt.sandbox is not None
    await _receive(rt, clock, (FIXTURES / "jma_tsunami_warning_zushi.xml").read_bytes())
    await _receive(rt, clock, _evacuation_order())
    broadcasts = rt.sandbox.state.live_posts(Platform.LINE, "kisarazu_line")
    assert len(broadcasts) == 2  # one broadcast per alert, each with the three languages
    for post, kind in zip(broadcasts, ("tsunami", "evacuation"), strict=True):
        texts = [m["text"] for m in post.extra["messages"]]
        assert len(texts) == 3, texts
        ja, easy, en = texts
        if kind == "tsunami":
            assert ja.startswith("【津波注意報】東京湾内湾に津波注意報")
            assert easy.startswith("【つなみ】海(うみ)から 出(で)て ください。")
            assert en.startswith("[Tsunami] Tsunami Advisory has been issued for 東京湾内湾 (Tokyowan Naiwan).")
        else:
            assert "避難指示［警戒レベル4］" in ja
            assert easy.startswith("【ひなん】あぶない ところから にげて ください。")
            assert "Evacuation Order [Alert level 4]" in en and "木更津市 (Kisarazu-shi)" in en
    english = [p.text for p in rt.sandbox.state.live_posts(Platform.X, "kisarazu_en_x")]
    assert len(english) == 2 and all(t.startswith("[") and "JST" in t for t in english), english
    japanese = [p.text for p in rt.sandbox.state.live_posts(Platform.X, "kisarazu_x")]
    assert len(japanese) == 2 and all(t.startswith("【") for t in japanese), japanese
