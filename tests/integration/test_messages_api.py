"""GET /api/v1/messages (issue 16): the messages a caller may see, filtered and paginated in the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.models import CheckResult, Message, MessageState, Priority, Role
from gateway.store import NewMessage
from gateway.web.app import build_app
from gateway.web.auth import create_token
from tests.integration.conftest import Harness


def _new(city: str, accounts: tuple[str, ...], text: str, state: MessageState = MessageState.PENDING_APPROVAL,
         title: str | None = None, author: str = "sato") -> NewMessage:
    body = Message(municipality=city, category="event", text=text, title=title)
    return NewMessage(municipality=city, body=body, state=state, priority=Priority.NORMAL, submitted_by=author,
                      source="api", check=CheckResult.of([]), accounts=accounts)


async def seed(harness: Harness) -> None:
    store, clock = harness.store, harness.clock
    for i in range(120):
        await store.add_message(_new("kodaira", ("kodaira_x",), f"小平市民まつり 第{i}回のお知らせ"), actor="sato")
        clock.advance(seconds=1)
    await store.add_message(_new("kodaira", ("kodaira_line",), "図書館の休館日（LINE だけ）", title="休館日",
                                 state=MessageState.PLANNED, author="tanaka"), actor="tanaka")
    await store.add_message(_new("zushi", ("zushi_x",), "逗子海岸の清掃活動"), actor="yamada")


class Caller:
    def __init__(self, client: TestClient, token: str) -> None:
        self.client, self.token = client, token

    async def get(self, **params: str) -> tuple[int, Any]:
        response = await self.client.get("/api/v1/messages", params=params,
                                         headers={"Authorization": f"Bearer {self.token}"})
        return response.status, await response.json()


@pytest.fixture
async def callers(harness: Harness) -> AsyncIterator[dict[str, Caller]]:
    now = datetime.now(UTC)
    await harness.store.ensure_user("kimura", Role.OPERATOR, actor="test")
    from gateway.models import Scope

    await harness.store.set_scope("kimura", Scope.of("kodaira", accounts=("kodaira_x",)), actor="test")
    tokens = {
        "kodaira": await create_token(harness.store, user="k-staff", role=Role.STAFF, municipalities=["kodaira"],
                                      ttl_days=1, now=now, actor="test"),
        "narrow": await create_token(harness.store, user="kimura", role=Role.OPERATOR, municipalities=["kodaira"],
                                     ttl_days=1, now=now, actor="test"),
    }
    async with TestClient(TestServer(build_app(harness.gateway))) as client:
        yield {name: Caller(client, token) for name, token in tokens.items()}


async def test_lists_only_what_the_caller_may_see_with_text_title_author_and_times(
        harness: Harness, callers: dict[str, Caller]) -> None:
    await seed(harness)
    status, body = await callers["kodaira"].get(limit="500")
    assert status == 200
    assert len(body["messages"]) == 121 and body["next_cursor"] is None
    assert {m["municipality"] for m in body["messages"]} == {"kodaira"}  # 逗子's post is left out
    newest = body["messages"][0]
    assert newest["text"] == "図書館の休館日（LINE だけ）" and newest["title"] == "休館日"
    assert newest["author"] == "tanaka" and newest["created_at"] and newest["updated_at"]
    status, body = await callers["narrow"].get(limit="500")
    assert status == 200 and len(body["messages"]) == 120  # kodaira_line's post is outside kodaira_x's scope
    status, body = await callers["kodaira"].get(municipality="zushi")
    assert status == 403 and body["error"] == "out_of_scope"


async def test_filters_and_cursor_pages(harness: Harness, callers: dict[str, Caller]) -> None:
    await seed(harness)
    caller = callers["kodaira"]
    _, found = await caller.get(q="第7回")
    assert [m["text"] for m in found["messages"]] == ["小平市民まつり 第7回のお知らせ"]
    _, planned = await caller.get(state="planned", municipality="kodaira")
    assert [m["author"] for m in planned["messages"]] == ["tanaka"]
    _, by_title = await caller.get(q="休館")
    assert len(by_title["messages"]) == 1
    _, line = await caller.get(account="kodaira_line")
    assert [m["title"] for m in line["messages"]] == ["休館日"]
    _, events = await caller.get(category="event", limit="500")
    assert len(events["messages"]) == 121
    _, none = await caller.get(category="tourism")
    assert none["messages"] == []
    _, today = await caller.get(**{"from": "2026-11-24", "to": "2026-11-24", "limit": "500"})
    assert len(today["messages"]) == 121
    _, later = await caller.get(**{"from": "2026-11-25"})
    assert later["messages"] == []
    status, bad = await caller.get(to="24/11/2026")
    assert status == 400 and bad["problems"][0]["field"] == "to"
    seen: list[str] = []
    params = {"limit": "50", "state": "pending_approval"}
    while True:
        status, page = await caller.get(**params)
        assert status == 200
        seen += [m["id"] for m in page["messages"]]
        if page["next_cursor"] is None:
            break
        params = {**params, "cursor": page["next_cursor"]}
    assert len(seen) == len(set(seen)) == 120
    status, bad = await caller.get(state="sent_somewhere")
    assert status == 400 and bad["problems"][0]["field"] == "state"
    status, bad = await caller.get(q="x" * 201)
    assert status == 400 and bad["problems"][0]["field"] == "q"
    status, bad = await caller.get(q="a\x00b")
    assert status == 400
