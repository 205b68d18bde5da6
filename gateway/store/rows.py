"""Conversions between table rows and the records of `gateway.store.base`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python

from gateway.models import CheckResult, Delivery, Message, MessageState, Priority, Role, Scope, message_digest
from gateway.store.records import (
    AccountPause,
    AccountState,
    AlertStamp,
    AuditEvent,
    HeldAlert,
    HijackAlert,
    MessageRecord,
    NewHeldAlert,
    NewMessage,
    User,
)

_DELIVERY_FIELDS = tuple(Delivery.model_fields)

# A SQLAlchemy RowMapping or a plain dict of column values.
RowLike = Mapping[Any, Any]


def message_values(new: NewMessage, *, message_id: str, now: datetime) -> dict[str, Any]:
    return {
        "id": message_id,
        "municipality": new.municipality,
        "state": new.state.value,
        "priority": new.priority.value,
        "priority_rank": new.priority.rank,
        "submitted_by": new.submitted_by,
        "source": new.source,
        "body": new.body.model_dump(mode="json"),
        "body_sha256": message_digest(new.body),
        "check": new.check.model_dump(mode="json"),
        "accounts": list(new.accounts),
        "idempotency_key": new.idempotency_key,
        "approved_by": new.approved_by,
        "overrides": {},
        "alert_key": new.alert_key,
        "note": None,
        "created_at": now,
        "updated_at": now,
        "alert_thread": new.alert.thread if new.alert else None,
        "alert_subject": new.alert.subject if new.alert else None,
        "alert_content": new.alert.content if new.alert else None,
        "alert_issued": new.alert.issued_at if new.alert else None,
        "alert_rank": new.alert.rank if new.alert else None,
    }


def to_message(row: RowLike) -> MessageRecord:
    return MessageRecord(
        id=row["id"],
        municipality=row["municipality"],
        body=Message.model_validate(row["body"]),
        state=MessageState(row["state"]),
        priority=Priority(row["priority"]),
        submitted_by=row["submitted_by"],
        source=row["source"],
        check=CheckResult.model_validate(row["check"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        idempotency_key=row["idempotency_key"],
        approved_by=row["approved_by"],
        overrides=dict(row["overrides"] or {}),
        accounts=tuple(row["accounts"] or ()),
        alert_key=row["alert_key"],
        note=row["note"],
        alert=_stamp(row),
        body_sha256=row.get("body_sha256"),
        revision=int(row.get("revision") or 1),
        revised_by=row.get("revised_by"),
    )


def _stamp(row: RowLike) -> AlertStamp | None:
    if row.get("alert_subject") is None:
        return None
    return AlertStamp(thread=row.get("alert_thread") or "", subject=row["alert_subject"],
                      content=row["alert_content"] or "",
                      issued_at=row["alert_issued"], rank=int(row["alert_rank"] or 0))


def to_delivery(row: RowLike) -> Delivery:
    return Delivery.model_validate({name: row[name] for name in _DELIVERY_FIELDS})


def to_audit(row: RowLike) -> AuditEvent:
    return AuditEvent(
        id=row["id"], at=row["at"], actor=row["actor"], action=row["action"],
        message_id=row["message_id"], delivery_id=row["delivery_id"], from_state=row["from_state"],
        to_state=row["to_state"], reason=row["reason"], detail=dict(row["detail"] or {}),
    )


def to_user(row: RowLike) -> User:
    return User(
        name=row["name"], role=Role(row["role"]), created_at=row["created_at"],
        password_hash=row["password_hash"], disabled=bool(row["disabled"]),
        session_epoch=int(row["session_epoch"]), scope=Scope.from_json(row["scope"]), email=row.get("email"),
    )


def to_pause(row: RowLike) -> AccountPause:
    return AccountPause(account=row["account"], until=row["until"], reason=row["reason"])


def audit_values(
    *, at: datetime, actor: str, action: str, message_id: str | None = None,
    delivery_id: str | None = None, from_state: str | None = None, to_state: str | None = None,
    reason: str | None = None, detail: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "at": at, "actor": actor, "action": action, "message_id": message_id,
        "delivery_id": delivery_id, "from_state": from_state, "to_state": to_state, "reason": reason,
        # Details may carry datetimes and enums; JSON columns need plain values.
        "detail": to_jsonable_python(dict(detail or {})),
    }


# -- account states and hijack alerts -------------------------------------------------------------

def to_account_state(row: RowLike) -> AccountState:
    return AccountState(
        account=row["account"], stopped=bool(row["stopped"]), stop_reason=row["stop_reason"],
        stopped_by=row["stopped_by"], stopped_at=row["stopped_at"], rotated_at=row["rotated_at"],
        rotated_by=row["rotated_by"],
    )


def to_hijack_alert(row: RowLike) -> HijackAlert:
    return HijackAlert(
        id=int(row["id"]), account=row["account"], remote_id=row["remote_id"], text=row["text"], url=row["url"],
        posted_at=row["posted_at"], detected_at=row["detected_at"], resolved_at=row["resolved_at"],
        resolved_by=row["resolved_by"], note=row["note"],
    )


# -- alerts held for an operator --------------------------------------------------------------------

def held_alert_values(new: NewHeldAlert, *, held_id: str, actor: str, now: datetime) -> dict[str, Any]:
    return {
        "id": held_id, "received_at": now, "received_by": actor,
        "state": "restricted" if new.restricted else "held", "hold_code": new.hold_code, "reason": new.reason,
        "format": new.format, "alert_key": new.alert_key, "kind": new.kind, "title": new.title,
        "sender": new.sender, "sent_at": new.sent_at, "drill": new.drill,
        "municipalities": list(new.municipalities), "forced": new.forced, "content": new.content, "raw": new.raw,
        "sha256": new.sha256, "posts": [dict(p) for p in new.posts], "decided_by": None, "decided_at": None,
        "note": None, "messages": [],
    }


def to_held_alert(row: RowLike) -> HeldAlert:
    return HeldAlert(
        id=row["id"], received_at=row["received_at"], received_by=row["received_by"], state=row["state"],
        hold_code=row["hold_code"], reason=row["reason"], format=row["format"], alert_key=row["alert_key"],
        kind=row["kind"], title=row["title"], sender=row["sender"], sent_at=row["sent_at"], drill=bool(row["drill"]),
        municipalities=tuple(row["municipalities"] or ()), forced=row["forced"], content=row["content"],
        raw=row["raw"], sha256=row["sha256"], posts=tuple(dict(p) for p in row["posts"] or ()),
        decided_by=row["decided_by"], decided_at=row["decided_at"], note=row["note"],
        messages=tuple(row["messages"] or ()),
    )
