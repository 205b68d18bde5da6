"""Which audit rows are events someone must be told of, and the outbox rows they become.

Every state change already writes its audit row in its own transaction; the outbox row is written
beside it (`SqlBase._add_audit`, and the one-statement PostgreSQL paths), so a notification exists
exactly when its event committed: never lost, never made twice. On the emergency path this is at
most one more insert (a failed delivery), and nothing for an alert that goes out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.store.schema import new_id

APPROVAL_WAITING = "approval_waiting"
SENT_BACK = "sent_back"
DELIVERY_FAILED = "delivery_failed"
ALERT_HELD = "alert_held"
HIJACK = "hijack"
ACCOUNT_AUTH = "account_auth"

_BY_ACTION = {"message.rejected": SENT_BACK, "delivery.failed": DELIVERY_FAILED, "alert.held": ALERT_HELD,
              "account.hijack_suspected": HIJACK}
_SUBJECT = {ALERT_HELD: "held_id", HIJACK: "alert_id", ACCOUNT_AUTH: "account"}


def event_of(entry: Mapping[str, Any], batch: Sequence[Mapping[str, Any]]) -> str | None:
    """The event an audit row is, if any. A step approved short of the last step leaves the post waiting
    for the next approver; the last one writes `message.approved` in the same batch."""
    action = str(entry["action"])
    if action.startswith("message.") and entry.get("to_state") == "pending_approval":
        return APPROVAL_WAITING
    if action == "message.step_approved":
        final = any(e["action"] == "message.approved" and e.get("message_id") == entry.get("message_id")
                    for e in batch)
        return None if final else APPROVAL_WAITING
    if action == "credentials.refresh_failed":
        # Renewal is tried every round until it works: the first failure after working tokens is the event.
        return ACCOUNT_AUTH if (entry.get("detail") or {}).get("first") else None
    return _BY_ACTION.get(action)


def notification_rows(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The outbox rows for a transaction's audit rows (most transactions: none)."""
    found = []
    for entry in entries:
        event = event_of(entry, entries)
        if event is not None:
            found.append(notification_values(event, entry))
    return found


def notification_values(event: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    detail = dict(entry.get("detail") or {})
    subject = detail.get(_SUBJECT.get(event, ""))
    return {
        "id": new_id("n"), "event": event, "created_at": entry["at"], "message_id": entry.get("message_id"),
        "delivery_id": entry.get("delivery_id"), "subject": None if subject is None else str(subject)[:128],
        "actor": entry.get("actor"), "reason": entry.get("reason"), "detail": detail, "state": "pending",
        "attempts": 0, "next_attempt_at": entry["at"], "lease_until": None, "done": [], "last_error": None,
        "finished_at": None,
    }
