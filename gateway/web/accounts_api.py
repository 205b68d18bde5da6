"""JSON API of account health, stop/resume, credential rotation records and hijack alerts.

Routes are in `gateway.web.api.ROUTES`; the handlers live here and reach the `AccountService`
through `app[ACCOUNT_SERVICE]` (set by `build_app`), or build one over the gateway when an app
was made without it (tests of other parts, tools).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.access import account_visible, may_see, require_account_id
from gateway.errors import FieldProblem, InputError, NotFound
from gateway.models import Actor, row_id, shown_key
from gateway.services.accounts import AccountHealth, AccountService, HijackAlert
from gateway.services.messages import Gateway
from gateway.web.fields import bounded
from gateway.web.jsonio import dumps, iso, object_field, query_limit, read_json
from gateway.web.keys import ACCOUNT_SERVICE


def service_for(request: web.Request, gw: Gateway) -> AccountService:
    found = request.app.get(ACCOUNT_SERVICE)
    if found is not None:
        return found
    return AccountService.over(gw)


# -- serialisation -----------------------------------------------------------------------------

def hijack_json(alert: HijackAlert) -> dict[str, Any]:
    return {
        "id": alert.id, "account": alert.account, "remote_id": alert.remote_id, "text": alert.text,
        "url": alert.url, "posted_at": iso(alert.posted_at), "detected_at": iso(alert.detected_at),
        "resolved_at": iso(alert.resolved_at), "resolved_by": alert.resolved_by, "note": alert.note,
    }


def health_json(h: AccountHealth) -> dict[str, Any]:
    account = h.account
    return {
        # The fields GET /accounts had before account health, unchanged.
        "id": account.id, "municipality": h.municipality.id, "platform": account.platform.value,
        "handle": account.handle, "manager": account.manager, "categories": list(account.categories),
        "stopped": h.stopped, "last_sent_at": iso(h.last_sent_at), "days_since_last_post": h.days_since_last_post,
        "paused_until": iso(h.paused_until), "pause_reason": h.pause_reason,
        # Account health.
        "inactive": h.inactive, "stop_reason": h.stop_reason, "stopped_in_config": account.stopped,
        "credential_set_at": iso(h.credential_set_at), "credential_age_days": h.credential_age_days,
        "rotation_days": h.municipality.credentials.rotation_days, "rotation_due_at": iso(h.rotation_due_at),
        "rotation_overdue": h.rotation_overdue, "token_ok": h.token_ok,
        "open_hijack_alerts": [hijack_json(a) for a in h.open_hijack_alerts],
    }


# -- handlers ----------------------------------------------------------------------------------

async def list_accounts(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    rows = [health_json(h) for h in await service_for(request, gw).health()
            if may_see(actor, h.municipality.id, h.account.id)]
    return web.json_response({"accounts": rows}, dumps=dumps)


async def stop_account(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    service = service_for(request, gw)
    account_id = request.match_info["id"]
    require_account_id(actor, gw.policies, account_id, "このアカウントの停止")
    held = await service.stop(account_id, actor.name, await _text(request, "reason"))
    return await _account_response(service, account_id, held=held)


async def resume_account(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    service = service_for(request, gw)
    account_id = request.match_info["id"]
    require_account_id(actor, gw.policies, account_id, "このアカウントの再開")
    released = await service.resume(account_id, actor.name, await _text(request, "reason"))
    return await _account_response(service, account_id, released=released)


async def record_rotation(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    service = service_for(request, gw)
    account_id = request.match_info["id"]
    require_account_id(actor, gw.policies, account_id, "このアカウントの認証情報の記録")
    await service.record_rotation(account_id, actor.name, await _text(request, "reason"))
    return await _account_response(service, account_id)


async def list_hijack_alerts(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    open_only = request.query.get("open", "").lower() in ("1", "true", "yes")
    account = request.query.get("account") or None
    if account is not None:
        require_account_id(actor, gw.policies, account, "このアカウントの警告の閲覧")
    alerts = await service_for(request, gw).list_hijack_alerts(open_only=open_only, account=account,
                                                               limit=query_limit(request))
    shown = [a for a in alerts if account_visible(actor, gw.policies, a.account)]
    return web.json_response({"alerts": [hijack_json(a) for a in shown]}, dumps=dumps)


async def resolve_hijack_alert(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    alert_id = row_id(request.match_info["id"])
    if alert_id is None:
        raise NotFound(f"乗っ取り警告が見つかりません: {shown_key(request.match_info['id'])}")
    note = await _text(request, "note")
    found = await service_for(request, gw).hijack_alert(alert_id)
    require_account_id(actor, gw.policies, found.account, "この警告の対応")
    alert = await service_for(request, gw).resolve_hijack(alert_id, actor.name, note)
    return web.json_response(hijack_json(alert), dumps=dumps)


async def _text(request: web.Request, name: str) -> str:
    """A required, non-blank text field of the JSON body."""
    data = await read_json(request) if request.can_read_body else {}
    if not isinstance(data, dict):
        raise InputError("本文はJSONオブジェクトにしてください",
                         [FieldProblem("(本文)", "invalid_type", "JSONオブジェクトにしてください")])
    value = bounded(object_field(data, name, str) or "", name).strip()
    if not value:
        label = "理由" if name == "reason" else "対応内容"
        raise InputError(f"{label}（{name}）を入力してください", [FieldProblem(name, "missing", "必須項目です")])
    return str(value)


async def _account_response(service: AccountService, account_id: str, **counts: int) -> web.StreamResponse:
    row = next((h for h in await service.health() if h.account.id == account_id), None)
    body: dict[str, Any] = {"account": health_json(row) if row else None, **counts}
    return web.json_response(body, dumps=dumps)
