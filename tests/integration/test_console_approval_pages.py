"""承認待ち in pages (issue 16): 20 posts a page with the real total and page links; the scope is the
database's, so another city's backlog of 210 pending posts hides none of the approver's own."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.models import CheckResult, Message, MessageState, Priority, Role, Scope
from gateway.store import NewMessage
from tests.integration.conftest import Harness
from tests.integration.test_console import PASSWORD_HASH, app, login  # noqa: F401  (fixtures)


async def _pending(harness: Harness, city: str, account: str, count: int) -> None:
    for i in range(count):
        body = Message(municipality=city, accounts=[account], category="event", text=f"{city} のお知らせ 第{i}号です。")
        await harness.store.add_message(NewMessage(
            municipality=city, body=body, state=MessageState.PENDING_APPROVAL, priority=Priority.NORMAL,
            submitted_by="sato", source="console", check=CheckResult.of([]), accounts=(account,)), actor="sato")


async def test_the_queue_is_paged_and_another_citys_backlog_hides_nothing(
        app: web.Application, harness: Harness) -> None:  # noqa: F811
    await _pending(harness, "kodaira", "kodaira_x", 25)
    await _pending(harness, "zushi", "zushi_x", 210)  # newer than every kodaira post
    await harness.store.create_user("k-approver", Role.APPROVER, Scope.of("kodaira"), actor="test",
                                    password_hash=PASSWORD_HASH)
    async with TestClient(TestServer(app)) as own:
        await login(own, "k-approver")
        first = await (await own.get("/console/approvals")).text()
        assert "全 25 件" in first and first.count('<article class="message"') == 20 and "zushi のお知らせ" not in first
        assert 'rel="next"' in first
        second = await (await own.get("/console/approvals", params={"page": "2"})).text()
        assert second.count('<article class="message"') == 5 and "kodaira のお知らせ 第0号" in second
