"""The ledger's record of a thread published part by part (issue 12: a killed X thread).

Each part that is out is an audit row `delivery.part_sent` (part, remote_id) written at once; a
thread whose parts were deleted again after a certain failure writes `delivery.parts_withdrawn`.
The parts already out are read back from those rows, so that a resumed attempt — after a kill
between parts — starts at the first part that is not out, never re-posting or skipping one.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.adapters.base import Progress
from gateway.models import Delivery
from gateway.store.base import Store
from gateway.store.records import AuditEvent

PART_SENT = "delivery.part_sent"
PARTS_WITHDRAWN = "delivery.parts_withdrawn"


def parts_out(events: Sequence[AuditEvent]) -> tuple[str, ...]:
    """Remote ids of the parts out, in order, from the delivery's audit rows (oldest first)."""
    parts: dict[int, str] = {}
    for event in events:
        if event.action == PARTS_WITHDRAWN:
            parts.clear()
        elif event.action == PART_SENT:
            parts[int(event.detail.get("part", -1))] = str(event.detail.get("remote_id", ""))
    out: list[str] = []
    while len(out) in parts:  # only an unbroken run from the first part
        out.append(parts[len(out)])
    return tuple(out)


async def ledger_progress(store: Store, delivery: Delivery, actor: str) -> Progress:
    """A Progress that starts after the parts the ledger knows are out and records each new one."""
    done = parts_out(await store.list_audit(delivery_id=delivery.id, limit=1000))

    async def record(index: int, remote_id: str) -> None:
        await store.audit(actor=actor, action=PART_SENT, message_id=delivery.message_id, delivery_id=delivery.id,
                          reason=f"スレッドの {index + 1} 件目を送信しました",
                          detail={"part": index, "remote_id": remote_id, "account": delivery.account})

    async def withdrawn() -> None:
        await store.audit(actor=actor, action=PARTS_WITHDRAWN, message_id=delivery.message_id,
                          delivery_id=delivery.id, reason="途中まで送信したスレッドを削除しました（再送は最初から）")

    return Progress(done=done, record=record, withdrawn=withdrawn)
