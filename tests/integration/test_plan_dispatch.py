"""Plan and dispatch on real databases with scripted adapters: hours, lanes, errors, recovery."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from gateway.errors import AuthError, PermanentError, RateLimited, RetryableError, StoreError, UncertainError
from gateway.models import CheckResult, DeliveryState, MessageState, Platform, Priority
from gateway.pipeline.delivery import dispatch as dispatch_module
from gateway.pipeline.delivery.dispatch import Dispatcher
from gateway.store.records import NewDelivery, NewMessage
from tests.integration.conftest import ALERTS, APPROVER, JST, OPERATOR, STAFF, Harness, build_gateway, build_worker
from tests.integration.test_intake_approval import msg


async def approved(h: Harness, **fields: Any) -> list[Any]:
    submitted = await h.gateway.submit(msg(**fields), STAFF)
    return (await h.gateway.approve(submitted.record.id, APPROVER)).deliveries


# -- office hours -----------------------------------------------------------------------------

@pytest.mark.parametrize(("now", "municipality", "account", "released_at"), [
    # weekday evening -> next morning
    (datetime(2026, 11, 25, 18, 30, tzinfo=JST), "kodaira", "kodaira_x", datetime(2026, 11, 26, 8, 30, tzinfo=JST)),
    # Saturday -> Monday
    (datetime(2026, 11, 28, 10, 0, tzinfo=JST), "kisarazu", "kisarazu_x", datetime(2026, 11, 30, 8, 30, tzinfo=JST)),
    # national holiday (2026-11-23 勤労感謝の日, Monday) -> Tuesday
    (datetime(2026, 11, 23, 10, 0, tzinfo=JST), "kodaira", "kodaira_x", datetime(2026, 11, 24, 8, 30, tzinfo=JST)),
    # 12/30 for kodaira (12/29-1/3 closed) -> Monday 2027-01-04
    (datetime(2026, 12, 30, 10, 0, tzinfo=JST), "kodaira", "kodaira_x", datetime(2027, 1, 4, 8, 30, tzinfo=JST)),
    # zushi closes at 17:00, not 17:15
    (datetime(2026, 11, 25, 17, 5, tzinfo=JST), "zushi", "zushi_x", datetime(2026, 11, 26, 8, 30, tzinfo=JST)),
])
async def test_routine_delivery_is_held_until_the_window_opens(
    harness: Harness, now: datetime, municipality: str, account: str, released_at: datetime,
) -> None:
    harness.clock.now = now
    category = "city_news" if municipality != "kodaira" else "event"
    (delivery,) = await approved(harness, municipality=municipality, accounts=[account], category=category)
    assert delivery.state is DeliveryState.HELD
    assert delivery.not_before == released_at

    harness.clock.now = released_at - timedelta(minutes=1)
    assert await harness.store.release_held(harness.clock()) == []
    harness.clock.now = released_at
    assert [d.id for d in await harness.store.release_held(harness.clock())] == [delivery.id]
    assert await harness.dispatcher.drain() == 1
    assert (await harness.store.get_delivery(delivery.id)).state is DeliveryState.SENT


async def test_1230_is_open_for_a_city_without_year_end_closure(harness: Harness, policies: Any) -> None:
    assert not policies.get("atsugi").hours.year_end_closure
    harness.clock.now = datetime(2026, 12, 30, 10, 0, tzinfo=JST)
    (delivery,) = await approved(harness, municipality="atsugi", accounts=["atsugi_x"], category="city_news")
    assert delivery.state is DeliveryState.QUEUED


async def test_emergency_ignores_office_hours(harness: Harness) -> None:
    harness.clock.now = datetime(2026, 11, 28, 3, 0, tzinfo=JST)  # Saturday, 3 a.m.
    submitted = await harness.gateway.submit(
        msg(category="emergency", priority="emergency", text="【緊急安全確保】警戒レベル5 直ちに命を守る行動をとってください。"), ALERTS)
    assert {d.state for d in submitted.deliveries} == {DeliveryState.QUEUED}
    assert await harness.dispatcher.drain() == 1
    assert harness.adapters[Platform.X].texts()[0].startswith("【緊急安全確保】")


async def test_not_before_in_the_future_holds(harness: Harness) -> None:
    later = datetime(2026, 11, 24, 14, 0, tzinfo=JST)
    (delivery,) = await approved(harness, not_before=later.isoformat())
    assert delivery.state is DeliveryState.HELD
    assert delivery.not_before == later


async def test_youtube_without_video_is_skipped(harness: Harness) -> None:
    (delivery,) = await approved(harness, accounts=["kodaira_youtube"], category="tourism")
    await harness.dispatcher.drain()
    done = await harness.store.get_delivery(delivery.id)
    assert done.state is DeliveryState.SKIPPED
    assert harness.adapters[Platform.YOUTUBE].calls == 0


# -- dispatch outcomes -------------------------------------------------------------------------

async def test_success_records_the_receipt(harness: Harness) -> None:
    (delivery,) = await approved(harness)
    await harness.dispatcher.drain()
    done = await harness.store.get_delivery(delivery.id)
    assert done.state is DeliveryState.SENT and done.remote_id and done.remote_url
    assert done.attempts == 1 and done.lease_owner is None
    transitions = [(e.from_state, e.to_state) for e in await harness.store.list_audit(delivery_id=delivery.id)]
    assert ("queued", "sending") in transitions and ("sending", "sent") in transitions


async def test_retryable_error_waits_with_backoff_then_sends(harness: Harness) -> None:
    harness.adapters[Platform.X].fail_next(RetryableError("503"))
    (delivery,) = await approved(harness)
    await harness.dispatcher.drain()
    waiting = await harness.store.get_delivery(delivery.id)
    assert waiting.state is DeliveryState.RETRY_WAIT
    assert waiting.retry_at is not None and waiting.retry_at >= harness.clock() + timedelta(seconds=5)
    assert await harness.dispatcher.drain() == 0  # not due yet
    harness.clock.now = waiting.retry_at
    assert await harness.dispatcher.drain() == 1
    assert (await harness.store.get_delivery(delivery.id)).state is DeliveryState.SENT


async def test_retries_stop_at_the_limit(harness: Harness) -> None:
    harness.adapters[Platform.X].fail_next(RetryableError("503"), times=3)
    (delivery,) = await approved(harness)
    for _ in range(3):
        await harness.dispatcher.drain()
        harness.clock.advance(hours=1)
    done = await harness.store.get_delivery(delivery.id)
    assert done.state is DeliveryState.FAILED and done.attempts == 3


async def test_rate_limit_pauses_the_account_until_reset(harness: Harness) -> None:
    reset = harness.clock() + timedelta(minutes=15)
    harness.adapters[Platform.X].fail_next(RateLimited("429", retry_after=reset))
    first, second = [(await approved(harness, text=f"お知らせ{i}です。市役所からのお知らせをご確認ください。"))[0]
                     for i in range(2)]
    await harness.dispatcher.drain()
    states = {d.id: d for d in await harness.store.list_deliveries()}
    assert states[first.id].state is DeliveryState.RETRY_WAIT and states[first.id].retry_at == reset
    # The paused account's other posts wait too (still queued, or put back until the reset).
    assert states[second.id].state in (DeliveryState.QUEUED, DeliveryState.RETRY_WAIT)
    assert states[second.id].retry_at in (None, reset)
    assert harness.adapters[Platform.X].calls == 1  # no burnt retries
    harness.clock.now = reset
    assert await harness.dispatcher.drain() == 2


async def test_emergency_goes_first_when_a_paused_account_resumes(harness: Harness) -> None:
    reset = harness.clock() + timedelta(minutes=15)
    harness.adapters[Platform.X].fail_next(RateLimited("429", retry_after=reset))
    await approved(harness, text="ルーティン投稿その1です。市からのお知らせです。")
    await harness.dispatcher.drain()
    for i in range(5):
        await approved(harness, text=f"ルーティン投稿{i + 2}件目です。市からのお知らせです。")
    await harness.gateway.submit(
        msg(category="emergency", priority="emergency", text="【避難指示】警戒レベル4 避難指示を発令しました。"), ALERTS)
    harness.clock.now = reset
    await harness.dispatcher.drain()
    assert harness.adapters[Platform.X].texts()[0].startswith("【避難指示】")


@pytest.mark.parametrize(("error", "state"), [
    (UncertainError("timeout after send"), DeliveryState.UNCERTAIN),
    (AuthError("token expired"), DeliveryState.FAILED),
    (PermanentError("duplicate", code="duplicate"), DeliveryState.FAILED),
])
async def test_error_classes_land_in_their_states(harness: Harness, error: Exception, state: DeliveryState) -> None:
    harness.adapters[Platform.X].fail_next(error)  # type: ignore[arg-type]
    (delivery,) = await approved(harness)
    await harness.dispatcher.drain()
    done = await harness.store.get_delivery(delivery.id)
    assert done.state is state
    assert done.error_code == error.code  # type: ignore[attr-defined]


async def test_uncertain_that_reached_the_platform_is_reconciled_not_resent(harness: Harness) -> None:
    harness.adapters[Platform.X].fail_next(UncertainError("timeout"), after_publishing=True)
    (delivery,) = await approved(harness)
    await harness.dispatcher.drain()
    assert (await harness.store.get_delivery(delivery.id)).state is DeliveryState.UNCERTAIN
    await harness.worker.reconciler.run_once(harness.clock())
    done = await harness.store.get_delivery(delivery.id)
    assert done.state is DeliveryState.SENT and done.remote_id
    assert len(harness.adapters[Platform.X].published) == 1


async def test_uncertain_that_did_not_reach_is_resent_after_settling(harness: Harness) -> None:
    harness.adapters[Platform.X].fail_next(UncertainError("timeout"), after_publishing=False)
    (delivery,) = await approved(harness)
    await harness.dispatcher.drain()
    await harness.worker.reconciler.run_once(harness.clock())
    assert (await harness.store.get_delivery(delivery.id)).state is DeliveryState.UNCERTAIN  # still settling
    harness.clock.advance(seconds=31)
    await harness.worker.reconciler.run_once(harness.clock())
    await harness.dispatcher.drain()
    assert (await harness.store.get_delivery(delivery.id)).state is DeliveryState.SENT
    assert len(harness.adapters[Platform.X].published) == 1


async def test_expired_lease_becomes_uncertain_not_resent(harness: Harness) -> None:
    (delivery,) = await approved(harness)
    claimed = await harness.store.claim_due(worker="dead", now=harness.clock(), limit=5, lease_seconds=60)
    assert [d.id for d in claimed] == [delivery.id]
    harness.clock.advance(seconds=61)
    await harness.worker.reconciler.run_once(harness.clock())
    assert (await harness.store.get_delivery(delivery.id)).state is DeliveryState.UNCERTAIN
    assert harness.adapters[Platform.X].calls == 0


async def test_expired_line_lease_is_resent_with_the_same_key(harness: Harness) -> None:
    submitted = await harness.gateway.submit(
        msg(municipality="kisarazu", accounts=["kisarazu_line"], category="city_news"), STAFF)
    (delivery,) = (await harness.gateway.approve(submitted.record.id, APPROVER)).deliveries
    await harness.store.claim_due(worker="dead", now=harness.clock(), limit=5, lease_seconds=60)
    harness.clock.advance(seconds=61)
    await harness.worker.reconciler.run_once(harness.clock())
    await harness.dispatcher.drain()
    assert (await harness.store.get_delivery(delivery.id)).state is DeliveryState.SENT
    (_, key), = harness.adapters[Platform.LINE].published
    assert key == delivery.idempotency_key


# -- operator actions --------------------------------------------------------------------------

async def test_operator_retry_and_cancel(harness: Harness) -> None:
    harness.adapters[Platform.X].fail_next(AuthError("expired"))
    (delivery,) = await approved(harness)
    await harness.dispatcher.drain()
    await harness.gateway.retry_delivery(delivery.id, OPERATOR)
    await harness.dispatcher.drain()
    assert (await harness.store.get_delivery(delivery.id)).state is DeliveryState.SENT
    (held,) = await approved(harness, not_before="2026-11-30T10:00:00+09:00", text="来週のお知らせです。ご確認ください。")
    cancelled = await harness.gateway.cancel_delivery(held.id, OPERATOR)
    assert cancelled.state is DeliveryState.CANCELLED


async def test_retract_deletes_published_and_cancels_pending(harness: Harness) -> None:
    submitted = await harness.gateway.submit(msg(accounts=["kodaira_x", "kodaira_facebook"]), STAFF)
    await harness.gateway.approve(submitted.record.id, APPROVER)
    (first,) = await harness.store.claim_due(worker="t", now=harness.clock(), limit=1, lease_seconds=60)
    await harness.dispatcher.process(first)
    results = await harness.gateway.retract(submitted.record.id, OPERATOR, "日付の誤り")
    states = sorted(d.state.value for d in results)
    assert states == ["cancelled", "retracted"]
    assert len(harness.adapters[first.platform].deleted) == 1
    assert (await harness.store.get_message(submitted.record.id)).state is MessageState.RETRACTED


# -- crash recovery ----------------------------------------------------------------------------

async def test_message_accepted_but_not_planned_is_planned_once_on_restart(
    harness: Harness, policies: Any, engine: Any,
) -> None:
    """Simulate a crash between accepting and planning: the row is `approved` with no deliveries."""
    message = msg(municipality="mine", accounts=None, category="tourism")
    targets, result = await harness.gateway.check(message)
    record, _ = await harness.store.add_message(NewMessage(
        municipality="mine", body=message, state=MessageState.APPROVED, priority=Priority.NORMAL,
        submitted_by=STAFF.name, source="api", check=result, accounts=tuple(a.id for a in targets.accounts),
    ), actor=STAFF.name)
    assert await harness.store.list_deliveries(message_id=record.id) == []

    restarted = [build_worker(build_gateway(harness.store, policies, engine, harness.clock, harness.adapters))
                 for _ in range(3)]
    await asyncio.gather(*(w.plan_pending(include_recent=True) for w in restarted))  # three replicas racing
    deliveries = await harness.store.list_deliveries(message_id=record.id)
    assert sorted(d.account for d in deliveries) == sorted(targets_ids(targets))
    assert (await harness.store.get_message(record.id)).state is MessageState.PLANNED


def targets_ids(targets: Any) -> list[str]:
    return [a.id for a in targets.accounts]


async def test_workers_started_by_start_deliver_without_manual_drain(harness: Harness) -> None:
    await harness.worker.start()
    try:
        submitted = await harness.gateway.submit(
            msg(category="emergency", priority="emergency", text="【避難指示】警戒レベル4 避難指示を発令しました。"), ALERTS)
        for _ in range(100):
            states = {d.state for d in await harness.store.list_deliveries(message_id=submitted.record.id)}
            if states == {DeliveryState.SENT}:
                break
            await asyncio.sleep(0.02)
        assert states == {DeliveryState.SENT}
    finally:
        await harness.worker.stop()


# -- recording an outcome while the database is away --------------------------------------------

async def test_an_outcome_is_recorded_once_the_database_answers_again(
    harness: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The post went out; the first writes of its outcome fail (database restarting): the worker keeps
    trying instead of leaving it `sending` until the lease expires, and it is published once."""
    (delivery,) = await approved(harness)
    real = harness.store.transition_delivery
    failures = [StoreError("データベースの操作に失敗しました")] * 3

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("new") is DeliveryState.SENT and failures:
            raise failures.pop()
        return await real(*args, **kwargs)

    monkeypatch.setattr(harness.store, "transition_delivery", flaky)
    assert await harness.dispatcher.drain() == 1
    done = await harness.store.get_delivery(delivery.id)
    assert done.state is DeliveryState.SENT and done.lease_owner is None and failures == []
    assert harness.adapters[Platform.X].calls == 1
    assert [e.to_state for e in await harness.store.list_audit(delivery_id=delivery.id)].count("sent") == 1


