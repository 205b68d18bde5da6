"""The gateway as one object: intake → approval → checks → plan → dispatch, used by the API and CLI.

`Gateway` owns no transport: the web app and the CLI build it from settings (`gateway.app`) and
call these methods with the acting user. All writes go through the store, which records the
audit row of every state change in the same transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from gateway import metrics
from gateway.adapters.base import Adapter
from gateway.errors import Conflict, FieldProblem, GatewayError, PermanentError, PolicyViolation
from gateway.models import (
    CheckResult,
    Delivery,
    DeliveryState,
    Message,
    MessageState,
    Platform,
    Priority,
    Receipt,
    Role,
)
from gateway.pipeline.approval import approval_rule, check_can_approve
from gateway.pipeline.checks import CheckEngine, CheckInput
from gateway.pipeline.dispatch import Clock, Dispatcher, utcnow
from gateway.pipeline.plan import plan_deliveries
from gateway.pipeline.reconcile import Reconciler
from gateway.pipeline.targets import Targets, resolve_targets
from gateway.policy import Account, Municipality, Policies
from gateway.store.base import AlertStamp, MessageRecord, NewDelivery, NewMessage, Store

log = logging.getLogger("gateway.service")

CANCELLABLE = (DeliveryState.PLANNED, DeliveryState.HELD, DeliveryState.QUEUED, DeliveryState.RETRY_WAIT,
               DeliveryState.UNCERTAIN)
PLAN_GRACE = timedelta(seconds=5)
CHECKPOINT_SECONDS = 5.0
RETRYABLE = (DeliveryState.FAILED, DeliveryState.RETRY_WAIT, DeliveryState.CANCELLED)


@dataclass(frozen=True)
class Actor:
    name: str
    role: Role


@dataclass(frozen=True)
class Submitted:
    record: MessageRecord
    created: bool
    approval_reason: str
    deliveries: list[Delivery] = field(default_factory=list)


def _require_same_message(record: MessageRecord, message: Message) -> None:
    """A reused idempotency key must bring the message it was first used with."""
    if not record.submitted_as(message):
        reason = "別の内容の投稿ですでに使われたキーです。新しい投稿には新しいキーを指定してください"
        raise Conflict(f"この Idempotency-Key は{reason}",
                       [FieldProblem("Idempotency-Key", "idempotency_key_reused", reason)],
                       code="idempotency_key_reused")


class Gateway:
    def __init__(
        self, *, store: Store, policies: Policies, engine: CheckEngine, adapters: Mapping[Platform, Adapter],
        dispatcher: Dispatcher, reconciler: Reconciler, clock: Clock = utcnow, housekeeping_seconds: float = 1.0,
    ) -> None:
        self.store = store
        self.policies = policies
        self.engine = engine
        self.adapters = adapters
        self.dispatcher = dispatcher
        self.reconciler = reconciler
        self.clock = clock
        self.housekeeping_seconds = housekeeping_seconds
        self._housekeeper: asyncio.Task[None] | None = None
        self._next_checkpoint = 0.0

    # -- checks ---------------------------------------------------------------------------
    def check(self, message: Message) -> tuple[Targets, CheckResult]:
        targets = resolve_targets(message, self.policies)
        result = self.engine.check(CheckInput(message, targets.municipality, targets.accounts))
        return targets, result

    # -- intake ---------------------------------------------------------------------------
    async def submit(
        self, message: Message, actor: Actor, *, source: str = "api", idempotency_key: str | None = None,
        alert_key: str | None = None, alert: AlertStamp | None = None, decided_by: str | None = None,
    ) -> Submitted:
        """Validate, check, store and (when no approval is needed) plan a message.

        Bad input raises InputError and a blocking finding raises PolicyViolation; either way
        nothing is stored. A repeated idempotency key returns the first submission when it comes
        with the same message, and raises Conflict (storing nothing) when not. `decided_by` names
        the operator who published a held alert (recorded as its approver).
        """
        targets, result = self.check(message)
        metrics.CHECK_VERDICTS.labels(result.verdict.value).inc()
        if result.verdict.value == "block":
            raise PolicyViolation("投稿ポリシーに反するため受け付けられません", result.findings)
        rule = approval_rule(message, targets.municipality, result, submitter_role=actor.role)
        state = MessageState.PENDING_APPROVAL if rule.needed else MessageState.APPROVED
        new = NewMessage(
            municipality=targets.municipality.id, body=message, state=state, priority=message.priority,
            submitted_by=actor.name, source=source, check=result,
            accounts=tuple(a.id for a in targets.accounts), idempotency_key=idempotency_key,
            approved_by=None if rule.needed else decided_by or f"auto:{actor.name}", alert_key=alert_key,
            alert=alert,
        )
        planned = None if rule.needed else self._new_deliveries(
            message, targets.municipality, targets.accounts, await self.store.stopped_accounts())
        record, created, deliveries = await self.store.add_planned_message(new, planned, actor=actor.name)
        if not created and alert_key is None:  # an alert's repeat is matched by its own key, whatever the text
            _require_same_message(record, message)
        if created and deliveries:
            self.dispatcher.remember(record.id, message)
            self.dispatcher.wake(message.priority)
        return Submitted(record, created, rule.reason, deliveries)

    # -- approval -------------------------------------------------------------------------
    async def approve(self, message_id: str, actor: Actor, overrides: Mapping[str, str] | None = None) -> Submitted:
        record = await self.store.get_message(message_id)
        if record.state is not MessageState.PENDING_APPROVAL:
            raise Conflict(f"承認待ちではありません（現在の状態: {record.state.value}）")
        recorded = check_can_approve(approver=actor.name, approver_role=actor.role,
                                     submitted_by=record.submitted_by, check=record.check,
                                     overrides=overrides or {})
        record = await self.store.transition_message(
            message_id, expected=[MessageState.PENDING_APPROVAL], new=MessageState.APPROVED, actor=actor.name,
            reason="承認", approved_by=actor.name, overrides=recorded,
        )
        deliveries = await self.plan(record)
        return Submitted(await self.store.get_message(message_id), False, "承認済み", deliveries)

    async def reject(self, message_id: str, actor: Actor, comment: str) -> MessageRecord:
        record = await self.store.get_message(message_id)
        check_can_approve(approver=actor.name, approver_role=actor.role, submitted_by=record.submitted_by,
                          check=CheckResult.of([]), overrides={})
        return await self.store.transition_message(
            message_id, expected=[MessageState.PENDING_APPROVAL], new=MessageState.REJECTED, actor=actor.name,
            reason="差し戻し", note=comment.strip() or None,
        )

    # -- plan -----------------------------------------------------------------------------
    async def plan(self, record: MessageRecord) -> list[Delivery]:
        """Plan an approved message exactly once (the store refuses a second plan)."""
        municipality = self.policies.get(record.municipality)
        if municipality is None:
            raise Conflict(f"自治体の設定がありません: {record.municipality}")
        accounts = [a for a in (municipality.account(i) for i in record.accounts) if a is not None]
        planned = self._new_deliveries(record.body, municipality, accounts, await self.store.stopped_accounts())
        self.dispatcher.remember(record.id, record.body)
        try:
            deliveries = await self.store.plan_message(record.id, planned, actor="planner",
                                                       urgent=record.priority is Priority.EMERGENCY)
        except Conflict:
            # Planned meanwhile by the recovery sweep or another replica: that plan stands.
            return await self.store.list_deliveries(message_id=record.id)
        self.dispatcher.wake(record.priority)
        return deliveries

    def _new_deliveries(
        self, message: Message, municipality: Municipality, accounts: Sequence[Account],
        stopped: Collection[str] = (),
    ) -> list[NewDelivery]:
        planned = plan_deliveries(message, municipality, accounts, now=self.clock(), platforms=set(self.adapters))
        # An account an operator stopped (小平 3(7)) gets nothing, emergencies included, until it is resumed.
        return [replace(d, state=DeliveryState.HELD, not_before=None, reason="アカウント停止中のため保留")
                if d.account in stopped and d.state is not DeliveryState.SKIPPED else d for d in planned]

    async def plan_pending(self, *, include_recent: bool = False) -> int:
        """Plan approved messages that have no deliveries yet (a crash between accept and plan).

        The periodic sweep leaves messages approved in the last few seconds to the request that is
        planning them; at start-up (`include_recent`) every one is taken.
        """
        count = 0
        settled_before = self.clock() - (timedelta(0) if include_recent else PLAN_GRACE)
        for record in await self.store.list_messages(states=[MessageState.APPROVED], limit=500):
            if record.updated_at <= settled_before:  # leave in-flight submissions to their own request
                await self.plan(record)
                count += 1
        return count

    # -- operator actions -----------------------------------------------------------------
    async def retry_delivery(self, delivery_id: str, actor: Actor) -> Delivery:
        delivery = await self.store.transition_delivery(
            delivery_id, expected=RETRYABLE, new=DeliveryState.QUEUED, actor=actor.name, reason="手動で再送",
            fields={"retry_at": None},
        )
        self.dispatcher.wake(delivery.priority)
        return delivery

    async def cancel_delivery(self, delivery_id: str, actor: Actor, reason: str = "手動で取消") -> Delivery:
        return await self.store.transition_delivery(
            delivery_id, expected=CANCELLABLE, new=DeliveryState.CANCELLED, actor=actor.name, reason=reason,
        )

    async def retract(self, message_id: str, actor: Actor, reason: str) -> list[Delivery]:
        """Delete every published post of a message and cancel what has not gone out (逗子 3-5(1))."""
        record = await self.store.get_message(message_id)
        results: list[Delivery] = []
        for delivery in await self.store.list_deliveries(message_id=message_id):
            results.append(await self._retract_one(delivery, actor, reason))
        with contextlib.suppress(Conflict):
            await self.store.transition_message(
                record.id, expected=[MessageState.PLANNED, MessageState.APPROVED, MessageState.PENDING_APPROVAL],
                new=MessageState.RETRACTED, actor=actor.name, reason=reason,
            )
        return results

    async def _retract_one(self, delivery: Delivery, actor: Actor, reason: str) -> Delivery:
        if delivery.state in CANCELLABLE:
            return await self.cancel_delivery(delivery.id, actor, f"取り下げ: {reason}")
        if delivery.state is not DeliveryState.SENT or not delivery.remote_id:
            return delivery
        adapter = self.adapters.get(delivery.platform)
        if adapter is None:
            return delivery
        receipt = Receipt(platform=delivery.platform, account=delivery.account, remote_id=delivery.remote_id,
                          url=delivery.remote_url)
        try:
            await adapter.delete(receipt)
        except PermanentError as exc:
            await self.store.audit(actor=actor.name, action="delivery.retract_failed", delivery_id=delivery.id,
                                   message_id=delivery.message_id, reason=exc.message)
            return delivery
        return await self.store.transition_delivery(
            delivery.id, expected=[DeliveryState.SENT], new=DeliveryState.RETRACTED, actor=actor.name,
            reason=f"取り下げ: {reason}",
        )

    # -- background -----------------------------------------------------------------------
    async def housekeeping_once(self) -> None:
        now = self.clock()
        released = await self.store.release_held(now)
        for delivery in released:
            self.dispatcher.wake(delivery.priority)
        await self.plan_pending()
        await self.reconciler.run_once(now)
        if time.monotonic() >= self._next_checkpoint:
            self._next_checkpoint = time.monotonic() + CHECKPOINT_SECONDS
            await self.store.checkpoint()

    async def warm_up(self) -> None:
        """Pay first-use costs (statement compilation, dictionary loading) at start-up, not on the first alert."""
        await self.store.warm_up()
        _warm_alert_path(self.policies)
        for municipality in self.policies:
            account = next(iter(municipality.accounts_for("emergency")), None)
            if account is not None:
                probe = Message(municipality=municipality.id, accounts=(account.id,), category="emergency",
                                text="【避難指示】警戒レベル4 起動時の確認です。", priority=Priority.EMERGENCY)
                self.check(probe)
                adapter = self.adapters.get(account.platform)
                if adapter is not None:
                    adapter.render(probe, account)
        for adapter in self.adapters.values():
            warm = getattr(adapter, "warm_up", None)  # optional: an SDK with costly first-call set-up
            if warm is not None:
                await warm()

    async def start(self) -> None:
        await self.warm_up()
        # Everything built so far (dictionaries, compiled statements, SDK models) lives as long as
        # the process: keep it out of the cyclic collector, whose full passes over it would
        # otherwise pause the event loop at random, alerts included.
        gc.freeze()
        await self.plan_pending(include_recent=True)
        await self.dispatcher.start()
        self._housekeeper = asyncio.create_task(self._housekeeping_loop(), name="housekeeping")

    async def stop(self) -> None:
        if self._housekeeper is not None:
            self._housekeeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeper
        await self.dispatcher.stop()

    async def _housekeeping_loop(self) -> None:
        while True:
            try:
                await self.housekeeping_once()
            except GatewayError:
                log.exception("housekeeping failed")
            await asyncio.sleep(self.housekeeping_seconds)



def _warm_alert_path(policies: Policies) -> None:
    """Parse and plan one alert (never stored): the JSON and template code paths load now."""
    from gateway.alerts import parse_alert, plan_for

    municipality = next((m for m in policies if m.alerts.area_codes), None)
    if municipality is None:
        return
    document = {"format": "koho-alert/1", "id": "warm-up", "revision": 1, "sender": "gateway",
                "sent": "2026-01-01T00:00:00+09:00", "kind": "evacuation", "headline": "起動時の確認",
                "areas": [{"code": municipality.alerts.area_codes[0], "name": municipality.name}],
                "details": {"evacuation_type": "避難指示"}}
    plan_for(parse_alert(json.dumps(document, ensure_ascii=False).encode()), municipality)
