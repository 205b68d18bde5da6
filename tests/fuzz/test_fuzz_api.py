"""Fuzz the HTTP API over a real database: never a 500, always JSON, nothing half-stored.

Every request is followed by a look at the ledger: a 4xx left the messages, deliveries and the
targeted message exactly as they were; a 2xx left the message with all its deliveries, and an
audit row for the message and for each delivery.

Hostile inputs (issue 12) must be refused with a 4xx, the security headers and no trace at all:
JSON nested past the limit, integers beyond Python's 4,300 digits, NUL and lone surrogates in
keys, out-of-range numeric path ids, and header and cookie values sent byte for byte (not ASCII,
not UTF-8, long, near-valid) in Authorization, Idempotency-Key, X-Koho-Signature, the session
and login cookies and the CSRF header.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote, quote_from_bytes

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gateway.errors import InputError, NotFound
from gateway.models import Message, Role
from gateway.store import SqlStore
from gateway.web.console.context import CODEC
from gateway.web.fields import idempotency_key
from tests.fuzz import strategies as fz
from tests.fuzz.apiclient import (
    BIG,
    MESSAGE,
    Api,
    RawResponse,
    assert_fully_stored,
    assert_secured,
    ledger,
    raw_request,
)
from tests.integration.conftest import APPROVER, STAFF, Harness

API_FUZZ = settings(max_examples=fz.examples(60), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])
_HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=210)
_CONTENT_TYPES = st.sampled_from(["application/json"] * 6 + ["text/json", "text/plain", "application/xml",
                                                            "application/json; charset=latin-1", ""])


# -- POST /api/v1/messages ------------------------------------------------------------------------

@API_FUZZ
@given(body=fz.message_bodies(), data=st.data())
async def test_post_messages(api: Api, body: Any, data: st.DataObject) -> None:
    raw = fz.sidestep_known_bugs(fz.encode_body(body, data))
    role = data.draw(st.sampled_from([Role.STAFF, Role.APPROVER, Role.ADMIN]))
    headers = {}
    key = data.draw(st.one_of(st.none(), st.sampled_from(["k-1", "k-2"]), _HEADER_TEXT))
    if key is not None:
        headers["Idempotency-Key"] = key
    before = await ledger(api.store)
    response, payload = await api.send("POST", "/api/v1/messages", role=role, body=raw,
                                       content_type=data.draw(_CONTENT_TYPES), **headers)
    after = await ledger(api.store)
    event(f"status {response.status}")
    if response.status >= 400:
        assert after == before, f"{response.status} {payload} but the ledger changed"
        return
    assert response.status in (200, 201)
    expected = before.messages + (1 if response.status == 201 else 0)
    assert after.messages == expected
    assert (response.headers.get("Idempotent-Replayed") == "true") == (response.status == 200)
    await assert_fully_stored(api.store, payload["id"], [d["id"] for d in payload["deliveries"]])


# -- approve / reject / retract ------------------------------------------------------------------

async def _target(harness: Harness, kind: str, data: st.DataObject) -> str:
    if kind == "random":
        drawn = str(data.draw(st.one_of(st.text(min_size=1, max_size=40), st.just("m_doesnotexist"))))
        return drawn.replace("\x00", "\x01") if fz.SIDESTEP_KNOWN_BUGS else drawn
    submitted = await harness.gateway.submit(Message.model_validate(MESSAGE), STAFF, source="api")
    if kind == "sent":  # approved and published on the fake platforms: retract has posts to delete
        await harness.gateway.approve(submitted.record.id, APPROVER)
        await harness.dispatcher.drain()
    return submitted.record.id


def _action_body(data: st.DataObject) -> bytes | None:
    shape = data.draw(st.sampled_from(["none", "valid", "valid", "object", "json", "binary"]))
    if shape == "none":
        return None
    if shape == "valid":
        valid = [{}, {"reason": "日付の誤りのため取り下げます"}, {"comment": "表現を見直してください"},
                 {"overrides": {}}]
        return fz.encode_body(data.draw(st.sampled_from(valid)), data)
    if shape == "binary":
        return bytes(data.draw(st.binary(max_size=200)))
    if shape == "json":
        return fz.encode_body(data.draw(fz.json_values), data)
    keys = st.sampled_from(["overrides", "comment", "reason", "extra"])
    value = st.one_of(fz.json_values, st.dictionaries(st.text(max_size=20), fz.json_values, max_size=3),
                      st.text(max_size=300))
    return fz.encode_body(data.draw(st.dictionaries(keys, value, max_size=3)), data)


async def _message_state(store: SqlStore, message_id: str) -> tuple[str, int] | None:
    try:
        record = await store.get_message(message_id)
    except NotFound:
        return None
    return record.state.value, len(await store.list_deliveries(message_id=message_id, limit=BIG))


@API_FUZZ
@given(data=st.data())
async def test_message_actions(api: Api, harness: Harness, data: st.DataObject) -> None:
    message_id = await _target(harness, data.draw(st.sampled_from(["pending", "pending", "sent", "random"])), data)
    action = data.draw(st.sampled_from(["approve", "reject", "retract"]))
    role = data.draw(st.sampled_from([Role.APPROVER, Role.OPERATOR, Role.ADMIN]))
    body = fz.sidestep_known_bugs(_action_body(data))
    before, state_before = await ledger(api.store), await _message_state(api.store, message_id)
    path = f"/api/v1/messages/{quote(message_id, safe='')}/{action}"
    response, payload = await api.send("POST", path, role=role, body=body,
                                       content_type=data.draw(_CONTENT_TYPES))
    after, state_after = await ledger(api.store), await _message_state(api.store, message_id)
    event(f"{action} -> {response.status}")
    assert after.messages == before.messages
    if response.status >= 400:
        assert (after, state_after) == (before, state_before), f"{response.status} {payload}"
        return
    assert state_after is not None
    expected = {"approve": {"planned", "approved"}, "reject": {"rejected"}, "retract": {"retracted"}}[action]
    assert state_after[0] in expected, (action, state_after, payload)
    await assert_fully_stored(api.store, message_id)
    if action == "retract":  # nothing left live on a platform, nothing left to go out
        states = {d.state.value for d in await api.store.list_deliveries(message_id=message_id, limit=BIG)}
        assert not states & {"sent", "queued", "held", "planned"}, states


# -- POST /api/v1/alerts --------------------------------------------------------------------------

@API_FUZZ
@given(raw=fz.alert_documents(), data=st.data())
async def test_post_alerts(api: Api, raw: bytes, data: st.DataObject) -> None:
    municipality = data.draw(st.sampled_from([None, "kodaira", "zushi", "osaka", ""]))
    path = "/api/v1/alerts" + ("" if municipality is None else f"?municipality={quote(municipality)}")
    content_type = data.draw(st.sampled_from(["application/xml", "application/json", "text/xml", ""]))
    raw = fz.sidestep_known_bugs(raw) or b""
    before = await ledger(api.store)
    response, payload = await api.send("POST", path, role=Role.ALERT_SYSTEM, body=raw, content_type=content_type)
    after = await ledger(api.store)
    event(f"status {response.status} {payload.get('outcome')}")
    if response.status >= 400:
        assert after == before, f"{response.status} {payload} but the ledger changed"
        return
    assert payload["outcome"] in ("accepted", "ignored", "held")
    if payload["outcome"] == "held":  # waits for an operator: recorded, nothing planned
        assert (await api.store.get_held_alert(payload["held"])).state == "held"
    assert after.messages == before.messages + len(set(payload["messages"]))
    for message_id in payload["messages"]:
        await assert_fully_stored(api.store, message_id)


# -- hostile JSON, path ids and header values (issue 12) ---------------------------------------------

JSON_ACTIONS = (
    ("/api/v1/messages", Role.STAFF), ("/api/v1/messages/{id}/approve", Role.APPROVER),
    ("/api/v1/messages/{id}/reject", Role.APPROVER), ("/api/v1/messages/{id}/retract", Role.OPERATOR),
    ("/api/v1/accounts/kodaira_x/stop", Role.OPERATOR), ("/api/v1/accounts/kodaira_x/resume", Role.OPERATOR),
    ("/api/v1/accounts/kodaira_x/rotation", Role.OPERATOR), ("/api/v1/hijack-alerts/1/resolve", Role.OPERATOR),
    ("/api/v1/held-alerts/h_x/publish", Role.OPERATOR), ("/api/v1/held-alerts/h_x/dismiss", Role.OPERATOR),
)


async def _refused_unchanged(api: Api, method: str, path: str, role: Role, body: bytes | None,
                             **headers: str) -> tuple[int, Any]:
    """Send, then check: 4xx, the error shape, the security headers, and a ledger as it was."""
    before = await ledger(api.store)
    audit_before = len(await api.store.list_audit(limit=BIG))
    response, payload = await api.send(method, path, role=role, body=body, **headers)
    assert 400 <= response.status < 500, (response.status, payload)
    assert_secured(path, response.headers)
    assert await ledger(api.store) == before
    assert len(await api.store.list_audit(limit=BIG)) == audit_before, "a refused request left an audit row"
    return response.status, payload


@API_FUZZ
@given(raw=fz.hostile_json_bodies(), data=st.data())
async def test_hostile_json_is_refused_and_changes_nothing(api: Api, harness: Harness, raw: bytes,
                                                            data: st.DataObject) -> None:
    path, role = data.draw(st.sampled_from(JSON_ACTIONS))
    if "{id}" in path:
        submitted = await harness.gateway.submit(Message.model_validate(MESSAGE), STAFF, source="api")
        path = path.format(id=submitted.record.id)
    status, payload = await _refused_unchanged(api, "POST", path, role, raw)
    event(f"{status} {payload['error']}")
    assert status == 400 and payload["error"] in ("too_deep", "number_too_long", "invalid_unicode", "nul_character")
    assert all(p["field"].isprintable() for p in payload["problems"]), payload


_PATH_IDS = st.one_of(
    st.integers(min_value=2**63 - 2, max_value=10**40).map(str), st.integers(max_value=0).map(str),
    st.integers(min_value=4301, max_value=7000).map(lambda n: "9" * n),  # (a request line is at most 8190 bytes)
    st.text(alphabet="0123456789", min_size=20, max_size=40), st.sampled_from(["\u00b9", "\u2460", "\u0661", "\uff11"]),
)


@API_FUZZ
@given(alert_id=_PATH_IDS)
async def test_numeric_path_ids_are_range_checked(api: Api, alert_id: str) -> None:
    path = f"/api/v1/hijack-alerts/{quote(alert_id)}/resolve"
    status, payload = await _refused_unchanged(api, "POST", path, Role.OPERATOR, '{"note": "確認済み"}'.encode())
    assert (status, payload["error"]) == (404, "not_found")


def _operator_cookie(api: Api) -> bytes:
    """A valid session cookie of the operator (no password, so the fingerprint is of none; epoch 0, never moved)."""
    codec = api.client.server.app[CODEC]
    return codec.encode(codec.issue(f"user-{Role.OPERATOR.value}", None, 0, time.time())).encode()


def _expected_key(value: bytes) -> bool:
    """Whether the gateway takes `value` as an Idempotency-Key (as aiohttp decodes and trims it)."""
    try:
        idempotency_key(value.decode("utf-8", "surrogateescape").strip(" \t"))
    except InputError:
        return False
    return True


async def _header_case(api: Api, name: str, value: bytes) -> tuple[str, RawResponse]:
    token = api.tokens  # role -> bearer token
    if name == "authorization":
        return "/api/v1/deliveries", await raw_request(api.client, "GET", "/api/v1/deliveries",
                                                       [b"Authorization: " + value])
    if name == "idempotency":
        return "/api/v1/messages", await raw_request(api.client, "POST", "/api/v1/messages", [
            b"Authorization: Bearer " + token[Role.STAFF].encode(), b"Content-Type: application/json",
            b"Idempotency-Key: " + value], json.dumps(MESSAGE).encode())
    if name == "signature":
        return "/api/v1/alerts", await raw_request(api.client, "POST", "/api/v1/alerts", [
            b"Authorization: Bearer " + token[Role.ALERT_SYSTEM].encode(), b"Content-Type: application/json",
            b"X-Koho-Signature: " + value], b"{}")
    if name == "session":
        return "/console/deliveries", await raw_request(api.client, "GET", "/console/deliveries", [
            b"Cookie: kgw_session=" + value, b"Accept: application/json"])
    if name == "login":
        form = b"user=sato&password=x&csrf=" + quote_from_bytes(value + b"x").encode()
        return "/console/login", await raw_request(api.client, "POST", "/console/login", [
            b"Cookie: kgw_login=" + value, b"Content-Type: application/x-www-form-urlencoded"], form)
    path = "/console/accounts/kodaira_x/stop"  # csrf: a signed-in operator, the header fuzzed
    return path, await raw_request(api.client, "POST", path, [
        b"Cookie: kgw_session=" + _operator_cookie(api), b"X-CSRF-Token: " + value,
        b"Content-Type: application/x-www-form-urlencoded"], b"reason=x")


_REFUSED_WITH = {"authorization": (401,), "signature": (401,), "session": (401,), "login": (401, 403, 429),
                 "csrf": (403,), "idempotency": (400,)}


@API_FUZZ
@given(name=st.sampled_from(sorted(_REFUSED_WITH)), value=fz.header_values())
async def test_hostile_header_values_are_refused_and_change_nothing(signed_api: Api, name: str, value: bytes) -> None:
    api = signed_api
    before, audit_before = await ledger(api.store), len(await api.store.list_audit(limit=BIG))
    path, response = await _header_case(api, name, value)
    event(f"{name} -> {response.status}")
    assert_secured(path, response.headers)
    if name == "idempotency" and _expected_key(value):
        assert response.status in (200, 201), response.body[:300]
        return
    assert response.status in _REFUSED_WITH[name], (response.status, response.body[:300])
    if path.startswith("/api/") or "application/json" in response.headers.get("content-type", ""):
        assert response.json()["error"] and response.json()["message"]
    assert await ledger(api.store) == before
    assert len(await api.store.list_audit(limit=BIG)) == audit_before
