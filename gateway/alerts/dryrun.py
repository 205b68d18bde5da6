"""`gateway alert --dry-run`: parse and plan an alert without sending anything.

Outcomes (DESIGN.md): rejected (exit 2) — malformed, hostile or oversize documents, unknown
formats, kinds we do not publish at all (e.g. a CAP Child Abduction alert), and a `municipality`
the alert does not address; held (exit 0) — an alert past its freshness window or expiry, or
future-dated: an operator must publish or dismiss it (`held_posts` holds what publishing would
post; the JSON line of DESIGN.md lists only what goes out now); ignored (exit 0) — a well-formed
alert for other areas, a kind the municipality does not publish, an unchanged (継続) warning, an
intensity below 震度3, a restricted or private CAP alert, a receipt, or a cancel whose areas are
only known from the earlier alert; accepted (exit 0) — posts were produced. The ledger's own rules
(duplicates, out-of-order telegrams) are not applied here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from gateway.alerts.areas import addressed_municipalities, concerned_municipalities
from gateway.alerts.detect import parse_document
from gateway.alerts.model import Alert
from gateway.alerts.plan import AlertPost, CityPlan, plan_for
from gateway.alerts.route import Narrowed, Refusal, narrow, where
from gateway.errors import InputError
from gateway.policy import Municipality, Policies

Outcome = Literal["accepted", "ignored", "rejected", "held"]

_DRILL_NOTE = "訓練: 訓練用アカウントの設定がないため、サンドボックスにのみ送信します（公開アカウントには送信しません）"


@dataclass
class DryRunResult:
    outcome: Outcome
    reason: str
    drill: bool = False
    posts: list[AlertPost] = field(default_factory=list)
    held_posts: list[AlertPost] = field(default_factory=list)
    alert: Alert | None = None
    error: InputError | None = None

    @property
    def exit_code(self) -> int:
        return 2 if self.outcome == "rejected" else 0

    def to_json(self) -> dict[str, object]:
        """The DESIGN.md contract: what goes out now. Held posts are shown by the table, not here."""
        return {
            "outcome": self.outcome, "reason": self.reason, "drill": self.drill,
            "posts": [_post_json(p) for p in self.posts if p.skip_reason is None],
        }


def _post_json(post: AlertPost) -> dict[str, object]:
    return {"account": post.account, "language": post.language, "text": post.text}


def dry_run(raw: bytes, policies: Policies, *, municipality: str | None = None,
            content_type: str | None = None, now: datetime | None = None) -> DryRunResult:
    """`now` (default: the clock) is when the alert is judged fresh or stale."""
    try:
        alerts = parse_document(raw, content_type=content_type)
    except InputError as exc:
        return DryRunResult("rejected", exc.message, error=exc)
    first = alerts[0]
    if first.withheld is not None:
        return DryRunResult("ignored", first.withheld_reason, drill=first.drill, alert=first)
    if all(a.kind is None and a.action != "cancel" for a in alerts):
        shown = first.title or first.source_kind or "不明"
        return DryRunResult("rejected", f"対応していない種別です（{shown}）", drill=first.drill, alert=first)
    narrowed: Narrowed | None = None
    if municipality is not None:
        found = narrow(alerts, policies, municipality)
        if isinstance(found, Refusal):
            return DryRunResult("rejected", found.reason, drill=first.drill, alert=first)
        narrowed = found
    plans = _plans(alerts, policies, narrowed, now or datetime.now(UTC))
    if isinstance(plans, str):
        return DryRunResult("ignored", plans, drill=first.drill, alert=first)
    return _result(first, plans)


def _plans(alerts: tuple[Alert, ...], policies: Policies, narrowed: Narrowed | None,
           now: datetime) -> list[CityPlan] | str:
    plans: list[CityPlan] = []
    for alert in alerts:
        targets = _targets(alert, policies, narrowed)
        if isinstance(targets, str):
            if len(alerts) == 1:
                return targets
            continue
        forced = narrowed is not None and (narrowed.sandbox_only or narrowed.follow_up)
        sandbox = narrowed is not None and narrowed.sandbox_only
        plans.extend(plan_for(alert, m, forced=forced, sandbox_only=sandbox, now=now) for m in targets)
    return plans or f"対象地域外です（{where(alerts)}）"


def _targets(alert: Alert, policies: Policies, narrowed: Narrowed | None) -> list[Municipality] | str:
    if narrowed is not None:
        return [narrowed.municipality]
    addressed = addressed_municipalities(alert, policies)
    # Cities named with nothing new (a 継続 warning) are planned too, so the reason says why.
    concerned = addressed or concerned_municipalities(alert, policies)
    if concerned:
        return concerned
    if alert.action == "cancel":
        return "取消の対象地域は先行する情報で決まります（配信時に先行情報の掲載先へ取消を掲載します）"
    return f"対象地域外です（{where((alert,))}）"


def _result(alert: Alert, plans: list[CityPlan]) -> DryRunResult:
    ready = [plan for plan in plans if plan.ignored is None and plan.held is None]
    held = [plan for plan in plans if plan.ignored is None and plan.held is not None]
    posts = [p for plan in ready for p in plan.posts]
    held_posts = [p for plan in held for p in plan.posts]
    held_reasons = [f"{plan.summary}は要確認: {plan.held.reason}" for plan in held if plan.held is not None]
    if not posts and not held_posts:
        reason = "; ".join(plan.ignored or "" for plan in plans) or "掲載先がありません"
        return DryRunResult("ignored", reason, drill=alert.drill, alert=alert)
    if not posts:
        return DryRunResult("held", "; ".join(held_reasons), drill=alert.drill, held_posts=held_posts, alert=alert)
    reasons = [plan.summary for plan in ready] + held_reasons
    if alert.drill and any(p.sandbox_only for p in posts):
        reasons.append(_DRILL_NOTE)
    elif alert.drill:
        reasons.append("訓練: 訓練用アカウントにのみ送信します")
    return DryRunResult("accepted", "; ".join(reasons), drill=alert.drill, posts=posts, held_posts=held_posts,
                        alert=alert)
