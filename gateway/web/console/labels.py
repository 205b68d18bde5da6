"""Japanese words for states, platforms, roles and times as staff read them in the console."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.models import PLATFORM_SPECS, DeliveryState, Message, MessageState, Priority, Role
from gateway.policy import ALERT_KINDS, CATEGORIES

JST = ZoneInfo("Asia/Tokyo")

DELIVERY_STATES = {
    DeliveryState.PLANNED: "計画済み", DeliveryState.HELD: "保留（時間外・予約）", DeliveryState.QUEUED: "送信待ち",
    DeliveryState.SENDING: "送信中", DeliveryState.SENT: "送信済み", DeliveryState.RETRY_WAIT: "再試行待ち",
    DeliveryState.FAILED: "失敗", DeliveryState.UNCERTAIN: "確認中（送信済みか不明）",
    DeliveryState.SKIPPED: "対象外", DeliveryState.CANCELLED: "取消", DeliveryState.RETRACTED: "取り下げ済み",
}
MESSAGE_STATES = {
    MessageState.PENDING_APPROVAL: "承認待ち", MessageState.APPROVED: "承認済み", MessageState.PLANNED: "配信計画済み",
    MessageState.SENT: "配信済み",
    MessageState.REJECTED: "差し戻し", MessageState.CANCELLED: "取消", MessageState.RETRACTED: "取り下げ済み",
}
PLATFORMS = {platform: declared.label for platform, declared in PLATFORM_SPECS.items()}
PRIORITIES = {Priority.EMERGENCY: "緊急", Priority.HIGH: "高", Priority.NORMAL: "通常", Priority.LOW: "低"}
ROLES = {Role.STAFF: "運用投稿者", Role.APPROVER: "承認者", Role.OPERATOR: "運用担当",
         Role.ALERT_SYSTEM: "防災システム", Role.ADMIN: "管理者"}

PREAUTHORIZED = {"on_website": "市のサイトに掲載済み（ア）", "established_fact": "行事の結果などの確定した事実（イ）",
                 "legal_procedure": "法令で定められた手続（ウ）", "disaster": "災害などの緊急性の高い情報（エ）"}


def exemption(value: str) -> str:
    """An exemption recorded at intake (`ApprovalRule.exemption`) in words."""
    kind, _, detail = str(value).partition(":")
    if kind == "preauthorized":
        return f"事前許可の種類: {PREAUTHORIZED.get(detail, detail)}（承認なし）"
    return {"routine_no_approval": "通常の投稿のため承認不要（美祢市 第4-6）",
            "alert_system": "防災情報システムからの緊急情報（承認不要）"}.get(kind, str(value))


HELD_STATES = {"held": "要確認", "restricted": "限定配信（掲載不可）", "published": "掲載済み", "dismissed": "見送り"}

# Error codes of the ledger in words a staff member can act on.
ERRORS = {
    "auth": "認証が切れています。担当者がアカウントを再認証する必要があります",
    "rate_limited": "送信回数の上限に達したため、時間をおいて自動で再送します",
    "retryable": "一時的な障害のため、時間をおいて自動で再送します",
    "uncertain": "送信できたか不明のため、投稿の有無を確認しています",
    "permanent": "プラットフォームが投稿を受け付けませんでした（内容を見直してください）",
    "publish_error": "送信に失敗しました",
}


# What an audit entry records, in words (`delivery.<state>` and `message.<state>` read through the state tables).
AUDIT_ACTIONS = {
    "access.denied": "権限外の操作を拒否", "account.paused": "アカウントを一時停止",
    "account.stopped": "アカウントを停止",
    "account.resumed": "アカウントを再開", "account.hijack_suspected": "乗っ取りの疑いを検出",
    "account.hijack_resolved": "乗っ取りの疑いを解除", "credentials.rotated": "認証情報を更新",
    "delivery.claimed": "配信: 送信を開始", "delivery.created": "配信: 作成",
    "delivery.released": "配信: 送信を再開待ちに戻す",
    "delivery.retract_failed": "配信: 取り下げに失敗", "media.uploaded": "添付ファイルを登録",
    "message.accepted": "投稿: 受付", "message.step_approved": "投稿: 段階の承認",
    "message.revised": "投稿: 編集（承認やり直し）", "draft.saved": "下書きを保存",
    "draft.deleted": "下書きを削除",
    "token.created": "API トークンを発行", "token.revoked": "API トークンを失効", "user.created": "利用者を登録",
    "user.password_set": "パスワードを設定", "user.role_changed": "役割を変更", "user.scope_changed": "担当範囲を変更",
    "user.signed_out": "ログアウト", "user.unlocked": "ロックを解除",
}


def audit_action(code: str) -> str:
    """An audit action code (`message.retracted`) in words (投稿: 取り下げ済み); an unknown code as it is."""
    if code in AUDIT_ACTIONS:
        return AUDIT_ACTIONS[code]
    kind, _, state = code.partition(".")
    if kind in ("message", "delivery") and state:
        words = state_words(state, delivery=kind == "delivery")
        if words != state:
            return f"{'投稿' if kind == 'message' else '配信'}: {words}"
    return code


def state_words(value: str | None, delivery: object = False) -> str:
    """A message or (`delivery` truthy: a delivery's event) delivery state as recorded in the audit log
    (`pending_approval`, `sent`) in words."""
    if not value:
        return ""
    tables: tuple[dict[Any, str], ...] = (DELIVERY_STATES, MESSAGE_STATES) if delivery else (MESSAGE_STATES,
                                                                                             DELIVERY_STATES)
    for table in tables:
        for state, words in table.items():
            if state.value == value:
                return words
    return value


def jst(value: datetime | None) -> str:
    return value.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S") if value else "—"


def error_words(code: str | None, text: str | None) -> str:
    if not code and not text:
        return ""
    plain = ERRORS.get(code or "", "")
    return f"{plain}（{text}）" if plain and text else plain or text or code or ""


def post_words(body: Message, limit: int = 40) -> str:
    """What staff recognise a post by: its title, else its text's first line, shortened to `limit`."""
    lines = body.text.strip().splitlines()
    words = (body.title or (lines[0] if lines else "")).strip()
    return words if len(words) <= limit else words[: limit - 1] + "…"


def _label(table: dict[Any, str]) -> Any:
    return lambda value: table.get(value, str(value))


GLOBALS: dict[str, Any] = {"categories": CATEGORIES, "delivery_states": DELIVERY_STATES, "platforms": PLATFORMS,
                           "priorities": PRIORITIES, "roles": ROLES, "preauthorized_kinds": PREAUTHORIZED,
                           "message_states": MESSAGE_STATES}
FILTERS: dict[str, Any] = {
    "jst": jst, "delivery_state": _label(DELIVERY_STATES), "message_state": _label(MESSAGE_STATES),
    "platform": _label(PLATFORMS), "priority": _label(PRIORITIES), "role": _label(ROLES),
    "category": lambda value: CATEGORIES.get(value, value), "error_words": error_words,
    "held_state": _label(HELD_STATES), "exemption": exemption, "audit_action": audit_action,
    "state_words": state_words, "post_words": post_words,
    "alert_kind": lambda value: ALERT_KINDS.get(value or "", value or "—"),
}
