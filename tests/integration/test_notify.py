"""PostgreSQL: a delivery queued by one process wakes the dispatchers of the others (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.models import CheckResult, DeliveryState, MessageState, Platform, Priority
from gateway.pipeline.validation import parse_message
from gateway.store import NewDelivery, NewMessage, open_store, upgrade_async
from gateway.store.notify import WakeListener


@pytest.mark.postgres
async def test_queueing_on_one_connection_wakes_a_listener(postgres_url: str) -> None:
    await upgrade_async(postgres_url)
    woken: asyncio.Queue[str] = asyncio.Queue()
    listener = WakeListener(postgres_url, woken.put_nowait)
    await listener.start()
    store = await open_store(postgres_url)
    try:
        await asyncio.wait_for(listener.connected.wait(), 10)
        body = parse_message({"municipality": "kodaira", "category": "emergency", "text": "【避難指示】",
                              "priority": "emergency", "accounts": ["kodaira_x"]})
        new = NewMessage(municipality="kodaira", body=body, state=MessageState.APPROVED, priority=Priority.EMERGENCY,
                         submitted_by="jma", source="alert", check=CheckResult.of([]), accounts=("kodaira_x",))
        await store.add_planned_message(new, [NewDelivery("kodaira_x", Platform.X, DeliveryState.QUEUED, None)],
                                        actor="jma")
        assert await asyncio.wait_for(woken.get(), 5) == "emergency"
        held = NewMessage(municipality="kodaira", body=body, state=MessageState.APPROVED, priority=Priority.NORMAL,
                          submitted_by="sato", source="api", check=CheckResult.of([]), accounts=("kodaira_x",))
        await store.add_planned_message(held, [NewDelivery("kodaira_x", Platform.X, DeliveryState.HELD, None)],
                                        actor="sato")
        await asyncio.sleep(0.3)
        assert woken.empty()  # nothing due: nobody is woken for a held post
    finally:
        await store.aclose()
        await listener.stop()
