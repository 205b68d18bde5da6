"""Server-side listings (issue 16): emergencies on top and never hidden under a backlog, real totals,
page links, and the audit CSV with every row — on SQLite and PostgreSQL, with scoped readers."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.models import (
    Actor,
    CheckResult,
    DeliveryState,
    Message,
    MessageState,
    Platform,
    Priority,
    Role,
    Scope,
)
from gateway.services.passwords import hash_password
from gateway.store import NewDelivery, NewMessage
from gateway.web.app import build_app
from gateway.web.auth import create_token
from tests.integration.conftest import OPERATOR, Harness
from tests.integration.console_client import PASSWORD, login

ROUTINE, EMERGENCY = 600, 14
# An operator of 小平's main X account only: another account's rows must never be counted or shown.
NARROW = Actor("kimura", Role.OPERATOR, Scope.of("kodaira", accounts=("kodaira_x",)))


def _message(priority: Priority, text: str) -> NewMessage:
    body = Message(municipality="kodaira", category="emergency" if priority is Priority.EMERGENCY else "event",
                   text=text, priority=priority)
    return NewMessage(municipality="kodaira", body=body, state=MessageState.APPROVED, priority=priority,
                      submitted_by="sato", source="api", check=CheckResult.of([]), accounts=("kodaira_x",))


async def _plan(harness: Harness, priority: Priority, text: str, account: str, platform: Platform, count: int) -> None:
    """`count` queued deliveries, 20 a message (PostgreSQL plans a message in one statement, which grows
    with its deliveries)."""
    for start in range(0, count, 20):
        items = [NewDelivery(account, platform, DeliveryState.QUEUED, None)] * min(20, count - start)
        await harness.store.add_planned_message(_message(priority, text), items, actor="sato")


async def backlog(harness: Harness) -> None:
    """14 emergency deliveries, then 600 routine ones (newer, so a newest-500 listing loses the emergencies),
    and 30 routine ones on kodaira_line."""
    await _plan(harness, Priority.EMERGENCY, "避難指示を発令しました", "kodaira_x", Platform.X, EMERGENCY)
    harness.clock.advance(minutes=5)
    await _plan(harness, Priority.NORMAL, "市民まつりのお知らせ", "kodaira_x", Platform.X, ROUTINE)
    await _plan(harness, Priority.NORMAL, "図書館の休館日", "kodaira_line", Platform.LINE, 30)
    harness.clock.advance(minutes=5)


@pytest.fixture
async def client(harness: Harness) -> AsyncIterator[TestClient]:
    await harness.store.ensure_user(NARROW.name, NARROW.role, actor="test", scope=NARROW.scope)
    for name in (OPERATOR.name, NARROW.name):
        await harness.store.set_password(name, hash_password(PASSWORD), actor="test")
    async with TestClient(TestServer(build_app(harness.gateway))) as c:
        yield c


def _row_ids(html: str) -> list[str]:
    return re.findall(r'<tr id="d-([^"]+)"', html)


def _emergency_rows(html: str) -> int:
    return len(re.findall(r'<tr id="d-[^"]+" data-id="[^"]+" data-state="[^"]+" class="emergency"', html))


async def test_emergency_filter_finds_every_emergency_under_a_backlog(client: TestClient, harness: Harness) -> None:
    await backlog(harness)
    await login(client, OPERATOR.name)
    html = await (await client.get("/console/deliveries", params={"priority": "emergency"})).text()
    assert _emergency_rows(html) == EMERGENCY and len(_row_ids(html)) == EMERGENCY
    assert "全 14 件" in html


async def test_emergencies_on_top_then_pages_with_a_real_total(client: TestClient, harness: Harness) -> None:
    await backlog(harness)
    await login(client, OPERATOR.name)
    first = await (await client.get("/console/deliveries")).text()
    assert "全 644 件" in first and "1〜50 件目" in first
    ids = _row_ids(first)
    assert len(ids) == 50 and _emergency_rows(first) == EMERGENCY
    assert first.index('class="emergency"') < first.index('class=""')  # pinned before any routine row
    assert 'href="/console/deliveries?page=13"' in first and 'rel="next"' in first
    last = await (await client.get("/console/deliveries", params={"page": "13"})).text()
    assert len(_row_ids(last)) == 644 - 12 * 50 and not set(_row_ids(last)) & set(ids)
    platform = await (await client.get("/console/deliveries", params={"platform": "line", "page": "1"})).text()
    assert "全 30 件" in platform
    bad = await client.get("/console/deliveries", params={"page": "０"})
    assert bad.status == 400


async def test_a_narrow_scope_is_counted_and_paged_in_the_database(client: TestClient, harness: Harness) -> None:
    await backlog(harness)
    await login(client, NARROW.name)
    html = await (await client.get("/console/deliveries")).text()
    assert "全 614 件" in html  # kodaira_line's 30 are neither shown nor counted
    assert "kodaira_line" not in html.split("<tbody", 1)[1]


async def test_api_priority_emergency_returns_every_emergency_and_pages_by_cursor(harness: Harness) -> None:
    await backlog(harness)
    token = await create_token(harness.store, user="ops-api", role=Role.OPERATOR, municipalities=["kodaira"],
                               ttl_days=1, now=datetime.now(UTC), actor="test")
    headers = {"Authorization": f"Bearer {token}"}
    async with TestClient(TestServer(build_app(harness.gateway))) as api:
        emergencies = await (await api.get("/api/v1/deliveries", params={"priority": "emergency"},
                                           headers=headers)).json()
        assert len(emergencies["deliveries"]) == EMERGENCY and emergencies["next_cursor"] is None
        assert {d["priority"] for d in emergencies["deliveries"]} == {"emergency"}
        seen: list[str] = []
        params = {"limit": "250"}
        while True:
            page = await (await api.get("/api/v1/deliveries", params=params, headers=headers)).json()
            seen += [d["id"] for d in page["deliveries"]]
            if page["next_cursor"] is None:
                break
            params = {"limit": "250", "cursor": page["next_cursor"]}
        assert len(seen) == len(set(seen)) == ROUTINE + EMERGENCY + 30
        bad = await api.get("/api/v1/deliveries", params={"cursor": "not-a-cursor"}, headers=headers)
        assert bad.status == 400 and (await bad.json())["problems"][0]["field"] == "cursor"


async def _audit_backlog(harness: Harness, count: int) -> None:
    for i in range(count):
        await harness.store.audit(actor="sato", action="test.event", reason=f"理由{i}",
                                  detail={"account": "kodaira_x", "note": f"備考{i}"})


async def test_audit_page_counts_every_event_and_csv_streams_every_row(client: TestClient, harness: Harness) -> None:
    await _audit_backlog(harness, 1100)
    await login(client, OPERATOR.name)
    html = await (await client.get("/console/audit", params={"action": "test.event"})).text()
    assert "全 1,100 件" in html and 'rel="next"' in html
    found = await (await client.get("/console/audit", params={"text": "備考1099"})).text()
    assert "全 1 件" in found
    response = await client.get("/console/audit.csv", params={"action": "test.event"})
    body = (await response.read()).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert len(rows) == 1 + 1100 and rows[1][7] == "理由1099" and rows[-1][7] == "理由0"
