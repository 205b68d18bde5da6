"""`gateway alert --dry-run`: parse and plan an alert without sending anything.

Outcomes: rejected (exit 2) — malformed, hostile or oversize documents, unknown formats, and
kinds we do not publish at all (e.g. a CAP Child Abduction alert); ignored (exit 0) — a well-formed
alert for other areas, a kind the municipality does not publish, an unchanged (継続) warning, an
intensity below 震度3, or a cancel whose areas are only known from the earlier alert; accepted
(exit 0) — posts were produced. `municipality=` treats the alert as addressed to that city.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gateway.alerts.areas import addressed_municipalities, concerned_municipalities
from gateway.alerts.detect import parse_alert
from gateway.alerts.model import Alert
from gateway.alerts.plan import AlertPost, CityPlan, plan_for
from gateway.errors import InputError
from gateway.policy import Municipality, Policies

Outcome = Literal["accepted", "ignored", "rejected"]

_DRILL_NOTE = "訓練: 訓練用アカウントの設定がないため、サンドボックスにのみ送信します（公開アカウントには送信しません）"


@dataclass
class DryRunResult:
    outcome: Outcome
    reason: str
    drill: bool = False
    posts: list[AlertPost] = field(default_factory=list)
    alert: Alert | None = None
    error: InputError | None = None

    @property
    def exit_code(self) -> int:
        return 2 if self.outcome == "rejected" else 0

    def to_json(self) -> dict[str, object]:
        return {
            "outcome": self.outcome, "reason": self.reason, "drill": self.drill,
            "posts": [{"account": p.account, "text": p.text} for p in self.posts if p.skip_reason is None],
        }


def dry_run(raw: bytes, policies: Policies, *, municipality: str | None = None,
            content_type: str | None = None) -> DryRunResult:
    try:
        alert = parse_alert(raw, content_type=content_type)
    except InputError as exc:
        return DryRunResult("rejected", exc.message, error=exc)
    if alert.kind is None and alert.action != "cancel":
        shown = alert.title or alert.source_kind or "不明"
        return DryRunResult("rejected", f"対応していない種別です（{shown}）", drill=alert.drill, alert=alert)
    targets = _targets(alert, policies, municipality)
    if isinstance(targets, str):
        outcome: Outcome = "rejected" if municipality is not None and municipality not in policies else "ignored"
        return DryRunResult(outcome, targets, drill=alert.drill, alert=alert)
    plans = [plan_for(alert, m, forced=municipality is not None) for m in targets]
    return _result(alert, plans)


def _targets(alert: Alert, policies: Policies, municipality: str | None) -> list[Municipality] | str:
    if municipality is not None:
        chosen = policies.get(municipality)
        return [chosen] if chosen is not None else f"自治体 {municipality!r} の設定がありません"
    addressed = addressed_municipalities(alert, policies)
    # Cities named with nothing new (a 継続 warning) are planned too, so the reason says why.
    concerned = addressed or concerned_municipalities(alert, policies)
    if concerned:
        return concerned
    if alert.action == "cancel":
        return "取消の対象地域は先行する情報で決まります（配信時に先行情報の掲載先へ取消を掲載します）"
    where = "、".join(alert.area_names[:5] or alert.area_codes[:5]) or "地域の指定なし"
    return f"対象地域外です（{where}）"


def _result(alert: Alert, plans: list[CityPlan]) -> DryRunResult:
    posts = [p for plan in plans if plan.ignored is None for p in plan.posts]
    if not posts:
        reason = "; ".join(plan.ignored or "" for plan in plans) or "掲載先がありません"
        return DryRunResult("ignored", reason, drill=alert.drill, alert=alert)
    reasons = [plan.summary for plan in plans if plan.ignored is None]
    if alert.drill and any(p.sandbox_only for p in posts):
        reasons.append(_DRILL_NOTE)
    elif alert.drill:
        reasons.append("訓練: 訓練用アカウントにのみ送信します")
    return DryRunResult("accepted", "; ".join(reasons), drill=alert.drill, posts=posts, alert=alert)
