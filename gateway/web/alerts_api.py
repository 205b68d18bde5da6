"""`POST /api/v1/alerts`: disaster-information systems push JMA XML, L-Alert, CAP or JSON; and the
alerts held for an operator (`/api/v1/held-alerts`): too old, expired, future-dated, restricted."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.access import require_any_city, require_city
from gateway.errors import FieldProblem, InputError
from gateway.models import Actor
from gateway.services.messages import Gateway
from gateway.store.records import HeldAlert
from gateway.web.fields import bounded
from gateway.web.jsonio import dumps, object_field, query_limit, read_json
from gateway.web.keys import ALERT_INTAKE, SIGNATURES
from gateway.web.signature import HEADER

# A document that parses but will not be posted as asked is 422; one that cannot be read is 400.
_REJECTED_STATUS = {"too_large": 413, "empty": 400, "alert_unsupported": 422, "alert_not_addressed": 422}


def _dumps(value: Any) -> str:
    return dumps(value)


async def post_alert(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    raw = await request.read()
    verifier = request.app.get(SIGNATURES)
    if verifier is not None:
        verifier.verify(request.headers.get(HEADER), raw)
    municipality = request.query.get("municipality") or None
    result = await request.app[ALERT_INTAKE].receive(raw, actor, content_type=request.content_type,
                                                     municipality=municipality)
    body = result.to_json()
    if result.outcome == "rejected":
        code = result.error.code if result.error else "alert_unsupported"
        status = _REJECTED_STATUS.get(code, 400 if result.error else 422)
        return web.json_response({"error": code, "message": result.reason, **body}, status=status, dumps=_dumps)
    # 202: taken on — planned now, or held for an operator (the body's outcome says which).
    return web.json_response(body, status=202 if result.outcome in ("accepted", "held") else 200, dumps=_dumps)


# -- alerts held for an operator ----------------------------------------------------------------

HOLD_CODES = {"stale": "発表から時間が経過", "expired": "有効期限切れ", "future": "発表時刻が未来",
              "restricted": "限定配信（Restricted）", "private": "宛先指定（Private）"}
STATES = ("held", "restricted", "published", "dismissed")


def held_json(entry: HeldAlert, *, document: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": entry.id, "state": entry.state, "hold_code": entry.hold_code,
        "hold_label": HOLD_CODES.get(entry.hold_code, entry.hold_code), "reason": entry.reason,
        "received_at": entry.received_at.isoformat(), "received_by": entry.received_by, "format": entry.format,
        "key": entry.alert_key, "kind": entry.kind, "title": entry.title, "sender": entry.sender,
        "sent_at": entry.sent_at.isoformat(), "drill": entry.drill, "municipalities": list(entry.municipalities),
        "municipality": entry.forced, "posts": [dict(p) for p in entry.posts],
        "decided_by": entry.decided_by, "decided_at": entry.decided_at.isoformat() if entry.decided_at else None,
        "note": entry.note, "messages": list(entry.messages),
    }
    if document:
        out["document"] = entry.raw
        out["sha256"] = entry.sha256
    return out


async def list_held(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    raw = request.query.get("state", "held,restricted")
    states = [s for s in raw.split(",") if s]
    unknown = [s for s in states if s not in STATES]
    if unknown or not states:
        message = f"state に指定できるのは {'、'.join(STATES)} です"
        raise InputError(message, [FieldProblem("state", "enum", message)])
    municipality = request.query.get("municipality") or None
    if municipality is not None and municipality not in gw.policies:
        message = f"自治体 {municipality!r} の設定がありません"
        raise InputError(message, [FieldProblem("municipality", "unknown", message)])
    if municipality is not None:
        require_city(actor, municipality, "この自治体の防災情報の閲覧")
    entries = await request.app[ALERT_INTAKE].list_held(states=states, municipality=municipality,
                                                         limit=query_limit(request))
    shown = [e for e in entries if held_visible(actor, e)]
    return web.json_response({"held_alerts": [held_json(e) for e in shown]}, dumps=_dumps)


def held_visible(actor: Actor, entry: HeldAlert) -> bool:
    """A held alert is shown to whoever has one of its cities (one for no city: global scope only)."""
    if actor.scope.is_global:
        return True
    return any(actor.scope.covers(m) for m in entry.municipalities)


async def get_held(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    entry = await request.app[ALERT_INTAKE].held(request.match_info["id"])
    if not held_visible(actor, entry):
        require_any_city(actor, entry.municipalities, "この防災情報の閲覧")
    return web.json_response(held_json(entry, document=True), dumps=_dumps)


async def publish_held(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    note = await _note(request, required=False)
    entry, result = await request.app[ALERT_INTAKE].publish_held(request.match_info["id"], actor, note)
    return web.json_response({**held_json(entry), "result": result.to_json()}, dumps=_dumps)


async def dismiss_held(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    note = await _note(request, required=True)
    entry = await request.app[ALERT_INTAKE].dismiss_held(request.match_info["id"], actor, note or "")
    return web.json_response(held_json(entry), dumps=_dumps)


async def _note(request: web.Request, *, required: bool) -> str | None:
    data = await read_json(request) if request.can_read_body else {}
    if not isinstance(data, dict):
        raise InputError("本文はJSONオブジェクトにしてください",
                         [FieldProblem("(本文)", "invalid_type", "JSONオブジェクトにしてください")])
    value = bounded(object_field(data, "note", str) or "", "note").strip()
    if required and not value:
        raise InputError("見送る理由（note）を入力してください", [FieldProblem("note", "missing", "必須項目です")])
    return value or None
