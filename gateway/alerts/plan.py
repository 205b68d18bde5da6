"""Alert → the posts one municipality makes, per target account, fitted to each platform.

Targets: `alerts.accounts`, or when empty every account that allows the `emergency` category;
stopped accounts are left out. Drills go to `alerts.drill_accounts`; when none are configured the
normal targets are listed with `sandbox_only=True`: dispatch must send them to the sandbox
platforms only, never to the public account (every drill text starts with 【訓練】).
YouTube and Instagram cannot carry a text-only alert: their posts carry `skip_reason`.

Follow-ups: an update/correction is a 【続報】/【訂正】 text and a cancel a 【取消】 notice; dispatch
sends them where the predecessor (found by `references`, else by `thread`) went out, as a reply on
X. A cancel names no areas in JMA, so its posts are made for whichever municipality the caller
asks about; `addressed_to` is False for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.alerts import fit, templates, terms
from gateway.alerts.areas import matching_areas
from gateway.alerts.draft import Draft
from gateway.alerts.model import Action, Alert, AlertArea
from gateway.models import Platform
from gateway.policy import ALERT_KINDS, Account, Municipality

# Municipalities post 震度情報 when the city observed 震度3 or more (JMA's 震度速報 threshold).
MIN_INTENSITY = "3"
_CHANGING = ("issue", "update", "lift")


@dataclass(frozen=True)
class AlertPost:
    account: str
    platform: Platform
    text: str
    sandbox_only: bool = False  # a drill with no drill account: send to the sandbox only
    skip_reason: str | None = None  # the platform cannot carry this post (YouTube without video)


@dataclass(frozen=True)
class CityPlan:
    municipality: str
    posts: list[AlertPost] = field(default_factory=list)
    ignored: str | None = None  # why nothing is posted (Japanese)
    summary: str = ""
    action: Action | None = None  # for this city, which may differ from alert.action (one city lifted)


def posts_for(alert: Alert, municipality: Municipality, *, forced: bool = False) -> list[AlertPost]:
    """The posts `municipality` makes for `alert` ([] when it does not concern it)."""
    return plan_for(alert, municipality, forced=forced).posts


def plan_for(alert: Alert, municipality: Municipality, *, forced: bool = False) -> CityPlan:
    """Plan with a reason; `forced` treats the alert as addressed to the municipality (drills, tests)."""
    name = municipality.name
    if alert.kind is None and alert.action != "cancel":
        shown = alert.title or alert.source_kind
        return CityPlan(municipality.id, ignored=f"{name}: 対応していない種別です（{shown}）")
    if alert.kind is not None and alert.kind not in municipality.alerts.kinds:
        return CityPlan(municipality.id, ignored=f"{name}: {ALERT_KINDS[alert.kind]}は掲載しない設定です")
    view_or_reason = _view(alert, municipality, forced)
    if isinstance(view_or_reason, str):
        return CityPlan(municipality.id, ignored=f"{name}: {view_or_reason}")
    posts = _posts(templates.render(view_or_reason), municipality, alert.drill)
    if not any(p.skip_reason is None for p in posts):
        return CityPlan(municipality.id, posts=posts, ignored=f"{name}: 緊急情報を掲載できるアカウントがありません")
    return CityPlan(municipality.id, posts=posts, summary=_summary(alert, view_or_reason),
                    action=view_or_reason.action)


def _view(alert: Alert, municipality: Municipality, forced: bool) -> templates.View | str:
    if alert.action == "cancel":
        return templates.View(alert, "cancel", municipality.name, (), matched=False)
    matched = matching_areas(alert, municipality)
    relevant = tuple(a for a in matched if a.status in _CHANGING)
    if not relevant and not forced:
        return _not_relevant_reason(matched)
    areas = relevant or _main_areas(alert)
    view = templates.View(alert, _city_action(alert, areas), municipality.name, areas, matched=bool(relevant))
    return _seismic_reason(view) or view


def _not_relevant_reason(matched: list[AlertArea]) -> str:
    if not matched:
        return "対象地域外です"
    if any(a.status == "continue" for a in matched):
        return "前回から変化がない（継続中の）ため掲載しません"
    return "この地域に発表中の警報等はありません"


def _main_areas(alert: Alert) -> tuple[AlertArea, ...]:
    """Under --municipality: the alert's own changing areas (the most severe few), as a stand-in."""
    changing = [a for a in alert.areas if a.status in _CHANGING and a.code_type != "seismic_area"]
    return tuple(changing[:5])


def _city_action(alert: Alert, areas: tuple[AlertArea, ...]) -> Action:
    if areas and all(a.status == "lift" for a in areas):
        return "lift"
    if alert.action == "lift" and not areas:
        return "lift"
    if alert.action == "update" or (areas and all(a.status == "update" for a in areas)):
        return "update"
    return "issue"


def _seismic_reason(view: templates.View) -> str | None:
    if view.alert.kind != "seismic":
        return None
    codes = [a.intensity for a in view.areas if a.intensity] if view.matched else []
    code = max(codes, key=terms.intensity_rank) if codes else view.alert.detail_str("max_intensity") or None
    if code is None:
        return "震度の観測がありません（遠地地震・震源のみの情報）" if view.alert.format == "jma" else None
    if terms.intensity_rank(code) < terms.intensity_rank(MIN_INTENSITY):
        return f"震度{terms.intensity_label(code)}のため掲載しません（震度{MIN_INTENSITY}以上で掲載）"
    return None


def target_accounts(municipality: Municipality, drill: bool) -> list[tuple[Account, bool]]:
    """(account, sandbox_only) pairs for an alert or a drill."""
    config = municipality.alerts
    if config.accounts:
        base = [a for a in (municipality.account(i) for i in config.accounts) if a is not None]
    else:
        base = list(municipality.accounts_for("emergency"))
    if drill and config.drill_accounts:
        drills = [a for a in (municipality.account(i) for i in config.drill_accounts) if a is not None]
        return [(a, False) for a in drills if not a.stopped]
    return [(a, drill) for a in base if not a.stopped]


def _posts(draft: Draft, municipality: Municipality, drill: bool) -> list[AlertPost]:
    posts = []
    for account, sandbox_only in target_accounts(municipality, drill):
        if account.platform in fit.TEXT_PLATFORMS:
            text = fit.fit(draft, account.platform)
            posts.append(AlertPost(account.id, account.platform, text, sandbox_only=sandbox_only))
        else:
            posts.append(AlertPost(account.id, account.platform, "", sandbox_only=sandbox_only,
                                   skip_reason=f"{account.platform.value} は文字だけの緊急情報を掲載できません"))
    return posts


_ACTION_LABELS = {"issue": "発表", "update": "続報", "cancel": "取消", "lift": "解除"}


def _summary(alert: Alert, view: templates.View) -> str:
    label = templates.KIND_LABELS.get(alert.kind or "", "情報")
    action = "訂正" if alert.correction and view.action in ("issue", "update") else _ACTION_LABELS[view.action]
    return f"{view.place}: {label}（{action}）"
