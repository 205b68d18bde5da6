"""トップ (issue 16): "is everything all right?" for the viewer's cities: waiting approvals, held and failed
deliveries, stopped accounts, the last emergency post, counted in the database within the viewer's scope."""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.errors import PermanentError
from gateway.models import Message, Platform, Priority, Role, Scope
from tests.integration.conftest import ALERTS, APPROVER, OPERATOR, STAFF, Harness
from tests.integration.test_console import PASSWORD_HASH, app, client, login  # noqa: F401  (fixtures)


def _count(html: str, label: str) -> int:
    match = re.search(rf">{re.escape(label)}</a> <strong class=\"count\">(\d+)</strong>", html)
    assert match, label
    return int(match.group(1))


async def test_a_quiet_day_says_so(client: TestClient) -> None:  # noqa: F811
    await login(client, OPERATOR.name)
    html = await (await client.get("/console/")).text()
    assert "対応が必要な異常はありません" in html and _count(html, "失敗した配信") == 0
    assert "最新の緊急投稿: ありません" in html


async def test_failures_stops_and_waiting_posts_are_counted_and_linked(client: TestClient,  # noqa: F811
                                                                       harness: Harness) -> None:
    waiting = Message(municipality="kodaira", accounts=["kodaira_x"], category="event", text="承認を待つお知らせです。")
    await harness.gateway.submit(waiting, STAFF, idempotency_key="home-wait")
    failing = Message(municipality="kodaira", accounts=["kodaira_x"], category="event", text="送信に失敗するお知らせです。")
    submitted = await harness.gateway.submit(failing, STAFF, idempotency_key="home-fail")
    await harness.gateway.approve(submitted.record.id, APPROVER)
    harness.adapters[Platform.X].fail_next(PermanentError("400 invalid"))
    await harness.dispatcher.drain()
    await harness.store.stop_account("kodaira_facebook", actor=OPERATOR.name, reason="乗っ取りの疑いのため")
    urgent = Message(municipality="kodaira", accounts=["kodaira_x"], category="emergency", priority=Priority.EMERGENCY,
                     text="【緊急】市内に避難指示を発令しました。", emergency_reason="訓練ではない避難指示")
    await harness.gateway.submit(urgent, ALERTS, idempotency_key="home-urgent")
    await login(client, OPERATOR.name)
    html = await (await client.get("/console/")).text()
    assert _count(html, "承認待ちの投稿") == 1 and _count(html, "失敗した配信") == 1
    assert _count(html, "停止中のアカウント") == 1
    assert "確認が必要な項目があります" in html and "失敗した配信 1件" in html
    assert 'href="/console/deliveries?state=failed"' in html
    assert "【緊急】市内に避難指示を発令しました。" in html.split('id="latest-emergency"', 1)[1]


async def test_another_citys_trouble_is_not_counted(app: web.Application, harness: Harness) -> None:  # noqa: F811
    failing = Message(municipality="zushi", accounts=["zushi_x"], category="event", text="逗子のお知らせです。")
    submitted = await harness.gateway.submit(failing, STAFF, idempotency_key="home-zushi")
    await harness.gateway.approve(submitted.record.id, APPROVER)
    harness.adapters[Platform.X].fail_next(PermanentError("400 invalid"))
    await harness.dispatcher.drain()
    await harness.store.create_user("k-op", Role.OPERATOR, Scope.of("kodaira"), actor="test",
                                    password_hash=PASSWORD_HASH)
    async with TestClient(TestServer(app)) as own:
        await login(own, "k-op")
        html = await (await own.get("/console/")).text()
        assert _count(html, "失敗した配信") == 0 and "対応が必要な異常はありません" in html
