"""The JSON API under /api/v1: one table of routes with the roles each allows.

The table drives routing, the role checks and /openapi.json, so the three cannot disagree.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from aiohttp import web

from gateway.access import require_account_id
from gateway.errors import Conflict, FieldProblem, InputError
from gateway.models import Actor, DeliveryState, Platform, Priority, Role, ascii_digits
from gateway.pipeline.intake.validation import parse_message
from gateway.policy import CATEGORIES
from gateway.services.messages import Gateway
from gateway.store.listings import DeliveryQuery
from gateway.store.records import MessageRecord
from gateway.web import accounts_api, alerts_api, drafts_api, messages_api
from gateway.web.cursors import paged, read_cursor
from gateway.web.fields import bounded, bounded_overrides, idempotency_key
from gateway.web.jsonio import dumps, iso, object_field, query_limit, read_json
from gateway.web.media_api import post_media
from gateway.web.shapes import delivery_json, message_json

Handler = Callable[[web.Request, Gateway, Actor], Awaitable[web.StreamResponse]]

STAFF = frozenset({Role.STAFF, Role.APPROVER})
APPROVERS = frozenset({Role.APPROVER})
READERS = frozenset({Role.STAFF, Role.APPROVER, Role.OPERATOR})
OPERATORS = frozenset({Role.OPERATOR})
OPERATORS_APPROVERS = frozenset({Role.OPERATOR, Role.APPROVER})
ALERT_SYSTEMS = frozenset({Role.ALERT_SYSTEM})


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    roles: frozenset[Role]  # admin is always allowed
    summary: str
    body: str | None = None  # name of the request schema in openapi


# -- handlers ----------------------------------------------------------------------------------

async def post_message(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    message = parse_message(await read_json(request))
    key = idempotency_key(request.headers.get("Idempotency-Key"))
    submitted = await gw.submit(message, actor, source="api", idempotency_key=key)
    deliveries = await gw.list_deliveries(message_id=submitted.record.id)
    body = message_json(submitted.record, deliveries)
    body["approval"] = submitted.approval_reason
    status = 201 if submitted.created else 200
    headers = {} if submitted.created else {"Idempotent-Replayed": "true"}
    return web.json_response(body, status=status, headers=headers, dumps=_dumps)


async def get_message(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    record = await gw.read_message(request.match_info["id"], actor)
    deliveries = await gw.list_deliveries(message_id=record.id)
    body = message_json(record, deliveries)
    body["approval_route"] = await route_json(gw, record)
    return web.json_response(body, dumps=_dumps)


async def route_json(gw: Gateway, record: MessageRecord) -> list[dict[str, Any]]:
    """The route's steps with who approved each so far (empty for a city without configuration)."""
    try:
        route, done = await gw.approval_state(record)
    except Conflict:
        return []
    by_step = {a.step: a for a in done}
    return [{"step": i + 1, "name": step.name, "who": step.who(),
             "approved_by": by_step[i].approver if i in by_step else None,
             "approved_at": iso(by_step[i].at) if i in by_step else None,
             "official_view": by_step[i].official_view if i in by_step else None}
            for i, step in enumerate(route)]


