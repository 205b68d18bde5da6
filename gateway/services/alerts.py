"""Alert intake: a disaster-information document in, emergency messages planned at once.

Parsing, addressing and the Japanese texts come from `gateway.alerts`; this module applies the
lifecycle on the ledger:

- Dedupe: each message carries `alert_key` = thread hash # event-key hash | accounts, so the same
  document received twice (same key) plans nothing new. The same content re-sent under new
  identifiers within the city's window is recorded and not posted again (`alert_subject`,
  `alert_content`).
- Order: within a thread, an alert issued before the newest one already posted for the city, or a
  poorer telegram of the same issuance (VPWW50 after VPWW53), is recorded and not posted.
- Update / 訂正 / 解除 / 終了: the earlier messages of the same thread that have not gone out are
  cancelled (superseded), and the follow-up replies to the earlier post where the platform can.
- Cancel / 取消: undelivered earlier posts are cancelled; a 取消 notice is posted only where an
  earlier post actually went out.
- Stale, expired or future-dated alerts are held (要確認) for an operator, who publishes or dismisses
  them; restricted and private ones are shown to operators and never posted.
- `municipality` only narrows to a city the alert addresses (alerts/route.py).
- Drills: planned like any alert, flagged `drill`; dispatch sends them to the sandbox unless the
  account is one of the municipality's drill accounts.

No approval and no office hours: the submitter is an alert system, so the message is `emergency`
and goes straight to the reserved lane. The raw document is kept in the audit log.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from gateway.access import OutOfScope, require_any_city
from gateway.alerts import Alert, CityPlan, addressed_municipalities, parse_document, plan_for
from gateway.alerts.areas import concerned_municipalities
from gateway.alerts.plan import Bundle, bundles
from gateway.alerts.route import Narrowed, Refusal, narrow, where
from gateway.alerts.templates import KIND_LABELS, when
from gateway.errors import Conflict, FieldProblem, InputError
from gateway.models import Actor, DeliveryState, Message, Priority, Role, Scope, Translation
from gateway.policy import Municipality
from gateway.services.messages import CANCELLABLE, Gateway
from gateway.store.records import AlertStamp, HeldAlert, MessageRecord, NewHeldAlert

Outcome = Literal["accepted", "ignored", "rejected", "held"]
RAW_AUDIT_LIMIT = 1_000_000
# Messages of one alert thread read to find where a follow-up goes (a nationwide thread may reach
# every municipality, with several messages each).
EARLIER_MESSAGES_LIMIT = 20_000


@dataclass
class AlertResult:
    outcome: Outcome
    reason: str
    drill: bool = False
    posts: list[dict[str, str]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    held: str | None = None  # id of the held-alert entry an operator decides on
    error: InputError | None = None
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "reason": self.reason, "drill": self.drill, "posts": self.posts,
                "messages": self.messages, "cancelled": self.cancelled, "held": self.held}


@dataclass
class _Holding:
    """What one document would post where it must wait for an operator."""

    municipalities: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    contents: list[str] = field(default_factory=list)
    posts: list[dict[str, str]] = field(default_factory=list)

    def add(self, municipality: Municipality, plan: CityPlan) -> None:
        assert plan.held is not None
        if municipality.id not in self.municipalities:
            self.municipalities.append(municipality.id)
        self.reasons.append(f"{plan.summary}: {plan.held.reason}")
        self.codes.append(plan.held.code)
        self.contents.append(f"{municipality.id}:{plan.content}")
        self.posts.extend({"municipality": municipality.id, "account": p.account, "text": p.text}
                          for p in plan.posts if p.skip_reason is None)


def _h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def _event_key(alert: Alert) -> str:
    """The message alert_key's middle part: one per event (CAP <info>) of a document."""
    return _h(alert.key) if alert.part == 0 else f"{_h(alert.key)}~{alert.part}"


class _Thread:
    """The earlier messages of an alert's thread (other documents than this one), newest first,
    by municipality: read with one query, the first time a follow-up needs them."""

    def __init__(self, gateway: Gateway, alert: Alert) -> None:
        self._gateway, self._alert = gateway, alert
        self._found: dict[str, list[MessageRecord]] | None = None

    async def by_municipality(self) -> dict[str, list[MessageRecord]]:
        if self._found is None:
            thread = _h(self._alert.thread)
            this_document = f"{thread}#{_h(self._alert.key)}"  # every event of this document
            records = await self._gateway.store.list_messages(alert_thread=thread, limit=EARLIER_MESSAGES_LIMIT)
            found: defaultdict[str, list[MessageRecord]] = defaultdict(list)
            for record in records:
                if not (record.alert_key or "").startswith(this_document):
                    found[record.municipality].append(record)
            self._found = dict(found)
        return self._found


