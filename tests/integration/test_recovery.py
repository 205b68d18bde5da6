"""Issue 12: deliveries of a dead worker are recovered in seconds; an uncertain delivery is never sent twice.

A worker's heartbeat (`workers` table) fences its leases: once it has not beaten for
`worker_stale_seconds`, or it stopped, the reconciler settles its `sending` deliveries at once,
instead of after the lease (120 s in production). Real databases, the real reconciler.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.errors import UncertainError
from gateway.models import DeliveryState, Message, Platform
from gateway.testing import FakeAdapter
from tests.integration.conftest import ALERTS, APPROVER, OPERATOR, STAFF, Harness

LEASE = 120.0


def emergency(text: str = "【避難指示】警戒レベル4 小平市は避難指示を発令しました。") -> Message:
    return Message.model_validate({"municipality": "kodaira", "accounts": ["kodaira_x", "kodaira_facebook"],
                                   "category": "emergency", "priority": "emergency", "text": text})


async def claimed_by(h: Harness, worker: str, *, beat: bool = True) -> list[Any]:
    """An emergency claimed by `worker` (which then dies holding it), with its last heartbeat now."""
    await h.gateway.submit(emergency(), ALERTS)
    if beat:
        await h.store.heartbeat(worker, host="host-a", pid=4242, started_at=h.clock.now)
    return await h.store.claim_due(worker=worker, now=h.clock.now, limit=10, lease_seconds=LEASE)


async def states(h: Harness) -> dict[str, DeliveryState]:
    return {d.account: d.state for d in await h.store.list_deliveries()}


async def test_a_dead_workers_deliveries_are_settled_in_seconds(harness: Harness) -> None:
    claimed = await claimed_by(harness, "w-dead")
    assert len(claimed) == 2
    reconciler = harness.worker.reconciler
    harness.clock.advance(seconds=5)
    await reconciler.run_once(harness.clock.now)
    assert set((await states(harness)).values()) == {DeliveryState.SENDING}  # still beating recently
    harness.clock.advance(seconds=6)  # 11 s without a beat: gone (the lease has 109 s left)
    await reconciler.run_once(harness.clock.now)
    assert set((await states(harness)).values()) == {DeliveryState.UNCERTAIN}
    harness.clock.advance(seconds=6)  # not on the timeline after 5 s (emergency): sent again, once
    await reconciler.run_once(harness.clock.now)
    await harness.dispatcher.drain()
    assert set((await states(harness)).values()) == {DeliveryState.SENT}
    assert len(harness.adapters[Platform.X].published) == 1


async def test_a_live_worker_keeps_its_deliveries(harness: Harness) -> None:
    await claimed_by(harness, "w-alive")
    for _ in range(4):
        harness.clock.advance(seconds=5)
        await harness.store.heartbeat("w-alive", host="host-a", pid=4242, started_at=harness.clock.now)
        await harness.worker.reconciler.run_once(harness.clock.now)
    assert set((await states(harness)).values()) == {DeliveryState.SENDING}


async def test_a_stopped_worker_is_settled_at_once(harness: Harness) -> None:
    await claimed_by(harness, "w-stopping")
    await harness.store.worker_stopped("w-stopping")
    await harness.worker.reconciler.run_once(harness.clock.now)
    assert set((await states(harness)).values()) == {DeliveryState.UNCERTAIN}


async def test_an_unregistered_worker_falls_back_to_its_lease(harness: Harness) -> None:
    await claimed_by(harness, "w-old-version", beat=False)
    harness.clock.advance(seconds=60)
    await harness.worker.reconciler.run_once(harness.clock.now)
    assert set((await states(harness)).values()) == {DeliveryState.SENDING}
    harness.clock.advance(seconds=LEASE)
    await harness.worker.reconciler.run_once(harness.clock.now)
    assert set((await states(harness)).values()) == {DeliveryState.UNCERTAIN}


async def test_a_lease_no_claim_could_give_does_not_strand_the_delivery(harness: Harness) -> None:
    """Poison: `sending` under an unknown worker with a lease until 9999 used to wait for ever."""
    await claimed_by(harness, "w-unknown", beat=False)
    for delivery in await harness.store.list_deliveries():
        await harness.store.transition_delivery(
            delivery.id, expected=[DeliveryState.SENDING], new=DeliveryState.SENDING, actor="test", reason="poison",
            fields={"lease_expires": datetime(9999, 12, 31, tzinfo=UTC)})
    await harness.worker.reconciler.run_once(harness.clock.now)
    assert set((await states(harness)).values()) == {DeliveryState.UNCERTAIN}


async def test_a_running_gateway_beats_and_marks_itself_stopped(harness: Harness) -> None:
    await harness.worker.start()
    worker = harness.dispatcher.worker_id
    await harness.worker.stop()
    await claimed_by(harness, worker, beat=False)  # as if a delivery were left in flight at the stop
    await harness.worker.reconciler.run_once(harness.clock.now)
    assert set((await states(harness)).values()) == {DeliveryState.UNCERTAIN}


async def test_retrying_a_cancelled_uncertain_delivery_looks_first(harness: Harness) -> None:
    """Cancel while uncertain, then retry: it used to go straight to the queue and publish twice."""
    x: FakeAdapter = harness.adapters[Platform.X]
    submitted = await harness.gateway.submit(Message.model_validate({
        "municipality": "kodaira", "accounts": ["kodaira_x"], "category": "event",
        "text": "小平市民まつりを開催します。"}), STAFF)
    await harness.gateway.approve(submitted.record.id, APPROVER)
    x.fail_next(UncertainError("timeout"),
                after_publishing=True)  # it reached X, but the answer was lost
    await harness.dispatcher.drain()
    (delivery,) = await harness.store.list_deliveries(message_id=submitted.record.id)
    assert delivery.state is DeliveryState.UNCERTAIN and len(x.published) == 1
    await harness.gateway.cancel_delivery(delivery.id, OPERATOR)
    retried = await harness.gateway.retry_delivery(delivery.id, OPERATOR)
    assert retried.state is DeliveryState.UNCERTAIN  # not queued: looked for first
    await harness.worker.reconciler.run_once(harness.clock.now)
    await harness.dispatcher.drain()
    final = await harness.store.get_delivery(delivery.id)
    assert final.state is DeliveryState.SENT and len(x.published) == 1


async def test_retrying_a_delivery_cancelled_before_any_attempt_queues_it(harness: Harness) -> None:
    submitted = await harness.gateway.submit(Message.model_validate({
        "municipality": "kodaira", "accounts": ["kodaira_x"], "category": "event",
        "text": "小平市民まつりを開催します。", "not_before": (harness.clock.now + timedelta(days=1)).isoformat()}), STAFF)
    (delivery,) = (await harness.gateway.approve(submitted.record.id, APPROVER)).deliveries
    await harness.gateway.cancel_delivery(delivery.id, OPERATOR)
    assert (await harness.gateway.retry_delivery(delivery.id, OPERATOR)).state is DeliveryState.QUEUED
