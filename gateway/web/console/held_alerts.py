"""要確認の防災情報 (operators; approvers read): alerts the gateway held instead of posting.

An alert older than its freshness window, past its expiry or dated in the future waits here with
the reason and what publishing it would post; an operator publishes it (the post states its issue
date, with the year) or records why it is not posted. Restricted and private CAP alerts are shown
for information only: they are never posted.
"""

from __future__ import annotations

from aiohttp import web

from gateway.errors import FieldProblem, InputError
from gateway.services.messages import Gateway
from gateway.web.alerts_api import HOLD_CODES, held_visible
from gateway.web.api import OPERATORS
from gateway.web.console.context import Viewer, render
from gateway.web.fields import bounded
from gateway.web.keys import ALERT_INTAKE

_VIEWS = {"waiting": ("held", "restricted"), "decided": ("published", "dismissed")}


async def page(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    view = request.query.get("view", "waiting")
    states = _VIEWS.get(view, _VIEWS["waiting"])
    held = await request.app[ALERT_INTAKE].list_held(states=states, limit=200)
    entries = [e for e in held if held_visible(viewer.actor, e)]
    names = {m.id: m.name for m in gw.policies}
    return render(request, "held_alerts.html", viewer, entries=entries, view=view if view in _VIEWS else "waiting",
                  names=names, labels=HOLD_CODES, can_act=viewer.can(OPERATORS),
                  notice=request.query.get("notice"))


async def publish(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    note = await _note(request) or None
    _, result = await request.app[ALERT_INTAKE].publish_held(request.match_info["id"], viewer.actor, note)
    raise web.HTTPSeeOther(f"/console/alerts?notice=published:{len(result.messages)}")


async def dismiss(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    note = await _note(request)
    if not note:
        raise InputError("掲載しない理由を入力してください", [FieldProblem("note", "missing", "必須項目です")])
    await request.app[ALERT_INTAKE].dismiss_held(request.match_info["id"], viewer.actor, note)
    raise web.HTTPSeeOther("/console/alerts?notice=dismissed")


async def _note(request: web.Request) -> str:
    return bounded(str((await request.post()).get("note") or ""), "note").strip()