class AlertIntake:
    def __init__(self, gateway: Gateway, *, max_bytes: int = 1_000_000) -> None:
        self.gateway = gateway
        self.max_bytes = max_bytes

    # -- receiving ---------------------------------------------------------------------------
    async def receive(
        self, raw: bytes, actor: Actor, *, content_type: str | None = None, municipality: str | None = None,
    ) -> AlertResult:
        try:
            alerts = parse_document(raw, content_type=content_type, max_bytes=self.max_bytes)
        except InputError as exc:
            await self._audit(actor, "alert.rejected", raw, reason=exc.message, detail={"code": exc.code})
            return AlertResult("rejected", exc.message, error=exc)
        first = alerts[0]
        self._require_scope(alerts, actor)
        refusal = self._refusal(alerts, municipality)
        if refusal is not None:
            await self._audit(actor, "alert.rejected", raw, reason=refusal.message, detail=_alert_detail(first))
            return AlertResult("rejected", refusal.message, drill=first.drill, error=refusal)
        if first.withheld is not None:
            result = await self._withheld(alerts, raw, actor, municipality)
        else:
            narrowed = narrow(alerts, self.gateway.policies, municipality) if municipality else None
            assert not isinstance(narrowed, Refusal)
            result = await self._plan_document(alerts, raw, actor, narrowed, allow_stale=False)
        for _ in range(3):  # let the woken emergency workers queue their claims before this write
            await asyncio.sleep(0)
        await self._audit(actor, f"alert.{result.outcome}", raw, reason=result.reason,
                          detail={**_alert_detail(first), "messages": result.messages, "held": result.held})
        return result

    def _require_scope(self, alerts: tuple[Alert, ...], actor: Actor) -> None:
        """An alert system scoped to some cities is refused (403) an alert that addresses none of them.

        One that addresses some of them posts for those only (`_plan_alert`); a follow-up naming no area
        goes where its thread went, within the scope.
        """
        if actor.scope.is_global:
            return
        cities = {m.id for a in alerts for m in addressed_municipalities(a, self.gateway.policies)}
        if cities and not any(actor.scope.covers(c) for c in cities):
            raise OutOfScope(f"この防災情報の受信の権限がありません（対象の自治体 {'、'.join(sorted(cities))} は"
                             f"この防災情報システムの担当範囲外です。担当範囲: {actor.scope.label()}）")

    def _refusal(self, alerts: tuple[Alert, ...], municipality: str | None) -> InputError | None:
        first = alerts[0]
        if first.withheld is None and all(a.kind is None and a.action != "cancel" for a in alerts):
            reason = f"対応していない種別です（{first.title or first.source_kind or '不明'}）"
            return InputError(reason, [FieldProblem("document", "alert_unsupported", reason)],
                              code="alert_unsupported")
        if municipality is None:
            return None
        found = narrow(alerts, self.gateway.policies, municipality)
        if isinstance(found, Refusal):
            return InputError(found.reason, [FieldProblem("municipality", found.code, found.reason)], code=found.code)
        return None

    async def _withheld(self, alerts: tuple[Alert, ...], raw: bytes, actor: Actor,
                        municipality: str | None) -> AlertResult:
        """Restricted and private alerts are kept for operators, whatever their area (an operator may
        need to know of an alert meant for authorities); receipts and system messages are only audited."""
        first = alerts[0]
        result = AlertResult("ignored", first.withheld_reason, drill=first.drill)
        if first.withheld not in ("restricted", "private"):
            return result
        cities = sorted({m.id for a in alerts for m in concerned_municipalities(a, self.gateway.policies)})
        if municipality:
            cities = [c for c in cities if c == municipality]
        if not cities:
            result.reason = f"{first.withheld_reason}（自治体の対象地域外: {where(alerts)}）"
        entry, _ = await self.gateway.store.add_held_alert(
            _held_entry(alerts, raw, cities, municipality, code=first.withheld, reason=result.reason,
                        content=_h(f"withheld\n{first.unit_key}"), restricted=True), actor=actor.name)
        result.held = entry.id
        return result

    # -- planning ----------------------------------------------------------------------------
    async def _plan_document(
        self, alerts: tuple[Alert, ...], raw: bytes, actor: Actor, narrowed: Narrowed | None, *,
        allow_stale: bool, only: set[str] | None = None, decided_by: str | None = None,
    ) -> AlertResult:
        first = alerts[0]
        result = AlertResult("ignored", "", drill=first.drill)
        holding = _Holding()
        threads: dict[str, _Thread] = {}  # one read per thread for the whole document
        for alert in alerts:
            thread = threads.setdefault(alert.thread, _Thread(self.gateway, alert))
            await self._plan_alert(alert, thread, actor, narrowed, result, holding, allow_stale=allow_stale,
                                   only=only, decided_by=decided_by)
        if holding.municipalities:
            entry, created = await self.gateway.store.add_held_alert(
                _held_entry(alerts, raw, holding.municipalities, narrowed.municipality.id if narrowed else None,
                            code=holding.codes[0], reason="；".join(holding.reasons),
                            content=_h("\n".join(sorted(holding.contents))), posts=holding.posts),
                actor=actor.name)
            result.held = entry.id
            if not created:
                result.reasons.append(f"同じ内容の要確認情報（{entry.id}）が運用担当者の確認を待っています")
        _settle(result, holding)
        return result

    async def _plan_alert(
        self, alert: Alert, thread: _Thread, actor: Actor, narrowed: Narrowed | None, result: AlertResult,
        holding: _Holding, *, allow_stale: bool, only: set[str] | None, decided_by: str | None,
    ) -> None:
        cities = await self._cities(alert, narrowed, thread)
        if isinstance(cities, str):
            result.reasons.append(cities)
            return
        now = self.gateway.clock()
        for municipality, forced, sandbox_only in cities:
            if only is not None and municipality.id not in only:
                continue
            if not actor.scope.covers(municipality.id):  # an alert system scoped to some cities posts for those only
                result.reasons.append(f"{municipality.name}: この防災情報システムの担当範囲外のため掲載しません")
                continue
            plan = plan_for(alert, municipality, forced=forced, sandbox_only=sandbox_only, now=now,
                            allow_stale=allow_stale)
            if plan.ignored is not None:
                result.reasons.append(plan.ignored)
            elif plan.held is not None:
                holding.add(municipality, plan)
            else:
                skip = await self._ledger_reason(alert, plan, municipality, now)
                if skip is not None:
                    result.reasons.append(f"{plan.summary}: {skip}")
                    continue
                await self._plan_city(alert, plan, municipality, actor, result, thread, decided_by)
                result.reasons.append(plan.summary)

    async def _cities(
        self, alert: Alert, narrowed: Narrowed | None, thread: _Thread,
    ) -> list[tuple[Municipality, bool, bool]] | str:
        """(municipality, forced, sandbox_only) to plan for, or why there are none."""
        policies = self.gateway.policies
        if narrowed is not None:
            chosen = narrowed.municipality
            if narrowed.follow_up and chosen.id not in await thread.by_municipality():
                return f"{chosen.name}: 先行する情報が掲載されていないため、この取消・続報は掲載しません"
            return [(chosen, narrowed.sandbox_only or narrowed.follow_up, narrowed.sandbox_only)]
        cities = [(m, False, False) for m in addressed_municipalities(alert, policies)]
        if alert.action in ("cancel", "update", "lift", "ended"):
            # A follow-up may name no areas (JMA 取消): it goes wherever the earlier alert went.
            addressed = {m.id for m, _, _ in cities}
            earlier = await thread.by_municipality()
            cities += [(m, True, False) for m in policies if m.id in earlier and m.id not in addressed]
        if cities:
            return cities
        return f"対象地域外です（{where((alert,))}）"

    async def _ledger_reason(
        self, alert: Alert, plan: CityPlan, municipality: Municipality, now: datetime,
    ) -> str | None:
        """Why the ledger says not to post this plan: an older or poorer telegram, or content already posted."""
        if alert.action == "cancel":
            return None
        window = timedelta(minutes=municipality.alerts.duplicate_window_minutes)
        newest, same = await self.gateway.store.alert_history(
            municipality.id, thread=_h(alert.thread), subject=plan.subject, since=now - window)
        if (newest is not None and newest.alert is not None and newest.body.drill == alert.drill
                and not alert.correction):
            if alert.sent < newest.alert.issued_at:
                return f"より新しい情報（{when(newest.alert.issued_at, now)}発表）を掲載済みのため掲載しません"
            if alert.sent == newest.alert.issued_at and alert.scheme_rank < newest.alert.rank:
                return "同じ発表のより詳しい電文を掲載済みのため掲載しません"
        if same is not None and same.alert is not None and same.alert.content == plan.content:
            return f"同じ内容の情報を{when(same.created_at, now)}に掲載済みです（{same.id}、重複）"
        return None

    async def _plan_city(
        self, alert: Alert, plan: CityPlan, municipality: Municipality, actor: Actor, result: AlertResult,
        thread: _Thread, decided_by: str | None,
    ) -> None:
        action = plan.action or alert.action
        earlier = [] if action == "issue" and not alert.correction else (
            (await thread.by_municipality()).get(municipality.id, []))
        went_out = await self._supersede(earlier, actor, result) if earlier else {}
        groups: dict[tuple[str, str, tuple[tuple[str, str], ...], str | None], list[Bundle]] = defaultdict(list)
        for bundle in bundles(plan.posts):  # one per account and language; LINE: its languages together
            if action == "cancel" and bundle.account not in went_out:
                continue  # nothing public to withdraw on this account
            groups[(bundle.language, bundle.text, bundle.translations, went_out.get(bundle.account))].append(bundle)
        stamp = AlertStamp(thread=_h(alert.thread), subject=plan.subject, content=plan.content, issued_at=alert.sent,
                           rank=alert.scheme_rank)
        for (_, _, _, reply_to), same in groups.items():
            await self._submit(alert, municipality, actor, reply_to, same, result, stamp, decided_by)

    async def _supersede(self, earlier: list[MessageRecord], actor: Actor, result: AlertResult) -> dict[str, str]:
        """Cancel earlier posts not yet out; return account -> earlier message that did go out."""
        went_out: dict[str, str] = {}
        for record in earlier:  # newest first
            for delivery in await self.gateway.store.list_deliveries(message_id=record.id):
                if delivery.state in CANCELLABLE:
                    await self.gateway.cancel_delivery(delivery.id, actor, "後続の防災情報で置き換え")
                    result.cancelled.append(delivery.id)
                elif delivery.state is DeliveryState.SENT:
                    went_out.setdefault(delivery.account, record.id)
        return went_out

    async def _submit(
        self, alert: Alert, municipality: Municipality, actor: Actor, reply_to: str | None,
        same: list[Bundle], result: AlertResult, stamp: AlertStamp, decided_by: str | None,
    ) -> None:
        first = same[0]
        accounts = tuple(sorted(b.account for b in same))
        # Japanese keeps the key it always had; another language's message for the same accounts has its own.
        language = "" if first.language == "ja" else f"|{first.language}"
        key = f"{_h(alert.thread)}#{_event_key(alert)}|{','.join(accounts)}{language}"
        translations = tuple(Translation(language=lang, text=text) for lang, text in first.translations)
        message = Message(municipality=municipality.id, accounts=accounts, category="emergency", text=first.text,
                          language=first.language, priority=Priority.EMERGENCY, drill=alert.drill,
                          correction_of=reply_to, translations=translations)
        submitted = await self.gateway.submit(message, actor, source="alert", idempotency_key=key, alert_key=key,
                                              alert=stamp, decided_by=decided_by)
        for lang, text in ((first.language, first.text), *first.translations):
            result.posts.extend({"account": a, "language": lang, "text": text} for a in accounts)
        if submitted.created:
            result.messages.append(submitted.record.id)

    # -- operator decisions on held alerts ------------------------------------------------------
    async def held(self, held_id: str) -> HeldAlert:
        return await self.gateway.store.get_held_alert(held_id)

    async def list_held(self, *, states: Collection[str] | None = None, municipality: str | None = None,
                        limit: int = 100) -> list[HeldAlert]:
        return await self.gateway.store.list_held_alerts(states=states, municipality=municipality, limit=limit)

    async def publish_held(self, held_id: str, actor: Actor, note: str | None = None) -> tuple[HeldAlert, AlertResult]:
        """Post a held alert as it arrived, for the municipalities it was held for (audited)."""
        entry = await self.gateway.store.get_held_alert(held_id)
        require_any_city(actor, entry.municipalities, "この防災情報の掲載")  # deciding it decides for every city
        if entry.state != "held":
            raise Conflict(f"この防災情報は公開できません（状態: {entry.state}）")
        alerts = parse_document(entry.raw.encode("utf-8"), max_bytes=max(self.max_bytes, len(entry.raw) * 4))
        narrowed = narrow(alerts, self.gateway.policies, entry.forced) if entry.forced else None
        if isinstance(narrowed, Refusal):
            raise Conflict(narrowed.reason)
        source = Actor(entry.received_by, Role.ALERT_SYSTEM, Scope.of(*entry.municipalities))
        result = await self._plan_document(alerts, entry.raw.encode("utf-8"), source, narrowed, allow_stale=True,
                                           only=set(entry.municipalities), decided_by=actor.name)
        decided = await self.gateway.store.decide_held_alert(
            held_id, expected=("held",), new="published", actor=actor.name,
            note=note or result.reason[:2000], messages=result.messages)
        return decided, result

    async def dismiss_held(self, held_id: str, actor: Actor, note: str) -> HeldAlert:
        """Record that a held or restricted alert will not be posted (audited)."""
        entry = await self.gateway.store.get_held_alert(held_id)
        require_any_city(actor, entry.municipalities, "この防災情報の見送り")
        return await self.gateway.store.decide_held_alert(
            held_id, expected=("held", "restricted"), new="dismissed", actor=actor.name, note=note)

    async def _audit(self, actor: Actor, action: str, raw: bytes, *, reason: str, detail: dict[str, Any]) -> None:
        # Kept as text for the audit; a NUL (which no database text column takes) is kept escaped.
        document = raw[:RAW_AUDIT_LIMIT].decode("utf-8", errors="replace").replace("\x00", "\\u0000")
        await self.gateway.store.audit(actor=actor.name, action=action, reason=reason[:2000],
                                       detail={**detail, "sha256": hashlib.sha256(raw).hexdigest(),
                                               "size": len(raw), "raw": document})


