"""Corrections (逗子 3-5(1)) after a retraction: posted on their own, since X refuses a reply to a
deleted post, and always with 【訂正】 in front, whether they come from the API, the CLI or the
console. Real adapters against the sandbox servers, on a real SQLite database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway import cli
from gateway.errors import InputError
from gateway.models import Actor, DeliveryState, Platform, Role, Scope
from gateway.pipeline.intake.validation import parse_message
from gateway.runtime import Runtime, open_runtime
from gateway.settings import Settings
from gateway.web.app import build_app
from gateway.web.auth import create_token
from tests.mediafiles import FIXTURE_MEDIA
from tests.scopes import EVERYWHERE

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "municipalities"
ALERTS = Actor("jma-feed", Role.ALERT_SYSTEM, EVERYWHERE)
OPERATOR = Actor("ops", Role.OPERATOR, Scope.of("kisarazu"))
ACCOUNTS = ["kisarazu_x", "kisarazu_facebook"]
ORIGINAL = "【避難指示】警戒レベル4 木更津市の中郷地区に避難指示を発令しました。"
CORRECTED = "【避難指示】警戒レベル4 木更津市の中里地区に避難指示を発令しました。"


@pytest.fixture
async def runtime(sqlite_url: str) -> AsyncIterator[Runtime]:
    settings = Settings(database_url=sqlite_url, platforms="sandbox", config_dir=CONFIG, media_dir=FIXTURE_MEDIA)
    async with open_runtime(settings, start=False) as opened:
        for actor in (ALERTS, OPERATOR):
            await opened.store.ensure_user(actor.name, actor.role, actor="test")
        yield opened


def _fields(text: str, correction_of: str | None = None) -> dict[str, Any]:
    fields: dict[str, Any] = {"municipality": "kisarazu", "category": "emergency", "priority": "emergency",
                              "accounts": ACCOUNTS, "text": text}
    return {**fields, "correction_of": correction_of} if correction_of else fields


async def _sent(rt: Runtime, text: str, correction_of: str | None = None) -> str:
    submitted = await rt.gateway.submit(parse_message(_fields(text, correction_of)), ALERTS)
    await rt.gateway.dispatcher.drain()
    for delivery in submitted.deliveries:
        done = await rt.store.get_delivery(delivery.id)
        assert done.state is DeliveryState.SENT, done.error_text
    return submitted.record.id


async def _settle(rt: Runtime, message_id: str) -> list[Any]:
    await rt.gateway.dispatcher.drain()
    deliveries = await rt.store.list_deliveries(message_id=message_id)
    assert [d.state for d in deliveries] == [DeliveryState.SENT] * len(ACCOUNTS), [d.error_text for d in deliveries]
    return deliveries


def _x_posts(rt: Runtime) -> list[Any]:
    assert rt.sandbox is not None
    return rt.sandbox.state.live_posts(Platform.X, "kisarazu_x")


async def _retracted(rt: Runtime) -> str:
    original = await _sent(rt, ORIGINAL)
    states = [d.state for d in await rt.gateway.retract(original, OPERATOR, "地区名の誤り")]
    assert states == [DeliveryState.RETRACTED] * len(ACCOUNTS)
    assert _x_posts(rt) == []
    return original


async def test_a_correction_after_a_retraction_is_posted_on_its_own(runtime: Runtime) -> None:
    original = await _retracted(runtime)
    correction = await _sent(runtime, CORRECTED, correction_of=original)
    [post] = _x_posts(runtime)
    assert post.reply_to is None  # a reply to the deleted post: X answers 403
    assert post.text.startswith("【訂正】" + CORRECTED)
    assert (await runtime.store.get_message(correction)).body.text == "【訂正】" + CORRECTED


async def test_a_correction_of_a_live_post_replies_to_it(runtime: Runtime) -> None:
    original = await _sent(runtime, ORIGINAL)
    await _sent(runtime, "【訂正】" + CORRECTED, correction_of=original)  # already marked: not marked twice
    first, second = sorted(_x_posts(runtime), key=lambda p: p.created_at)
    assert second.reply_to == first.remote_id
    assert second.text.startswith("【訂正】【避難指示】")


async def test_correction_of_an_unknown_message_is_refused_naming_the_field(runtime: Runtime) -> None:
    other_city = await runtime.gateway.submit(parse_message({
        "municipality": "kodaira", "category": "emergency", "priority": "emergency", "accounts": ["kodaira_x"],
        "text": "【避難指示】警戒レベル4 小平市に避難指示を発令しました。"}), ALERTS)
    for wrong in ("m_doesnotexist", other_city.record.id):
        with pytest.raises(InputError) as caught:
            await runtime.gateway.submit(parse_message(_fields(CORRECTED, wrong)), ALERTS)
        [problem] = caught.value.problems
        assert problem.field == "correction_of" and problem.code == "not_found"
        assert wrong in problem.message and "見つかりません" in problem.message


async def test_over_the_api(runtime: Runtime) -> None:
    original = await _retracted(runtime)
    # 危機管理課: a person who may send (and correct) an emergency post for 木更津
    await runtime.store.ensure_user("sato", Role.STAFF, actor="test", scope=Scope.of("kisarazu", emergency=("kisarazu",)))
    token = await create_token(runtime.store, user="sato", role=Role.STAFF, ttl_days=1,
                               now=datetime.now(UTC), actor="test", municipalities=["kisarazu"])
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with TestClient(TestServer(build_app(runtime.gateway))) as client:
        response = await client.post("/api/v1/messages", headers=headers, data=json.dumps(
            {**_fields(CORRECTED, original), "emergency_reason": "避難指示の地区名の誤りを訂正"}))
        assert response.status == 201, await response.text()
        body = await response.json()
        unknown = await client.post("/api/v1/messages", headers=headers, data=json.dumps(
            {**_fields(CORRECTED, "m_nope"), "emergency_reason": "避難指示の地区名の誤りを訂正"}))
        assert unknown.status == 400
        assert [p["field"] for p in (await unknown.json())["problems"]] == ["correction_of"]
    assert body["state"] == "pending_approval"  # staff: four eyes, corrections included
    await runtime.store.ensure_user("boss", Role.APPROVER, actor="test", scope=Scope.of("kisarazu"))
    record = await runtime.store.get_message(body["id"])
    assert record.body.text == "【訂正】" + CORRECTED
    overrides = {f.rule: "確認済み" for f in record.check.findings}
    await runtime.gateway.approve(body["id"], Actor("boss", Role.APPROVER, Scope.of("kisarazu")), overrides)
    await _settle(runtime, body["id"])
    [post] = _x_posts(runtime)
    assert post.reply_to is None and post.text.startswith("【訂正】" + CORRECTED)


async def test_from_the_cli(runtime: Runtime, sqlite_url: str, tmp_path: Path) -> None:
    original = await _retracted(runtime)
    path = tmp_path / "correction.json"
    path.write_text(json.dumps(_fields(CORRECTED, original), ensure_ascii=False), encoding="utf-8")
    args = ["--database-url", sqlite_url, "--config-dir", str(CONFIG), "submit", str(path), "--as", ALERTS.name]
    assert await asyncio.to_thread(cli.main, args) == 0
    [record] = [m for m in await runtime.store.list_messages() if m.body.correction_of == original]
    assert record.body.text == "【訂正】" + CORRECTED
    await _settle(runtime, record.id)
    [post] = _x_posts(runtime)
    assert post.reply_to is None and post.text.startswith("【訂正】")
