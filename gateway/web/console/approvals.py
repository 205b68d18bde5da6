"""Approval queue (approver) and the page of one message (everyone who may read)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.errors import GatewayError
from gateway.models import Delivery, DeliveryState, MessageState, Severity
from gateway.services.messages import WITHDRAWABLE, Gateway
from gateway.store.listings import MessageQuery
from gateway.store.records import AuditEvent, MessageRecord
from gateway.web.api import APPROVERS, OPERATORS_APPROVERS
from gateway.web.console.context import Viewer, render
from gateway.web.console.deliveries import form_reason
from gateway.web.console.pages import Pages, page_number
from gateway.web.console.preview import account_previews, segments
from gateway.web.console.uploads import media_views
from gateway.web.fields import bounded, bounded_overrides

QUEUE_PAGE = 20  # each post is shown in full with its previews: a page stays readable


async def view_of(gw: Gateway, record: MessageRecord, viewer: Viewer,
                  intake: AuditEvent | None = None) -> dict[str, Any]:
    route, done = await gw.approval_state(record)
    current = min(len(done), len(route) - 1)
    approvers = {a.approver for a in done}
    return {"record": record, "segments": segments(record.body.text, record.check), "posts": posts_of(gw, record),
            "media": media_views(record.body.media),
            "reviews": [f for f in record.check.findings if f.severity is Severity.REVIEW],
            "own": record.submitted_by == viewer.actor.name,
            "route": [{"name": s.name, "who": s.who(), "done": next((a for a in done if a.step == i), None),
                       "current": i == current and record.state is MessageState.PENDING_APPROVAL}
                      for i, s in enumerate(route)],
            "step": route[current], "approved_step": viewer.actor.name in approvers,
            "decides_official_view": _decides_official_view(gw, record),
            "intake": intake.detail if intake is not None else {},
            "can_approve": viewer.can(APPROVERS) and record.submitted_by != viewer.actor.name
            and record.state is MessageState.PENDING_APPROVAL and viewer.actor.name not in approvers
            and route[current].admits(viewer.actor.name, viewer.actor.role)}


def _decides_official_view(gw: Gateway, record: MessageRecord) -> bool:
    municipality = gw.policies.get(record.municipality)
    return municipality is not None and municipality.approval.mode == "official_view_only"


async def intake_events(gw: Gateway, records: list[MessageRecord]) -> dict[str, AuditEvent]:
    """Each message's `message.accepted` row: the approval rule, exemption and emergency reason it recorded."""
    found: dict[str, AuditEvent] = {}
    for record in records:
        events = await gw.list_audit(message_id=record.id, action="message.accepted", limit=1)
        if events:
            found[record.id] = events[0]
    return found


def posts_of(gw: Gateway, record: MessageRecord) -> list[dict[str, Any]]:
    """What each target account would post, so the approver approves exactly what goes out."""
    municipality = gw.policies.get(record.municipality)
    if municipality is None:
        return []
    accounts = [a for a in (municipality.account(i) for i in record.accounts) if a is not None]
    return account_previews(gw, record.body, accounts)


async def queue(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    """The pending messages of the viewer's cities (and accounts), QUEUE_PAGE a page, newest first; the
    scope and the page are the database's query, so another city's backlog hides none of the viewer's.
    On a page, those the viewer may decide come first."""
    query = MessageQuery(states=(MessageState.PENDING_APPROVAL,), scope=viewer.actor.scope)
    number = page_number(request)
    records = await gw.page_messages(query, limit=QUEUE_PAGE, offset=(number - 1) * QUEUE_PAGE)
    total = await gw.count_messages(query)
    intake = await intake_events(gw, records)
    items = [await view_of(gw, r, viewer, intake.get(r.id)) for r in records]
    items.sort(key=lambda item: not item["can_approve"])
    return render(request, "approvals.html", viewer, items=items, notice=request.query.get("notice"),
                  pages=Pages.of(request, number, total, QUEUE_PAGE))


def _editable(gw: Gateway, record: MessageRecord, viewer: Viewer) -> bool:
    try:
        gw.require_editable(record, viewer.actor)
    except GatewayError:
        return False
    return True


def scheduled_delivery(record: MessageRecord, deliveries: list[Delivery]) -> Delivery | None:
    """The first held delivery of an approved post of which nothing has gone out yet (a 予約投稿), else None."""
    if record.state not in (MessageState.APPROVED, MessageState.PLANNED):
        return None
    waiting = [d for d in deliveries if d.state in (DeliveryState.HELD, DeliveryState.SKIPPED)]
    held = sorted((d for d in waiting if d.state is DeliveryState.HELD),
                  key=lambda d: (d.not_before is None, d.not_before or d.created_at))
    return held[0] if held and len(waiting) == len(deliveries) else None


async def message_page(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    record = await gw.read_message(request.match_info["id"], viewer.actor)
    deliveries = await gw.list_deliveries(message_id=record.id)
    intake = await intake_events(gw, [record])
    history = [e for e in await gw.list_audit(message_id=record.id, limit=200) if e.action.startswith("message.")]
    return render(request, "message.html", viewer, item=await view_of(gw, record, viewer, intake.get(record.id)),
                  history=history, can_edit=_editable(gw, record, viewer),
                  scheduled=scheduled_delivery(record, deliveries),
                  deliveries=deliveries, can_retract=viewer.can(OPERATORS_APPROVERS),
                  can_withdraw=record.state in WITHDRAWABLE and (
                      viewer.actor.name == record.submitted_by or viewer.can(APPROVERS)),
                  notice=request.query.get("notice"), held=await held_reasons(gw, deliveries),
                  waiting=sorted((d for d in deliveries if d.state is DeliveryState.HELD),
                                 key=lambda d: (d.not_before is None, d.not_before or d.created_at)))


async def held_reasons(gw: Gateway, deliveries: list[Delivery]) -> dict[str, str]:
    """delivery id -> why it waits (office hours, a scheduled time, a stop), as planning recorded it."""
    if not any(d.state is DeliveryState.HELD for d in deliveries):
        return {}
    events = await gw.list_audit(message_id=deliveries[0].message_id, action="delivery.created", limit=500)
    return {e.delivery_id: e.reason for e in events if e.delivery_id and e.reason}


async def approve(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    form = await request.post()
    overrides = {key.removeprefix("override_"): str(value) for key, value in form.items()
                 if key.startswith("override_") and str(value).strip()}
    bounded_overrides(overrides, prefix="override_")
    # Only reasons the approver typed are sent; check_can_approve names each review finding left open.
    record = await gw.approve(request.match_info["id"], viewer.actor, overrides,
                              official_view=form.get("official_view") == "1")
    notice = "approved" if record.record.state is not MessageState.PENDING_APPROVAL else "step_approved"
    raise web.HTTPSeeOther(f"/console/messages/{record.record.id}?notice={notice}")


async def withdraw(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    record = await gw.withdraw(request.match_info["id"], viewer.actor, await form_reason(request))
    raise web.HTTPSeeOther(f"/console/messages/{record.id}?notice=withdrawn")


async def reject(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    form = await request.post()
    await gw.reject(request.match_info["id"], viewer.actor, bounded(str(form.get("comment") or ""), "comment"))
    raise web.HTTPSeeOther("/console/approvals?notice=rejected")