def _settle(result: AlertResult, holding: _Holding) -> None:
    """The document's outcome: accepted when anything was planned, held when it waits, else ignored."""
    if result.messages or result.cancelled:
        result.outcome = "accepted"
    elif holding.municipalities:
        result.outcome = "held"
    elif result.posts:
        result.reasons.insert(0, "受信済みの情報です（重複）")
    reasons = result.reasons + [f"要確認: {r}" for r in holding.reasons]
    result.reason = "；".join(reasons) or "対象の投稿はありません"


def _held_entry(alerts: tuple[Alert, ...], raw: bytes, cities: list[str], forced: str | None, *, code: str,
                reason: str, content: str, posts: list[dict[str, str]] | None = None,
                restricted: bool = False) -> NewHeldAlert:
    first = alerts[0]
    document = raw.decode("utf-8", errors="replace").replace("\x00", "\\u0000")
    return NewHeldAlert(
        hold_code=code, reason=reason[:4000], format=first.format, alert_key=first.key[:512], kind=first.kind,
        title=_title(first)[:500], sender=first.sender[:500], sent_at=first.sent,
        drill=first.drill, municipalities=tuple(cities), forced=forced, content=content, raw=document,
        sha256=hashlib.sha256(raw).hexdigest(), posts=tuple(posts or ()), restricted=restricted,
    )


def _title(alert: Alert) -> str:
    """What staff call it: 避難情報：小川町一丁目に避難指示を発令しました."""
    label = KIND_LABELS.get(alert.kind or "", "")
    said = " ".join((alert.headline or alert.title or alert.source_kind).split())[:80]
    return f"{label}：{said}" if label and said and said != alert.kind else label or said


def _alert_detail(alert: Alert) -> dict[str, Any]:
    return {"format": alert.format, "key": alert.key, "thread": alert.thread, "kind": alert.kind,
            "action": alert.action, "drill": alert.drill, "status": alert.status, "sender": alert.sender,
            "sent": alert.sent.isoformat(), "withheld": alert.withheld}
