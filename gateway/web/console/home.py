"""トップ (`/console/`): "is everything all right?" for the viewer's cities at a glance: posts waiting for
approval, deliveries held, failed or unconfirmed, accounts paused, stopped or suspected hijacked, alerts
held for an operator, and the last emergency post. Every count is the database's, within the viewer's
scope; each line links to the page where it is dealt with."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from gateway.access import may_see
from gateway.models import DeliveryState, MessageState, Priority
from gateway.services.messages import Gateway
from gateway.store.listings import DeliveryQuery, MessageQuery
from gateway.web.accounts_api import service_for
from gateway.web.alerts_api import held_visible
from gateway.web.api import APPROVERS, OPERATORS_APPROVERS
from gateway.web.console.context import Viewer, render
from gateway.web.keys import ALERT_INTAKE


@dataclass(frozen=True)
class Line:
    label: str
    count: int
    href: str
    trouble: bool  # needs someone now (a failure, a stop, a held alert), not just work waiting


async def page(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    scope = viewer.actor.scope
    lines = [Line("承認待ちの投稿", await gw.count_messages(MessageQuery(
                      states=(MessageState.PENDING_APPROVAL,), scope=scope)),
                  "/console/approvals" if viewer.can(APPROVERS)
                  else "/console/posts?state=pending_approval", False)]
    for state, label, trouble in ((DeliveryState.HELD, "保留中の配信（時間外・予約・停止）", False),
                                  (DeliveryState.RETRY_WAIT, "再試行待ちの配信", False),
                                  (DeliveryState.FAILED, "失敗した配信", True),
                                  (DeliveryState.UNCERTAIN, "送信できたか確認中の配信", True)):
        count = await gw.count_deliveries(DeliveryQuery(states=(state,), scope=scope))
        lines.append(Line(label, count, f"/console/deliveries?state={state.value}", trouble))
    health = [h for h in await service_for(request, gw).health()
              if may_see(viewer.actor, h.municipality.id, h.account.id)]
    lines += [Line("停止中のアカウント", sum(h.stopped for h in health), "/console/accounts", True),
              Line("一時停止中のアカウント（送信回数の上限）", sum(h.paused_until is not None for h in health),
                   "/console/accounts", False),
              Line("乗っ取りの疑い", sum(len(h.open_hijack_alerts) for h in health), "/console/accounts", True)]
    intake = request.app.get(ALERT_INTAKE)
    if intake is not None and viewer.can(OPERATORS_APPROVERS):  # those who see 要確認の防災情報
        held = [e for e in await intake.list_held(states=("held",), limit=200) if held_visible(viewer.actor, e)]
        lines.append(Line("確認待ちの防災情報", len(held), "/console/alerts", True))
    emergencies = await gw.page_messages(MessageQuery(scope=scope, category="emergency"), limit=1)
    latest = emergencies[0] if emergencies and emergencies[0].priority is Priority.EMERGENCY else None
    attention = [line for line in lines if line.trouble and line.count]
    return render(request, "home.html", viewer, lines=lines, attention=attention, latest=latest)
