"""SqlStore on real SQLite and PostgreSQL: every Store behaviour, including races."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from gateway.errors import Conflict, InputError, NotFound, StoreError
from gateway.models import (
    CheckResult,
    Delivery,
    DeliveryState,
    Finding,
    Message,
    MessageState,
    Platform,
    Priority,
    Role,
    Scope,
    Severity,
    message_digest,
)
from gateway.pipeline.checks import CheckEngine
from gateway.policy import Policies
from gateway.store import (
    MessageRecord,
    NewDelivery,
    NewMessage,
    SqlStore,
    claim,
    normalize_url,
    open_store,
    schema,
    upgrade,
    upgrade_async,
)
from gateway.store import accounts as accounts_module
from gateway.store import deliveries as deliveries_module
from gateway.store import messages as messages_module
from gateway.store.claim import candidates_query, due_queries
from gateway.store.engine import create_engine
from gateway.store.schema import PARTIAL_INDEXES, metadata, new_id

JST = timezone(timedelta(hours=9))
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def new_message(
    *, key: str | None = None, submitted_by: str = "alice", priority: Priority = Priority.NORMAL,
    state: MessageState = MessageState.APPROVED, alert_key: str | None = None,
    municipality: str = "kodaira",
) -> NewMessage:
    body = Message(municipality=municipality, category="event", text="市民まつりのお知らせ", priority=priority)
    finding = Finding(rule="hours", severity=Severity.REVIEW, clause="第5条", message="時間外です")
    return NewMessage(
        municipality=municipality, body=body, state=state, priority=priority, submitted_by=submitted_by,
        source="api", check=CheckResult.of([finding]), accounts=("kodaira_x", "kodaira_line"),
        idempotency_key=key, alert_key=alert_key,
    )


async def planned(
    store: SqlStore, accounts: Sequence[str] = ("kodaira_x",), *, priority: Priority = Priority.NORMAL,
    state: DeliveryState = DeliveryState.QUEUED, not_before: datetime | None = None,
) -> list[Delivery]:
    record, _ = await store.add_message(new_message(priority=priority), actor="alice")
    items = [NewDelivery(a, Platform.X, state, not_before, reason="test") for a in accounts]
    return await store.plan_message(record.id, items, actor="bob")


async def audit_count(store: SqlStore, **filters: str) -> int:
    return len(await store.list_audit(**filters))


# -- messages -------------------------------------------------------------------------------------


async def test_add_and_get_message_round_trip(store: SqlStore) -> None:
    new = new_message(key="k-1", alert_key="alert-1")
    record, created = await store.add_message(new, actor="alice")
    assert created and record.id.startswith("m_")
    got = await store.get_message(record.id)
    assert got == record
    assert got.body == new.body and got.check == new.check
    assert got.accounts == ("kodaira_x", "kodaira_line") and got.overrides == {}
    assert got.state is MessageState.APPROVED and got.priority is Priority.NORMAL
    assert got.created_at.tzinfo is UTC and got.idempotency_key == "k-1" and got.alert_key == "alert-1"
    [event] = await store.list_audit(message_id=record.id)
    assert (event.action, event.actor, event.to_state) == ("message.accepted", "alice", "approved")


async def test_get_unknown_message_is_not_found(store: SqlStore) -> None:
    with pytest.raises(NotFound):
        await store.get_message("m_missing")


async def test_same_key_same_submitter_returns_existing(store: SqlStore) -> None:
    first, created = await store.add_message(new_message(key="k"), actor="alice")
    again, created_again = await store.add_message(new_message(key="k"), actor="alice")
    other, created_other = await store.add_message(new_message(key="k", submitted_by="carol"), actor="carol")
    assert created and not created_again and created_other
    assert again == first and other.id != first.id
    assert len(await store.list_messages()) == 2
    assert await audit_count(store, action="message.accepted") == 2


async def test_concurrent_same_key_makes_one_row(store: SqlStore) -> None:
    results = await asyncio.gather(*(store.add_message(new_message(key="race"), actor="alice")
                                     for _ in range(8)))
    assert sum(created for _, created in results) == 1
    assert len({record.id for record, _ in results}) == 1
    assert len(await store.list_messages()) == 1
    assert await audit_count(store, action="message.accepted") == 1


async def test_alert_key_dedupes_per_municipality(store: SqlStore) -> None:
    first, _ = await store.add_message(new_message(alert_key="jma-1"), actor="alerts")
    again, created = await store.add_message(new_message(alert_key="jma-1"), actor="alerts")
    elsewhere, created_elsewhere = await store.add_message(
        new_message(alert_key="jma-1", municipality="zushi"), actor="alerts")
    assert not created and again.id == first.id
    assert created_elsewhere and elsewhere.id != first.id


async def test_messages_without_keys_are_all_kept(store: SqlStore) -> None:
    for _ in range(3):
        await store.add_message(new_message(), actor="alice")
    assert len(await store.list_messages()) == 3


async def test_list_messages_filters_newest_first(store: SqlStore) -> None:
    a, _ = await store.add_message(new_message(state=MessageState.PENDING_APPROVAL), actor="alice")
    b, _ = await store.add_message(new_message(), actor="alice")
    c, _ = await store.add_message(new_message(municipality="zushi"), actor="alice")
    assert [m.id for m in await store.list_messages()] == [c.id, b.id, a.id]
    assert [m.id for m in await store.list_messages(states=[MessageState.PENDING_APPROVAL])] == [a.id]
    assert [m.id for m in await store.list_messages(municipality="kodaira")] == [b.id, a.id]
    assert [m.id for m in await store.list_messages(limit=1)] == [c.id]


async def test_transition_message_sets_fields_and_audits(store: SqlStore) -> None:
    record, _ = await store.add_message(new_message(state=MessageState.PENDING_APPROVAL), actor="alice")
    approved = await store.transition_message(
        record.id, expected=[MessageState.PENDING_APPROVAL], new=MessageState.APPROVED, actor="bob",
        reason="確認済み", approved_by="bob", overrides={"hours": "災害対応のため"}, note="OK",
    )
    assert approved.state is MessageState.APPROVED and approved.approved_by == "bob"
    assert approved.overrides == {"hours": "災害対応のため"} and approved.note == "OK"
    assert approved.updated_at >= record.updated_at
    assert await store.get_message(record.id) == approved
    event = (await store.list_audit(message_id=record.id))[-1]
    assert (event.action, event.from_state, event.to_state, event.reason) == (
        "message.approved", "pending_approval", "approved", "確認済み")
    assert event.detail["overrides"] == {"hours": "災害対応のため"}


async def test_transition_message_conflict_writes_nothing(store: SqlStore) -> None:
    record, _ = await store.add_message(new_message(state=MessageState.APPROVED), actor="alice")
    before = await audit_count(store)
    with pytest.raises(Conflict) as caught:
        await store.transition_message(record.id, expected=[MessageState.PENDING_APPROVAL],
                                       new=MessageState.APPROVED, actor="bob", approved_by="bob")
    assert "approved" in caught.value.message
    assert await store.get_message(record.id) == record
    assert await audit_count(store) == before
    with pytest.raises(NotFound):
        await store.transition_message("m_missing", expected=[MessageState.APPROVED],
                                       new=MessageState.CANCELLED, actor="bob")


async def test_concurrent_approvals_only_one_wins(store: SqlStore) -> None:
    record, _ = await store.add_message(new_message(state=MessageState.PENDING_APPROVAL), actor="alice")
    results = await asyncio.gather(*(store.transition_message(
        record.id, expected=[MessageState.PENDING_APPROVAL], new=MessageState.APPROVED, actor=f"a{i}",
        approved_by=f"a{i}") for i in range(4)), return_exceptions=True)
    assert sum(isinstance(r, MessageRecord) for r in results) == 1
    assert sum(isinstance(r, Conflict) for r in results) == 3
    assert await audit_count(store, action="message.approved") == 1


# -- planning ---------------------------------------------------------------------------------------


async def test_plan_message_once(store: SqlStore) -> None:
    record, _ = await store.add_message(new_message(priority=Priority.HIGH), actor="alice")
    later = T0 + timedelta(hours=3)
    items = [NewDelivery("kodaira_x", Platform.X, DeliveryState.QUEUED, None),
             NewDelivery("kodaira_line", Platform.LINE, DeliveryState.HELD, later, reason="時間外"),
             NewDelivery("kodaira_youtube", Platform.YOUTUBE, DeliveryState.SKIPPED, None, reason="動画なし")]
    made = await store.plan_message(record.id, items, actor="bob")
    assert [d.state for d in made] == [DeliveryState.QUEUED, DeliveryState.HELD, DeliveryState.SKIPPED]
    assert all(d.id.startswith("d_") and d.message_id == record.id and d.municipality == "kodaira"
               and d.priority is Priority.HIGH and d.attempts == 0 for d in made)
    assert len({d.idempotency_key for d in made}) == 3
    assert made[1].not_before == later
    assert sorted(await store.list_deliveries(message_id=record.id), key=lambda d: d.id) == made
    assert (await store.get_message(record.id)).state is MessageState.PLANNED
    with pytest.raises(Conflict):
        await store.plan_message(record.id, items, actor="bob")
    assert len(await store.list_deliveries(message_id=record.id)) == 3
    events = await store.list_audit(message_id=record.id)
    assert [e.action for e in events] == ["message.accepted", *["delivery.created"] * 3, "message.planned"]
    assert events[2].reason == "時間外" and events[2].to_state == "held"


async def test_concurrent_double_plan_makes_one_set(store: SqlStore) -> None:
    record, _ = await store.add_message(new_message(), actor="alice")
    items = [NewDelivery(f"acct{i}", Platform.X, DeliveryState.QUEUED, None) for i in range(5)]
    results = await asyncio.gather(*(store.plan_message(record.id, items, actor="bob") for _ in range(3)),
                                   return_exceptions=True)
    assert sum(isinstance(r, list) for r in results) == 1
    assert sum(isinstance(r, Conflict) for r in results) == 2
    assert len(await store.list_deliveries(message_id=record.id)) == 5
    assert await audit_count(store, action="message.planned") == 1


async def test_plan_requires_approved_and_valid_states(store: SqlStore) -> None:
    pending, _ = await store.add_message(new_message(state=MessageState.PENDING_APPROVAL), actor="alice")
    item = NewDelivery("kodaira_x", Platform.X, DeliveryState.QUEUED, None)
    with pytest.raises(Conflict):
        await store.plan_message(pending.id, [item], actor="bob")
    approved, _ = await store.add_message(new_message(), actor="alice")
    with pytest.raises(InputError):
        await store.plan_message(approved.id, [NewDelivery("kodaira_x", Platform.X, DeliveryState.SENT, None)],
                                 actor="bob")
    assert (await store.get_message(approved.id)).state is MessageState.APPROVED
    assert await store.list_deliveries() == []
    with pytest.raises(NotFound):
        await store.plan_message("m_missing", [item], actor="bob")


# -- claiming ---------------------------------------------------------------------------------------


async def test_claim_orders_by_priority_then_age(store: SqlStore) -> None:
    order = [Priority.LOW, Priority.NORMAL, Priority.EMERGENCY, Priority.HIGH, Priority.NORMAL]
    made = [(await planned(store, [f"acct{i}"], priority=p))[0] for i, p in enumerate(order)]
    claimed = await store.claim_due(worker="w1", now=T0, limit=10, lease_seconds=60)
    assert [d.id for d in claimed] == [made[2].id, made[3].id, made[1].id, made[4].id, made[0].id]
    for d in claimed:
        assert d.state is DeliveryState.SENDING and d.attempts == 1
        assert d.lease_owner == "w1" and d.lease_expires == T0 + timedelta(seconds=60)
        assert await store.get_delivery(d.id) == d
    events = await store.list_audit(action="delivery.claimed")
    assert len(events) == 5 and all(e.from_state == "queued" and e.actor == "w1" for e in events)


async def test_claim_respects_limit_and_priority_filter(store: SqlStore) -> None:
    low = await planned(store, ["l1", "l2"], priority=Priority.LOW)
    urgent = await planned(store, ["u1", "u2"], priority=Priority.EMERGENCY)
    normal = await planned(store, ["n1"], priority=Priority.NORMAL)
    got = await store.claim_due(worker="e", now=T0, limit=1, lease_seconds=5, priorities={Priority.EMERGENCY})
    assert [d.id for d in got] == [urgent[0].id]
    got = await store.claim_due(worker="e", now=T0, limit=5, lease_seconds=5,
                                priorities={Priority.EMERGENCY, Priority.LOW})
    assert [d.id for d in got] == [urgent[1].id, low[0].id, low[1].id]
    assert await store.claim_due(worker="e", now=T0, limit=5, lease_seconds=5, priorities=set()) == []
    assert await store.claim_due(worker="e", now=T0, limit=0, lease_seconds=5) == []
    rest = await store.claim_due(worker="r", now=T0, limit=5, lease_seconds=5)
    assert [d.id for d in rest] == [normal[0].id]


async def test_one_post_in_flight_per_account_in_order(store: SqlStore) -> None:
    first = (await planned(store, ["kodaira_x"]))[0]
    second = (await planned(store, ["kodaira_x"]))[0]
    other = (await planned(store, ["kodaira_line"]))[0]
    got = await store.claim_due(worker="w", now=T0, limit=10, lease_seconds=60)
    assert [d.id for d in got] == [first.id, other.id]
    assert await store.claim_due(worker="w", now=T0, limit=10, lease_seconds=60) == []
    await store.transition_delivery(first.id, expected=[DeliveryState.SENDING], new=DeliveryState.SENT, actor="w")
    assert [d.id for d in await store.claim_due(worker="w", now=T0, limit=10, lease_seconds=60)] == [second.id]


async def test_emergency_lane_is_not_held_by_a_routine_post_in_flight(store: SqlStore) -> None:
    routine = (await planned(store, ["kodaira_x"]))[0]
    assert [d.id for d in await store.claim_due(worker="r", now=T0, limit=1, lease_seconds=60)] == [routine.id]
    urgent = (await planned(store, ["kodaira_x"], priority=Priority.EMERGENCY))[0]
    got = await store.claim_due(worker="e", now=T0, limit=5, lease_seconds=60, priorities={Priority.EMERGENCY})
    assert [d.id for d in got] == [urgent.id]


async def test_claim_skips_paused_accounts_until_pause_ends(store: SqlStore) -> None:
    paused = await planned(store, ["kodaira_x"], priority=Priority.EMERGENCY)
    free = await planned(store, ["kodaira_line"])
    await store.pause_account("kodaira_x", until=T0 + timedelta(minutes=15), reason="429", actor="w")
    got = await store.claim_due(worker="w", now=T0, limit=10, lease_seconds=5)
    assert [d.id for d in got] == [free[0].id]
    assert await store.claim_due(worker="w", now=T0 + timedelta(minutes=10), limit=10, lease_seconds=5) == []
    later = await store.claim_due(worker="w", now=T0 + timedelta(minutes=15), limit=10, lease_seconds=5)
    assert [d.id for d in later] == [paused[0].id]


async def test_pause_account_upserts_and_lists(store: SqlStore) -> None:
    await store.pause_account("kodaira_x", until=T0 + timedelta(minutes=5), reason="429", actor="w")
    await store.pause_account("kodaira_x", until=T0 + timedelta(hours=1), reason="再認証が必要", actor="w")
    await store.pause_account("zushi_x", until=T0 - timedelta(minutes=1), reason="old", actor="w")
    [pause] = await store.account_pauses(T0)
    assert (pause.account, pause.until, pause.reason) == ("kodaira_x", T0 + timedelta(hours=1), "再認証が必要")
    assert pause.until.tzinfo is UTC
    assert await store.account_pauses(T0 + timedelta(hours=2)) == []
    events = await store.list_audit(action="account.paused")
    assert len(events) == 3 and events[0].detail["account"] == "kodaira_x"


async def test_retry_wait_is_claimed_only_when_due(store: SqlStore) -> None:
    [d] = await planned(store)
    [d] = await store.claim_due(worker="w", now=T0, limit=1, lease_seconds=30)
    retry_at = T0 + timedelta(minutes=2)
    waiting = await store.transition_delivery(
        d.id, expected=[DeliveryState.SENDING], new=DeliveryState.RETRY_WAIT, actor="w",
        reason="503", fields={"retry_at": retry_at, "error_code": "503"})
    assert waiting.lease_owner is None and waiting.lease_expires is None
    assert await store.claim_due(worker="w", now=T0 + timedelta(minutes=1), limit=5, lease_seconds=30) == []
    [again] = await store.claim_due(worker="w2", now=retry_at, limit=5, lease_seconds=30)
    assert again.id == d.id and again.attempts == 2 and again.lease_owner == "w2"
    assert (await store.list_audit(delivery_id=d.id))[-1].from_state == "retry_wait"


async def test_leased_deliveries_are_not_claimed_again(store: SqlStore) -> None:
    await planned(store, ["a", "b"])
    first = await store.claim_due(worker="w1", now=T0, limit=10, lease_seconds=60)
    assert len(first) == 2
    assert await store.claim_due(worker="w2", now=T0 + timedelta(hours=1), limit=10, lease_seconds=60) == []


async def test_two_stores_claiming_concurrently_never_share(store: SqlStore, database_url: str) -> None:
    await planned(store, [f"acct{i}" for i in range(30)])
    other = await open_store(database_url)
    try:
        stores = [store, other]
        batches: list[list[Delivery]] = []
        for _ in range(5):  # rows another claimer holds are skipped, and taken on a later round
            batches += await asyncio.gather(*(
                stores[i % 2].claim_due(worker=f"w{len(batches) + i}", now=T0, limit=3, lease_seconds=60)
                for i in range(16)))
    finally:
        await other.aclose()
    ids = [d.id for batch in batches for d in batch]
    assert len(ids) == len(set(ids)) == 30
    assert await audit_count(store, action="delivery.claimed") == 30
    for i, batch in enumerate(batches):
        assert all(d.lease_owner == f"w{i}" for d in batch)


async def test_stopped_accounts_own_stops_at_once_other_stores_after_the_cache_time(
    store: SqlStore, database_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = await open_store(database_url)
    try:
        assert await store.stopped_accounts() == {} == await other.stopped_accounts()
        await other.stop_account("kodaira_x", actor="op", reason="乗っ取りの疑い")
        assert await other.stopped_accounts() == {"kodaira_x": "乗っ取りの疑い"}  # its own stop: at once
        assert await store.stopped_accounts() == {}  # kept from before (no NOTIFY wired up here)
        monkeypatch.setattr(accounts_module, "STOPS_CACHE_SECONDS", 0.0)
        assert await store.stopped_accounts() == {"kodaira_x": "乗っ取りの疑い"}  # read again once it is old
        monkeypatch.setattr(accounts_module, "STOPS_CACHE_SECONDS", 60.0)
        await other.resume_account("kodaira_x", actor="op", reason="確認済み")
        store.stops_changed()  # what the NOTIFY listener does in a replica
        assert await store.stopped_accounts() == {}
    finally:
        await other.aclose()


async def test_concurrent_claimers_keep_one_post_in_flight_per_account(
    store: SqlStore, database_url: str,
) -> None:
    """Claimers in two processes (two stores) never start two posts for one account at once."""
    other = await open_store(database_url)
    try:
        for _ in range(8):
            await planned(store, ["kodaira_x"] * 3 + ["kodaira_line"] * 3)
            await asyncio.gather(*(s.claim_due(worker=f"w{i}", now=T0, limit=2, lease_seconds=60)
                                   for i, s in enumerate([store, other, store, other])))
            sending = await store.list_deliveries(states=[DeliveryState.SENDING])
            assert sorted(d.account for d in sending) == ["kodaira_line", "kodaira_x"]
            for d in sending:
                await store.transition_delivery(d.id, expected=[DeliveryState.SENDING],
                                                new=DeliveryState.SENT, actor="w")
    finally:
        await other.aclose()


async def test_cancelled_callers_leave_no_half_transaction(store: SqlStore) -> None:
    """Callers cancelled at random points: the store keeps working and the ledger stays whole."""
    await planned(store, [f"acct{i}" for i in range(200)])
    for i in range(40):
        task = asyncio.ensure_future(store.claim_due(worker="w", now=T0, limit=3, lease_seconds=60))
        await asyncio.sleep((i % 8) * 0.001)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await asyncio.wait_for(store.settle(), 10)
    got = await asyncio.wait_for(store.claim_due(worker="after", now=T0, limit=3, lease_seconds=60), 10)
    assert len(got) == 3
    sending = await store.list_deliveries(states=[DeliveryState.SENDING])
    assert len(sending) == await audit_count(store, action="delivery.claimed")


# -- release, leases, transitions -----------------------------------------------------------------


async def test_release_held_moves_due_deliveries_to_queued(store: SqlStore) -> None:
    due = await planned(store, ["a"], state=DeliveryState.HELD, not_before=T0)
    future = await planned(store, ["b"], state=DeliveryState.HELD, not_before=T0 + timedelta(hours=1))
    released = await store.release_held(T0)
    assert [d.id for d in released] == [due[0].id]
    assert released[0].state is DeliveryState.QUEUED and released[0].updated_at == T0
    assert (await store.get_delivery(future[0].id)).state is DeliveryState.HELD
    assert await store.release_held(T0) == []
    [event] = await store.list_audit(action="delivery.released")
    assert (event.delivery_id, event.from_state, event.to_state) == (due[0].id, "held", "queued")


async def test_concurrent_release_audits_each_delivery_once(store: SqlStore) -> None:
    await planned(store, [f"a{i}" for i in range(10)], state=DeliveryState.HELD, not_before=T0)
    results = await asyncio.gather(*(store.release_held(T0) for _ in range(3)))
    assert sum(len(r) for r in results) == 10
    assert await audit_count(store, action="delivery.released") == 10


async def test_expired_leases(store: SqlStore) -> None:
    [d] = await planned(store)
    await store.claim_due(worker="w", now=T0, limit=1, lease_seconds=10)
    assert await store.expired_leases(T0 + timedelta(seconds=9)) == []
    [expired] = await store.expired_leases(T0 + timedelta(seconds=10))
    assert expired.id == d.id and expired.lease_owner == "w"
    await store.transition_delivery(d.id, expected=[DeliveryState.SENDING], new=DeliveryState.UNCERTAIN,
                                    actor="reconciler", reason="lease expired")
    assert await store.expired_leases(T0 + timedelta(hours=1)) == []


async def test_transition_delivery_to_sent(store: SqlStore) -> None:
    [d] = await planned(store)
    await store.claim_due(worker="w", now=T0, limit=1, lease_seconds=10)
    sent = await store.transition_delivery(
        d.id, expected=[DeliveryState.SENDING], new=DeliveryState.SENT, actor="w",
        fields={"remote_id": "123", "remote_url": "https://x.test/123"}, detail={"http": 201})
    assert sent.state is DeliveryState.SENT and sent.remote_id == "123"
    assert sent.sent_at is not None and sent.sent_at.tzinfo is UTC
    assert sent.lease_owner is None and sent.attempts == 1
    event = (await store.list_audit(delivery_id=d.id))[-1]
    assert (event.action, event.from_state, event.to_state, event.detail) == (
        "delivery.sent", "sending", "sent", {"http": 201})
    assert event.message_id == d.message_id


async def test_concurrent_transitions_of_one_delivery_one_wins(store: SqlStore) -> None:
    """Several workers recording different outcomes at once: one compare-and-set wins, and the
    audit holds exactly one row for it, with the state it really left."""
    [d] = await planned(store)
    await store.claim_due(worker="w", now=T0, limit=1, lease_seconds=10)
    outcomes = [DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.UNCERTAIN, DeliveryState.RETRY_WAIT] * 2
    results = await asyncio.gather(*(
        store.transition_delivery(d.id, expected=[DeliveryState.SENDING], new=new, actor=f"w{i}")
        for i, new in enumerate(outcomes)), return_exceptions=True)
    won = [r for r in results if not isinstance(r, BaseException)]
    assert len(won) == 1 and sum(isinstance(r, Conflict) for r in results) == len(outcomes) - 1
    assert (await store.get_delivery(d.id)).state is won[0].state
    events = [e for e in await store.list_audit(delivery_id=d.id) if e.from_state == "sending"]
    assert [(e.to_state, e.actor) for e in events] == [(won[0].state.value, events[0].actor)]


async def test_transition_delivery_can_give_back_an_attempt(store: SqlStore) -> None:
    [d] = await planned(store)
    [d] = await store.claim_due(worker="w", now=T0, limit=1, lease_seconds=10)
    waiting = await store.transition_delivery(
        d.id, expected=[DeliveryState.SENDING], new=DeliveryState.RETRY_WAIT, actor="w", reason="rate limit",
        fields={"attempts": d.attempts - 1, "retry_at": T0 + timedelta(seconds=30)})
    assert waiting.attempts == 0 and waiting.retry_at == T0 + timedelta(seconds=30)


async def test_transition_delivery_conflict_and_bad_input_write_nothing(store: SqlStore) -> None:
    [d] = await planned(store)
    before = await audit_count(store)
    with pytest.raises(Conflict):
        await store.transition_delivery(d.id, expected=[DeliveryState.SENDING], new=DeliveryState.SENT,
                                        actor="w")
    with pytest.raises(InputError):
        await store.transition_delivery(d.id, expected=[DeliveryState.QUEUED], new=DeliveryState.CANCELLED,
                                        actor="w", fields={"message_id": "m_other"})
    with pytest.raises(NotFound):
        await store.transition_delivery("d_missing", expected=[DeliveryState.QUEUED],
                                        new=DeliveryState.CANCELLED, actor="w")
    assert await store.get_delivery(d.id) == d
    assert await audit_count(store) == before
    with pytest.raises(NotFound):
        await store.get_delivery("d_missing")


async def test_concurrent_cancel_only_one_wins(store: SqlStore) -> None:
    [d] = await planned(store)
    results = await asyncio.gather(*(store.transition_delivery(
        d.id, expected=[DeliveryState.QUEUED], new=DeliveryState.CANCELLED, actor=f"op{i}")
        for i in range(4)), return_exceptions=True)
    assert sum(isinstance(r, Delivery) for r in results) == 1
    assert await audit_count(store, action="delivery.cancelled") == 1


async def test_list_deliveries_filters(store: SqlStore) -> None:
    a = await planned(store, ["kodaira_x", "kodaira_line"])
    b = await planned(store, ["kodaira_x"], state=DeliveryState.HELD, not_before=T0)
    assert [d.id for d in await store.list_deliveries()] == [b[0].id, a[1].id, a[0].id]
    assert {d.id for d in await store.list_deliveries(account="kodaira_x")} == {a[0].id, b[0].id}
    assert [d.id for d in await store.list_deliveries(states=[DeliveryState.HELD])] == [b[0].id]
    assert len(await store.list_deliveries(message_id=a[0].message_id, limit=1)) == 1


async def test_next_wakeup_is_earliest_hold_or_retry(store: SqlStore) -> None:
    assert await store.next_wakeup() is None
    await planned(store, ["a"], state=DeliveryState.HELD, not_before=T0 + timedelta(hours=2))
    assert await store.next_wakeup() == T0 + timedelta(hours=2)
    [d] = await planned(store, ["b"])
    await store.claim_due(worker="w", now=T0, limit=1, lease_seconds=5)
    await store.transition_delivery(d.id, expected=[DeliveryState.SENDING], new=DeliveryState.RETRY_WAIT,
                                    actor="w", fields={"retry_at": T0 + timedelta(minutes=5)})
    wakeup = await store.next_wakeup()
    assert wakeup == T0 + timedelta(minutes=5) and wakeup is not None and wakeup.tzinfo is UTC


async def test_last_sent_per_account(store: SqlStore) -> None:
    made = await planned(store, ["kodaira_x", "kodaira_x", "kodaira_line"])
    for d, at in zip(made, [T0, T0 + timedelta(minutes=3), T0 + timedelta(minutes=1)], strict=True):
        await store.claim_due(worker="w", now=T0, limit=10, lease_seconds=5)  # one per account at a time
        await store.transition_delivery(d.id, expected=[DeliveryState.SENDING], new=DeliveryState.SENT,
                                        actor="w", fields={"sent_at": at})
    assert await store.last_sent() == {"kodaira_x": T0 + timedelta(minutes=3),
                                       "kodaira_line": T0 + timedelta(minutes=1)}
    assert all(v.tzinfo is UTC for v in (await store.last_sent()).values())


# -- audit, users, tokens ---------------------------------------------------------------------------


async def test_audit_and_list_audit(store: SqlStore) -> None:
    for i in range(5):
        await store.audit(actor="ops", action="note", message_id="m_1" if i % 2 else None,
                          reason=f"r{i}", detail={"at": T0, "i": i})
    events = await store.list_audit(action="note")
    assert [e.reason for e in events] == ["r0", "r1", "r2", "r3", "r4"]
    assert events[0].detail == {"at": "2026-11-24T09:00:00Z", "i": 0}
    assert [e.reason for e in await store.list_audit(action="note", limit=2)] == ["r3", "r4"]
    assert [e.reason for e in await store.list_audit(message_id="m_1")] == ["r1", "r3"]
    assert await store.list_audit(actor="nobody") == []
    assert all(e.at.tzinfo is UTC for e in events)


async def test_ensure_user_creates_and_never_changes_a_role(store: SqlStore) -> None:
    assert await store.get_user("hanako") is None
    created = await store.ensure_user("hanako", Role.STAFF, actor="admin", scope=Scope.of("zushi"))
    assert created.role is Role.STAFF and created.created_at.tzinfo is UTC
    assert created.scope == Scope.of("zushi")
    assert await store.get_user("hanako") == created
    assert await store.ensure_user("hanako", Role.STAFF, actor="admin") == created
    assert await audit_count(store, action="user.created") == 1
    with pytest.raises(Conflict):  # a role changes only through set_role
        await store.ensure_user("hanako", Role.APPROVER, actor="admin")
    assert await store.get_user("hanako") == created
    with pytest.raises(Conflict):
        await store.create_user("hanako", Role.ADMIN, Scope.everywhere(), actor="admin")
    assert await store.get_user("hanako") == created
    promoted = await store.set_role("hanako", Role.APPROVER, actor="admin")
    assert promoted.role is Role.APPROVER and promoted.created_at == created.created_at
    assert promoted.session_epoch == created.session_epoch + 1  # console sessions of the old role end
    [event] = await store.list_audit(action="user.role_changed")
    assert (event.detail["role_before"], event.detail["role"]) == ("staff", "approver")
    moved = await store.set_scope("hanako", Scope.of("mine", emergency=("mine",)), actor="admin")
    assert moved.scope.may_send_emergency("mine") and not moved.scope.covers("zushi")
    assert (await store.get_user("hanako")) == moved
    assert await audit_count(store, action="user.scope_changed") == 1


async def test_concurrent_ensure_user(store: SqlStore) -> None:
    users = await asyncio.gather(*(store.ensure_user("taro", Role.OPERATOR, actor="admin") for _ in range(4)))
    assert {u.name for u in users} == {"taro"}
    assert await audit_count(store, action="user.created") == 1


async def test_tokens_expiry_and_revocation(store: SqlStore) -> None:
    h0, h1, h2 = ("0" * 64, "1" * 64, "2" * 64)
    with pytest.raises(NotFound):
        await store.add_token(token_hash=h0, user="ghost", expires_at=T0, actor="admin")
    user = await store.ensure_user("jiro", Role.APPROVER, actor="admin")
    await store.add_token(token_hash=h1, user="jiro", expires_at=T0 + timedelta(days=1), actor="admin")
    await store.add_token(token_hash=h2, user="jiro", expires_at=T0 + timedelta(days=2), actor="admin")
    assert await store.user_for_token(h1, T0) == user
    assert await store.user_for_token(h1, T0 + timedelta(days=1)) is None  # expired
    assert await store.user_for_token("unknown", T0) is None
    assert await store.revoke_token(h2, actor="admin")
    assert not await store.revoke_token(h2, actor="admin")
    assert await store.user_for_token(h2, T0) is None
    assert await store.user_for_token(h1, T0) == user  # revoking one token leaves the others
    with pytest.raises(Conflict):
        await store.add_token(token_hash=h1, user="jiro", expires_at=T0, actor="admin")
    events = await store.list_audit(action="token.created") + await store.list_audit(action="token.revoked")
    assert len(events) == 3
    assert all(h1 not in str(e.detail) and h2 not in str(e.detail) for e in events)


# -- times, errors, migrations ----------------------------------------------------------------------


async def test_times_come_back_aware_utc(store: SqlStore) -> None:
    jst = datetime(2026, 11, 24, 18, 30, tzinfo=JST)
    [d] = await planned(store, state=DeliveryState.HELD, not_before=jst)
    got = await store.get_delivery(d.id)
    assert got.not_before == jst and got.not_before is not None and got.not_before.tzinfo is UTC
    assert got.not_before.hour == 9
    assert got.created_at.tzinfo is UTC and got.updated_at.tzinfo is UTC


async def test_naive_datetime_is_refused(store: SqlStore) -> None:
    with pytest.raises(StoreError):
        await store.release_held(datetime(2026, 11, 24, 9, 0))


async def test_unreachable_database_raises_store_error() -> None:
    broken = await open_store("postgresql://postgres@127.0.0.1:1/nothing")
    try:
        with pytest.raises(StoreError):
            await broken.get_message("m_x")
    finally:
        await broken.aclose()


async def test_upgrade_twice_matches_schema(database_url: str) -> None:
    await upgrade_async(database_url)
    await upgrade_async(database_url)
    engine = create_engine(database_url, pooled=False)
    try:
        async with engine.connect() as conn:
            version = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalars().all()
            diffs = await conn.run_sync(_schema_diffs)
    finally:
        await engine.dispose()
    from alembic.script import ScriptDirectory

    from gateway.store.migrate import alembic_config

    assert version == [ScriptDirectory.from_config(alembic_config()).get_current_head()]
    assert diffs == []


def _schema_diffs(conn: Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


@pytest.mark.postgres
async def test_concurrent_upgrades_on_postgres(postgres_url: str) -> None:
    await asyncio.gather(*(upgrade_async(postgres_url) for _ in range(3)))
    store = await open_store(postgres_url)
    try:
        assert await store.list_messages() == []
    finally:
        await store.aclose()


def test_sync_upgrade_creates_sqlite_directory(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "gateway.db"
    upgrade(f"sqlite:///{path}")
    upgrade(f"sqlite+aiosqlite:///{path}")
    assert path.is_file()


def test_sqlite_memory_database_is_refused() -> None:
    with pytest.raises(InputError):
        upgrade("sqlite:///:memory:")


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
    ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
    ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ("sqlite:///var/gateway.db", "sqlite+aiosqlite:///var/gateway.db"),
    ("sqlite+aiosqlite:///var/gateway.db", "sqlite+aiosqlite:///var/gateway.db"),
])
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


def test_normalize_url_rejects_garbage() -> None:
    with pytest.raises(InputError):
        normalize_url("not a url")


def test_new_ids_sort_in_creation_order() -> None:
    ids = [new_id("d") for _ in range(2000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(len(i) == 24 for i in ids)


# -- the emergency hot path ---------------------------------------------------------------------------


@pytest.fixture
async def sqlite_store(sqlite_url: str) -> AsyncIterator[SqlStore]:
    await upgrade_async(sqlite_url)
    opened = await open_store(sqlite_url)
    try:
        yield opened
    finally:
        await opened.aclose()


async def _query_plan(store: SqlStore, query: sa.Select[Any] | sa.CompoundSelect[Any]) -> str:
    async with store.engine.connect() as conn:
        compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        params = tuple(_sqlite_param(compiled.params[name]) for name in compiled.positiontup or ())
        rows = (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params)).all()
    return "\n".join(str(row[-1]) for row in rows)


def _sqlite_param(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    return value


@pytest.mark.parametrize("priorities", [{Priority.EMERGENCY}, None, {Priority.HIGH, Priority.NORMAL,
                                                                     Priority.LOW}])
async def test_claim_queries_walk_an_index_without_sorting(
    sqlite_store: SqlStore, priorities: set[Priority] | None,
) -> None:
    await planned(sqlite_store, [f"acct{i}" for i in range(200)])
    queued, waiting = due_queries(now=T0, limit=4, priorities=priorities)
    plan = await _query_plan(sqlite_store, queued)
    assert "SEARCH deliveries USING INDEX ix_deliveries_queued" in plan and "TEMP B-TREE" not in plan, plan
    plan = await _query_plan(sqlite_store, waiting)
    assert "SEARCH deliveries USING INDEX ix_deliveries_retry_due" in plan and "TEMP B-TREE" not in plan, plan
    # The claim sends both as one statement; each part must keep its index walk.
    plan = await _query_plan(sqlite_store, candidates_query(now=T0, limit=4, priorities=priorities))
    assert "SEARCH deliveries USING INDEX ix_deliveries_queued" in plan, plan
    assert "SEARCH deliveries USING INDEX ix_deliveries_retry_due" in plan, plan
    assert "TEMP B-TREE" not in plan and "SCAN deliveries" not in plan, plan


async def test_periodic_and_hot_path_reads_never_scan_the_delivery_history(sqlite_store: SqlStore) -> None:
    """Every process runs these every second or on every delivery; each must reach its rows
    through an index (a partial one per working state), not by scanning every delivery ever made."""
    history = await planned(sqlite_store, [f"acct{i}" for i in range(300)])
    for d in history[:250]:
        await sqlite_store.claim_due(worker="w", now=T0, limit=1, lease_seconds=30)
        await sqlite_store.transition_delivery(d.id, expected=[DeliveryState.SENDING, DeliveryState.QUEUED],
                                               new=DeliveryState.SENT, actor="w")
    await planned(sqlite_store, ["kodaira_x"], state=DeliveryState.HELD, not_before=T0)
    statements: list[tuple[str, Any]] = []
    assert sqlite_store._sqlite is not None

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    sa.event.listen(sqlite_store._sqlite, "before_cursor_execute", record)
    try:
        await sqlite_store.release_held(T0 - timedelta(days=1))
        await sqlite_store.expired_leases(T0)
        await sqlite_store.next_wakeup()
        await sqlite_store.delivery_state_counts()
        await sqlite_store.list_deliveries(states=[DeliveryState.UNCERTAIN], limit=200)
        await sqlite_store.claim_due(worker="w", now=T0, limit=4, lease_seconds=30)
        await sqlite_store.claim_due(worker="e", now=T0, limit=4, lease_seconds=30, priorities={Priority.EMERGENCY})
    finally:
        sa.event.remove(sqlite_store._sqlite, "before_cursor_execute", record)
    assert len(statements) >= 7
    with sqlite_store._sqlite.connect() as conn:
        for statement, parameters in statements:
            plan = "\n".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}",
                                                                           parameters).all())
            # Walking a partial index is fine: it holds only the deliveries in its state.
            scans = re.findall(r"\bSCAN (?:deliveries|in_flight)(?: USING (?:COVERING )?INDEX (\w+))?", plan)
            assert all(index in PARTIAL_INDEXES.values() for index in scans), f"{statement}\n{plan}"


async def test_emergency_claim_ignores_deep_routine_backlog(sqlite_store: SqlStore) -> None:
    await planned(sqlite_store, [f"acct{i % 50}" for i in range(10_000)])
    urgent = await planned(sqlite_store, ["kodaira_x"], priority=Priority.EMERGENCY)
    started = asyncio.get_running_loop().time()
    got = await sqlite_store.claim_due(worker="e", now=T0, limit=4, lease_seconds=30,
                                       priorities={Priority.EMERGENCY})
    elapsed = asyncio.get_running_loop().time() - started
    assert [d.id for d in got] == [urgent[0].id]
    assert elapsed < 0.5, f"emergency claim took {elapsed * 1000:.0f} ms with 10,000 queued"


@pytest.mark.postgres
async def test_emergency_claim_plan_stays_on_the_queue_after_a_long_history(postgres_url: str) -> None:
    """Thousands of alerts already sent and statistics not yet caught up (a typhoon night):
    the emergency claim must still find the queue through a claim index, not by walking the
    creation-time index over the whole history (20 ms per claim, measured) or scanning it."""
    await upgrade_async(postgres_url)
    pg = await open_store(postgres_url)
    try:
        # Statistics taken while the whole burst was queued; most of it has gone out since.
        await planned(pg, [f"acct{i}" for i in range(3000)], priority=Priority.EMERGENCY)
        async with pg.engine.begin() as conn:
            await conn.exec_driver_sql("ANALYZE deliveries")
            oldest = sa.select(schema.deliveries.c.id).order_by(schema.deliveries.c.created_at).limit(2900)
            await conn.execute(sa.update(schema.deliveries).where(schema.deliveries.c.id.in_(oldest))
                               .values(state="sent"))
        statement = claim._pg_emergency_claim(claim._lane_key({Priority.EMERGENCY}))
        params = {"now": T0, "worker": "w", "lease_expires": T0, "lease_json": "", "limit": 16,
                  **claim._due_params(T0, 16, claim.PG_SPARE_CANDIDATES)}
        async with pg.engine.connect() as conn:
            compiled = statement.compile(dialect=conn.dialect)
            values = tuple(compiled.construct_params(params)[name] for name in compiled.positiontup or ())
            plan = "\n".join(row[0] for row in (await conn.exec_driver_sql(f"EXPLAIN {compiled}", values)).all())
    finally:
        await pg.aclose()
    assert "ix_deliveries_created" not in plan and "Seq Scan on deliveries" not in plan, plan
    assert "ix_deliveries_queued" in plan, plan
    # The candidates are computed once and the rows to lock fetched by primary key (an IN
    # (subquery) here became a semi join that re-ran the candidate query for every queued row).
    assert "Semi Join" not in plan and "using deliveries_pkey" in plan, plan


def test_hot_path_statements_are_compiled_once() -> None:
    """SQLAlchemy caches a statement's compiled form only when it has a cache key; a multi-row
    INSERT has none and was compiled on every alert (a fifth of a replica's time, measured)."""
    lane = claim._lane_key({Priority.EMERGENCY})
    statements = [
        messages_module._pg_insert_all_statement(("id", "state"), ("id", "state"), 4, ("at", "actor"), 6, True),
        deliveries_module._pg_transition_statement(("state", "updated_at")),
        claim._pg_emergency_claim(lane), claim._pg_routine_claim(), claim._candidates_template(None),
    ]
    assert all(statement._generate_cache_key() is not None for statement in statements)


async def test_0004_fills_the_thread_of_existing_alert_messages_and_downgrades(database_url: str) -> None:
    from alembic import command

    from gateway.store.migrate import alembic_config

    def migrate(conn: Connection, target: str, down: bool = False) -> None:
        config = alembic_config()
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, target)

    engine = create_engine(database_url, pooled=False)
    body = '{"municipality": "kodaira", "category": "emergency", "text": "t"}'
    try:
        async with engine.begin() as conn:
            await conn.run_sync(migrate, "0003")
            for message_id, key in (("m_a", "0123456789abcdef#fedcba9876543210|kodaira_x"), ("m_b", None)):
                await conn.execute(sa.text(
                    "INSERT INTO messages (id, municipality, state, priority, priority_rank, submitted_by, source,"
                    " body, \"check\", accounts, overrides, alert_key, created_at, updated_at) VALUES (:id, 'kodaira',"
                    " 'planned', 'emergency', 0, 'jma', 'alert', :body, '{}', '[]', '{}', :key, :at, :at)"),
                    {"id": message_id, "body": body, "key": key, "at": datetime(2026, 7, 1, tzinfo=UTC)})
        async with engine.begin() as conn:
            await conn.run_sync(migrate, "head")
            found = dict((await conn.execute(sa.text("SELECT id, alert_thread FROM messages"))).all())
        assert found == {"m_a": "0123456789abcdef", "m_b": None}
        async with engine.begin() as conn:
            await conn.run_sync(migrate, "0003", True)
            assert (await conn.execute(sa.text("SELECT count(*) FROM messages"))).scalar_one() == 2
    finally:
        await engine.dispose()


