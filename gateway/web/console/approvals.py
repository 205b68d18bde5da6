"""Approval queue (approver) and the page of one message (everyone who may read)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.models import MessageState, Severity
from gateway.service import Gateway
from gateway.store.base import MessageRecord
from gateway.web.api import APPROVERS, OPERATORS_APPROVERS
from gateway.web.console.context import Viewer, render
from gateway.web.console.preview import platform_preview, segments
from gateway.web.console.uploads import media_views
from gateway.web.fields import bounded, bounded_overrides


def view_of(gw: Gateway, record: MessageRecord, viewer: Viewer) -> dict[str, Any]:
    return {"record": record, "segments": segments(record.body.text, record.check), "posts": posts_of(gw, record),
            "media": media_views(record.body.media),
            "reviews": [f for f in record.check.findings if f.severity is Severity.REVIEW],
            "own": record.submitted_by == viewer.actor.name,
            "can_approve": viewer.can(APPROVERS) and record.submitted_by != viewer.actor.name
            and record.state is MessageState.PENDING_APPROVAL}


def posts_of(gw: Gateway, record: MessageRecord) -> list[dict[str, Any]]:
    """What each target account would post, so the approver approves exactly what goes out."""
    municipality = gw.policies.get(record.municipality)
    if municipality is None:
        return []
    accounts = [a for a in (municipality.account(i) for i in record.accounts) if a is not None]
    return [platform_preview(gw.adapters.get(a.platform), record.body, a) for a in accounts]


async def queue(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    records = await gw.store.list_messages(states=[MessageState.PENDING_APPROVAL], limit=200)
    return render(request, "approvals.html", viewer, items=[view_of(gw, r, viewer) for r in records],
                  notice=request.query.get("notice"))


async def message_page(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    record = await gw.store.get_message(request.match_info["id"])
    deliveries = await gw.store.list_deliveries(message_id=record.id)
    return render(request, "message.html", viewer, item=view_of(gw, record, viewer), deliveries=deliveries,
                  can_retract=viewer.can(OPERATORS_APPROVERS), notice=request.query.get("notice"))


async def approve(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    form = await request.post()
    overrides = {key.removeprefix("override_"): str(value) for key, value in form.items()
                 if key.startswith("override_") and str(value).strip()}
    bounded_overrides(overrides, prefix="override_")
    # Only reasons the approver typed are sent; check_can_approve names each review finding left open.
    record = await gw.approve(request.match_info["id"], viewer.actor, overrides)
    raise web.HTTPSeeOther(f"/console/messages/{record.record.id}?notice=approved")


async def reject(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    form = await request.post()
    await gw.reject(request.match_info["id"], viewer.actor, bounded(str(form.get("comment") or ""), "comment"))
    raise web.HTTPSeeOther("/console/approvals?notice=rejected")
