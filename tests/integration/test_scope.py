"""Who may do what, for which city (issue 15), over the HTTP API on real SQLite and PostgreSQL.

Each test states a walk-around the issue found and checks that it is closed: the refusal is a 403 with
the usual error JSON, in Japanese, nothing is stored, and the refusal itself is audited.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.models import Role, Scope
from gateway.web.app import build_app
from gateway.web.auth import create_token
from tests.integration.conftest import Harness

KODAIRA = {"municipality": "kodaira", "category": "event", "accounts": ["kodaira_x"],
           "text": "小平市民まつりを中央公園で開催します。ぜひお越しください。"}
TOURISM_AT_3AM = {"municipality": "mine", "category": "tourism", "accounts": ["mine_x"], "priority": "emergency",
                  "text": "秋芳洞の紅葉が見頃です。週末はぜひお越しください。"}


@dataclass
class Client:
    http: TestClient
    harness: Harness
    tokens: dict[str, str]

    async def call(self, who: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[who]}", "Content-Type": "application/json"}
        data = None if body is None else json.dumps(body, ensure_ascii=False)
        response = await self.http.request(method, "/api/v1" + path, data=data, headers=headers)
        return response.status, await response.json()

    async def messages(self) -> int:
        return len(await self.harness.store.list_messages(limit=1000))

    async def denials(self, user: str) -> int:
        return len(await self.harness.store.list_audit(actor=user, action="access.denied"))


async def token(h: Harness, user: str, role: Role, *cities: str) -> str:
    return await create_token(h.store, user=user, role=role, municipalities=cities, ttl_days=1,
                              now=datetime.now(UTC), actor="test")


@pytest.fixture
async def client(harness: Harness) -> AsyncIterator[Client]:
    h = harness
    await h.store.create_user("kiki", Role.STAFF, Scope.of("mine", emergency=("mine",)), actor="test")  # 危機管理課
    tokens = {
        "zushi_staff": await token(h, "zushi-staff", Role.STAFF, "zushi"),
        "kodaira_staff": await token(h, "kodaira-staff", Role.STAFF, "kodaira"),
        "kodaira_staff2": await token(h, "kodaira-staff2", Role.STAFF, "kodaira"),
        "mine_staff": await token(h, "mine-staff", Role.STAFF, "mine"),
        "zushi_approver": await token(h, "zushi-approver", Role.APPROVER, "zushi"),
        "kodaira_approver": await token(h, "kodaira-approver", Role.APPROVER, "kodaira"),
        "mine_approver": await token(h, "mine-approver", Role.APPROVER, "mine"),
        "zushi_operator": await token(h, "zushi-operator", Role.OPERATOR, "zushi"),
        "kodaira_operator": await token(h, "kodaira-operator", Role.OPERATOR, "kodaira"),
        "kiki": await token(h, "kiki", Role.STAFF, "mine"),
        "admin": await token(h, "root", Role.ADMIN),
    }
    async with TestClient(TestServer(build_app(h.gateway))) as http:
        yield Client(http, h, tokens)


# -- scope: submitting, approving, operating, reading ---------------------------------------------

async def test_staff_cannot_post_for_another_city(client: Client) -> None:
    status, body = await client.call("zushi_staff", "POST", "/messages", KODAIRA)
    assert status == 403 and body["error"] == "out_of_scope"
    assert "kodaira" in body["message"] and "担当範囲外" in body["message"]
    assert await client.messages() == 0
    assert await client.denials("zushi-staff") == 1


async def test_approver_cannot_approve_another_citys_post(client: Client) -> None:
    status, posted = await client.call("kodaira_staff", "POST", "/messages", KODAIRA)
    assert status == 201
    status, body = await client.call("zushi_approver", "POST", f"/messages/{posted['id']}/approve", {})
    assert status == 403 and body["error"] == "out_of_scope"
    status, body = await client.call("zushi_approver", "POST", f"/messages/{posted['id']}/reject", {"comment": "x"})
    assert status == 403
    record = await client.harness.store.get_message(posted["id"])
    assert record.state.value == "pending_approval" and record.approved_by is None
    status, body = await client.call("kodaira_approver", "POST", f"/messages/{posted['id']}/approve", {})
    assert status == 200 and body["state"] == "planned"


async def test_reading_and_operating_are_limited_to_the_scope(client: Client) -> None:
    status, posted = await client.call("kodaira_staff", "POST", "/messages", KODAIRA)
    await client.call("kodaira_approver", "POST", f"/messages/{posted['id']}/approve", {})
    [delivery] = await client.harness.store.list_deliveries(message_id=posted["id"])
    assert (await client.call("zushi_staff", "GET", f"/messages/{posted['id']}"))[0] == 403
    status, listed = await client.call("zushi_operator", "GET", "/deliveries")
    assert status == 200 and listed["deliveries"] == []
    assert (await client.call("zushi_operator", "GET", "/deliveries?account=kodaira_x"))[0] == 403
    assert (await client.call("zushi_operator", "POST", f"/deliveries/{delivery.id}/cancel"))[0] == 403
    assert (await client.call("zushi_operator", "POST", "/accounts/kodaira_x/stop", {"reason": "試験"}))[0] == 403
    assert (await client.call("zushi_operator", "POST", f"/messages/{posted['id']}/retract",
                              {"reason": "誤り"}))[0] == 403
    status, accounts = await client.call("zushi_operator", "GET", "/accounts")
    assert {a["municipality"] for a in accounts["accounts"]} == {"zushi"}
    assert (await client.harness.store.get_delivery(delivery.id)).state == delivery.state  # nothing changed
    assert await client.harness.store.stopped_accounts() == {}
    # In scope, the same calls go through.
    status, listed = await client.call("kodaira_operator", "GET", "/deliveries")
    assert [d["id"] for d in listed["deliveries"]] == [delivery.id]
    assert (await client.call("kodaira_operator", "POST", f"/deliveries/{delivery.id}/cancel"))[0] == 200


async def test_an_account_scope_narrows_within_a_city(client: Client) -> None:
    h = client.harness
    await h.store.create_user("mayor-office", Role.STAFF, Scope.of("kodaira", accounts=("kodaira_mayor_x",)), actor="test")
    client.tokens["mayor"] = await token(h, "mayor-office", Role.STAFF, "kodaira")
    status, body = await client.call("mayor", "POST", "/messages", KODAIRA)  # kodaira_x is not theirs
    assert status == 403 and "kodaira_x" in body["message"]
    mayor = {**KODAIRA, "category": "mayor", "accounts": ["kodaira_mayor_x"], "text": "市長の活動をお知らせします。"}
    assert (await client.call("mayor", "POST", "/messages", mayor))[0] == 201


# -- the emergency permission ----------------------------------------------------------------------

async def test_staff_without_the_emergency_permission_cannot_post_emergency(client: Client) -> None:
    """The issue's tourism post at 03:00 on a Saturday in 美祢: staff set priority emergency themselves."""
    status, body = await client.call("mine_staff", "POST", "/messages", TOURISM_AT_3AM)
    assert status == 403 and body["error"] == "emergency_not_permitted"
    assert "危機管理課" in body["message"]
    assert await client.messages() == 0
    assert await client.denials("mine-staff") == 1


