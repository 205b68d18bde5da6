"""Alert intake: a disaster-information document in, emergency messages planned at once.

Parsing, addressing and the Japanese texts come from `gateway.alerts`; this module applies
the lifecycle on the ledger:

- Dedupe: each message carries `alert_key` = thread hash # alert-key hash | accounts, so the same
  document received twice (same key) plans nothing new.
- Update / 訂正 / 解除: the earlier messages of the same thread that have not gone out are
  cancelled (superseded), and the follow-up replies to the earlier post where the platform can.
- Cancel / 取消: undelivered earlier posts are cancelled; a 取消 notice is posted only where an
  earlier post actually went out.
- Drills: planned like any alert, flagged `drill`; dispatch sends them to the sandbox unless the
  account is one of the municipality's drill accounts.

No approval and no office hours: the submitter is an alert system, so the message is `emergency`
and goes straight to the reserved lane. The raw document is kept in the audit log.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.alerts import Alert, AlertPost, CityPlan, addressed_municipalities, parse_alert, plan_for
from gateway.errors import InputError
from gateway.models import DeliveryState, Message, Priority
from gateway.policy import Municipality
from gateway.service import CANCELLABLE, Actor, Gateway
from gateway.store.base import MessageRecord

Outcome = Literal["accepted", "ignored", "rejected"]
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
    error: InputError | None = None

    def to_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "reason": self.reason, "drill": self.drill, "posts": self.posts,
                "messages": self.messages, "cancelled": self.cancelled}


def _h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


class _Thread:
    """The earlier messages of an alert's thread (other documents than this one), newest first,
    by municipality: read with one query, the first time a follow-up needs them."""

    def __init__(self, gateway: Gateway, alert: Alert) -> None:
        self._gateway, self._alert = gateway, alert
        self._found: dict[str, list[MessageRecord]] | None = None

    async def by_municipality(self) -> dict[str, list[MessageRecord]]:
        if self._found is None:
            prefix = f"{_h(self._alert.thread)}#"
            this_key = f"{prefix}{_h(self._alert.key)}|"
            records = await self._gateway.store.list_messages(alert_key_prefix=prefix, limit=EARLIER_MESSAGES_LIMIT)
            self._found = defaultdict(list)
            for record in records:
                if not (record.alert_key or "").startswith(this_key):
                    self._found[record.municipality].append(record)
            self._found = dict(self._found)
        return self._found


class AlertIntake:
    def __init__(self, gateway: Gateway, *, max_bytes: int = 1_000_000) -> None:
        self.gateway = gateway
        self.max_bytes = max_bytes

    async def receive(
        self, raw: bytes, actor: Actor, *, content_type: str | None = None, municipality: str | None = None,
    ) -> AlertResult:
        try:
            alert = parse_alert(raw, content_type=content_type, max_bytes=self.max_bytes)
        except InputError as exc:
            await self._audit(actor, "alert.rejected", raw, reason=exc.message, detail={"code": exc.code})
            return AlertResult("rejected", exc.message, error=exc)
        if alert.kind is None and alert.action != "cancel":
            reason = f"対応していない種別です（{alert.title or alert.source_kind or '不明'}）"
            await self._audit(actor, "alert.rejected", raw, reason=reason, detail=_alert_detail(alert))
            return AlertResult("rejected", reason, drill=alert.drill)
        result = await self._plan(alert, actor, municipality)
        for _ in range(3):  # let the woken emergency workers queue their claims before this write
            await asyncio.sleep(0)
        await self._audit(actor, f"alert.{result.outcome}", raw, reason=result.reason,
                          detail={**_alert_detail(alert), "messages": result.messages})
        return result

    async def _plan(self, alert: Alert, actor: Actor, forced_id: str | None) -> AlertResult:
        thread = _Thread(self.gateway, alert)
        cities = await self._cities(alert, forced_id, thread)
        if isinstance(cities, str):
            return AlertResult("ignored", cities, drill=alert.drill)
        result = AlertResult("ignored", "", drill=alert.drill)
        reasons: list[str] = []
        for municipality, forced in cities:
            plan = plan_for(alert, municipality, forced=forced)
            if plan.ignored is not None:
                reasons.append(f"{municipality.name}: {plan.ignored}")
                continue
            await self._plan_city(alert, plan, municipality, actor, result, thread)
            reasons.append(plan.summary)
        if result.messages or result.cancelled:
            result.outcome = "accepted"
        elif not reasons:
            reasons.append("対象の投稿はありません")
        elif result.outcome == "ignored" and any(p for p in result.posts):
            reasons.insert(0, "受信済みの情報です（重複）")
        result.reason = "；".join(reasons)
        return result

    async def _cities(
        self, alert: Alert, forced_id: str | None, thread: _Thread,
    ) -> list[tuple[Municipality, bool]] | str:
        policies = self.gateway.policies
        if forced_id is not None:
            chosen = policies.get(forced_id)
            return [(chosen, True)] if chosen else f"自治体 {forced_id!r} の設定がありません"
        cities = [(m, False) for m in addressed_municipalities(alert, policies)]
        if alert.action in ("cancel", "update", "lift"):
            # A follow-up may name no areas (JMA 取消): it goes wherever the earlier alert went.
            addressed = {m.id for m, _ in cities}
            earlier = await thread.by_municipality()
            cities += [(m, True) for m in policies if m.id in earlier and m.id not in addressed]
        if cities:
            return cities
        where = "、".join(alert.area_names[:5] or alert.area_codes[:5]) or "地域の指定なし"
        return f"対象地域外です（{where}）"

    async def _plan_city(
        self, alert: Alert, plan: CityPlan, municipality: Municipality, actor: Actor, result: AlertResult,
        thread: _Thread,
    ) -> None:
        action = plan.action or alert.action
        earlier = [] if action == "issue" and not alert.correction else (
            (await thread.by_municipality()).get(municipality.id, []))
        went_out = await self._supersede(earlier, actor, result) if earlier else {}
        groups: dict[tuple[str, str | None], list[AlertPost]] = defaultdict(list)
        for post in plan.posts:
            if post.skip_reason is not None:
                continue
            if action == "cancel" and post.account not in went_out:
                continue  # nothing public to withdraw on this account
            groups[(post.text, went_out.get(post.account))].append(post)
        for (text, reply_to), posts in groups.items():
            await self._submit(alert, municipality, actor, text, reply_to, posts, result)

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
        self, alert: Alert, municipality: Municipality, actor: Actor, text: str, reply_to: str | None,
        posts: list[AlertPost], result: AlertResult,
    ) -> None:
        accounts = tuple(sorted(p.account for p in posts))
        key = f"{_h(alert.thread)}#{_h(alert.key)}|{','.join(accounts)}"
        message = Message(municipality=municipality.id, accounts=accounts, category="emergency", text=text,
                          priority=Priority.EMERGENCY, drill=alert.drill, correction_of=reply_to)
        submitted = await self.gateway.submit(message, actor, source="alert", idempotency_key=key, alert_key=key)
        result.posts.extend({"account": a, "text": text} for a in accounts)
        if submitted.created:
            result.messages.append(submitted.record.id)

    async def _audit(self, actor: Actor, action: str, raw: bytes, *, reason: str, detail: dict[str, Any]) -> None:
        # Kept as text for the audit; a NUL (which no database text column takes) is kept escaped.
        document = raw[:RAW_AUDIT_LIMIT].decode("utf-8", errors="replace").replace("\x00", "\\u0000")
        await self.gateway.store.audit(actor=actor.name, action=action, reason=reason[:2000],
                                       detail={**detail, "sha256": hashlib.sha256(raw).hexdigest(),
                                               "size": len(raw), "raw": document})


def _alert_detail(alert: Alert) -> dict[str, Any]:
    return {"format": alert.format, "key": alert.key, "thread": alert.thread, "kind": alert.kind,
            "action": alert.action, "drill": alert.drill, "status": alert.status, "sender": alert.sender}
