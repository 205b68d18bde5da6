"""Inputs the fuzzers found that the gateway mishandles, kept as explicit regression tests.

All of these are fixed (strings are checked for NUL and lone surrogates where they enter: message
bodies, action bodies, ids and filters; the raw alert kept for the audit has NUL escaped; the store
translates encoding errors). Found by the fuzzers:
- NUL: PostgreSQL `text`/`jsonb` cannot hold U+0000, so a NUL in a message field, in a
  reject comment / retract reason, or anywhere in a pushed alert document (kept in the audit
  row) fails the INSERT: 503 store_error for what is bad input (and the alert system retries).
- Lone surrogates (the JSON escape \\ud800 decodes to one): message fields are refused by
  validation, but a reject comment or retract reason reaches the database: on SQLite the
  driver's UnicodeEncodeError is not translated to StoreError, so the client gets a 500.
- NUL in an id or a filter (`/api/v1/messages/%00`, `?account=%00`): PostgreSQL refuses the
  query parameter, so a lookup that should be 404 (or an empty list) is a 503.
- Retract with such a reason on a message already sent: the platform post is deleted first and
  the ledger write then fails, so the post is gone while the delivery still says `sent`.
- Digits that are not 0-9 ("¹", "①"): `str.isdigit` accepts them and `int` then fails, so
  `/api/v1/hijack-alerts/¹/resolve` was a 500 (schemathesis); the same check guarded limits,
  signature times, JMA serials, L-Alert values and the identifier validators.

Issue 12 ("hold every promise under attack"), all fixed at the web boundary:
- A JSON body nested ~500 deep: a RecursionError in the walk that looks for unstorable text (500).
- An integer of more than 4,300 digits: `json.loads` raises ValueError (500); so did `int()` of
  such a `limit`, hijack alert id or alert signature time.
- A hijack alert id of 2^63 or more: PostgreSQL refuses the bigint (503), SQLite's driver overflows (500).
- NUL or a lone surrogate in a JSON key: refused, but the problem named the key as is, the error
  answer could not be encoded, and the client got aiohttp's plain-text 500 without security headers.
- Header and cookie values that are not ASCII (bytes that are not UTF-8 arrive as lone
  surrogates): the bearer token could not be hashed, and `hmac.compare_digest` raises on the
  session cookie's signature, the CSRF field or header and the alert signature (500 each); such an
  Idempotency-Key failed the INSERT (503).
- NUL in a key of a JSON alert (found by the alert fuzzer once it sent hostile JSON): the key
  was named in the rejection reason, which PostgreSQL could not store in the audit row (503).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.models import DeliveryState, Message, MessageState, Role
from gateway.web.auth import create_token
from tests.fuzz.apiclient import MESSAGE, Api, assert_fully_stored, assert_secured, ledger, raw_request
from tests.integration.conftest import APPROVER, STAFF, Harness
from tests.scopes import CITIES

NUL, SURROGATE = "\u0000", "\ud800"


async def _post(api: Api, path: str, role: Role, body: bytes, content_type: str = "application/json") -> tuple[
        int, Any]:
    response = await api.client.post(path, data=body, headers={
        "Authorization": f"Bearer {api.tokens[role]}", "Content-Type": content_type})
    return response.status, json.loads(await response.read())


@pytest.mark.parametrize("raw", [b"\x00", b"<a>\x00</a>", b'<?xml version="1.0"?>\n<Report>\x00'])
async def test_alert_with_nul_byte_is_rejected_as_input(
    api: Api, request: pytest.FixtureRequest, raw: bytes,
) -> None:
    before = await ledger(api.store)
    status, payload = await _post(api, "/api/v1/alerts", Role.ALERT_SYSTEM, raw, "application/xml")
    assert status == 400, payload
    assert payload["outcome"] == "rejected"
    assert await ledger(api.store) == before
    assert await api.store.list_audit(action="alert.rejected", limit=5), "the rejection must be audited"


@pytest.mark.parametrize(("method", "path", "role"), [
    ("GET", "/api/v1/messages/m%00", Role.STAFF),
    ("POST", "/api/v1/messages/%00/approve", Role.APPROVER),
    ("POST", "/api/v1/deliveries/d%00/retry", Role.OPERATOR),
    ("GET", "/api/v1/deliveries?account=kodaira_x%00", Role.STAFF),
    ("GET", "/api/v1/deliveries?message_id=%00", Role.STAFF),
])
async def test_nul_in_id_or_filter_is_not_found_not_a_server_error(
    api: Api, request: pytest.FixtureRequest, method: str, path: str, role: Role,
) -> None:
    response = await api.client.request(method, path, headers={"Authorization": f"Bearer {api.tokens[role]}"})
    payload = await response.json()
    assert response.status in (200, 400, 404), payload
    if response.status == 200:
        assert payload["deliveries"] == []


@pytest.mark.parametrize("field", ["text", "title"])
async def test_message_with_nul_is_not_a_server_error(
    api: Api, request: pytest.FixtureRequest, field: str,
) -> None:
    body = {**MESSAGE, field: (MESSAGE.get(field) or "お知らせ") + NUL}
    before = await ledger(api.store)
    status, payload = await _post(api, "/api/v1/messages", Role.STAFF, json.dumps(body).encode())
    assert status in (201, 400), payload
    if status == 400:
        assert await ledger(api.store) == before
    else:
        await assert_fully_stored(api.store, payload["id"])


@pytest.mark.parametrize(("action", "field"), [("reject", "comment"), ("retract", "reason")])
@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
async def test_reject_and_retract_text_is_not_a_server_error(
    api: Api, harness: Harness, request: pytest.FixtureRequest, action: str, field: str, bad: str,
) -> None:
    submitted = await harness.gateway.submit(Message.model_validate(MESSAGE), STAFF, source="api")
    path = f"/api/v1/messages/{submitted.record.id}/{action}"
    status, payload = await _post(api, path, Role.APPROVER, json.dumps({field: "理由" + bad}).encode())
    assert status in (200, 400), payload
    state = (await api.store.get_message(submitted.record.id)).state
    assert state is (MessageState.PENDING_APPROVAL if status == 400 else MessageState(payload["state"]))


async def test_retract_of_sent_post_keeps_ledger_and_platform_in_step(
    api: Api, harness: Harness, request: pytest.FixtureRequest,
) -> None:
    submitted = await harness.gateway.submit(Message.model_validate({**MESSAGE, "accounts": ["kodaira_x"]}), STAFF)
    await harness.gateway.approve(submitted.record.id, APPROVER)
    await harness.dispatcher.drain()
    (delivery,) = await harness.store.list_deliveries(message_id=submitted.record.id)
    assert delivery.state is DeliveryState.SENT
    path = f"/api/v1/messages/{submitted.record.id}/retract"
    status, payload = await _post(api, path, Role.APPROVER, json.dumps({"reason": "誤り" + SURROGATE}).encode())
    deleted = harness.adapters[delivery.platform].deleted
    state = (await harness.store.get_delivery(delivery.id)).state
    # Either refused before touching the platform, or deleted and recorded as retracted.
    assert (deleted, state) in (([], DeliveryState.SENT), ([delivery.remote_id], DeliveryState.RETRACTED))
    assert status < 500, payload


SUPERSCRIPT_ONE = "\u00b9"


@pytest.mark.parametrize(("method", "path", "role", "statuses"), [
    ("POST", f"/api/v1/hijack-alerts/{SUPERSCRIPT_ONE}/resolve", Role.OPERATOR, (404,)),
    ("GET", f"/api/v1/deliveries?limit={SUPERSCRIPT_ONE}", Role.STAFF, (400,)),
    ("GET", "/api/v1/deliveries?limit=\u2460", Role.STAFF, (400,)),
])
async def test_digits_other_than_0_to_9_are_bad_input_not_a_server_error(
    api: Api, request: pytest.FixtureRequest, method: str, path: str, role: Role, statuses: tuple[int, ...],
) -> None:
    response = await api.client.request(method, path, json={"note": "確認済み"},
                                        headers={"Authorization": f"Bearer {api.tokens[role]}"})
    assert response.status in statuses, await response.text()


def test_jma_serial_and_identifiers_with_superscript_digits() -> None:
    from pathlib import Path

    from gateway.alerts import parse_alert
    from gateway.pipeline.checks.identifiers import corporate_number_valid, luhn_valid, my_number_valid
    from gateway.web.signature import SignatureError, SignatureVerifier

    raw = (Path(__file__).resolve().parents[1] / "fixtures" / "alerts" / "jma_quake_kodaira_5lower.xml").read_text(
        encoding="utf-8").replace("<Serial>1</Serial>", f"<Serial>{SUPERSCRIPT_ONE}2</Serial>")
    assert parse_alert(raw.encode()).kind == "seismic"  # the odd serial is only not an update count
    assert not my_number_valid(SUPERSCRIPT_ONE * 12)
    assert not corporate_number_valid(SUPERSCRIPT_ONE * 13)
    assert not luhn_valid(SUPERSCRIPT_ONE * 16)
    with pytest.raises(SignatureError):
        SignatureVerifier(b"secret-for-the-test-0123456789").verify(f"t={SUPERSCRIPT_ONE},v1=abc", b"{}")


# -- issue 12: hostile JSON, path ids and header values --------------------------------------------

DEEP_ARRAY = b"[" * 500 + b"]" * 500
DEEP_OBJECT = b'{"a":' * 500 + b"1" + b"}" * 500
HUGE_INT = b'{"text": ' + b"9" * 5000 + b"}"
SURROGATE_KEY = b'{"\\ud800": "x"}'
JSON_ENDPOINTS = [
    ("/api/v1/messages", Role.STAFF), ("/api/v1/messages/m_x/approve", Role.APPROVER),
    ("/api/v1/messages/m_x/reject", Role.APPROVER), ("/api/v1/messages/m_x/retract", Role.APPROVER),
    ("/api/v1/accounts/kodaira_x/stop", Role.OPERATOR), ("/api/v1/hijack-alerts/1/resolve", Role.OPERATOR),
    ("/api/v1/held-alerts/h_x/dismiss", Role.OPERATOR),
]


async def _refused(api: Api, path: str, role: Role, body: bytes, **headers: str) -> dict[str, Any]:
    """POST `body`: a 4xx JSON error of the usual shape, with the security headers, and no ledger change."""
    before = await ledger(api.store)
    response = await api.client.post(path, data=body, headers={
        "Authorization": f"Bearer {api.tokens[role]}", "Content-Type": "application/json", **headers})
    raw = await response.read()
    assert 400 <= response.status < 500, (response.status, raw[:300])
    assert response.content_type == "application/json", raw[:300]
    assert_secured(path, response.headers)
    payload: dict[str, Any] = json.loads(raw)
    assert payload["error"] and payload["message"], payload
    assert await ledger(api.store) == before
    return payload


@pytest.mark.parametrize(("path", "role"), JSON_ENDPOINTS)
@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
async def test_deeply_nested_json_is_bad_input(api: Api, path: str, role: Role, body: bytes) -> None:
    payload = await _refused(api, path, role, body)
    assert payload["error"] == "too_deep"
    assert payload["problems"][0]["field"] == "(本文)"


@pytest.mark.parametrize(("path", "role"), JSON_ENDPOINTS)
async def test_integer_beyond_the_conversion_limit_is_bad_input(api: Api, path: str, role: Role) -> None:
    payload = await _refused(api, path, role, HUGE_INT)
    assert payload["error"] == "number_too_long"


@pytest.mark.parametrize(("path", "role"), JSON_ENDPOINTS)
@pytest.mark.parametrize("body", [SURROGATE_KEY, b'{"text": {"a\\udfff": 1}}', b'{"overrides": {"\\ud83d": "x"}}',
                                  b'{"\\u0000": 1}'], ids=["top", "nested", "overrides", "nul"])
async def test_lone_surrogate_or_nul_in_a_key_is_bad_input(api: Api, path: str, role: Role, body: bytes) -> None:
    payload = await _refused(api, path, role, body)
    assert payload["error"] in ("invalid_unicode", "nul_character")
    assert all(p["field"].isprintable() for p in payload["problems"]), payload["problems"]


@pytest.mark.parametrize("alert_id", [str(2**63), str(2**64), "9" * 5000, "0"])
async def test_hijack_alert_id_out_of_range_is_not_found(api: Api, alert_id: str) -> None:
    payload = await _refused(api, f"/api/v1/hijack-alerts/{alert_id}/resolve", Role.OPERATOR, b'{"note": "x"}')
    assert payload["error"] == "not_found"


async def test_limit_with_thousands_of_digits_is_bad_input(api: Api) -> None:
    response = await api.client.get(f"/api/v1/deliveries?limit={'9' * 5000}",
                                    headers={"Authorization": f"Bearer {api.tokens[Role.STAFF]}"})
    assert response.status == 400, await response.text()


# (Control characters in a header never reach the app: aiohttp's parser answers 400 itself.)
@pytest.mark.parametrize("value", [b"Bearer \xff\xfe", b"Bearer kgw_\xe3\x81\x82", b"Bearer kgw_\xc3", b"\xff",
                                   b"Bearer " + b"a" * 5000])
async def test_malformed_authorization_is_unauthenticated(api: Api, value: bytes) -> None:
    response = await raw_request(api.client, "GET", "/api/v1/deliveries", [b"Authorization: " + value])
    assert response.status == 401, response.body[:300]
    assert response.json()["error"] == "unauthenticated"
    assert_secured("/api/v1/deliveries", response.headers)


@pytest.mark.parametrize("key", [b"\xff", b"k\xc3", b"\xed\xa0\x80", b"k" * 201])
async def test_malformed_idempotency_key_is_bad_input(api: Api, key: bytes) -> None:
    before = await ledger(api.store)
    token = api.tokens[Role.STAFF].encode()
    response = await raw_request(api.client, "POST", "/api/v1/messages", [
        b"Authorization: Bearer " + token, b"Content-Type: application/json", b"Idempotency-Key: " + key],
        json.dumps(MESSAGE).encode())
    assert response.status == 400, response.body[:300]
    assert response.json()["problems"][0]["field"] == "Idempotency-Key"
    assert_secured("/api/v1/messages", response.headers)
    assert await ledger(api.store) == before


@pytest.mark.parametrize("signature", [
    "t={now},v1=あ".encode(), b"t={now},v1=\xff\xfe", b"t=" + b"9" * 5000 + b",v1=00", b"\xff",
    b"t={now},v1=" + b"a" * 5000, "t=１２,v1=00".encode(),
], ids=["japanese", "not-utf8", "long-time", "no-fields", "long-digest", "wide-digits"])
async def test_malformed_alert_signature_is_refused(signed_api: Api, signature: bytes) -> None:
    signature = signature.replace(b"{now}", str(int(time.time())).encode())  # inside the window: reach the compare
    before = await ledger(signed_api.store)
    token = signed_api.tokens[Role.ALERT_SYSTEM].encode()
    response = await raw_request(signed_api.client, "POST", "/api/v1/alerts", [
        b"Authorization: Bearer " + token, b"Content-Type: application/json", b"X-Koho-Signature: " + signature],
        b"{}")
    assert response.status == 401, response.body[:300]
    assert response.json()["error"] == "bad_signature"
    assert_secured("/api/v1/alerts", response.headers)
    assert await ledger(signed_api.store) == before


async def test_unexpected_error_is_json_with_security_headers(harness: Harness) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from gateway.errors import InputError
    from gateway.web.api import Route
    from gateway.web.app import build_app

    async def broken(*_: object) -> Any:
        raise RuntimeError("a bug")

    async def unencodable(*_: object) -> Any:
        raise InputError("壊れた文字 " + SURROGATE, code="odd")

    routes = [Route("GET", "/api/v1/broken", broken, frozenset(Role), "test"),
              Route("GET", "/api/v1/unencodable", unencodable, frozenset(Role), "test")]
    token = await create_token(harness.store, user="t", role=Role.ADMIN, municipalities=CITIES, ttl_days=1, now=datetime.now(UTC),
                               actor="test")
    async with TestClient(TestServer(build_app(harness.gateway, extra_routes=routes))) as client:
        for path, status in (("/api/v1/broken", 500), ("/api/v1/unencodable", 400)):
            response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert response.status == status, await response.text()
            assert response.content_type == "application/json"
            assert (await response.json())["message"]
            assert_secured(path, response.headers)


@pytest.mark.parametrize("raw", [b'{"\\u0000": 1}', b'{"id": "x", "a\\u0000b": {"c": 1}}', b'{"details": {"\\u0000": 1}}'])
async def test_json_alert_with_nul_in_a_key_is_rejected_as_input(api: Api, raw: bytes) -> None:
    """Found by the alert fuzzer once it sent hostile JSON: the key reached the rejection's audit row (503)."""
    before = await ledger(api.store)
    status, payload = await _post(api, "/api/v1/alerts", Role.ALERT_SYSTEM, raw)
    assert status == 400, payload
    assert payload["outcome"] == "rejected" and "\x00" not in payload["message"]
    assert await ledger(api.store) == before
    assert await api.store.list_audit(action="alert.rejected", limit=5), "the rejection must be audited"
