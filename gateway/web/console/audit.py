"""Audit log: search by actor, action, message id and free text; CSV export for Excel."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from aiohttp import web

from gateway.access import may_see
from gateway.models import Actor
from gateway.services.messages import Gateway
from gateway.store.listings import AuditQuery
from gateway.store.records import AuditEvent
from gateway.web.console.context import Viewer, render
from gateway.web.console.deliveries import post_label
from gateway.web.console.labels import jst
from gateway.web.console.pages import Pages, page_number
from gateway.web.fields import MAX_SEARCH_CHARS, bounded

PAGE_SIZE = 100
EXPORT_BATCH = 1000
COLUMNS = ("日時", "実行者", "操作", "投稿ID", "配信ID", "変更前", "変更後", "理由", "詳細")
FIELDS = ("actor", "action", "message_id", "text")


def audit_query(request: web.Request, gw: Gateway, actor: Actor) -> tuple[dict[str, str], AuditQuery]:
    """The search terms and the query the database answers: terms, and the reader's scope (the events of
    messages and accounts in scope, and their own)."""
    q = {k: bounded(request.query.get(k, ""), k, MAX_SEARCH_CHARS).strip() for k in FIELDS}
    accounts = tuple(sorted(a.id for m in gw.policies for a in m.accounts if may_see(actor, m.id, a.id)))
    return q, AuditQuery(actor=q["actor"] or None, action=q["action"] or None, message_id=q["message_id"] or None,
                         text=q["text"] or None, scope=actor.scope, accounts=accounts, reader=actor.name)


async def page(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    q, query = audit_query(request, gw, viewer.actor)
    number = page_number(request)
    events = await gw.page_audit(query, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
    total = await gw.count_audit(query)
    records = await gw.messages_by_id({e.message_id for e in events if e.message_id})
    return render(request, "audit.html", viewer, q=q, events=events, query=request.query_string,
                  posts={mid: post_label(record) for mid, record in records.items()},
                  pages=Pages.of(request, number, total, PAGE_SIZE))


async def export_csv(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    """Every matching event, newest first, written in batches as they are read (no row left out, no
    whole log held in memory)."""
    _, query = audit_query(request, gw, viewer.actor)
    response = web.StreamResponse(headers={"Content-Type": "text/csv; charset=utf-8",
                                           "Content-Disposition": 'attachment; filename="audit.csv"',
                                           "Cache-Control": "no-store"})
    await response.prepare(request)
    await response.write(("\ufeff" + to_csv([])).encode("utf-8"))  # the BOM makes Excel read UTF-8
    before: int | None = None
    while True:
        batch = await gw.page_audit(query, limit=EXPORT_BATCH, before_id=before)
        if not batch:
            break
        await response.write(to_csv(batch, header=False).encode("utf-8"))
        before = batch[-1].id
    await response.write_eof()
    return response


def to_csv(events: Sequence[AuditEvent], *, header: bool = True) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(COLUMNS)
    for e in events:
        writer.writerow([jst(e.at), e.actor, e.action, e.message_id or "", e.delivery_id or "", e.from_state or "",
                         e.to_state or "", _cell(e.reason or ""),
                         _cell(json.dumps(dict(e.detail), ensure_ascii=False, default=str))])
    return out.getvalue()


def _cell(value: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection): a reason typed as =HYPERLINK(...) stays text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
