"""The HTTP API over a real database: role matrix, bad input, idempotency, OpenAPI."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.models import Role
from gateway.web.api import ROUTES
from gateway.web.app import build_app
from gateway.web.auth import create_token
from tests.integration.conftest import Harness
from tests.mediafiles import PNG
from tests.scopes import CITIES

MESSAGE = {"municipality": "kodaira", "category": "event", "accounts": ["kodaira_x"],
           "text": "小平市民まつりを中央公園で開催します。ぜひお越しください。"}


class Api:
    def __init__(self, client: TestClient, tokens: dict[Role, str]) -> None:
        self.client = client
        self.tokens = tokens

    def headers(self, role: Role | None, **extra: str) -> dict[str, str]:
        out = {"Content-Type": "application/json", **extra}
        if role is not None:
            out["Authorization"] = f"Bearer {self.tokens[role]}"
        return out


@pytest.fixture
async def api(harness: Harness) -> AsyncIterator[Api]:
    now = datetime.now(UTC)
    tokens = {role: await create_token(harness.store, user=f"user-{role.value}", role=role, municipalities=CITIES, ttl_days=1, now=now,
                                       actor="test") for role in Role}
    app = build_app(harness.gateway, max_body_bytes=64 * 1024)
    async with TestClient(TestServer(app)) as client:
        yield Api(client, tokens)


ROLE_CASES = [(route, role) for route in ROUTES for role in [None, *Role]]


@pytest.mark.parametrize(("route", "role"), ROLE_CASES,
                         ids=[f"{r.method} {r.path} {role.value if role else 'anonymous'}" for r, role in ROLE_CASES])
async def test_role_matrix(api: Api, route: object, role: Role | None) -> None:
    path = route.path.replace("{id}", "m_doesnotexist")  # type: ignore[attr-defined]
    body = json.dumps(MESSAGE) if route.method == "POST" else None  # type: ignore[attr-defined]
    response = await api.client.request(route.method, path, data=body, headers=api.headers(role))  # type: ignore[attr-defined]
    if role is None:
        assert response.status == 401
        assert "WWW-Authenticate" in response.headers
    elif role is Role.ADMIN or role in route.roles:  # type: ignore[attr-defined]
        assert response.status not in (401, 403), await response.text()
    else:
        assert response.status == 403
        assert (await response.json())["error"] == "forbidden"


async def test_expired_token_is_refused(harness: Harness, api: Api) -> None:
    old = await create_token(harness.store, user="old", role=Role.STAFF, municipalities=CITIES, ttl_days=1,
                             now=datetime.now(UTC) - timedelta(days=2), actor="test")
    response = await api.client.get("/api/v1/deliveries", headers={"Authorization": f"Bearer {old}"})
    assert response.status == 401


async def test_submit_then_approve_over_http(api: Api) -> None:
    created = await api.client.post("/api/v1/messages", data=json.dumps(MESSAGE), headers=api.headers(Role.STAFF))
    assert created.status == 201
    body = await created.json()
    assert body["state"] == "pending_approval" and body["check"]["verdict"] == "pass"
    approved = await api.client.post(f"/api/v1/messages/{body['id']}/approve", headers=api.headers(Role.APPROVER))
    assert approved.status == 200
    assert [d["account"] for d in (await approved.json())["deliveries"]] == ["kodaira_x"]


async def test_idempotency_key_over_http(api: Api, harness: Harness) -> None:
    headers = api.headers(Role.STAFF, **{"Idempotency-Key": "abc-123"})
    first = await api.client.post("/api/v1/messages", data=json.dumps(MESSAGE), headers=headers)
    second = await api.client.post("/api/v1/messages", data=json.dumps(MESSAGE), headers=headers)
    assert (first.status, second.status) == (201, 200)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert (await first.json())["id"] == (await second.json())["id"]
    assert len(await harness.store.list_messages()) == 1


async def test_idempotency_key_reused_with_another_body_is_409(api: Api, harness: Harness) -> None:
    headers = api.headers(Role.STAFF, **{"Idempotency-Key": "abc-123"})
    first = await api.client.post("/api/v1/messages", data=json.dumps(MESSAGE), headers=headers)
    assert first.status == 201
    other = {**MESSAGE, "text": "小平市民まつりは雨天のため中止します。"}
    reused = await api.client.post("/api/v1/messages", data=json.dumps(other), headers=headers)
    assert reused.status == 409, await reused.text()
    payload = await reused.json()
    assert payload["error"] == "idempotency_key_reused" and "Idempotency-Key" in payload["message"]
    assert [p["field"] for p in payload["problems"]] == ["Idempotency-Key"]
    assert "Idempotent-Replayed" not in reused.headers
    # The same message written differently (key order, spacing, a default spelled out) is the same message.
    same = json.dumps({"priority": "normal", **dict(reversed(list(MESSAGE.items())))}, indent=2)
    replayed = await api.client.post("/api/v1/messages", data=same, headers=headers)
    assert replayed.status == 200 and replayed.headers["Idempotent-Replayed"] == "true"
    assert (await replayed.json())["id"] == (await first.json())["id"]
    [stored] = await harness.store.list_messages()
    assert stored.body.text == MESSAGE["text"]
    assert len(await harness.store.list_audit(action="message.accepted")) == 1


@pytest.mark.parametrize(("body", "status", "field", "code"), [
    ("{not json", 400, "(本文)", "invalid_json"),
    (json.dumps({**MESSAGE, "municipality": "osaka"}), 400, "municipality", "unknown_municipality"),
    (json.dumps({**MESSAGE, "accounts": ["kodaira_tiktok"]}), 400, "accounts[0]", "unknown_account"),
    (json.dumps({**MESSAGE, "category": "ads"}), 400, "category", "unknown_category"),
    (json.dumps({**MESSAGE, "text": ""}), 400, "text", "value_error"),
    (json.dumps([MESSAGE]), 400, "(本文)", "not_an_object"),
])
async def test_bad_input_gets_field_reasons_and_stores_nothing(
    api: Api, harness: Harness, body: str, status: int, field: str, code: str,
) -> None:
    response = await api.client.post("/api/v1/messages", data=body, headers=api.headers(Role.STAFF))
    assert response.status == status
    payload = await response.json()
    assert {"field": field, "code": code} in [{k: p[k] for k in ("field", "code")} for p in payload["problems"]]
    assert all(p["message"] for p in payload["problems"])
    assert await harness.store.list_messages() == []


async def test_policy_block_is_422_with_findings(api: Api, harness: Harness) -> None:
    image = harness.media.add(PNG)  # a real image without alt text: the checks block it
    body = {**MESSAGE, "media": [{"kind": "image", "id": image.id}]}
    response = await api.client.post("/api/v1/messages", data=json.dumps(body), headers=api.headers(Role.STAFF))
    assert response.status == 422
    findings = (await response.json())["findings"]
    assert findings and all(f["clause"] and f["message"] for f in findings)
    assert await harness.store.list_messages() == []


async def test_too_large_body_is_413(api: Api, harness: Harness) -> None:
    body = json.dumps({**MESSAGE, "text": "あ" * 40_000})
    response = await api.client.post("/api/v1/messages", data=body, headers=api.headers(Role.STAFF))
    assert response.status == 413
    assert (await response.json())["error"] == "too_large"
    assert await harness.store.list_messages() == []


async def test_wrong_content_type(api: Api) -> None:
    headers = {**api.headers(Role.STAFF), "Content-Type": "text/plain"}
    response = await api.client.post("/api/v1/messages", data=json.dumps(MESSAGE), headers=headers)
    assert response.status == 400


async def test_openapi_lists_every_route_with_roles(api: Api) -> None:
    document = await (await api.client.get("/openapi.json")).json()
    for route in ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        assert "admin" in operation["x-roles"]
    assert "Message" in document["components"]["schemas"]


async def test_health_and_metrics_need_no_token(api: Api) -> None:
    assert (await api.client.get("/healthz")).status == 200
    assert (await api.client.get("/readyz")).status == 200
    metrics = await (await api.client.get("/metrics")).text()
    assert "gateway_deliveries_total" in metrics


# -- free text is bounded (issue 12) -----------------------------------------------------------------

LONG = "あ" * 2001


@pytest.mark.parametrize(("path", "role", "body", "field"), [
    ("/messages/{id}/approve", Role.APPROVER, {"overrides": {"links.shortener": LONG}}, "overrides.links.shortener"),
    ("/messages/{id}/approve", Role.APPROVER, {"overrides": {"r" * 201: "理由"}}, "overrides"),
    ("/messages/{id}/approve", Role.APPROVER, {"overrides": {f"r{i}": "理由" for i in range(101)}}, "overrides"),
    ("/messages/{id}/reject", Role.APPROVER, {"comment": LONG}, "comment"),
    ("/messages/{id}/retract", Role.APPROVER, {"reason": LONG}, "reason"),
    ("/accounts/kodaira_x/stop", Role.OPERATOR, {"reason": LONG}, "reason"),
    ("/accounts/kodaira_x/resume", Role.OPERATOR, {"reason": LONG}, "reason"),
    ("/accounts/kodaira_x/rotation", Role.OPERATOR, {"reason": LONG}, "reason"),
    ("/hijack-alerts/1/resolve", Role.OPERATOR, {"note": LONG}, "note"),
    ("/held-alerts/h_x/dismiss", Role.OPERATOR, {"note": LONG}, "note"),
    ("/held-alerts/h_x/publish", Role.OPERATOR, {"note": LONG}, "note"),
])
async def test_free_text_longer_than_its_limit_is_refused_with_the_field(
    api: Api, harness: Harness, path: str, role: Role, body: dict[str, object], field: str,
) -> None:
    created = await api.client.post("/api/v1/messages", data=json.dumps(MESSAGE), headers=api.headers(Role.STAFF))
    message_id = (await created.json())["id"]
    audit_before = len(await harness.store.list_audit(limit=10_000))
    response = await api.client.post("/api/v1" + path.format(id=message_id), data=json.dumps(body),
                                     headers=api.headers(role))
    assert response.status == 400, await response.text()
    payload = await response.json()
    assert payload["error"] == "too_long" and [p["field"] for p in payload["problems"]] == [field]
    assert "文字以内" in payload["message"] or "件以内" in payload["message"]
    assert (await harness.store.get_message(message_id)).state.value == "pending_approval"
    assert len(await harness.store.list_audit(limit=10_000)) == audit_before


async def test_free_text_at_its_limit_is_taken(api: Api, harness: Harness) -> None:
    created = await api.client.post("/api/v1/messages", data=json.dumps(MESSAGE), headers=api.headers(Role.STAFF))
    message_id = (await created.json())["id"]
    response = await api.client.post(f"/api/v1/messages/{message_id}/reject", data=json.dumps({"comment": "あ" * 2000}),
                                     headers=api.headers(Role.APPROVER))
    assert response.status == 200, await response.text()
    assert (await harness.store.get_message(message_id)).note == "あ" * 2000

