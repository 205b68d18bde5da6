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
import os
import socket
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from gateway import metrics
from gateway.access import require_accounts, require_emergency_permission
from gateway.adapters.base import Adapter
from gateway.background import Beat, Supervisor
from gateway.errors import (
    Conflict,
    FieldProblem,
    GatewayError,
    InputError,
    NotFound,
    PermanentError,
    PolicyViolation,
)
from gateway.logs import log_failure
from gateway.media import MediaStore
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
    Scope,
)
from gateway.pipeline.approval import (
    RouteStep,
    approval_rule,
    check_can_approve,
    check_can_decide,
    check_exemptions,
    route_for,
)
from gateway.pipeline.checks import CheckInput
from gateway.pipeline.checks.runner import CheckRunner
from gateway.pipeline.dispatch import Clock, Dispatcher, utcnow
from gateway.pipeline.plan import plan_deliveries
from gateway.pipeline.reconcile import IDEMPOTENT_PLATFORMS, Reconciler
from gateway.pipeline.targets import Targets, resolve_targets
from gateway.pipeline.validation import as_correction, check_schedule
from gateway.policy import Account, Municipality, Policies
from gateway.store.base import AlertStamp, MessageRecord, NewDelivery, NewMessage, StepApproval, Store

log = logging.getLogger("gateway.service")

CANCELLABLE = (DeliveryState.PLANNED, DeliveryState.HELD, DeliveryState.QUEUED, DeliveryState.RETRY_WAIT,
               DeliveryState.UNCERTAIN)
PLAN_GRACE = timedelta(seconds=5)
HEARTBEAT_SECONDS = 1.0
CHECKPOINT_SECONDS = 5.0
RETRYABLE = (DeliveryState.FAILED, DeliveryState.RETRY_WAIT, DeliveryState.CANCELLED)


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (through a token, a console session or the CLI) with its role and scope."""

    name: str
    role: Role
    scope: Scope = field(default_factory=Scope)  # no city unless given


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


def _intake_detail(message: Message, approval: str, exemption: str | None) -> dict[str, object]:
    """What the `message.accepted` audit row shows: the approval rule, any exemption used, an emergency's reason."""
    detail: dict[str, object] = {"approval": approval}
    if exemption is not None:
        detail["exemption"] = exemption
    if message.priority is Priority.EMERGENCY:
        detail["emergency_reason"] = message.emergency_reason
    if message.official_view:
        detail["official_view_requested"] = True
    return detail


