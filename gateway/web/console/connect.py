"""Connecting accounts from the console (city admins): start, the platforms' callback, a Page choice.

The consent's `state` and PKCE verifier are bound to the admin's session (a digest of its CSRF
token, which only that cookie carries); the callback refuses an unknown, used, expired or foreign
state with a Japanese page. Tokens go straight into the encrypted credentials file.
"""

from __future__ import annotations

import hashlib

from aiohttp import web

from gateway.connections import ConnectionService, Pending
from gateway.errors import Forbidden, InputError
from gateway.services.messages import Gateway
from gateway.web.console.context import Viewer, render
from gateway.web.fields import bounded

CONNECTIONS: web.AppKey[ConnectionService] = web.AppKey("connections", ConnectionService)


def service_of(request: web.Request) -> ConnectionService:
    found = request.app.get(CONNECTIONS)
    if found is None:
        raise InputError("このゲートウェイではコンソールからのアカウント接続が有効になっていません",
                         code="connect_unavailable")
    return found


def session_key(viewer: Viewer) -> str:
    return hashlib.sha256(("connect:" + viewer.session.csrf).encode()).hexdigest()


async def start(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    # Another city's account is refused before anything else is said about it or about this gateway.
    found = gw.policies.account(request.match_info["id"])
    if found is not None and not viewer.actor.scope.covers_account(found[0].id, found[1].id):
        raise Forbidden(f"アカウントの接続は、{found[0].name}の管理者だけができます")
    service = service_of(request)
    _, account = service.require_admin(viewer.actor.name, viewer.actor.role, viewer.actor.scope.covers_account,
                                       request.match_info["id"])
    connector = service.connector(account)
    if not connector.uses_consent:
        form = await request.post()
        values = {name: bounded(str(form.get(name) or ""), name) for name, _ in connector.form_fields}
        await service.issue(account, values, actor=viewer.actor.name)
        raise web.HTTPSeeOther(f"/console/accounts?notice=connected:{account.id}")
    url = service.begin(account, actor=viewer.actor.name, session_key=session_key(viewer),
                        origin=str(request.url.origin()))
    raise web.HTTPSeeOther(url)


async def callback(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    service = service_of(request)
    pending = service.take(request.query.get("state", ""), session_key=session_key(viewer))
    service.require_admin(viewer.actor.name, viewer.actor.role, viewer.actor.scope.covers_account,
                          pending.account_id)
    chosen = await service.complete(pending, code=request.query.get("code", ""),
                                    error=request.query.get("error", ""))
    if chosen is not None:
        return _choose_page(request, viewer, chosen)
    raise web.HTTPSeeOther(f"/console/accounts?notice=connected:{pending.account_id}")


async def choose(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    service = service_of(request)
    form = await request.post()
    state = bounded(str(form.get("state") or ""), "state")
    pending = service.take(state, session_key=session_key(viewer))
    service.require_admin(viewer.actor.name, viewer.actor.role, viewer.actor.scope.covers_account,
                          pending.account_id)
    await service.choose(pending, bounded(str(form.get("choice") or ""), "choice"))
    raise web.HTTPSeeOther(f"/console/accounts?notice=connected:{pending.account_id}")


def _choose_page(request: web.Request, viewer: Viewer, pending: Pending) -> web.StreamResponse:
    return render(request, "connect_choose.html", viewer, account_id=pending.account_id, state=pending.state,
                  options=pending.options)
