"""Deliveries (operator): the message × account table with filters, live rows over SSE, and actions."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from gateway.access import may_see, require_account_id
from gateway.errors import FieldProblem, InputError
from gateway.models import Actor, Delivery, DeliveryState, MediaKind, Platform, Priority
from gateway.services.messages import Gateway
from gateway.store.listings import DeliveryQuery
from gateway.store.records import MessageRecord
from gateway.web.api import OPERATORS, OPERATORS_APPROVERS
from gateway.web.console.context import JINJA, Viewer, render
from gateway.web.console.labels import post_words
from gateway.web.console.pages import Pages, page_number
from gateway.web.console.streams import STREAMS, Stream
from gateway.web.fields import bounded
from gateway.web.security import apply_security_headers

POLL_S = 0.5  # the SSE handler re-reads the store: works the same with several processes on PostgreSQL
KEEPALIVE_S = 15.0
RECOUNT_POLLS = 10  # with no changed row on the page, the total is re-read every 10 polls (5 s)
PAGE_SIZE = 50


@dataclass(frozen=True)
class Filters:
    state: str = ""
    account: str = ""
    platform: str = ""
    priority: str = ""

    @classmethod
    def of(cls, request: web.Request) -> Filters:
        q = request.query
        filters = cls(q.get("state", ""), q.get("account", ""), q.get("platform", ""), q.get("priority", ""))
        filters.validate()
        return filters

    def validate(self) -> None:
        for name, value, kind in (("state", self.state, DeliveryState), ("platform", self.platform, Platform),
                                  ("priority", self.priority, Priority)):
            if value and value not in {v.value for v in kind}:
                raise InputError(f"{name} が不明です", [FieldProblem(name, "enum", "一覧から選んでください")])

    def query(self, actor: Actor) -> DeliveryQuery:
        """The filters and the viewer's cities and accounts, all decided in the database's query."""
        return DeliveryQuery(states=(DeliveryState(self.state),) if self.state else None,
                             account=self.account or None, platform=Platform(self.platform) if self.platform else None,
                             priority=Priority(self.priority) if self.priority else None, scope=actor.scope)

    async def load(self, gw: Gateway, actor: Actor, page: int = 1) -> list[Delivery]:
        """One page of the viewer's deliveries, emergencies first (the live stream reads the same page)."""
        return await gw.page_deliveries(self.query(actor), limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)

    def check_scope(self, gw: Gateway, actor: Actor) -> None:
        if self.account:
            require_account_id(actor, gw.policies, self.account, "このアカウントの配信の閲覧")


@dataclass(frozen=True)
class PostLabel:
    """What an operator recognises a delivery's post by: its title or opening words, its first uploaded
    image (a thumbnail served by id) and how many files it carries."""

    words: str
    thumb_id: str | None = None
    thumb_alt: str = ""
    files: int = 0


def post_label(record: MessageRecord) -> PostLabel:
    body = record.body
    words = post_words(body)
    image = next((m for m in body.media if m.kind is MediaKind.IMAGE and m.id), None)
    return PostLabel(words, image.id if image else None, image.alt_text or "" if image else "", len(body.media))


async def labels_of(gw: Gateway, deliveries: Sequence[Delivery]) -> dict[str, PostLabel]:
    """message id -> its label, for a page of deliveries (one query)."""
    records = await gw.messages_by_id({d.message_id for d in deliveries})
    return {mid: post_label(record) for mid, record in records.items()}


def row_html(request: web.Request, gw: Gateway, viewer: Viewer, delivery: Delivery,
             post: PostLabel | None = None) -> str:
    template = request.app[JINJA].get_template("delivery_row.html")
    return template.render(d=delivery, viewer=viewer, can_act=viewer.can(OPERATORS), post=post,
                           account=gw.policies.account_label(delivery.account),
                           can_retract=viewer.can(OPERATORS_APPROVERS))


