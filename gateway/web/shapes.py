"""The JSON shapes of a message and a delivery, as the API answers them (DESIGN.md, "API")."""

from __future__ import annotations

from typing import Any

from gateway.models import Delivery
from gateway.store.records import MessageRecord
from gateway.web.jsonio import iso


def delivery_json(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id, "message_id": d.message_id, "municipality": d.municipality, "account": d.account,
        "platform": d.platform.value, "priority": d.priority.value, "state": d.state.value,
        "not_before": iso(d.not_before), "retry_at": iso(d.retry_at), "attempts": d.attempts,
        "remote_id": d.remote_id, "remote_url": d.remote_url, "error_code": d.error_code,
        "error": d.error_text, "created_at": iso(d.created_at), "updated_at": iso(d.updated_at),
        "sent_at": iso(d.sent_at), "language": d.language,
    }


def message_json(record: MessageRecord, deliveries: list[Delivery] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": record.id, "municipality": record.municipality, "state": record.state.value,
        "priority": record.priority.value, "submitted_by": record.submitted_by, "approved_by": record.approved_by,
        "source": record.source, "accounts": list(record.accounts), "check": record.check.jsonl_dict(),
        "overrides": dict(record.overrides), "note": record.note, "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at), "message": record.body.model_dump(mode="json", exclude_none=True),
        "revision": record.revision, "revised_by": record.revised_by,
    }
    if deliveries is not None:
        out["deliveries"] = [delivery_json(d) for d in deliveries]
    return out
