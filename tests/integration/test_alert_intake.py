"""Alert intake on the ledger: planned at once, lifecycle, drills, duplicates, rejects, HTTP + HMAC."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.alerts import parse_alert
from gateway.errors import AuthError
from gateway.models import DeliveryState, MessageState, Platform, Role
from gateway.services.alerts import AlertIntake, AlertResult
from gateway.testing import FakeAdapter, fake_adapters
from gateway.web.app import build_app
from gateway.web.auth import create_token
from gateway.web.signature import HEADER, sign
from tests.integration.conftest import ALERTS, JST, Harness

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alerts"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def intake(harness: Harness) -> AlertIntake:
    return AlertIntake(harness.gateway)


async def push(h: Harness, intake: AlertIntake, name: str, *, after: timedelta = timedelta(minutes=1),
               body: bytes | None = None, municipality: str | None = None) -> AlertResult:
    """Receive a fixture as a feed delivers it: `after` its issue time on the gateway's clock."""
    document = body if body is not None else raw(name)
    h.clock.now = parse_alert(document).sent + after
    return await intake.receive(document, ALERTS, municipality=municipality)


async def deliveries_of(h: Harness, message_ids: list[str]) -> list:  # type: ignore[type-arg]
    return [d for i in message_ids for d in await h.store.list_deliveries(message_id=i)]


async def test_alert_is_planned_at_once_even_at_night(harness: Harness, intake: AlertIntake) -> None:
    night = raw("lalert_kodaira_order.xml").replace(b"2026-07-02T11:00:00+09:00", b"2026-11-28T02:59:00+09:00")
    result = await push(harness, intake, "", body=night)
    assert harness.clock.now == datetime(2026, 11, 28, 3, 0, tzinfo=JST)  # Saturday 3 a.m.
    assert result.outcome == "accepted", result.reason
    deliveries = await deliveries_of(harness, result.messages)
    assert deliveries and {d.state for d in deliveries} == {DeliveryState.QUEUED}
    assert {d.priority.value for d in deliveries} == {"emergency"}
    records = [await harness.store.get_message(i) for i in result.messages]
    assert all(r.state is MessageState.PLANNED and r.source == "alert" for r in records)
    assert all("避難勧告" not in p["text"] for p in result.posts)
    await harness.dispatcher.drain()
    assert {d.state for d in await deliveries_of(harness, result.messages)} == {DeliveryState.SENT}


async def test_same_document_twice_plans_nothing_new(harness: Harness, intake: AlertIntake) -> None:
    first = await push(harness, intake, "lalert_kodaira_order.xml")
    again = await push(harness, intake, "lalert_kodaira_order.xml")
    assert first.outcome == "accepted" and again.outcome == "ignored"
    assert again.messages == [] and "重複" in again.reason
    assert len(await harness.store.list_messages(limit=100)) == len(first.messages)


async def test_update_replies_to_the_earlier_post(harness: Harness, intake: AlertIntake) -> None:
    first = await push(harness, intake, "lalert_kodaira_order.xml")
    await harness.dispatcher.drain()
    update = await push(harness, intake, "lalert_kodaira_order_update.xml")
    assert update.outcome == "accepted", update.reason
    records = [await harness.store.get_message(i) for i in update.messages]
    assert all(r.body.correction_of in first.messages for r in records)
    await harness.dispatcher.drain()
    x: FakeAdapter = harness.adapters[Platform.X]
    first_x, update_x = x.published[0][0], x.published[-1][0]
    sent_first = next(d for d in await deliveries_of(harness, first.messages) if d.platform is Platform.X)
    assert first_x.reply_to is None and update_x.reply_to == sent_first.remote_id


async def test_update_before_the_first_went_out_supersedes_it(harness: Harness, intake: AlertIntake) -> None:
    first = await push(harness, intake, "lalert_kodaira_order.xml")
    update = await push(harness, intake, "lalert_kodaira_order_update.xml")
    assert set(update.cancelled) == {d.id for d in await deliveries_of(harness, first.messages)}
    await harness.dispatcher.drain()
    assert {d.state for d in await deliveries_of(harness, first.messages)} == {DeliveryState.CANCELLED}
    assert {d.state for d in await deliveries_of(harness, update.messages)} == {DeliveryState.SENT}


async def test_cancel_posts_notice_only_where_the_alert_went_out(harness: Harness, intake: AlertIntake) -> None:
    harness.adapters[Platform.FACEBOOK].fail_next(AuthError("expired"))
    first = await push(harness, intake, "lalert_kodaira_order.xml")
    await harness.dispatcher.drain()
    went_out = {d.account for d in await deliveries_of(harness, first.messages) if d.state is DeliveryState.SENT}
    assert "kodaira_facebook" not in went_out and "kodaira_x" in went_out
    cancel = await push(harness, intake, "lalert_kodaira_order_cancel.xml")
    assert cancel.outcome == "accepted", cancel.reason
    assert {p["account"] for p in cancel.posts} == went_out
    assert all(p["text"].startswith("【取消】") for p in cancel.posts)