async def table(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    filters = Filters.of(request)
    filters.check_scope(gw, viewer.actor)
    number = page_number(request)
    rows = await filters.load(gw, viewer.actor, number)
    total = await gw.count_deliveries(filters.query(viewer.actor))
    accounts = sorted(a.id for m in gw.policies for a in m.accounts if may_see(viewer.actor, m.id, a.id))
    posts = await labels_of(gw, rows)
    return render(request, "deliveries.html", viewer,
                  rows=[row_html(request, gw, viewer, d, posts.get(d.message_id)) for d in rows],
                  filters=filters, accounts=accounts, can_act=viewer.can(OPERATORS),
                  query=request.query_string, notice=request.query.get("notice"),
                  pages=Pages.of(request, number, total, PAGE_SIZE))


async def events(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    """Server-Sent Events: one `row` event per delivery whose updated_at changed since the last poll."""
    filters = Filters.of(request)
    filters.check_scope(gw, viewer.actor)
    with request.app[STREAMS].hold(viewer.actor.name) as stream:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                               "X-Accel-Buffering": "no"})
        apply_security_headers(request, response)  # the middleware cannot add them once it is sent
        await response.prepare(request)
        with contextlib.suppress(ConnectionResetError):  # the browser went away between two polls
            await _stream(request, response, stream, gw, viewer, filters)
        return response


def summary_html(request: web.Request, number: int, total: int) -> str:
    """The page's 「全 N 件（…件目を表示）」 line, from the same macro the page was rendered with."""
    summary = request.app[JINJA].get_template("_pages.html").module.summary  # type: ignore[attr-defined]
    return str(summary(Pages.of(request, number, total, PAGE_SIZE)))


async def _stream(request: web.Request, response: web.StreamResponse, stream: Stream, gw: Gateway,
                  viewer: Viewer, filters: Filters) -> None:
    """Write changed rows until the connection closes (the handler is not cancelled when it does), and the
    new total when it changed: a delivery that arrives, or one that leaves the filtered view."""
    number = page_number(request)
    seen: dict[str, datetime] = {d.id: d.updated_at for d in await filters.load(gw, viewer.actor, number)}
    total = await gw.count_deliveries(filters.query(viewer.actor))
    idle = 0.0
    polls = 0
    while _connected(request):
        if await stream.pause(POLL_S):  # the server is shutting down
            break
        polls += 1
        changed = [d for d in await filters.load(gw, viewer.actor, number) if seen.get(d.id) != d.updated_at]
        posts = await labels_of(gw, changed) if changed else {}
        for delivery in reversed(changed):
            seen[delivery.id] = delivery.updated_at
            payload = {"id": delivery.id, "state": delivery.state.value,
                       "emergency": delivery.priority is Priority.EMERGENCY,
                       "html": row_html(request, gw, viewer, delivery, posts.get(delivery.message_id))}
            await response.write(f"event: row\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n".encode())
        if changed or polls % RECOUNT_POLLS == 0:  # a filtered view also loses rows without a change in it
            now = await gw.count_deliveries(filters.query(viewer.actor))
            if now != total:
                total = now
                count = {"total": total, "html": summary_html(request, number, total)}
                await response.write(f"event: total\ndata: {json.dumps(count, ensure_ascii=False)}\n\n".encode())
        idle = 0.0 if changed else idle + POLL_S
        if idle >= KEEPALIVE_S:  # a comment line keeps proxies from closing an idle stream
            await response.write(b": keepalive\n\n")
            idle = 0.0


def _connected(request: web.Request) -> bool:
    transport = request.transport
    return transport is not None and not transport.is_closing()


async def retry(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    await gw.retry_delivery(request.match_info["id"], viewer.actor)
    raise web.HTTPSeeOther("/console/deliveries?notice=retried")


async def cancel(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    await gw.cancel_delivery(request.match_info["id"], viewer.actor)
    raise web.HTTPSeeOther("/console/deliveries?notice=cancelled")


async def form_reason(request: web.Request) -> str:
    """The `reason` field a retraction or a withdrawal needs, required and bounded."""
    form = await request.post()
    reason = bounded(str(form.get("reason") or ""), "reason").strip()
    if not reason:
        raise InputError("取り下げの理由を入力してください", [FieldProblem("reason", "missing", "必須項目です")])
    return reason


async def retract(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    message_id = request.match_info["id"]
    await gw.retract(message_id, viewer.actor, await form_reason(request))
    notice = "schedule_cancelled" if (await request.post()).get("scheduled") == "1" else "retracted"
    raise web.HTTPSeeOther(f"/console/messages/{message_id}?notice={notice}")
