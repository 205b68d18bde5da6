"""`GET /api/v1/messages`: the messages a caller may see, filtered and paginated in the database."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from gateway.access import require_city
from gateway.errors import FieldProblem, InputError
from gateway.models import Actor, MessageState, storable_text_problem
from gateway.services.messages import Gateway
from gateway.store.listings import MessageQuery
from gateway.store.records import MessageRecord
from gateway.web.cursors import paged, read_cursor
from gateway.web.fields import MAX_SEARCH_CHARS, bounded
from gateway.web.jsonio import dumps

JST = ZoneInfo("Asia/Tokyo")  # dates typed in filters are Japan dates


def search_term(raw: str, field: str) -> str | None:
    """A typed filter: bounded, and refused (naming the field) when no database could compare it."""
    value = bounded(raw, field, MAX_SEARCH_CHARS).strip()
    if storable_text_problem(value):
        raise InputError(f"{field} に使えない文字が含まれています",
                         [FieldProblem(field, "invalid", "制御文字などを取り除いてください")])
    return value or None


def states_of(raw: str, field: str = "state") -> tuple[MessageState, ...] | None:
    if not raw:
        return None
    try:
        return tuple(MessageState(v) for v in raw.split(","))
    except ValueError:
        known = "、".join(s.value for s in MessageState)
        raise InputError(f"{field} が不明です", [FieldProblem(field, "enum", f"指定できる値: {known}")]) from None


def day_of(raw: str, field: str) -> datetime | None:
    """A date (YYYY-MM-DD, Japan time) as the aware start of that day."""
    if not raw:
        return None
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        raise InputError(f"{field} の日付が正しくありません",
                         [FieldProblem(field, "invalid", "YYYY-MM-DD の形で指定してください")]) from None
    return datetime.combine(day, time(), JST)


def message_query(query: Any, gw: Gateway, actor: Actor) -> MessageQuery:
    """The filters of a listing request (`municipality`, `state`, `q`, `account`, `category`, `from`, `to`),
    within the caller's scope; naming a city outside it is `403 out_of_scope`."""
    municipality = search_term(query.get("municipality", ""), "municipality")
    if municipality is not None:
        require_city(actor, municipality, "この自治体の投稿の閲覧")
    until = day_of(query.get("to", ""), "to")
    return MessageQuery(
        municipality=municipality, states=states_of(query.get("state", "")),
        account=search_term(query.get("account", ""), "account"),
        category=search_term(query.get("category", ""), "category"), text=search_term(query.get("q", ""), "q"),
        since=day_of(query.get("from", ""), "from"), until=until + timedelta(days=1) if until else None,
        scope=actor.scope,
    )


def summary_json(record: MessageRecord) -> dict[str, Any]:
    body = record.body
    return {
        "id": record.id, "municipality": record.municipality, "state": record.state.value,
        "priority": record.priority.value, "category": body.category, "text": body.text, "title": body.title,
        "author": record.submitted_by, "approved_by": record.approved_by, "accounts": list(record.accounts),
        "source": record.source, "verdict": record.check.verdict.value,
        "not_before": body.not_before.isoformat() if body.not_before else None,
        "created_at": record.created_at.isoformat(), "updated_at": record.updated_at.isoformat(),
    }


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "100")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 3 or not 1 <= int(raw) <= 500:
        raise InputError("limit は1〜500の整数にしてください", [FieldProblem("limit", "invalid", "1〜500の整数")])
    return int(raw)


async def list_messages(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    """Newest first; `next_cursor` (null on the last page) is passed back as `cursor` for the next page."""
    query = message_query(request.query, gw, actor)
    limit = _limit(request)
    page, cursor = paged(await gw.page_messages(query, limit=limit + 1, after=read_cursor(request)), limit)
    body = {"messages": [summary_json(r) for r in page], "next_cursor": cursor}
    return web.json_response(body, dumps=dumps)