async def test_the_emergency_permission_needs_a_reason_and_is_audited(client: Client) -> None:
    status, body = await client.call("kiki", "POST", "/messages", TOURISM_AT_3AM)
    assert status == 400 and body["problems"][0]["field"] == "emergency_reason"
    assert await client.messages() == 0
    alert = {**TOURISM_AT_3AM, "category": "emergency", "text": "【避難指示】美祢市全域に避難指示を発令しました。",
             "emergency_reason": "市長判断による避難指示"}
    status, body = await client.call("kiki", "POST", "/messages", alert)
    assert status == 201 and body["priority"] == "emergency"
    [accepted] = await client.harness.store.list_audit(message_id=body["id"], action="message.accepted")
    assert accepted.actor == "kiki" and accepted.detail["emergency_reason"] == "市長判断による避難指示"
    # The permission is for 美祢 only.
    elsewhere = {**alert, "municipality": "kodaira", "accounts": ["kodaira_x"]}
    assert (await client.call("kiki", "POST", "/messages", elsewhere))[0] == 403


# -- exemptions are verified ------------------------------------------------------------------------

async def test_zushi_pre_authorised_kind_needs_a_link_on_the_citys_own_site(client: Client) -> None:
    """The issue's tourism post marked 'already on the website' with no link went out without approval."""
    post = {"municipality": "zushi", "category": "tourism", "accounts": ["zushi_x"], "preauthorized": "on_website",
            "text": "逗子海岸の夕日がきれいです。"}
    status, body = await client.call("zushi_staff", "POST", "/messages", post)
    assert status == 400 and body["problems"][0]["field"] == "link"
    assert "city.zushi.lg.jp" in body["problems"][0]["message"]
    status, body = await client.call("zushi_staff", "POST", "/messages",
                                     {**post, "link": "https://www.city.kodaira.tokyo.jp/kanko/"})
    assert status == 400 and body["problems"][0]["code"] == "own_site_link_required"
    status, body = await client.call("zushi_staff", "POST", "/messages",
                                     {**post, "link": "https://city.zushi.lg.jp.example.com/"})
    assert status == 400
    assert await client.messages() == 0
    status, body = await client.call("zushi_staff", "POST", "/messages",
                                     {**post, "link": "https://www.city.zushi.lg.jp/kanko/yuhi.html"})
    assert status == 201 and body["state"] == "planned"
    [accepted] = await client.harness.store.list_audit(message_id=body["id"], action="message.accepted")
    assert accepted.detail["exemption"] == "preauthorized:on_website"


