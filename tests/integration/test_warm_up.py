"""Start-up warm-up leaves no trace in the ledger."""

from __future__ import annotations

from gateway.store import SqlStore


async def test_warm_up_rolls_back(store: SqlStore) -> None:
    await store.warm_up()
    await store.warm_up()
    assert await store.list_messages() == []
    assert await store.list_deliveries() == []
    assert await store.list_audit() == []