async def test_an_outcome_whose_commit_was_not_confirmed_is_not_recorded_twice(
    harness: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The connection drops after the write committed: the retry finds it recorded and takes it as done."""
    (delivery,) = await approved(harness)
    real = harness.store.transition_delivery
    lost = [True]

    async def committed_then_lost(*args: Any, **kwargs: Any) -> Any:
        result = await real(*args, **kwargs)
        if kwargs.get("new") is DeliveryState.SENT and lost:
            lost.pop()
            raise StoreError("データベースの操作に失敗しました")
        return result

    monkeypatch.setattr(harness.store, "transition_delivery", committed_then_lost)
    assert await harness.dispatcher.drain() == 1
    assert (await harness.store.get_delivery(delivery.id)).state is DeliveryState.SENT
    assert [e.to_state for e in await harness.store.list_audit(delivery_id=delivery.id)].count("sent") == 1


async def test_recording_gives_up_after_its_time_and_leaves_the_lease_to_the_reconciler(
    harness: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    (delivery,) = await approved(harness)
    monkeypatch.setattr(dispatch_module, "RECORD_RETRY_SECONDS", 0.3)

    async def down(*args: Any, **kwargs: Any) -> Any:
        raise StoreError("データベースの操作に失敗しました")

    monkeypatch.setattr(harness.store, "transition_delivery", down)
    started = asyncio.get_running_loop().time()
    with pytest.raises(StoreError):  # the worker loop logs it; the lease and the reconciler take over
        await harness.dispatcher.drain()
    assert 0.1 < asyncio.get_running_loop().time() - started < 5  # it kept trying, then gave up
    assert (await harness.store.get_delivery(delivery.id)).state is DeliveryState.SENDING


async def test_the_routine_lane_claims_in_batches_not_per_freed_slot(
    harness: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With publishes in flight, a freed routine slot waits for a quarter of the lane to be free:
    one claim (a transaction) serves several posts. Every post still goes out."""
    store = harness.store
    for i in range(40):
        record, _ = await store.add_message(NewMessage(
            municipality="kodaira", body=msg(accounts=["kodaira_x"]), state=MessageState.APPROVED,
            priority=Priority.NORMAL, submitted_by="sato", source="api", check=CheckResult.of([]),
            accounts=("kodaira_x",)), actor="sato")
        await store.plan_message(record.id, [NewDelivery(f"acct{i}_x", Platform.X, DeliveryState.QUEUED, None)],
                                 actor="sato")
    dispatcher = Dispatcher(store=store, policies=harness.policies, adapters={}, retry=harness.dispatcher.retry,
                            routine_workers=8, emergency_workers=1, poll_seconds=0.05, clock=harness.clock)
    claims: list[int] = []
    real_claim, real_process = store.claim_due, dispatcher.process

    async def counted(**kwargs: Any) -> Any:
        claimed = await real_claim(**kwargs)
        if claimed and kwargs.get("priorities") is None:
            claims.append(len(claimed))
        return claimed

    async def slow(delivery: Any) -> Any:
        await asyncio.sleep(0.02)  # a platform taking its time
        return await real_process(delivery)

    monkeypatch.setattr(store, "claim_due", counted)
    monkeypatch.setattr(dispatcher, "process", slow)
    async def failed() -> int:  # no adapter here: every post ends failed once it has been tried
        return len(await store.list_deliveries(states=[DeliveryState.FAILED], limit=100))

    await dispatcher.start()
    try:
        async with asyncio.timeout(20):  # the ledger, not the lane's own bookkeeping, says when all were tried
            while await failed() < 40:
                await asyncio.sleep(0.02)
    finally:
        await dispatcher.stop()
    assert sum(claims) == 40 and min(claims[:-1] or [2]) >= 2, claims