async def test_a_pre_authorised_kind_the_city_does_not_list_is_refused(client: Client) -> None:
    post = {**KODAIRA, "preauthorized": "on_website", "link": "https://www.city.kodaira.tokyo.jp/"}
    status, body = await client.call("kodaira_staff", "POST", "/messages", post)
    assert status == 400 and body["problems"][0]["field"] == "preauthorized"
    assert await client.messages() == 0


async def test_mine_official_view_is_decided_by_the_approver(client: Client) -> None:
    post = {"municipality": "mine", "category": "city_news", "accounts": ["mine_x"], "official_view": True,
            "text": "市の新しい観光振興の方針をお知らせします。"}
    status, body = await client.call("mine_staff", "POST", "/messages", post)
    assert status == 201 and body["state"] == "pending_approval"
    assert "承認者が決めます" in body["approval"]
    status, approved = await client.call("mine_approver", "POST", f"/messages/{body['id']}/approve",
                                         {"official_view": True})
    assert status == 200 and approved["state"] == "planned"
    [step] = approved["approval_route"]
    assert step["approved_by"] == "mine-approver" and step["official_view"] is True
    [event] = await client.harness.store.list_audit(message_id=body["id"], action="message.step_approved")
    assert event.detail["official_view"] is True
    # A routine post needs no approval, and says so (the exemption is recorded).
    status, routine = await client.call("mine_staff", "POST", "/messages", {**post, "official_view": False})
    assert routine["state"] == "planned"
    [accepted] = await client.harness.store.list_audit(message_id=routine["id"], action="message.accepted")
    assert accepted.detail["exemption"] == "routine_no_approval"


async def test_an_alert_system_posts_only_for_the_cities_of_its_scope(client: Client) -> None:
    from tests.alertdocs import json_alert

    h = client.harness
    client.tokens["zushi_feed"] = await token(h, "zushi-feed", Role.ALERT_SYSTEM, "zushi")
    client.tokens["kodaira_feed"] = await token(h, "kodaira-feed", Role.ALERT_SYSTEM, "kodaira")
    document = json.loads(json_alert(id="scope-1", sent=h.clock()))  # addressed to 小平
    status, body = await client.call("zushi_feed", "POST", "/alerts", document)
    assert status == 403 and body["error"] == "out_of_scope"
    assert await client.messages() == 0 and await client.denials("zushi-feed") == 1
    status, body = await client.call("kodaira_feed", "POST", "/alerts", document)
    assert status == 202 and body["outcome"] == "accepted"
    assert {m.municipality for m in await h.store.list_messages(limit=10)} == {"kodaira"}
