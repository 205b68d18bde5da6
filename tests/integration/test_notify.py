"""PostgreSQL: a delivery queued by one process wakes the dispatchers of the others (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.models import CheckResult, DeliveryState, MessageState, Platform, Priority
from gateway.pipeline.validation import parse_message
from gateway.store import NewDelivery, NewMessage, open_store, upgrade_async
from gateway.store.notify import WakeListener
from gateway.store.sql import STOPS_CACHE_SECONDS, STOPS_CHANGED


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


@pytest.mark.postgres
async def test_a_stop_in_one_replica_reaches_the_others_cache_at_once(postgres_url: str) -> None:
    """The stopped accounts are kept per process; a stop elsewhere NOTIFYs, and the listener (wired as in
    runtime) drops the copy, well before the copy would have expired."""
    await upgrade_async(postgres_url)
    replica, elsewhere = await open_store(postgres_url), await open_store(postgres_url)
    heard: asyncio.Queue[str] = asyncio.Queue()

    def on_wake(payload: str) -> None:
        if payload == STOPS_CHANGED:
            replica.stops_changed()
        heard.put_nowait(payload)

    listener = WakeListener(postgres_url, on_wake)
    await listener.start()
    try:
        await asyncio.wait_for(listener.connected.wait(), 10)
        primed = time.monotonic()
        assert "kodaira_line" not in await replica.stopped_accounts()
        await elsewhere.stop_account("kodaira_line", actor="op", reason="誤投稿")
        assert await asyncio.wait_for(heard.get(), 5) == STOPS_CHANGED
        assert (await replica.stopped_accounts())["kodaira_line"] == "誤投稿"
        assert time.monotonic() - primed < STOPS_CACHE_SECONDS, "too slow to tell the NOTIFY from the cache time"
        await elsewhere.resume_account("kodaira_line", actor="op", reason="確認済み")
        assert await asyncio.wait_for(heard.get(), 5) == STOPS_CHANGED
        assert "kodaira_line" not in await replica.stopped_accounts()
    finally:
        await listener.stop()
        await replica.aclose()
        await elsewhere.aclose()
