"""Everyday defects of issue 16, on SQLite and PostgreSQL: the ledger and the pages say what happened
(a stopped account, a sent delivery's retry time, a message sent everywhere, a post held until office
hours), confirmations before 取消 and 承認する, and a busy port is one clear line."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.errors import RetryableError
from gateway.models import DeliveryState, MessageState, Platform
from gateway.services.passwords import hash_password
from gateway.web.app import build_app
from tests.integration.conftest import APPROVER, JST, OPERATOR, STAFF, Harness
from tests.integration.console_client import PASSWORD, login
from tests.integration.test_intake_approval import msg

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = str(Path(sys.executable).parent / "gateway")


@pytest.fixture
async def client(harness: Harness) -> AsyncIterator[TestClient]:
    for actor in (STAFF, APPROVER, OPERATOR):
        await harness.store.set_password(actor.name, hash_password(PASSWORD), actor="test")
    async with TestClient(TestServer(build_app(harness.gateway))) as c:
        yield c


async def test_gateway_accounts_shows_an_account_stopped_in_the_console(harness: Harness, database_url: str) -> None:
    await harness.store.stop_account("kodaira_x", actor=OPERATOR.name, reason="乗っ取りの疑い")
    done = await asyncio.to_thread(subprocess.run, [GATEWAY, "--database-url", database_url, "accounts"],
                                   capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    [row] = [line for line in done.stdout.splitlines() if line.split()[:1] == ["kodaira_x"]]
    assert "停止（乗っ取りの疑い）" in row and "稼働" not in row
    [other] = [line for line in done.stdout.splitlines() if line.split()[:1] == ["kodaira_facebook"]]
    assert "稼働" in other


async def test_a_sent_delivery_keeps_no_retry_time_and_its_message_is_sent(harness: Harness,
                                                                          client: TestClient) -> None:
    harness.adapters[Platform.X].fail_next(RetryableError("503"))
    submitted = await harness.gateway.submit(msg(), STAFF)
    (delivery,) = (await harness.gateway.approve(submitted.record.id, APPROVER)).deliveries
    await harness.dispatcher.drain()
    waiting = await harness.store.get_delivery(delivery.id)
    assert waiting.state is DeliveryState.RETRY_WAIT and waiting.retry_at is not None
    assert (await harness.store.get_message(submitted.record.id)).state is MessageState.PLANNED
    harness.clock.now = waiting.retry_at
    await harness.dispatcher.drain()
    sent = await harness.store.get_delivery(delivery.id)
    assert sent.state is DeliveryState.SENT and sent.retry_at is None
    record = await harness.store.get_message(submitted.record.id)
    assert record.state is MessageState.SENT
    assert [e.action for e in await harness.store.list_audit(message_id=record.id)][-1] == "message.sent"
    await login(client, OPERATOR.name)
    page = await (await client.get(f"/console/messages/{record.id}")).text()
    current = page.split('<section aria-labelledby="hh"', 1)[0]  # the 履歴 below names every earlier state
    assert "配信済み" in current and "配信計画済み" not in current
    # The account as people know it, in the card and in the delivery table; its id only as a title.
    account = harness.gateway.policies.account("kodaira_x")
    assert account is not None
    name = f"小平市 X {account[1].handle}"
    assert f'<span title="kodaira_x">{name}</span>' in current
    assert f'<td title="kodaira_x">{name}</td>' in current and "<td>kodaira_x</td>" not in current


async def test_approval_outside_office_hours_says_when_and_why(harness: Harness, client: TestClient) -> None:
    harness.clock.now = datetime(2026, 11, 27, 19, 0, tzinfo=JST)  # Friday evening
    submitted = await harness.gateway.submit(msg(), STAFF)
    token = await login(client, APPROVER.name)
    response = await client.post(f"/console/messages/{submitted.record.id}/approve", data={"csrf": token})
    html = await response.text()
    notice = re.search(r'<p class="notice" role="status" id="approved-notice">(.*?)</p>', html, re.S)
    assert notice, html[:2000]
    assert "配信を開始します" not in notice.group(1)
    assert "2026-11-30 08:30" in notice.group(1) and "勤務時間外" in notice.group(1)


async def test_cancel_and_approve_ask_for_confirmation(harness: Harness, client: TestClient) -> None:
    submitted = await harness.gateway.submit(msg(), STAFF)
    await login(client, APPROVER.name)
    queue = await (await client.get("/console/approvals")).text()
    assert re.search(r'action="/console/messages/[^"]+/approve" class="approve" data-confirm="[^"]*承認しますか', queue)
    harness.clock.now = datetime(2026, 11, 27, 19, 0, tzinfo=JST)
    await harness.gateway.approve(submitted.record.id, APPROVER)
    await login(client, OPERATOR.name)
    rows = await (await client.get("/console/deliveries")).text()
    assert re.search(r'/cancel" data-confirm="kodaira_x への配信を取り消しますか', rows)


def _busy_port() -> socket.socket:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder


def test_a_busy_port_is_one_clear_line(tmp_path: Path) -> None:
    with _busy_port() as holder:
        port = holder.getsockname()[1]
        env = {"GATEWAY_VAR_DIR": str(tmp_path), "GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}",
               "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
        served = subprocess.run([GATEWAY, "serve", "--port", str(port)], capture_output=True, text=True, cwd=ROOT,
                                env=env, timeout=120, check=False)
        sandbox = subprocess.run([GATEWAY, "serve", "--port", "0"], capture_output=True, text=True, cwd=ROOT,
                                 env={**env, "GATEWAY_SANDBOX_PORT": str(port)}, timeout=120, check=False)
    for done, name in ((served, "GATEWAY_PORT"), (sandbox, "GATEWAY_SANDBOX_PORT")):
        assert done.returncode == 2
        assert "Traceback" not in done.stderr
        [line] = [line for line in done.stderr.splitlines() if line.startswith("エラー:")]
        assert f"ポート {port} はほかのプログラムが使用中です" in line and "already in use" in line and name in line


async def test_retracting_says_which_posts_stay_because_their_platform_cannot_delete(
        harness: Harness, client: TestClient) -> None:
    from gateway.models import CheckResult, Priority
    from gateway.store import NewDelivery, NewMessage

    body = msg(municipality="atsugi", category="tourism", accounts=["atsugi_instagram", "atsugi_x"])
    new = NewMessage(municipality="atsugi", body=body, state=MessageState.PLANNED, priority=Priority.NORMAL,
                     submitted_by=STAFF.name, source="api", check=CheckResult.of([]),
                     accounts=("atsugi_instagram", "atsugi_x"))
    record, _, _ = await harness.store.add_planned_message(new, [
        NewDelivery("atsugi_instagram", Platform.INSTAGRAM, DeliveryState.QUEUED, None),
        NewDelivery("atsugi_x", Platform.X, DeliveryState.QUEUED, None)], actor=STAFF.name)
    await login(client, OPERATOR.name)
    page = await (await client.get(f"/console/messages/{record.id}")).text()
    found = harness.gateway.policies.account("atsugi_instagram")
    assert found is not None
    kept = page.split('id="kept-posts"', 1)[1].split("</p>", 1)[0]
    assert f"厚木市 Instagram {found[1].handle}" in kept and "atsugi_x" not in kept and "厚木市 X" not in kept
    assert "削除できるプラットフォームから削除します" in page

    plain = await harness.gateway.submit(msg(), STAFF)  # X only: everything it posted can be deleted
    await harness.gateway.approve(plain.record.id, APPROVER)
    page = await (await client.get(f"/console/messages/{plain.record.id}")).text()
    assert 'id="kept-posts"' not in page and "すべてのプラットフォームから削除します" in page