async def test_lift_posts_a_lifting_notice(harness: Harness, intake: AlertIntake) -> None:
    await push(harness, intake, "lalert_kodaira_order.xml")
    await harness.dispatcher.drain()
    lift = await push(harness, intake, "lalert_kodaira_order_lift.xml")
    assert lift.outcome == "accepted" and any("解除" in p["text"] for p in lift.posts)


async def test_other_area_is_recorded_and_ignored(harness: Harness, intake: AlertIntake) -> None:
    result = await push(harness, intake, "lalert_other_city.xml")
    assert result.outcome == "ignored" and result.messages == []
    (event,) = [e for e in await harness.store.list_audit(action="alert.ignored")]
    assert event.detail["raw"].startswith("<?xml") and event.detail["sha256"]


@pytest.mark.parametrize("name", ["hostile_billion_laughs.xml", "hostile_xxe.xml", "malformed_unclosed.xml",
                                  "not_xml.txt", "wrong_root.xml"])
async def test_hostile_or_malformed_is_rejected_and_kept(harness: Harness, intake: AlertIntake, name: str) -> None:
    result = await intake.receive(raw(name), ALERTS)
    assert result.outcome == "rejected" and result.reason
    assert await harness.store.list_messages() == []
    (event,) = await harness.store.list_audit(action="alert.rejected")
    assert event.detail["size"] == len(raw(name))


async def test_drill_goes_only_to_the_sandbox(harness: Harness) -> None:
    sandbox = fake_adapters()
    harness.dispatcher.drill_adapters = sandbox
    result = await push(harness, AlertIntake(harness.gateway), "lalert_kodaira_exercise.xml")
    assert result.outcome == "accepted" and result.drill
    assert all(p["text"].startswith("【訓練】") for p in result.posts)
    await harness.dispatcher.drain()
    assert all(a.published == [] for a in harness.adapters.values())  # never the public accounts
    assert sum(len(a.published) for a in sandbox.values()) == len(result.posts)


# -- HTTP ------------------------------------------------------------------------------------

@pytest.fixture
async def client(harness: Harness) -> AsyncIterator[tuple[TestClient, str]]:
    harness.clock.now = datetime(2026, 7, 2, 11, 1, tzinfo=JST)  # just after the fixtures' issue time
    token = await create_token(harness.store, user="jma-feed-http", role=Role.ALERT_SYSTEM, ttl_days=1,
                               now=datetime.now(UTC), actor="test")
    app = build_app(harness.gateway, alert_secret=b"s3cret", alert_window_s=300)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client, token


def signed(token: str, body: bytes, at: int | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/xml",
            HEADER: sign(b"s3cret", body, at if at is not None else int(time.time()))}


async def test_http_alert_accepted_with_signature(client: tuple[TestClient, str]) -> None:
    test_client, token = client
    body = raw("lalert_kodaira_order.xml")
    response = await test_client.post("/api/v1/alerts", data=body, headers=signed(token, body))
    assert response.status == 202
    assert (await response.json())["outcome"] == "accepted"


@pytest.mark.parametrize("case", ["missing", "wrong", "stale", "replayed"])
async def test_http_alert_bad_signature_is_401(client: tuple[TestClient, str], harness: Harness, case: str) -> None:
    test_client, token = client
    body = raw("lalert_kodaira_order.xml")
    headers = signed(token, body, int(time.time()) - 3600 if case == "stale" else None)
    if case == "missing":
        del headers[HEADER]
    if case == "wrong":
        headers[HEADER] = sign(b"other", body, int(time.time()))
    if case == "replayed":
        assert (await test_client.post("/api/v1/alerts", data=body, headers=headers)).status == 202
    response = await test_client.post("/api/v1/alerts", data=body, headers=headers)
    assert response.status == 401
    assert (await response.json())["error"] == "bad_signature"


async def test_http_hostile_xml_is_400(client: tuple[TestClient, str]) -> None:
    test_client, token = client
    body = raw("hostile_billion_laughs.xml")
    response = await test_client.post("/api/v1/alerts", data=body, headers=signed(token, body))
    assert response.status == 400
    payload = await response.json()
    assert payload["outcome"] == "rejected" and payload["message"]


async def test_http_json_alert(client: tuple[TestClient, str], harness: Harness) -> None:
    test_client, token = client
    harness.clock.now = datetime(2026, 7, 2, 13, 1, tzinfo=JST)
    body = raw("json_shelter_kodaira.json")
    headers = {**signed(token, body), "Content-Type": "application/json"}
    response = await test_client.post("/api/v1/alerts", data=body, headers=headers)
    assert response.status == 202, await response.text()
    assert json.loads(await response.text())["posts"]
