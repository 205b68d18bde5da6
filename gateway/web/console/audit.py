"""Audit log: search by actor, action, message id and free text; CSV export for Excel."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from aiohttp import web

from gateway.access import account_visible, may_see
from gateway.models import Actor
from gateway.services.messages import Gateway
from gateway.store.records import AuditEvent
from gateway.web.console.context import Viewer, render
from gateway.web.console.labels import jst
from gateway.web.fields import MAX_SEARCH_CHARS, bounded

LIMIT = 1000
COLUMNS = ("日時", "実行者", "操作", "投稿ID", "配信ID", "変更前", "変更後", "理由", "詳細")


async def search(request: web.Request, gw: Gateway, actor: Actor) -> tuple[dict[str, str], list[AuditEvent]]:
    q = {k: bounded(request.query.get(k, ""), k, MAX_SEARCH_CHARS).strip()
         for k in ("actor", "action", "message_id", "text")}
    events = await gw.list_audit(actor=q["actor"] or None, action=q["action"] or None,
                                       message_id=q["message_id"] or None, limit=LIMIT)
    needle = q["text"].casefold()
    if needle:
        events = [e for e in events if needle in _searchable(e)]
    if not actor.scope.is_global:
        events = await in_scope(gw, actor, events)
    return q, events[::-1]  # newest first


async def in_scope(gw: Gateway, actor: Actor, events: Sequence[AuditEvent]) -> list[AuditEvent]:
    """The events a scoped reader may see: of messages and accounts in scope, and their own."""
    messages = await gw.messages_by_id({e.message_id for e in events if e.message_id})
    kept = []
    for event in events:
        record = messages.get(event.message_id or "")
        account = event.detail.get("account")
        if record is not None:
            visible = all(may_see(actor, record.municipality, a) for a in record.accounts)
        elif isinstance(account, str):
            visible = account_visible(actor, gw.policies, account)
        else:
            visible = event.actor == actor.name
        if visible:
            kept.append(event)
    return kept


def _searchable(event: AuditEvent) -> str:
    return " ".join((event.reason or "", json.dumps(dict(event.detail), ensure_ascii=False, default=str),
                     event.delivery_id or "")).casefold()


async def page(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    q, events = await search(request, gw, viewer.actor)
    return render(request, "audit.html", viewer, q=q, events=events[:300], total=len(events),
                  query=request.query_string)


async def export_csv(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    _, events = await search(request, gw, viewer.actor)
    body = "\ufeff" + to_csv(events)  # the BOM makes Excel read the Japanese text as UTF-8
    return web.Response(body=body.encode("utf-8"), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": 'attachment; filename="audit.csv"',
                                 "Cache-Control": "no-store"})


def to_csv(events: Sequence[AuditEvent]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for e in events:
        writer.writerow([jst(e.at), e.actor, e.action, e.message_id or "", e.delivery_id or "", e.from_state or "",
                         e.to_state or "", _cell(e.reason or ""),
                         _cell(json.dumps(dict(e.detail), ensure_ascii=False, default=str))])
    return out.getvalue()


def _cell(value: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection): a reason typed as =HYPERLINK(...) stays text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