class Gateway:
    def __init__(
        self, *, store: Store, policies: Policies, checks: CheckRunner, adapters: Mapping[Platform, Adapter],
        dispatcher: Dispatcher, reconciler: Reconciler, media: MediaStore, clock: Clock = utcnow,
        housekeeping_seconds: float = 1.0,
    ) -> None:
        self.store = store
        self.media = media
        self.policies = policies
        self.checks = checks
        self.adapters = adapters
        self.dispatcher = dispatcher
        self.reconciler = reconciler
        self.clock = clock
        self.housekeeping_seconds = housekeeping_seconds
        self.supervisor = Supervisor()
        self._next_checkpoint = 0.0
        self._started_at = clock()

    # -- checks ---------------------------------------------------------------------------
    async def check(self, message: Message, *, generated: bool = False) -> tuple[Targets, CheckResult]:
        """The message's targets and check result. The checks run in a worker process within a time
        budget (emergencies on a worker of their own): no text can hold up the event loop.
        `generated`: an alert post the gateway wrote from a template, which skips the linguistic layer."""
        targets = resolve_targets(message, self.policies)
        inp = CheckInput(message, targets.municipality, targets.accounts, generated=generated)
        result = await self.checks.check(inp, emergency=message.priority is Priority.EMERGENCY)
        return targets, result

    # -- intake ---------------------------------------------------------------------------
    async def submit(
        self, message: Message, actor: Actor, *, source: str = "api", idempotency_key: str | None = None,
        alert_key: str | None = None, alert: AlertStamp | None = None, decided_by: str | None = None,
    ) -> Submitted:
        """Validate, check, store and (when no approval is needed) plan a message.

        Bad input raises InputError (a media item that names no file of the media store, or a file
        of another kind, included) and a blocking finding raises PolicyViolation; either way
        nothing is stored. A repeated idempotency key returns the first submission when it comes
        with the same message, and raises Conflict (storing nothing) when not. `decided_by` names
        the operator who published a held alert (recorded as its approver).
        """
        if message.municipality in self.policies:  # an unknown city is bad input (400), named by resolve_targets
            require_accounts(actor, message.municipality, message.accounts or (), "この自治体への投稿")
            require_emergency_permission(actor, message)
        check_schedule(message, self.clock())
        targets = resolve_targets(message, self.policies)
        require_accounts(actor, message.municipality, [a.id for a in targets.accounts], "このアカウントへの投稿")
        check_exemptions(message, targets.municipality)
        if message.correction_of and alert_key is None:  # an alert's follow-ups carry their own marks
            await self._check_corrected(message)
            message = as_correction(message)
        if message.media:  # file look-ups in a thread; alerts without media never wait for one
            await asyncio.to_thread(self.media.check, message.media)
        # Alert posts come from the gateway's own templates (JMA, L-Alert, CAP): never held up by the
        # linguistic layer.
        targets, result = await self.check(message, generated=source == "alert")
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
            alert=alert, audit_detail=_intake_detail(message, rule.reason, rule.exemption),
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

    async def _check_corrected(self, message: Message) -> None:
        """A correction names an earlier message of the same municipality (it may have been retracted)."""
        assert message.correction_of is not None
        try:
            original = await self.store.get_message(message.correction_of)
        except NotFound:
            original = None
        if original is None or original.municipality != message.municipality:
            reason = f"訂正する投稿 {message.correction_of} が{message.municipality}の投稿に見つかりません"
            raise InputError(reason, [FieldProblem("correction_of", "not_found", reason)], code="not_found")

    # -- reading -------------------------------------------------------------------------
    async def read_message(self, message_id: str, actor: Actor) -> MessageRecord:
        """A message the actor may see (403 for another city's or account's)."""
        record = await self.store.get_message(message_id)
        require_accounts(actor, record.municipality, record.accounts, "この投稿の閲覧")
        return record

    async def read_delivery(self, delivery_id: str, actor: Actor, what: str = "この配信の操作") -> Delivery:
        delivery = await self.store.get_delivery(delivery_id)
        require_accounts(actor, delivery.municipality, [delivery.account], what)
        return delivery

    def route_of(self, record: MessageRecord) -> list[RouteStep]:
        municipality = self.policies.get(record.municipality)
        if municipality is None:
            raise Conflict(f"自治体の設定がありません: {record.municipality}")
        accounts = [a for a in (municipality.account(i) for i in record.accounts) if a is not None]
        return route_for(municipality, accounts)

    async def approval_state(self, record: MessageRecord) -> tuple[list[RouteStep], list[StepApproval]]:
        """The message's route and the steps approved so far."""
        return self.route_of(record), await self.store.list_approvals(record.id)

    # -- approval -------------------------------------------------------------------------
    async def approve(self, message_id: str, actor: Actor, overrides: Mapping[str, str] | None = None, *,
                      official_view: bool = False) -> Submitted:
        """Approve the route's current step; the last step approves the message and plans it.

        `official_view` (美祢 第4-6): the approver decides that the post is the city's official view.
        """
        record = await self.read_message(message_id, actor)
        require_accounts(actor, record.municipality, record.accounts, "この投稿の承認")
        if record.state is not MessageState.PENDING_APPROVAL:
            raise Conflict(f"承認待ちではありません（現在の状態: {record.state.value}）")
        route, done = await self.approval_state(record)
        index = min(len(done), len(route) - 1)
        recorded = check_can_approve(approver=actor.name, approver_role=actor.role,
                                     submitted_by=record.submitted_by, check=record.check,
                                     overrides=overrides or {}, step=route[index],
                                     approved_by=[a.approver for a in done])
        final = index == len(route) - 1
        step = StepApproval(step=len(done), step_name=route[index].name, approver=actor.name, at=self.clock(),
                            overrides=recorded, official_view=official_view and self._decides_official_view(record))
        record = await self.store.approve_step(message_id, step, final=final, actor=actor.name, overrides=recorded)
        if not final:
            following = route[index + 1]
            return Submitted(record, False, f"{route[index].name}の承認を記録しました。次は「{following.name}」"
                                            f"（{following.who()}）の承認です")
        deliveries = await self.plan(record)
        return Submitted(await self.store.get_message(message_id), False, "承認済み", deliveries)

    def _decides_official_view(self, record: MessageRecord) -> bool:
        municipality = self.policies.get(record.municipality)
        return municipality is not None and municipality.approval.mode == "official_view_only"

    async def reject(self, message_id: str, actor: Actor, comment: str) -> MessageRecord:
        """Send back to the author, with a comment, at whichever step the route is."""
        record = await self.read_message(message_id, actor)
        route, done = await self.approval_state(record)
        check_can_decide(approver=actor.name, approver_role=actor.role, submitted_by=record.submitted_by,
                         step=route[min(len(done), len(route) - 1)], approved_by=[a.approver for a in done])
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
        planning them; at start-up (`include_recent`) every one is taken. A message that cannot be
        planned is logged and counted and the others are planned all the same: no stored value may
        stop the sweep, or the start-up.
        """
        count = 0
        settled_before = self.clock() - (timedelta(0) if include_recent else PLAN_GRACE)
        for record in await self.store.list_messages(states=[MessageState.APPROVED], limit=500):
            if record.updated_at > settled_before:  # leave in-flight submissions to their own request
                continue
            try:
                await self.plan(record)
            except Exception as exc:  # one message must not block the others
                log_failure(log, "planning a stored message failed", exc, message_id=record.id)
                self.supervisor.failed("plan_pending", exc)
                continue
            count += 1
        return count

    # -- operator actions -----------------------------------------------------------------
    async def retry_delivery(self, delivery_id: str, actor: Actor) -> Delivery:
        """Send again. A delivery that was cancelled while its outcome was unknown (`uncertain`) may
        be on the platform already: it goes back to `uncertain`, so the reconciler looks for it
        before anything is sent (a retry straight to the queue published twice)."""
        current = await self.read_delivery(delivery_id, actor, "この配信の再送")
        if (current.state is DeliveryState.CANCELLED and current.platform not in IDEMPOTENT_PLATFORMS
                and await self._cancelled_while_uncertain(delivery_id)):
            return await self.store.transition_delivery(
                delivery_id, expected=[DeliveryState.CANCELLED], new=DeliveryState.UNCERTAIN, actor=actor.name,
                reason="手動で再送（取消前に送信済みか不明だったため、投稿を確認してから再送します）",
                fields={"retry_at": None})
        delivery = await self.store.transition_delivery(
            delivery_id, expected=RETRYABLE, new=DeliveryState.QUEUED, actor=actor.name, reason="手動で再送",
            fields={"retry_at": None},
        )
        self.dispatcher.wake(delivery.priority)
        return delivery

    async def _cancelled_while_uncertain(self, delivery_id: str) -> bool:
        events = await self.store.list_audit(delivery_id=delivery_id, limit=200)
        into_cancelled = [e for e in events if e.to_state == DeliveryState.CANCELLED.value]
        return bool(into_cancelled) and into_cancelled[-1].from_state == DeliveryState.UNCERTAIN.value

    async def cancel_delivery(self, delivery_id: str, actor: Actor, reason: str = "手動で取消") -> Delivery:
        await self.read_delivery(delivery_id, actor, "この配信の取消")
        return await self.store.transition_delivery(
            delivery_id, expected=CANCELLABLE, new=DeliveryState.CANCELLED, actor=actor.name, reason=reason,
        )

    async def retract(self, message_id: str, actor: Actor, reason: str) -> list[Delivery]:
        """Delete every published post of a message and cancel what has not gone out (逗子 3-5(1))."""
        record = await self.read_message(message_id, actor)
        results: list[Delivery] = []
        for delivery in await self.store.list_deliveries(message_id=message_id):
            results.append(await self._retract_one(delivery, actor, reason))
        with contextlib.suppress(Conflict):
            await self.store.transition_message(
                record.id, new=MessageState.RETRACTED, actor=actor.name, reason=reason,
                expected=[MessageState.PLANNED, MessageState.SENT, MessageState.APPROVED,
                          MessageState.PENDING_APPROVAL],
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
    async def housekeeping_once(self) -> list[str]:
        """One round of upkeep; each step runs even when another fails. Returns the failed steps."""
        now = self.clock()
        failed: list[str] = []
        for name, step in (("release_held", lambda: self._release_held(now)), ("plan_pending", self.plan_pending),
                           ("reconcile", lambda: self.reconciler.run_once(now)), ("checkpoint", self._checkpoint)):
            try:
                await step()
            except Exception as exc:  # the other steps must still run
                log_failure(log, "housekeeping step failed", exc, step=name)
                self.supervisor.failed("housekeeping", exc)
                failed.append(name)
        return failed

    async def _release_held(self, now: datetime) -> None:
        for delivery in await self.store.release_held(now):
            self.dispatcher.wake(delivery.priority)

    async def _checkpoint(self) -> None:
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
                await self.check(probe, generated=True)
                await self.check(probe)  # a staff-written emergency post takes the linguistic layer too
                adapter = self.adapters.get(account.platform)
                if adapter is not None:
                    adapter.render(probe, account)
        for adapter in self.adapters.values():
            warm = getattr(adapter, "warm_up", None)  # optional: an SDK with costly first-call set-up
            if warm is not None:
                await warm()

    async def start(self) -> None:
        """Start the background work. Nothing stored can stop this: failures are logged, counted and
        shown in /readyz, and the loops that failed keep being retried."""
        try:
            await self.checks.start()
            await self.warm_up()
        except Exception as exc:  # a slower first alert is better than no gateway
            log.exception("warm-up failed")
            self.supervisor.failed("warm_up", exc)
        # Everything built so far (dictionaries, compiled statements, SDK models) lives as long as
        # the process: keep it out of the cyclic collector, whose full passes over it would
        # otherwise pause the event loop at random, alerts included.
        gc.freeze()
        try:
            await self.plan_pending(include_recent=True)
        except Exception as exc:  # the housekeeping loop tries again every round
            log_failure(log, "planning at start-up failed", exc)
            self.supervisor.failed("plan_pending", exc)
        self._started_at = self.clock()
        try:  # registered before the first claim, so a kill right after start is recovered too
            await self._beat()
        except GatewayError as exc:
            self.supervisor.failed("heartbeat", exc)
        self.supervisor.run("heartbeat", self._heartbeat_loop, every=HEARTBEAT_SECONDS)
        await self.dispatcher.start(self.supervisor)
        self.supervisor.run("housekeeping", self._housekeeping_loop, every=self.housekeeping_seconds)

    async def stop(self) -> None:
        await self.supervisor.stop()
        await self.dispatcher.stop()
        with contextlib.suppress(GatewayError):  # a stop without the database: the heartbeat goes stale
            await self.store.worker_stopped(self.dispatcher.worker_id)

    async def _heartbeat_loop(self, beat: Beat) -> None:
        """This process is alive: others settle its deliveries in flight only once it stops beating."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self._beat()
                beat()
            except GatewayError as exc:
                self.supervisor.failed("heartbeat", exc)

    async def _beat(self) -> None:
        await self.store.heartbeat(self.dispatcher.worker_id, host=socket.gethostname(), pid=os.getpid(),
                                   started_at=self._started_at)

    async def _housekeeping_loop(self, beat: Beat) -> None:
        while True:
            if not await self.housekeeping_once():
                beat()
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
