"""Issue 11 end to end, on SQLite and PostgreSQL: order, duplicates, held alerts, narrowing, liftings.

Each test pushes documents through the intake (and the HTTP API) on a real database and reads what
the fake platforms received: the posts residents would see, in the order they would see them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.alerts import parse_alert
from gateway.errors import Conflict
from gateway.models import DeliveryState, Platform, Role
from gateway.services.alerts import AlertIntake, AlertResult
from gateway.testing import FakeAdapter
from gateway.web.app import build_app
from gateway.web.auth import create_token
from tests.alertdocs import SENT, cap, info, json_alert
from tests.integration.conftest import ALERTS, OPERATOR, Harness
from tests.scopes import CITIES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alerts"
ORDER_WORDS = ("を発令しました", "避難してください", "命を守る行動", "身の安全を確保", "が発表されました")


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def intake(harness: Harness) -> AlertIntake:
    return AlertIntake(harness.gateway)


async def push(h: Harness, intake: AlertIntake, body: bytes, *, after: timedelta = timedelta(minutes=1),
               municipality: str | None = None) -> AlertResult:
    h.clock.now = parse_alert(body).sent + after
    return await intake.receive(body, ALERTS, municipality=municipality)


def x_posts(h: Harness) -> list[str]:
    adapter: FakeAdapter = h.adapters[Platform.X]
    return [post.text for post, _ in adapter.published]


async def test_vpww50_then_vpww53_of_one_issuance_both_go_out_in_order(harness: Harness, intake: AlertIntake) -> None:
    plain = await push(harness, intake, fixture("jma_weather_vpww50_kodaira.xml"))
    await harness.dispatcher.drain()
    special = await push(harness, intake, fixture("jma_weather_vpww53_kodaira.xml"))
    assert (plain.outcome, special.outcome) == ("accepted", "accepted"), special.reason
    await harness.dispatcher.drain()
    posts = x_posts(harness)
    assert len(posts) == 2
    assert posts[0].startswith("【気象警報】小平市に大雨警報が発表されました。")
    assert posts[1].startswith("【気象特別警報】小平市に大雨特別警報が発表されました。")


async def test_a_poorer_telegram_never_follows_a_richer_one(harness: Harness, intake: AlertIntake) -> None:
    special = await push(harness, intake, fixture("jma_weather_vpww53_kodaira.xml"))
    plain = await push(harness, intake, fixture("jma_weather_vpww50_kodaira.xml"))
    assert special.outcome == "accepted" and plain.outcome == "ignored"
    assert plain.messages == [] and "より詳しい電文" in plain.reason
    await harness.dispatcher.drain()
    assert [p.split("。")[0] for p in x_posts(harness)] == ["【気象特別警報】小平市に大雨特別警報が発表されました"]


async def test_an_older_revision_arriving_late_is_not_posted(harness: Harness, intake: AlertIntake) -> None:
    later = await push(harness, intake, json_alert(id="k-1", revision=2, evacuation_type="緊急安全確保", action="update"))
    late = await push(harness, intake, json_alert(id="k-1", revision=1, sent=SENT - timedelta(minutes=30)))
    assert later.outcome == "accepted" and late.outcome == "ignored"
    assert "より新しい情報" in late.reason


async def test_the_same_content_under_new_identifiers_is_not_posted_twice(
    harness: Harness, intake: AlertIntake,
) -> None:
    first = await push(harness, intake, json_alert(id="k-1"))
    again = await push(harness, intake, json_alert(id="k-2", sent=SENT + timedelta(minutes=20)))
    assert first.outcome == "accepted" and again.outcome == "ignored"
    assert again.messages == [] and "同じ内容の情報" in again.reason and "重複" in again.reason
    events = await harness.store.list_audit(action="alert.ignored")
    assert events and events[0].detail["key"].startswith("json|kodaira-bousai|k-2")  # recorded
    lifted = await push(harness, intake, json_alert(id="k-3", action="lift", sent=SENT + timedelta(minutes=40)))
    reissued = await push(harness, intake, json_alert(id="k-4", sent=SENT + timedelta(minutes=60)))
    assert lifted.outcome == "accepted" and reissued.outcome == "accepted", reissued.reason  # new after a lift
    await harness.dispatcher.drain()
    posts = x_posts(harness)
    assert [p[:8] for p in posts] == ["【避難情報】小平", "【解除】【避難情", "【避難情報】小平"]


async def test_a_lifting_says_only_that_it_was_lifted(harness: Harness, intake: AlertIntake) -> None:
    await push(harness, intake, fixture("lalert_kodaira_order.xml"))
    await harness.dispatcher.drain()
    lift = await push(harness, intake, fixture("lalert_kodaira_order_lift.xml"))
    assert lift.outcome == "accepted"
    await harness.dispatcher.drain()
    text = x_posts(harness)[-1]
    assert text.startswith("【解除】【避難情報】小平市は、") and "を解除しました" in text
    assert not any(word in text for word in ORDER_WORDS), text
    allclear = cap(info(response="AllClear", headline="避難指示を発令しました。直ちに避難してください"),
                   msg_type="Update", identifier="KDR-T-9", sent=SENT + timedelta(minutes=5),
                   references=f"bousai@city.kodaira.example,KDR-T-1,{SENT.isoformat()}")
    await push(harness, intake, cap(info(), identifier="KDR-T-1"))
    await harness.dispatcher.drain()
    result = await push(harness, intake, allclear)
    assert result.outcome == "accepted", result.reason
    await harness.dispatcher.drain()
    text = x_posts(harness)[-1]
    assert text.startswith("【解除】【避難情報】") and not any(word in text for word in ORDER_WORDS), text


async def test_a_stale_resend_is_held_and_an_operator_publishes_it(harness: Harness, intake: AlertIntake) -> None:
    old = json_alert(id="flood-2024", sent=datetime(2024, 9, 1, 1, 0, tzinfo=UTC))
    harness.clock.now = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    results = [await intake.receive(old, ALERTS) for _ in range(40)]  # the town's feed re-sent it 40 times
    assert {r.outcome for r in results} == {"held"}
    assert all(r.messages == [] and r.posts == [] for r in results)
    assert "経過しています" in results[0].reason and "2024年9月1日" in results[0].reason
    held = await harness.store.list_held_alerts(states=["held"])
    assert len(held) == 1 and {r.held for r in results} == {held[0].id}  # one entry, not forty
    assert held[0].municipalities == ("kodaira",) and held[0].posts
    await harness.dispatcher.drain()
    assert x_posts(harness) == []
    entry, published = await intake.publish_held(held[0].id, OPERATOR, "2年前の情報と確認のうえ掲載")
    assert entry.state == "published" and entry.decided_by == OPERATOR.name and published.messages
    assert list(entry.messages) == published.messages
    record = await harness.store.get_message(published.messages[0])
    assert record.approved_by == OPERATOR.name
    await harness.dispatcher.drain()
    (text,) = x_posts(harness)
    assert "（2024年9月1日10時00分 kodaira-bousai発表）" in text
    with pytest.raises(Conflict):
        await intake.publish_held(held[0].id, OPERATOR)
    actions = [e.action for e in await harness.store.list_audit(limit=200)]
    assert "alert.held" in actions and "alert.published" in actions


async def test_a_held_alert_can_be_dismissed(harness: Harness, intake: AlertIntake) -> None:
    result = await push(harness, intake, json_alert(id="old-1"), after=timedelta(hours=5))
    assert result.outcome == "held" and result.held
    entry = await intake.dismiss_held(result.held, OPERATOR, "古い情報のため掲載しない")
    assert entry.state == "dismissed" and entry.note == "古い情報のため掲載しない"
    with pytest.raises(Conflict):
        await intake.publish_held(result.held, OPERATOR)
    assert await harness.store.list_messages() == []
    (event,) = await harness.store.list_audit(action="alert.dismissed")
    assert event.actor == OPERATOR.name and event.reason == "古い情報のため掲載しない"


async def test_restricted_alerts_are_shown_never_posted(harness: Harness, intake: AlertIntake) -> None:
    raw = cap(info(), scope="Restricted", head="<restriction>防災関係機関のみ</restriction>")
    result = await push(harness, intake, raw)
    assert result.outcome == "ignored" and result.messages == [] and result.held
    entry = await harness.store.get_held_alert(result.held)
    assert entry.state == "restricted" and entry.hold_code == "restricted" and entry.municipalities == ("kodaira",)
    with pytest.raises(Conflict):
        await intake.publish_held(entry.id, OPERATOR)
    assert (await intake.dismiss_held(entry.id, OPERATOR, "確認済み")).state == "dismissed"
    await harness.dispatcher.drain()
    assert all(a.published == [] for a in harness.adapters.values())


async def test_every_japanese_info_block_is_posted(harness: Harness, intake: AlertIntake) -> None:
    raw = cap(info(event="高齢者等避難"), info(event="避難指示", code="14208", area="神奈川県逗子市"))
    result = await push(harness, intake, raw)
    assert result.outcome == "accepted" and len(result.messages) == 2
    again = await push(harness, intake, raw)
    assert again.outcome == "ignored" and again.messages == []  # the same document: both parts known
    await harness.dispatcher.drain()
    posts = x_posts(harness)
    assert any("小平市は、高齢者等避難［警戒レベル3］" in p for p in posts)
    assert any("逗子市は、避難指示［警戒レベル4］" in p for p in posts)


# -- HTTP -------------------------------------------------------------------------------------------

@pytest.fixture
async def http(harness: Harness) -> AsyncIterator[tuple[TestClient, dict[Role, str]]]:
    tokens = {}
    for role in (Role.ALERT_SYSTEM, Role.OPERATOR, Role.STAFF, Role.APPROVER):
        tokens[role] = await create_token(harness.store, user=f"u-{role.value}", role=role, municipalities=CITIES, ttl_days=1,
                                          now=datetime.now(UTC), actor="test")
    async with TestClient(TestServer(build_app(harness.gateway))) as client:
        yield client, tokens


def auth(tokens: dict[Role, str], role: Role, content_type: str = "application/json") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}", "Content-Type": content_type}


async def test_http_narrowing_to_a_city_the_alert_does_not_address_is_refused(
    http: tuple[TestClient, dict[Role, str]], harness: Harness,
) -> None:
    client, tokens = http
    body = fixture("lalert_other_city.xml")
    harness.clock.now = parse_alert(body).sent + timedelta(minutes=1)
    response = await client.post("/api/v1/alerts?municipality=kodaira", data=body,
                                 headers=auth(tokens, Role.ALERT_SYSTEM, "application/xml"))
    payload = await response.json()
    assert response.status == 422 and payload["error"] == "alert_not_addressed", payload
    assert "小平市はこの情報の対象地域に含まれていません" in payload["message"] and "加古川市" in payload["message"]
    assert await harness.store.list_messages() == []
    own = await client.post("/api/v1/alerts?municipality=kodaira", data=json_alert(id="n-1"),
                            headers=auth(tokens, Role.ALERT_SYSTEM))
    harness.clock.now = SENT + timedelta(minutes=1)
    own = await client.post("/api/v1/alerts?municipality=kodaira", data=json_alert(id="n-2"),
                            headers=auth(tokens, Role.ALERT_SYSTEM))
    assert own.status == 202 and (await own.json())["outcome"] == "accepted"


async def test_http_held_alerts_for_operators(http: tuple[TestClient, dict[Role, str]], harness: Harness) -> None:
    client, tokens = http
    harness.clock.now = SENT + timedelta(days=2)
    pushed = await client.post("/api/v1/alerts", data=json_alert(id="h-1"), headers=auth(tokens, Role.ALERT_SYSTEM))
    body = await pushed.json()
    assert pushed.status == 202 and body["outcome"] == "held" and body["posts"] == []
    listing = await client.get("/api/v1/held-alerts", headers=auth(tokens, Role.OPERATOR))
    (entry,) = (await listing.json())["held_alerts"]
    assert entry["id"] == body["held"] and entry["hold_code"] == "stale" and entry["posts"]
    one = await (await client.get(f"/api/v1/held-alerts/{entry['id']}", headers=auth(tokens, Role.OPERATOR))).json()
    assert json.loads(one["document"])["id"] == "h-1"
    staff = await client.post(f"/api/v1/held-alerts/{entry['id']}/publish", headers=auth(tokens, Role.STAFF))
    assert staff.status == 403
    assert (await client.get("/api/v1/held-alerts", headers=auth(tokens, Role.STAFF))).status == 403
    bad = await client.get("/api/v1/held-alerts?state=waiting", headers=auth(tokens, Role.OPERATOR))
    assert bad.status == 400 and (await bad.json())["problems"][0]["field"] == "state"
    no_note = await client.post(f"/api/v1/held-alerts/{entry['id']}/dismiss", json={},
                                headers=auth(tokens, Role.OPERATOR))
    assert no_note.status == 400 and (await no_note.json())["problems"][0]["field"] == "note"
    published = await client.post(f"/api/v1/held-alerts/{entry['id']}/publish", json={"note": "確認済み"},
                                  headers=auth(tokens, Role.OPERATOR))
    result = await published.json()
    assert published.status == 200 and result["state"] == "published" and result["result"]["messages"]
    twice = await client.post(f"/api/v1/held-alerts/{entry['id']}/publish", headers=auth(tokens, Role.OPERATOR))
    assert twice.status == 409
    missing = await client.post("/api/v1/held-alerts/h_nothing/publish", headers=auth(tokens, Role.OPERATOR))
    assert missing.status == 404
    await harness.dispatcher.drain()
    deliveries = await harness.store.list_deliveries(message_id=result["result"]["messages"][0])
    assert deliveries and {d.state for d in deliveries} == {DeliveryState.SENT}


async def test_http_held_alerts_also_under_alerts(http: tuple[TestClient, dict[Role, str]], harness: Harness) -> None:
    client, tokens = http
    harness.clock.now = SENT + timedelta(days=2)
    pushed = await (await client.post("/api/v1/alerts", data=json_alert(id="h-2"),
                                      headers=auth(tokens, Role.ALERT_SYSTEM))).json()
    listing = await (await client.get("/api/v1/alerts", headers=auth(tokens, Role.OPERATOR))).json()
    assert [e["id"] for e in listing["held_alerts"]] == [pushed["held"]]
    dismissed = await client.post(f"/api/v1/alerts/{pushed['held']}/dismiss", json={"note": "古い情報"},
                                  headers=auth(tokens, Role.OPERATOR))
    assert dismissed.status == 200 and (await dismissed.json())["state"] == "dismissed"
    assert (await client.get("/api/v1/alerts", headers=auth(tokens, Role.ALERT_SYSTEM))).status == 403


async def test_a_restricted_alert_for_no_served_area_is_still_shown(harness: Harness, intake: AlertIntake) -> None:
    raw = cap(info(code="28210", area="兵庫県加古川市"), scope="Private", head="<addresses>pref-bousai</addresses>")
    result = await push(harness, intake, raw)
    assert result.outcome == "ignored" and result.held and "対象地域外" in result.reason
    entry = await harness.store.get_held_alert(result.held)
    assert entry.state == "restricted" and entry.hold_code == "private" and entry.municipalities == ()
    again = await push(harness, intake, raw)
    assert again.held == result.held  # the same document is one entry
