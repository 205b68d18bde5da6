"""The message commands: intake → approval → checks → plan, retry, cancel and retract, used by the API and CLI.

`Gateway` owns no transport: the web app and the CLI build it from settings (`gateway.app`) and
call these methods with the acting user. All writes go through the store, which records the
audit row of every state change in the same transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from gateway import metrics
from gateway.access import require_accounts, require_emergency_permission
from gateway.adapters.base import Adapter
from gateway.alerts.multilingual import correction_prefixes
from gateway.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    InputError,
    NotFound,
    PermanentError,
    PolicyViolation,
)
from gateway.hours import TOKYO
from gateway.media import MediaStore
from gateway.models import (
    Actor,
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
from gateway.pipeline.checks import CheckInput
from gateway.pipeline.checks.runner import CheckRunner
from gateway.pipeline.delivery.dispatch import Clock, Dispatcher, utcnow
from gateway.pipeline.intake.approval import (
    RouteStep,
    approval_rule,
    check_can_approve,
    check_can_decide,
    check_exemptions,
    route_for,
)
from gateway.pipeline.intake.plan import plan_deliveries
from gateway.pipeline.intake.revision import revision_detail
from gateway.pipeline.intake.targets import Targets, resolve_targets
from gateway.pipeline.intake.validation import as_correction, check_schedule
from gateway.policy import Account, Municipality, Policies
from gateway.store.base import Store, UserDirectory
from gateway.store.listings import AuditQuery, Cursor, DeliveryQuery, MessageQuery
from gateway.store.records import (
    AlertStamp,
    AuditEvent,
    MessageRecord,
    NewDelivery,
    NewMessage,
    Revision,
    StepApproval,
    User,
)

log = logging.getLogger("gateway.service")

CANCELLABLE = (DeliveryState.PLANNED, DeliveryState.HELD, DeliveryState.QUEUED, DeliveryState.RETRY_WAIT,
               DeliveryState.UNCERTAIN)
# A post not yet approved: nothing planned, so its author may take it back (withdraw).
WITHDRAWABLE = (MessageState.PENDING_APPROVAL, MessageState.REJECTED)
RETRYABLE = (DeliveryState.FAILED, DeliveryState.RETRY_WAIT, DeliveryState.CANCELLED)


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


_STATE_NAMES = {MessageState.APPROVED: "承認済み", MessageState.PLANNED: "配信予定", MessageState.SENT: "配信済み",
                MessageState.CANCELLED: "取り下げ済み", MessageState.RETRACTED: "削除済み"}


def _require_same_origin(record: MessageRecord, message: Message) -> None:
    """A version keeps its city and what it corrects: another city's post, or another correction, is a new post."""
    for name, label in (("municipality", "自治体"), ("correction_of", "訂正元")):
        if getattr(message, name) != getattr(record.body, name):
            reason = f"{label}は編集で変更できません。新しい投稿として作成してください"
            raise InputError(reason, [FieldProblem(name, "immutable", reason)], code="immutable")


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
        dispatcher: Dispatcher, media: MediaStore, clock: Clock = utcnow,
        platforms: Collection[Platform] | None = None,
    ) -> None:
        """`platforms`: those planned for (default: the adapters'); a one-off command plans without publishing."""
        self.store = store
        self.users: UserDirectory = store  # the role the sign-in and the user pages need, not the whole ledger
        self.media = media
        self.policies = policies
        self.checks = checks
        self.adapters = adapters
        self.platforms = frozenset(adapters if platforms is None else platforms)
        self.dispatcher = dispatcher
        self.clock = clock

    # -- checks ---------------------------------------------------------------------------
    async def check(self, message: Message, *, generated: bool = False) -> tuple[Targets, CheckResult]:
        """The message's targets and check result. The checks run in a worker process within a time
        budget (emergencies on a worker of their own): no text can hold up the event loop.
        `generated`: an alert post the gateway wrote from a template, which skips the linguistic layer."""
        targets = resolve_targets(message, self.policies)
        today = self.clock().astimezone(TOKYO).date()  # a date without its year is read near the writer's day
        inp = CheckInput(message, targets.municipality, targets.accounts, generated=generated, today=today)
        result = await self.checks.check(inp, emergency=message.priority is Priority.EMERGENCY)
        return targets, result

    async def with_public_urls(self, message: Message) -> Message:
        """The message with its uploaded files' public addresses (when the gateway has a public URL), so
        that the checks, the preview and the platforms that fetch files themselves see the same."""
        if not message.media or self.media.links is None:
            return message
        media = await asyncio.to_thread(self.media.with_public_urls, message.media)
        return message.model_copy(update={"media": media})

    # -- intake ---------------------------------------------------------------------------
    async def submit(
        self, message: Message, actor: Actor, *, source: str = "api", idempotency_key: str | None = None,
        alert_key: str | None = None, alert: AlertStamp | None = None, decided_by: str | None = None,
        draft_id: str | None = None,
    ) -> Submitted:
        """Validate, check, store and (when no approval is needed) plan a message.

        Bad input raises InputError (a media item that names no file of the media store, or a file
        of another kind, included) and a blocking finding raises PolicyViolation; either way
        nothing is stored. A repeated idempotency key returns the first submission when it comes
        with the same message, and raises Conflict (storing nothing) when not. `decided_by` names
        the operator who published a held alert (recorded as its approver). `draft_id`: the draft it is
        submitted from, deleted in the transaction that stores the message (NotFound when gone).
        """
        message, targets, result = await self._vet(message, actor, source=source, follow_up=alert_key is not None)
        rule = approval_rule(message, targets.municipality, result, submitter_role=actor.role)
        state = MessageState.PENDING_APPROVAL if rule.needed else MessageState.APPROVED
        detail = _intake_detail(message, rule.reason, rule.exemption)
        new = NewMessage(
            municipality=targets.municipality.id, body=message, state=state, priority=message.priority,
            submitted_by=actor.name, source=source, check=result,
            accounts=tuple(a.id for a in targets.accounts), idempotency_key=idempotency_key,
            approved_by=None if rule.needed else decided_by or f"auto:{actor.name}", alert_key=alert_key,
            alert=alert, audit_detail=detail if draft_id is None else {**detail, "draft": draft_id},
            draft_id=draft_id,
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

    async def _vet(self, message: Message, actor: Actor, *, source: str,
                   follow_up: bool = False) -> tuple[Message, Targets, CheckResult]:
        """Everything submission checks before storing, and the same for every new version of a post: scope,
        schedule, targets, exemptions, a correction's original, media files and the policy checks.
        Returns the message as stored (a correction marked as one); raises when it may not be stored."""
        if message.municipality in self.policies:  # an unknown city is bad input (400), named by resolve_targets
            require_accounts(actor, message.municipality, message.accounts or (), "この自治体への投稿")
            require_emergency_permission(actor, message)
        check_schedule(message, self.clock())
        targets = resolve_targets(message, self.policies)
        require_accounts(actor, message.municipality, [a.id for a in targets.accounts], "このアカウントへの投稿")
        check_exemptions(message, targets.municipality)
        if message.correction_of and not follow_up:  # an alert's follow-ups carry their own marks
            await self._check_corrected(message)
            message = as_correction(message, correction_prefixes())
        if message.media:  # file look-ups in a thread; alerts without media never wait for one
            await asyncio.to_thread(self.media.check, message.media)
            message = await self.with_public_urls(message)
        # Alert posts come from the gateway's own templates (JMA, L-Alert, CAP): never held up by the
        # linguistic layer.
        targets, result = await self.check(message, generated=source == "alert")
        metrics.CHECK_VERDICTS.labels(result.verdict.value).inc()
        if result.verdict.value == "block":
            raise PolicyViolation("投稿ポリシーに反するため受け付けられません", result.findings)
        return message, targets, result

    # -- edits before approval ---------------------------------------------------------------
    async def revise(self, message_id: str, message: Message, actor: Actor, *,
                     expected_revision: int | None = None) -> MessageRecord:
        """A new version of a post waiting for approval or sent back, by its author or an approver of the city.

        The new content is validated and checked exactly as at submission (a blocking finding refuses it,
        storing nothing); the approvals given so far are cleared and approval starts again from the first
        step, whatever the new version would need at intake; the audit row `message.revised` carries the
        difference. `expected_revision`: the version the editor saw (a later one makes this a Conflict).
        """
        record = await self.read_message(message_id, actor)
        self.require_editable(record, actor)
        _require_same_origin(record, message)
        message, targets, result = await self._vet(message, actor, source=record.source)
        revision = Revision(
            body=message, check=result, accounts=tuple(a.id for a in targets.accounts),
            expected_revision=record.revision if expected_revision is None else expected_revision,
            audit_detail=revision_detail(record.body, message, old=record.revision))
        return await self.store.revise_message(
            message_id, revision, expected=WITHDRAWABLE, actor=actor.name,
            reason=f"第{revision.expected_revision + 1}版に編集")

    @staticmethod
    def require_editable(record: MessageRecord, actor: Actor) -> None:
        """Forbidden unless the actor wrote the post or approves for its city; Conflict once it was approved."""
        if actor.name != record.submitted_by and actor.role not in (Role.APPROVER, Role.ADMIN):
            raise Forbidden("投稿を編集できるのは、提出した本人か承認者です")
        if record.source == "alert":
            raise Conflict("防災情報システムからの投稿は編集できません", code="not_editable")
        if record.state not in WITHDRAWABLE:
            raise Conflict(f"承認待ち・差し戻しの投稿だけを編集できます（現在の状態: "
                           f"{_STATE_NAMES.get(record.state, record.state.value)}）。承認後の投稿は「取り下げ」のうえ、"
                           "訂正の投稿を作成してください", code="not_editable")

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

    # -- queries the web and the CLI read (their scope checks stay with the listing) ---------
    async def message(self, message_id: str) -> MessageRecord:
        return await self.store.get_message(message_id)

    async def messages_by_id(self, message_ids: Collection[str]) -> dict[str, MessageRecord]:
        return await self.store.get_messages(message_ids)

    async def list_messages(self, *, states: Collection[MessageState] | None = None,
                            limit: int = 100) -> list[MessageRecord]:
        return await self.store.list_messages(states=states, limit=limit)

    async def list_deliveries(
        self, *, states: Collection[DeliveryState] | None = None, account: str | None = None,
        message_id: str | None = None, limit: int = 500, municipalities: Collection[str] | None = None,
    ) -> list[Delivery]:
        return await self.store.list_deliveries(states=states, account=account, message_id=message_id, limit=limit,
                                                municipalities=municipalities)

    async def list_audit(self, *, message_id: str | None = None, actor: str | None = None, action: str | None = None,
                         limit: int = 500) -> list[AuditEvent]:
        return await self.store.list_audit(message_id=message_id, actor=actor, action=action, limit=limit)

    # Pages filtered, scoped and ordered in the database (store/listings.py).
    async def page_messages(self, query: MessageQuery, *, limit: int, offset: int = 0,
                            after: Cursor | None = None) -> list[MessageRecord]:
        return await self.store.page_messages(query, limit=limit, offset=offset, after=after)

    async def count_messages(self, query: MessageQuery) -> int:
        return await self.store.count_messages(query)

    async def page_deliveries(self, query: DeliveryQuery, *, limit: int, offset: int = 0) -> list[Delivery]:
        return await self.store.page_deliveries(query, limit=limit, offset=offset)

    async def deliveries_after(self, query: DeliveryQuery, *, limit: int,
                               after: Cursor | None = None) -> list[Delivery]:
        return await self.store.deliveries_after(query, limit=limit, after=after)

    async def deliveries_between(self, query: DeliveryQuery, start: datetime, end: datetime, *,
                                 limit: int) -> list[Delivery]:
        return await self.store.deliveries_between(query, start, end, limit=limit)

    async def count_deliveries(self, query: DeliveryQuery) -> int:
        return await self.store.count_deliveries(query)

    async def page_audit(self, query: AuditQuery, *, limit: int, offset: int = 0,
                         before_id: int | None = None) -> list[AuditEvent]:
        return await self.store.page_audit(query, limit=limit, offset=offset, before_id=before_id)

    async def count_audit(self, query: AuditQuery) -> int:
        return await self.store.count_audit(query)

    async def audit(self, *, actor: str, action: str, reason: str | None = None,
                    detail: Mapping[str, Any] | None = None) -> None:
        """An audit row for what the web layer decided (an upload, a refusal)."""
        await self.store.audit(actor=actor, action=action, reason=reason, detail=detail)

    async def user(self, name: str) -> User | None:
        return await self.store.get_user(name)

    async def list_users(self) -> list[User]:
        return await self.store.list_users()

    async def ready(self) -> None:
        """Raise StoreError when the database does not answer."""
        await self.store.next_wakeup()

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
        if record.revised_by == actor.name:  # four eyes: whoever wrote this version is its author
            raise Forbidden("自分が編集した版は承認できません。別の承認者の承認が必要です")
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

    async def withdraw(self, message_id: str, actor: Actor, reason: str) -> MessageRecord:
        """The author (or an approver of the city) takes back a post not yet approved: waiting for approval
        or sent back. Nothing was planned, so nothing is sent; the audit keeps who and why."""
        record = await self.read_message(message_id, actor)
        if actor.name != record.submitted_by and actor.role not in (Role.APPROVER, Role.ADMIN):
            raise Forbidden("提出を取り下げられるのは、提出した本人か承認者です")
        if record.state not in WITHDRAWABLE:
            raise Conflict("承認前（承認待ち・差し戻し）の投稿だけを取り下げられます。承認後の投稿は"
                           "「取り下げ」（配信の取消と削除）を使ってください")
        return await self.store.transition_message(
            message_id, expected=WITHDRAWABLE, new=MessageState.CANCELLED, actor=actor.name,
            reason=f"提出の取り下げ: {reason}",
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
        planned = plan_deliveries(message, municipality, accounts, now=self.clock(), platforms=self.platforms)
        # An account an operator stopped (小平 3(7)) gets nothing, emergencies included, until it is resumed.
        return [replace(d, state=DeliveryState.HELD, not_before=None, reason="アカウント停止中のため保留")
                if d.account in stopped and d.state is not DeliveryState.SKIPPED else d for d in planned]

    # -- operator actions -----------------------------------------------------------------
    async def retry_delivery(self, delivery_id: str, actor: Actor) -> Delivery:
        """Send again. A delivery that was cancelled while its outcome was unknown (`uncertain`) may
        be on the platform already: it goes back to `uncertain`, so the reconciler looks for it
        before anything is sent (a retry straight to the queue published twice)."""
        current = await self.read_delivery(delivery_id, actor, "この配信の再送")
        if (current.state is DeliveryState.CANCELLED and not current.platform.spec.deduplicates
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
