"""Dispatch: asyncio workers claim due deliveries under a lease, publish, and record the result.

Two lanes share one queue in the store. Routine workers take any due delivery, most urgent
first. Emergency workers take only emergency deliveries: that reserved capacity, plus a wake-up
event set the moment an emergency is planned, means no backlog of routine posts can delay an
alert. A rate-limited account is paused in the store until its reset; when the pause ends the
claim order puts its emergency deliveries ahead of routine ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway import metrics
from gateway.adapters.base import Adapter, IdempotencyKey
from gateway.background import Beat, Supervisor
from gateway.errors import (
    AuthError,
    Conflict,
    GatewayError,
    PublishError,
    RateLimited,
    RetryableError,
    StoreError,
    UncertainError,
)
from gateway.logs import log_failure
from gateway.models import Delivery, DeliveryState, Message, Post, Priority, Receipt
from gateway.pipeline.delivery.progress import ledger_progress
from gateway.pipeline.delivery.retry import RetryPolicy
from gateway.pipeline.intake.languages import message_in
from gateway.policy import Account, Municipality, Policies
from gateway.store.base import Store

log = logging.getLogger("gateway.dispatch")

Clock = Callable[[], datetime]
SENDING = (DeliveryState.SENDING,)
IMMINENT = (DeliveryState.QUEUED, DeliveryState.SENDING)
REPLY_WAIT_ROUNDS, REPLY_WAIT_SECONDS = 50, 0.2
# How long a worker keeps trying to record a publish outcome while the database is unreachable.
RECORD_RETRY_SECONDS = 30.0


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Lane:
    name: str
    workers: int  # deliveries published at once in this lane
    priorities: Collection[Priority] | None  # None: every priority, most urgent first


class Dispatcher:
    """Runs the worker lanes; `wake()` is the no-polling-delay signal."""

    def __init__(
        self, *, store: Store, policies: Policies, adapters: Mapping[Any, Adapter], retry: RetryPolicy,
        routine_workers: int = 4, emergency_workers: int = 16, lease_seconds: float = 120.0,
        poll_seconds: float = 1.0, clock: Clock = utcnow, worker_id: str | None = None,
        drill_adapters: Mapping[Any, Adapter] | None = None,
    ) -> None:
        self.store = store
        self.policies = policies
        self.adapters = adapters
        # Drills go to the sandbox unless the account is one of the municipality's drill accounts.
        self.drill_adapters = drill_adapters
        self.retry = retry
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.worker_id = worker_id or f"w-{uuid.uuid4().hex[:8]}"
        self.lanes = (
            Lane("emergency", emergency_workers, (Priority.EMERGENCY,)),
            Lane("routine", routine_workers, None),
        )
        self._events = {lane.name: asyncio.Event() for lane in self.lanes}
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight: set[asyncio.Task[Any]] = set()
        self._messages: OrderedDict[str, Message] = OrderedDict()
        self._paused: dict[str, datetime] = {}  # account -> until; this process's view of store pauses
        self.on_publish_start: Callable[[Delivery], None] | None = None  # for latency figures

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self, supervisor: Supervisor | None = None) -> None:
        """Run the lanes; under `supervisor` a lane that crashes is restarted and reported."""
        for lane in self.lanes:
            if supervisor is not None:
                supervisor.run(f"lane-{lane.name}", functools.partial(self._lane_loop, lane),
                               every=self.poll_seconds)
            else:
                self._tasks.append(asyncio.create_task(self._lane_loop(lane), name=f"lane-{lane.name}"))

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Stop claiming; give publishes in flight a moment to finish and record their outcome."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._inflight:
            _, pending = await asyncio.wait(self._inflight, timeout=grace_seconds)
            for task in pending:  # their leases expire and the reconciler settles them
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def wake(self, priority: Priority | None = None) -> None:
        """Wake the lane that serves this priority now (no polling delay)."""
        emergency = priority is Priority.EMERGENCY
        self._events["emergency" if emergency else "routine"].set()

    # -- work -----------------------------------------------------------------------------
    async def _lane_loop(self, lane: Lane, beat: Beat | None = None) -> None:
        """One claimer per lane: it claims as many deliveries as the lane has free slots.

        A single claimer (rather than N polling workers) means a wake-up costs one claim, not a
        herd of them competing for the database.
        """
        event = self._events[lane.name]
        running: set[asyncio.Task[Any]] = set()

        def finished(task: asyncio.Task[Any]) -> None:
            running.discard(task)
            self._inflight.discard(task)
            event.set()  # a slot is free

        # Routine posts are not urgent: claiming for every single freed slot would cost a claim
        # per post, so the routine lane waits until a quarter of its slots are free (or all work
        # is done). The emergency lane claims at once, for however many slots are free.
        batch = 1 if lane.priorities is not None else max(1, lane.workers // 4)
        while True:
            if beat is not None:
                beat()
            event.clear()
            if running and lane.workers - len(running) < batch:
                await _woken(event, self.poll_seconds)
                continue
            claimed = await self._claim(lane, lane.workers - len(running))
            for delivery in claimed:
                task = asyncio.create_task(self._process_logged(delivery), name=f"{lane.name}:{delivery.id}")
                running.add(task)
                self._inflight.add(task)
                task.add_done_callback(finished)
            if claimed and len(running) < lane.workers:
                continue  # there may be more due right now
            await _woken(event, self.poll_seconds)

    async def _claim(self, lane: Lane, free: int) -> list[Delivery]:
        if free <= 0:
            return []
        try:
            claimed = await self.store.claim_due(
                worker=self.worker_id, now=self.clock(), limit=free, lease_seconds=self.lease_seconds,
                priorities=lane.priorities,
            )
        except GatewayError as exc:
            log_failure(log, "claim failed", exc, lane=lane.name)
            return []
        await self._prefetch(claimed)
        return claimed

    async def _prefetch(self, claimed: Collection[Delivery]) -> None:
        """Read the messages of a claimed batch that this process has not seen, in one query
        (a message planned by another replica, or before a restart, is not in the cache)."""
        missing = {d.message_id for d in claimed} - self._messages.keys()
        if not missing:
            return
        try:
            found = await self.store.get_messages(missing)
        except GatewayError:
            return  # each delivery reads its own message (and records a failure) in process()
        for message_id, record in found.items():
            self.remember(message_id, record.body)

    async def run_once(self, lane: Lane | None = None, *, limit: int = 1) -> int:
        """Claim up to `limit` due deliveries for the lane and process them; returns how many."""
        lane = lane or self.lanes[1]
        claimed = await self.store.claim_due(
            worker=self.worker_id, now=self.clock(), limit=limit, lease_seconds=self.lease_seconds,
            priorities=lane.priorities,
        )
        if len(claimed) == 1:
            await self.process(claimed[0])
        elif claimed:
            await asyncio.gather(*(self.process(d) for d in claimed))
        return len(claimed)

    async def drain(self, *, max_rounds: int = 10_000) -> int:
        """Process everything due now, in this task (tests, demo)."""
        total = 0
        for _ in range(max_rounds):
            done = await self.run_once(limit=16)
            if not done:
                break
            total += done
        return total

    async def _process_logged(self, delivery: Delivery) -> None:
        try:
            await self.process(delivery)
        except Exception as exc:  # one delivery must never take its lane down
            # The lease stays; when it expires (or its worker is gone) the reconciler settles it.
            log_failure(log, "processing a delivery failed", exc, **_ids(delivery))

    async def process(self, delivery: Delivery) -> Delivery:
        """Publish one claimed delivery and record the outcome; never raises a PublishError."""
        found = self.policies.account(delivery.account)
        message = await self._message(delivery.message_id)
        adapter = self._adapter_for(delivery, message, found)
        if found is None or adapter is None:
            return await self._finish(delivery, DeliveryState.FAILED, "アカウントまたは送信機能が見つかりません",
                                      {"error_code": "no_adapter"})
        try:
            post = await self._render(adapter, message, found[1], delivery)
        except GatewayError as exc:
            return await self._finish(delivery, DeliveryState.FAILED, exc.message, _error_fields(exc))
        except Exception as exc:  # nothing was sent: a rendering bug fails this delivery only
            log.exception("rendering failed", extra=_ids(delivery))
            reason = f"投稿文を作れません（内部エラー: {type(exc).__name__}）"
            return await self._finish(delivery, DeliveryState.FAILED, reason,
                                      {"error_code": "render_failed", "error_text": type(exc).__name__})
        if post.skip_reason:
            return await self._finish(delivery, DeliveryState.SKIPPED, post.skip_reason, {})
        paused_until = self._paused.get(delivery.account)
        if paused_until is not None and paused_until > self.clock():
            # Claimed in the same batch as the request that hit the limit: wait for the reset too.
            fields = {"retry_at": paused_until, "attempts": max(delivery.attempts - 1, 0)}
            return await self._finish(delivery, DeliveryState.RETRY_WAIT, "アカウントが送信制限中のため待機", fields)
        if await self._stopped(found[1]):
            # Stopped (小平 3(7)) after this delivery was claimed: back to held, its attempt unused.
            fields = {"not_before": None, "retry_at": None, "attempts": max(delivery.attempts - 1, 0)}
            return await self._finish(delivery, DeliveryState.HELD, "アカウント停止中のため保留", fields)
        return await self._publish(adapter, post, delivery)

    async def _stopped(self, account: Account) -> bool:
        """Asked at the last moment, so a stop made after the claim still wins (the store keeps the
        answer only until a stop or resume is made in any replica)."""
        return account.stopped or account.id in await self.store.stopped_accounts()

    def _adapter_for(
        self, delivery: Delivery, message: Message, found: tuple[Municipality, Account] | None,
    ) -> Adapter | None:
        if message.drill and found is not None and delivery.account not in found[0].alerts.drill_accounts:
            return None if self.drill_adapters is None else self.drill_adapters.get(delivery.platform)
        return self.adapters.get(delivery.platform)

    async def _render(self, adapter: Adapter, message: Message, account: Account, delivery: Delivery) -> Post:
        message = message_in(message, account, delivery.language)
        post = adapter.render(message, account)
        if message.correction_of:
            reply_to = await self._remote_id_of(message.correction_of, delivery)
            if reply_to:
                post = post.model_copy(update={"reply_to": reply_to})
        return post

    async def _publish(self, adapter: Adapter, post: Post, delivery: Delivery) -> Delivery:
        if self.on_publish_start is not None:
            self.on_publish_start(delivery)
        progress = await ledger_progress(self.store, delivery, self.worker_id) if len(post.parts) > 1 else None
        started = time.perf_counter()
        try:
            receipt = await adapter.publish(post, IdempotencyKey(delivery.idempotency_key), progress=progress)
        except PublishError as exc:
            return await self._failed_attempt(delivery, exc)
        except Exception as exc:
            log.exception("adapter raised unexpectedly", extra=_ids(delivery))
            return await self._finish(delivery, DeliveryState.UNCERTAIN, f"内部エラー: {type(exc).__name__}",
                                      {"error_code": "internal", "error_text": type(exc).__name__})
        finally:
            metrics.PUBLISH_SECONDS.labels(delivery.platform.value).observe(time.perf_counter() - started)
        return await self._sent(delivery, receipt)

    async def _sent(self, delivery: Delivery, receipt: Receipt) -> Delivery:
        fields = {"remote_id": receipt.remote_id, "remote_url": receipt.url, "sent_at": self.clock(),
                  "error_code": None, "error_text": None}
        detail = {"extra_ids": list(receipt.extra_ids)} if receipt.extra_ids else None
        done = await self._finish(delivery, DeliveryState.SENT, "送信しました", fields, detail)
        if delivery.priority is Priority.EMERGENCY:
            metrics.EMERGENCY_SECONDS.observe((done.updated_at - delivery.created_at).total_seconds())
        return done

    async def _failed_attempt(self, delivery: Delivery, exc: PublishError) -> Delivery:
        fields = _error_fields(exc)
        if isinstance(exc, RateLimited):
            return await self._rate_limited(delivery, exc, fields)
        if isinstance(exc, RetryableError):
            if self.retry.exhausted(delivery.attempts):
                return await self._finish(delivery, DeliveryState.FAILED,
                                          f"再試行の上限（{delivery.attempts}回）に達しました: {exc.message}", fields)
            fields["retry_at"] = self.retry.next_attempt_at(self.clock(), delivery.attempts, exc.retry_after)
            return await self._finish(delivery, DeliveryState.RETRY_WAIT, exc.message, fields)
        if isinstance(exc, UncertainError):
            return await self._finish(delivery, DeliveryState.UNCERTAIN, exc.message, fields)
        if isinstance(exc, AuthError):
            fields["error_text"] = f"認証エラー（担当者による認証情報の更新が必要です）: {exc.message}"[:2000]
            return await self._finish(delivery, DeliveryState.FAILED, fields["error_text"], fields)
        return await self._finish(delivery, DeliveryState.FAILED, exc.message, fields)

    async def _rate_limited(self, delivery: Delivery, exc: RateLimited, fields: dict[str, Any]) -> Delivery:
        until = self.retry.next_attempt_at(self.clock(), delivery.attempts, exc.retry_after)
        # Known to this process at once; the store's pause (for other replicas) follows.
        self._paused[delivery.account] = until
        await self.store.pause_account(delivery.account, until=until, reason=exc.message, actor=self.worker_id)
        metrics.RATE_LIMIT_PAUSES.labels(delivery.platform.value).inc()
        fields["retry_at"] = until
        # A rate limit is the platform's pacing, not a failure of this delivery: it does not use up attempts.
        fields["attempts"] = max(delivery.attempts - 1, 0)
        return await self._finish(delivery, DeliveryState.RETRY_WAIT, exc.message, fields)

    async def _finish(
        self, delivery: Delivery, state: DeliveryState, reason: str, fields: Mapping[str, Any],
        detail: Mapping[str, Any] | None = None,
    ) -> Delivery:
        all_fields = {"lease_owner": None, "lease_expires": None, **fields}
        done = await self._record(delivery, state, reason, all_fields, detail)
        metrics.DELIVERIES.labels(state.value, delivery.platform.value, delivery.priority.value).inc()
        log.info("delivery %s", state.value, extra={**_ids(delivery), "state": state.value})
        return done

    async def _record(
        self, delivery: Delivery, state: DeliveryState, reason: str, fields: Mapping[str, Any],
        detail: Mapping[str, Any] | None,
    ) -> Delivery:
        """Record the outcome, retrying while the database is unreachable (a restart, a failover).

        The outcome exists only in this process until it is written: giving up at once would
        leave the delivery `sending` until its lease expires and the reconciler asks the platform.
        A retry after an attempt whose commit was not confirmed may find the outcome already
        recorded; that counts as done.
        """
        deadline = time.monotonic() + min(RECORD_RETRY_SECONDS, self.lease_seconds / 2)
        pause, failed = 0.05, False
        while True:
            try:
                return await self.store.transition_delivery(
                    delivery.id, expected=SENDING, new=state, actor=self.worker_id, reason=reason, fields=fields,
                    detail=detail, urgent=delivery.priority is Priority.EMERGENCY,
                )
            except StoreError:
                if time.monotonic() + pause > deadline:
                    raise
                log.warning("recording the outcome failed; retrying", extra=_ids(delivery))
            except Conflict:
                if failed:
                    current = await self.store.get_delivery(delivery.id)
                    if current.state is state and current.lease_owner is None:
                        return current
                raise
            failed = True
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)

    def remember(self, message_id: str, message: Message) -> None:
        """Prime the message cache at plan time, sparing the hot path a database read."""
        self._messages[message_id] = message
        if len(self._messages) > 2048:
            self._messages.popitem(last=False)

    async def _message(self, message_id: str) -> Message:
        cached = self._messages.get(message_id)
        if cached is None:
            cached = (await self.store.get_message(message_id)).body
            self.remember(message_id, cached)
        return cached

    async def _remote_id_of(self, message_id: str, delivery: Delivery) -> str | None:
        """The platform id of the earlier post a follow-up replies to, if that post is still up.

        An earlier post that is going out right now is waited for (briefly), so that an update
        arriving hard on the heels of its alert still threads under it. A retracted (deleted) post
        cannot be replied to (X refuses it): then the follow-up, a correction say, is posted on its own.
        A post in another language replies to the earlier post in its own language, else to the first.
        """
        account = delivery.account
        for _ in range(REPLY_WAIT_ROUNDS):
            earlier = await self.store.list_deliveries(message_id=message_id, account=account, limit=5)
            if not any(d.state in IMMINENT for d in earlier):
                break
            await asyncio.sleep(REPLY_WAIT_SECONDS)
        sent = [d for d in earlier if d.remote_id and d.state is DeliveryState.SENT]
        same = [d for d in sent if d.language == delivery.language] or sent
        return same[0].remote_id if same else None


def _error_fields(exc: GatewayError) -> dict[str, Any]:
    return {"error_code": exc.code, "error_text": exc.message[:2000]}


async def _woken(event: asyncio.Event, seconds: float) -> None:
    """Wait for `event` or `seconds`. Not `asyncio.wait_for`: on Python 3.11 it can swallow a
    cancellation that arrives as the event is set, and the lane then never stops."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


def _ids(delivery: Delivery) -> dict[str, str]:
    return {"delivery_id": delivery.id, "message_id": delivery.message_id, "account": delivery.account,
            "platform": delivery.platform.value}
