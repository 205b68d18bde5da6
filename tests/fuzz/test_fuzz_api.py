"""Fuzz the HTTP API over a real database: never a 500, always JSON, nothing half-stored.

Every request is followed by a look at the ledger: a 4xx left the messages, deliveries and the
targeted message exactly as they were; a 2xx left the message with all its deliveries, and an
audit row for the message and for each delivery.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gateway.errors import NotFound
from gateway.models import Message, Role
from gateway.store import SqlStore
from tests.fuzz import strategies as fz
from tests.fuzz.apiclient import BIG, MESSAGE, Api, assert_fully_stored, ledger
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
