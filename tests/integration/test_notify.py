"""PostgreSQL across processes: LISTEN/NOTIFY wake-ups and stop notices, and connections within the pool size."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from gateway.models import CheckResult, DeliveryState, MessageState, Platform, Priority
from gateway.pipeline.intake.validation import parse_message
from gateway.store import NewDelivery, NewMessage, open_store, upgrade_async
from gateway.store.accounts import STOPS_CACHE_SECONDS, STOPS_CHANGED
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


@pytest.mark.postgres
async def test_a_burst_never_opens_more_connections_than_the_pool(postgres_url: str) -> None:
    """Several processes share one server: each stays within its pool size however many tasks
    want the database at once (the rest wait their turn), and every call still completes."""
    await upgrade_async(postgres_url)
    store = await open_store(postgres_url, pool_size=3)
    database = make_url(postgres_url).database
    seen: list[int] = []

    async def count_backends() -> None:
        watcher = await asyncpg.connect(make_url(postgres_url).set(drivername="postgresql").render_as_string(
            hide_password=False))
        try:
            while True:
                seen.append(await watcher.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                    database))
                await asyncio.sleep(0.005)
        finally:
            await watcher.close()

    watching = asyncio.create_task(count_backends())
    try:
        results = await asyncio.gather(*(store.stopped_accounts() if i % 2 else store.list_messages(limit=5)
                                         for i in range(200)))
        store.stops_changed()
        await asyncio.gather(*(store.pause_account(f"kodaira_x{i}", until=datetime.now(UTC) + timedelta(minutes=1),
                                                   reason="429", actor="w") for i in range(60)))
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
        await store.aclose()
    assert len(results) == 200 and len(seen) > 3
    assert max(seen) <= 3, seen