async def approve_message(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    data = await read_json(request) if request.can_read_body else {}
    overrides = object_field(data, "overrides", dict) or {}
    if not all(isinstance(v, str) for v in overrides.values()):
        raise InputError("overrides の理由は文字列で指定してください",
                         [FieldProblem("overrides", "invalid_type", "理由は文字列で指定してください")])
    bounded_overrides(overrides)
    official_view = bool(object_field(data, "official_view", bool))
    submitted = await gw.approve(request.match_info["id"], actor, overrides, official_view=official_view)
    body = message_json(submitted.record, submitted.deliveries)
    body["approval"] = submitted.approval_reason
    body["approval_route"] = await route_json(gw, submitted.record)
    return web.json_response(body, dumps=_dumps)


async def reject_message(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    data = await read_json(request) if request.can_read_body else {}
    comment = bounded(object_field(data, "comment", str) or "", "comment")
    record = await gw.reject(request.match_info["id"], actor, comment)
    return web.json_response(message_json(record), dumps=_dumps)


async def _withdrawal_reason(request: web.Request) -> str:
    """The `reason` a retraction or a withdrawal needs, required and bounded."""
    data = await read_json(request) if request.can_read_body else {}
    reason = bounded(object_field(data, "reason", str) or "", "reason").strip()
    if not reason:
        raise InputError("取り下げの理由を入力してください", [FieldProblem("reason", "missing", "必須項目です")])
    return reason


async def retract_message(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    deliveries = await gw.retract(request.match_info["id"], actor, await _withdrawal_reason(request))
    record = await gw.message(request.match_info["id"])
    return web.json_response(message_json(record, deliveries), dumps=_dumps)


async def withdraw_message(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    record = await gw.withdraw(request.match_info["id"], actor, await _withdrawal_reason(request))
    return web.json_response(message_json(record, []), dumps=_dumps)


def _expected_revision(request: web.Request) -> int | None:
    """`If-Match: 2` (or `"2"`): the version the editor saw; a later one answers 409."""
    raw = request.headers.get("If-Match", "").strip().strip('"')
    if not raw:
        return None
    if not ascii_digits(raw) or len(raw) > 6:
        raise InputError("If-Match には編集する版の番号を指定してください",
                         [FieldProblem("If-Match", "invalid", "版の番号（revision）を数字で指定してください")])
    return int(raw)


async def put_message(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    message = parse_message(await read_json(request))
    record = await gw.revise(request.match_info["id"], message, actor, expected_revision=_expected_revision(request))
    return web.json_response(message_json(record, []), dumps=_dumps)


async def list_deliveries(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    """Newest first, filtered and scoped in the database: a filter (say `priority=emergency`) finds every
    matching delivery however many others there are. `next_cursor` fetches the next page (`cursor=`)."""
    account = request.query.get("account") or None
    if account is not None:
        require_account_id(actor, gw.policies, account, "このアカウントの配信の閲覧")
    message_id = request.query.get("message_id") or None
    if message_id is not None and not actor.scope.is_global:
        await gw.read_message(message_id, actor)
    query = DeliveryQuery(states=_enum_list(request, "state", DeliveryState), account=account, message_id=message_id,
                          platform=_enum(request, "platform", Platform), priority=_enum(request, "priority", Priority),
                          scope=actor.scope)
    limit = query_limit(request)
    page, cursor = paged(await gw.deliveries_after(query, limit=limit + 1, after=read_cursor(request)), limit)
    body = {"deliveries": [delivery_json(d) for d in page], "next_cursor": cursor}
    return web.json_response(body, dumps=_dumps)


_E = TypeVar("_E", bound=Enum)


def _enum_list(request: web.Request, name: str, kind: type[_E]) -> tuple[_E, ...] | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return tuple(kind(v) for v in raw.split(","))
    except ValueError:
        known = "、".join(str(v.value) for v in kind)
        raise InputError(f"{name} が不明です", [FieldProblem(name, "enum", f"指定できる値: {known}")]) from None


def _enum(request: web.Request, name: str, kind: type[_E]) -> _E | None:
    values = _enum_list(request, name, kind)
    if values is not None and len(values) != 1:
        raise InputError(f"{name} は1つだけ指定してください", [FieldProblem(name, "enum", "1つだけ指定できます")])
    return values[0] if values else None


async def retry_delivery(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    delivery = await gw.retry_delivery(request.match_info["id"], actor)
    return web.json_response(delivery_json(delivery), dumps=_dumps)


async def cancel_delivery(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    delivery = await gw.cancel_delivery(request.match_info["id"], actor)
    return web.json_response(delivery_json(delivery), dumps=_dumps)


async def list_categories(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    return web.json_response({"categories": dict(CATEGORIES)}, dumps=_dumps)


def _dumps(value: Any) -> str:
    return dumps(value)


_HELD_ROUTES: tuple[tuple[str, str, Handler, frozenset[Role], str, str | None], ...] = (
    ("GET", "", alerts_api.list_held, OPERATORS_APPROVERS,
     "要確認の防災情報（古い・期限切れ・限定配信）の一覧（?state=held,restricted,published,dismissed、?municipality=）",
     None),
    ("GET", "/{id}", alerts_api.get_held, OPERATORS_APPROVERS, "要確認の防災情報（受信した文書を含む）", None),
    ("POST", "/{id}/publish", alerts_api.publish_held, OPERATORS, "要確認の防災情報を掲載する（記録されます）", "Note"),
    ("POST", "/{id}/dismiss", alerts_api.dismiss_held, OPERATORS, "要確認の防災情報を掲載しない（理由を記録）", "Note"),
)

ROUTES: tuple[Route, ...] = (
    Route("POST", "/api/v1/messages", post_message, STAFF, "投稿を提出する（Idempotency-Key 対応）", "Message"),
    Route("POST", "/api/v1/media", post_media, STAFF,
          "画像・動画をアップロードする（multipart/form-data の file、メッセージの media[].id に使う id を返す）",
          "MediaUpload"),
    Route("GET", "/api/v1/messages/{id}", get_message, READERS, "投稿と配信状況を取得する"),
    Route("POST", "/api/v1/messages/{id}/approve", approve_message, APPROVERS, "承認する（四つの目）", "Approve"),
    Route("POST", "/api/v1/messages/{id}/reject", reject_message, APPROVERS, "差し戻す", "Reject"),
    Route("POST", "/api/v1/messages/{id}/retract", retract_message, OPERATORS_APPROVERS,
          "全プラットフォームから削除する", "Retract"),
    Route("POST", "/api/v1/messages/{id}/withdraw", withdraw_message, STAFF,
          "承認前の投稿の提出を取り下げる（提出者または承認者）", "Reason"),
    Route("PUT", "/api/v1/messages/{id}", put_message, STAFF,
          "承認待ち・差し戻しの投稿を編集する（新しい版: チェックをやり直し、承認は最初の段階から。提出者または承認者。"
          "If-Match に編集する版の番号）", "Message"),
    Route("POST", "/api/v1/drafts", drafts_api.post_draft, STAFF,
          "下書きを保存する（チェックせず、本人と管理者だけに見える）", "Message"),
    Route("GET", "/api/v1/drafts", drafts_api.list_drafts, STAFF, "自分の下書きの一覧（管理者は全員の）"),
    Route("GET", "/api/v1/drafts/{id}", drafts_api.get_draft, STAFF, "下書きを取得する"),
    Route("PUT", "/api/v1/drafts/{id}", drafts_api.put_draft, STAFF, "下書きを書き換える（本人のみ）", "Message"),
    Route("DELETE", "/api/v1/drafts/{id}", drafts_api.delete_draft, STAFF, "下書きを削除する"),
    Route("POST", "/api/v1/drafts/{id}/submit", drafts_api.submit_draft, STAFF,
          "下書きを提出する（投稿の提出と同じチェックと承認。提出すると下書きは消えます。Idempotency-Key 対応）"),
    Route("GET", "/api/v1/messages", messages_api.list_messages, READERS,
          "投稿一覧（municipality, state, q, account, category, from, to で絞り込み、limit と cursor でページ送り）"),
    Route("GET", "/api/v1/deliveries", list_deliveries, READERS,
          "配信一覧（state, account, message_id, platform, priority で絞り込み、limit と cursor でページ送り）"),
    Route("POST", "/api/v1/deliveries/{id}/retry", retry_delivery, OPERATORS, "配信を再送する"),
    Route("POST", "/api/v1/deliveries/{id}/cancel", cancel_delivery, OPERATORS, "配信を取り消す"),
    Route("GET", "/api/v1/accounts", accounts_api.list_accounts, READERS, "アカウントの状態"),
    Route("GET", "/api/v1/categories", list_categories, READERS, "カテゴリ一覧"),
    Route("POST", "/api/v1/alerts", alerts_api.post_alert, ALERT_SYSTEMS,
          "防災情報を受信する（気象庁XML・Lアラート・CAP・JSON、?municipality= は対象地域内の絞り込みのみ）", "Alert"),
    *(Route(method, f"/api/v1/{base}{suffix}", handler, roles, summary, body)
      for base in ("held-alerts", "alerts")  # also under /alerts, where an operator may look first
      for method, suffix, handler, roles, summary, body in _HELD_ROUTES),
    # -- account states and hijack alerts
    Route("POST", "/api/v1/accounts/{id}/stop", accounts_api.stop_account, OPERATORS,
          "アカウントを停止し、未送信の配信をすべて保留する（小平 3(7)）", "Reason"),
    Route("POST", "/api/v1/accounts/{id}/resume", accounts_api.resume_account, OPERATORS,
          "停止したアカウントを再開し、保留した配信を送信待ちに戻す", "Reason"),
    Route("POST", "/api/v1/accounts/{id}/rotation", accounts_api.record_rotation, OPERATORS,
          "認証情報の変更を記録する（逗子 3-4(5)、木更津 7(2)）", "Reason"),
    Route("GET", "/api/v1/hijack-alerts", accounts_api.list_hijack_alerts, OPERATORS_APPROVERS,
          "乗っ取りの疑いがある投稿の一覧（?open=true で未対応のみ、?account= で絞り込み）"),
    Route("POST", "/api/v1/hijack-alerts/{id}/resolve", accounts_api.resolve_hijack_alert, OPERATORS,
          "乗っ取り警告を対応済みにする", "Resolve"),
)
