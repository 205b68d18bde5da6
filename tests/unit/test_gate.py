"""The store's gate: at most `capacity` turns at once, urgent work first, cancellation loses no turn."""

from __future__ import annotations

import asyncio

import pytest

from gateway.store.gate import WriteGate


async def test_never_more_turns_than_capacity() -> None:
    gate, inside, most = WriteGate(capacity=3), 0, 0

    async def work() -> None:
        nonlocal inside, most
        async with gate.turn():
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.001)
            inside -= 1

    await asyncio.gather(*(work() for _ in range(40)))
    assert most == 3 and inside == 0


async def test_urgent_waiters_go_first() -> None:
    gate, order = WriteGate(capacity=2), list[str]()
    release = asyncio.Event()

    async def hold() -> None:
        async with gate.turn():
            await release.wait()

    async def queued(name: str, urgent: bool) -> None:
        async with gate.turn(urgent=urgent):
            order.append(name)

    holders = [asyncio.create_task(hold()) for _ in range(2)]
    await asyncio.sleep(0)
    waiters = [asyncio.create_task(queued(f"routine{i}", False)) for i in range(3)]
    await asyncio.sleep(0)
    waiters.append(asyncio.create_task(queued("alert", True)))
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*holders, *waiters)
    assert order[0] == "alert" and order[1:] == ["routine0", "routine1", "routine2"]


async def test_a_cancelled_waiter_does_not_lose_a_turn() -> None:
    gate = WriteGate(capacity=1)
    release = asyncio.Event()

    async def hold() -> None:
        async with gate.turn():
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(gate.turn().__aenter__())
    await asyncio.sleep(0)
    cancelled.cancel()
    release.set()
    await holder
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    async with asyncio.timeout(1):
        async with gate.turn():
            pass


def test_a_gate_needs_a_turn() -> None:
    with pytest.raises(ValueError):
        WriteGate(capacity=0)