async def test_0005_messages_from_before_the_body_hash_replay_whatever_the_body(
    database_url: str, policies: Policies, engine: CheckEngine,
) -> None:
    """A key used before 0005 has no hash to compare: the first message is returned, as it was then."""
    from alembic import command

    from gateway.store.migrate import alembic_config
    from gateway.testing import fake_adapters
    from tests.integration.conftest import OFFICE_HOURS, STAFF, Clock, build_gateway

    def migrate(conn: Connection, target: str) -> None:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, target)

    body = '{"municipality": "kodaira", "category": "event", "text": "t", "accounts": ["kodaira_x"]}'
    engine_ = create_engine(database_url, pooled=False)
    try:
        async with engine_.begin() as conn:
            await conn.run_sync(migrate, "0004")
            await conn.execute(sa.text(
                "INSERT INTO messages (id, municipality, state, priority, priority_rank, submitted_by, source,"
                " body, \"check\", accounts, overrides, idempotency_key, created_at, updated_at) VALUES ('m_old',"
                " 'kodaira', 'pending_approval', 'normal', 2, :user, 'api', :body, :check, '[\"kodaira_x\"]', '{}',"
                " 'k-old', :at, :at)"),
                {"user": STAFF.name, "body": body, "check": '{"verdict": "pass", "findings": []}',
                 "at": datetime(2026, 7, 1, tzinfo=UTC)})
        async with engine_.begin() as conn:
            await conn.run_sync(migrate, "head")
            hashes = (await conn.execute(sa.text("SELECT body_sha256 FROM messages"))).scalars().all()
        assert hashes == [None]
    finally:
        await engine_.dispose()
    store = await open_store(database_url)
    try:
        gateway = build_gateway(store, policies, engine, Clock(OFFICE_HOURS), fake_adapters())
        other = Message(municipality="kodaira", category="event", text="別の本文", accounts=("kodaira_x",))
        submitted = await gateway.submit(other, STAFF, idempotency_key="k-old")
        assert (submitted.record.id, submitted.created) == ("m_old", False)
        fresh = await gateway.submit(other, STAFF, idempotency_key="k-new")
        assert fresh.created and fresh.record.body_sha256 == message_digest(other)
    finally:
        await store.aclose()
