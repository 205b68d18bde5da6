"""Accounts (operator/admin): health per account through the AccountService, with its actions.

Last post and days since (木更津 11(7): flagged at 30), credential age and rotation due (木更津 7(2))
with a button to record a rotation and its reason (逗子 3-4(5)), token validity, rate-limit pause,
stop/resume (小平 3(7): a stop holds every pending delivery) and hijack alerts with resolve.
"""

from __future__ import annotations

from aiohttp import web

from gateway.access import may_see, require_account_id
from gateway.connections import ConnectionStatus
from gateway.errors import FieldProblem, InputError
from gateway.models import Role, row_id
from gateway.services.accounts import INACTIVE_DAYS, AccountHealth
from gateway.services.messages import Gateway
from gateway.web.accounts_api import service_for
from gateway.web.api import OPERATORS
from gateway.web.console.connect import CONNECTIONS
from gateway.web.console.context import Viewer, render
from gateway.web.console.pages import Pages, page_number
from gateway.web.fields import bounded
from gateway.web.security import CONTENT_SECURITY_POLICY

ADMINS_ONLY: frozenset[Role] = frozenset()  # Viewer.can: admin always, nobody else
ACCOUNTS_PER_PAGE = 25


def needs_attention(health: AccountHealth, status: ConnectionStatus | None) -> bool:
    """Something a person must act on: stopped, a hijack suspected, paused, a token refused or not renewing,
    credentials past their rotation date, or silent for too long."""
    return (health.stopped or bool(health.open_hijack_alerts) or health.paused_until is not None
            or health.token_ok is False or health.rotation_overdue or health.inactive
            or (status is not None and status.failing))


async def page(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    chosen = request.query.get("municipality", "")
    attention_only = request.query.get("attention") == "1"
    number = page_number(request)
    connections = request.app.get(CONNECTIONS)
    statuses = await connections.statuses() if connections is not None else {}
    health = [h for h in await service_for(request, gw).health() if (not chosen or h.municipality.id == chosen)
              and may_see(viewer.actor, h.municipality.id, h.account.id)]
    # What needs a person comes first, whatever page of a nationwide list it would otherwise fall on.
    flagged = [h for h in health if needs_attention(h, statuses.get(h.account.id))]
    listed = flagged if attention_only else [*flagged, *(h for h in health if h not in flagged)]
    pages = Pages.of(request, number, len(listed), ACCOUNTS_PER_PAGE)
    rows = listed[(number - 1) * ACCOUNTS_PER_PAGE:number * ACCOUNTS_PER_PAGE]
    response = render(request, "accounts.html", viewer, rows=rows, pages=pages, attention=len(flagged),
                  attention_only=attention_only, stale_days=INACTIVE_DAYS, chosen=chosen,
                  municipalities=[m for m in gw.policies if may_see(viewer.actor, m.id)],
                  can_act=viewer.can(OPERATORS), can_connect=connections is not None and viewer.can(ADMINS_ONLY),
                  connectors=connections.connectors if connections is not None else {}, connections=statuses,
                  failing=sorted(a for a, s in statuses.items() if s.failing
                                 and any(h.account.id == a for h in health)),
                  notice=request.query.get("notice"))
    if connections is not None and viewer.can(ADMINS_ONLY):  # 接続する leads the browser to the consent pages
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'", " ".join(["form-action 'self'", *connections.consent_origins()]))
    return response


async def _reason(request: web.Request, field: str = "reason") -> str:
    value = bounded(str((await request.post()).get(field) or ""), field).strip()
    if not value:
        raise InputError("理由を入力してください", [FieldProblem(field, "missing", "必須項目です")])
    return value


async def stop(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    require_account_id(viewer.actor, gw.policies, request.match_info["id"], "このアカウントの停止")
    held = await service_for(request, gw).stop(request.match_info["id"], viewer.actor.name, await _reason(request))
    raise web.HTTPSeeOther(f"/console/accounts?notice=stopped:{held}")


async def resume(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    require_account_id(viewer.actor, gw.policies, request.match_info["id"], "このアカウントの再開")
    released = await service_for(request, gw).resume(request.match_info["id"], viewer.actor.name,
                                                     await _reason(request))
    raise web.HTTPSeeOther(f"/console/accounts?notice=resumed:{released}")


async def rotation(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    require_account_id(viewer.actor, gw.policies, request.match_info["id"], "このアカウントの認証情報の記録")
    await service_for(request, gw).record_rotation(request.match_info["id"], viewer.actor.name,
                                                   await _reason(request))
    raise web.HTTPSeeOther("/console/accounts?notice=rotated")


async def resolve_hijack(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    alert_id = row_id(request.match_info["id"])
    if alert_id is None:
        raise InputError("警告の番号が正しくありません", [FieldProblem("id", "invalid", "数字")])
    note = await _reason(request, "note")
    found = await service_for(request, gw).hijack_alert(alert_id)
    require_account_id(viewer.actor, gw.policies, found.account, "この警告の対応")
    await service_for(request, gw).resolve_hijack(alert_id, viewer.actor.name, note)
    raise web.HTTPSeeOther("/console/accounts?notice=resolved")
