"""Alert → the posts one municipality makes, per target account, fitted to each platform.

Targets: `alerts.accounts`, or when empty every account that allows the `emergency` category;
stopped accounts are left out. Drills go to `alerts.drill_accounts`; when none are configured the
normal targets are listed with `sandbox_only=True`: dispatch must send them to the sandbox
platforms only, never to the public account (every drill text starts with 【訓練】).
A platform that carries no text-only post (`PlatformSpec.carries_text_only`) gets one with `skip_reason`.

A plan is made only for a municipality the alert addresses; `forced` renders it as if it did — for
a drill sent to the sandbox only, or a preview — and never reaches a public account on its own.
A plan whose alert is past its freshness window or expiry is `held` (its posts are what an operator
would publish); `allow_stale` is the operator's decision to publish it anyway.

Follow-ups: an update/correction is a 【続報】/【訂正】 text and a cancel a 【取消】 notice; dispatch
sends them where the predecessor (found by `references`, else by `thread`) went out, as a reply on
X. A cancel names no areas in JMA, so its posts are made for whichever municipality the caller
asks about; `addressed_to` is False for it.

`subject` and `content` identify what a post is about and what it says, whatever the identifiers:
the ledger uses them to keep the same content re-sent under new identifiers from being posted twice.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime

from gateway.alerts import fit, freshness, multilingual, templates, terms
from gateway.alerts.areas import matching_areas
from gateway.alerts.draft import Draft
from gateway.alerts.freshness import Hold
from gateway.alerts.model import Action, Alert, AlertArea
from gateway.models import Platform
from gateway.policy import ALERT_KINDS, Account, Municipality

# Municipalities post 震度情報 when the city observed 震度3 or more (JMA's 震度速報 threshold).
MIN_INTENSITY = "3"
_CHANGING = ("issue", "update", "lift")
_MARKS = re.compile("【(?:続報|訂正)】")
_R06_HAZARD = re.compile(r"（Ｒ０６）（([^）]+)）$")


@dataclass(frozen=True)
class AlertPost:
    account: str
    platform: Platform
    text: str
    sandbox_only: bool = False  # a drill with no drill account: send to the sandbox only
    skip_reason: str | None = None  # the platform cannot carry this post (a text-only alert)
    language: str = "ja"


@dataclass(frozen=True)
class Bundle:
    """What one submitted message carries: a text in one language for one account, and — for an account
    that sends its languages together (LINE: several messages in one broadcast) — the other languages."""

    account: str
    language: str
    text: str
    translations: tuple[tuple[str, str], ...] = ()  # (language, text) after the first


def bundles(posts: list[AlertPost]) -> list[Bundle]:
    """An account on a platform that carries several languages in one post: one bundle with every language in
    order (such accounts last); other accounts: one per language (`PlatformSpec.language_groups`, the grouping
    staff-written versions go by too)."""
    by_account: dict[str, list[AlertPost]] = {}
    for post in posts:
        if post.skip_reason is None:
            by_account.setdefault(post.account, []).append(post)
    found: list[Bundle] = []
    for account, same in sorted(by_account.items(), key=lambda item: item[1][0].platform.spec.languages_per_post > 1):
        texts = {p.language: p.text for p in same}
        for group in same[0].platform.spec.language_groups(tuple(p.language for p in same)):
            rest = tuple((code, texts[code]) for code in group[1:])
            found.append(Bundle(account, group[0], texts[group[0]], rest))
    return found


@dataclass(frozen=True)
class CityPlan:
    municipality: str
    posts: list[AlertPost] = field(default_factory=list)
    ignored: str | None = None  # why nothing is posted (Japanese)
    summary: str = ""
    action: Action | None = None  # for this city, which may differ from alert.action (one city lifted)
    held: Hold | None = None  # posts wait for an operator (stale, expired, future-dated)
    subject: str = ""  # what the posts are about (hash), whatever the document's identifiers
    content: str = ""  # what they say (hash), without the issue time


def posts_for(alert: Alert, municipality: Municipality, *, forced: bool = False,
              now: datetime | None = None) -> list[AlertPost]:
    """The posts `municipality` makes for `alert` ([] when it does not concern it)."""
    return plan_for(alert, municipality, forced=forced, now=now).posts


def plan_for(alert: Alert, municipality: Municipality, *, forced: bool = False, now: datetime | None = None,
             allow_stale: bool = False, sandbox_only: bool = False) -> CityPlan:
    """Plan with a reason. `now` None: no freshness check (previews, tests of wording)."""
    name = municipality.name
    reason = _unpublishable(alert, municipality)
    if reason is not None:
        return CityPlan(municipality.id, ignored=f"{name}: {reason}")
    view_or_reason = _view(alert, municipality, forced, now)
    if isinstance(view_or_reason, str):
        return CityPlan(municipality.id, ignored=f"{name}: {view_or_reason}")
    view = view_or_reason
    draft = templates.render(view)
    posts = _posts(view, draft, municipality, alert.drill, sandbox_only=sandbox_only)
    if not any(p.skip_reason is None for p in posts):
        return CityPlan(municipality.id, posts=posts, ignored=f"{name}: 緊急情報を掲載できるアカウントがありません")
    subject = subject_of(view)
    held = None if now is None or allow_stale else freshness.hold_for(
        alert, municipality.alerts.freshness(alert.kind or ""), now)
    return CityPlan(municipality.id, posts=posts, summary=_summary(alert, view), action=view.action, held=held,
                    subject=subject, content=_digest(f"{subject}\n{_MARKS.sub('', draft.body())}"))


def _unpublishable(alert: Alert, municipality: Municipality) -> str | None:
    if alert.withheld is not None:
        return alert.withheld_reason
    if alert.kind is None and alert.action != "cancel":
        return f"対応していない種別です（{alert.title or alert.source_kind}）"
    if alert.kind is not None and alert.kind not in municipality.alerts.kinds:
        return f"{ALERT_KINDS[alert.kind]}は掲載しない設定です"
    return None


def _view(alert: Alert, municipality: Municipality, forced: bool, now: datetime | None) -> templates.View | str:
    if alert.action == "cancel":
        return templates.View(alert, "cancel", municipality.name, (), matched=False, now=now)
    matched = matching_areas(alert, municipality)
    relevant = tuple(a for a in matched if a.status in _CHANGING)
    if not relevant and not forced:
        return _not_relevant_reason(matched)
    areas = relevant or _main_areas(alert)
    view = templates.View(alert, _city_action(alert, areas), municipality.name, areas, matched=bool(relevant),
                          now=now)
    return _seismic_reason(view) or _silent_reason(view) or view


def _not_relevant_reason(matched: list[AlertArea]) -> str:
    if not matched:
        return "対象地域外です"
    if any(a.status == "continue" for a in matched):
        return "前回から変化がない（継続中の）ため掲載しません"
    return "この地域に発表中の警報等はありません"


def _main_areas(alert: Alert) -> tuple[AlertArea, ...]:
    """When forced (a sandbox drill, a preview): the alert's own changing areas (the first few), as a stand-in."""
    changing = [a for a in alert.areas if a.status in _CHANGING and a.code_type != "seismic_area"]
    return tuple(changing[:5])


def _city_action(alert: Alert, areas: tuple[AlertArea, ...]) -> Action:
    """What the alert means for this city: per-area statuses (JMA) refine the document's action."""
    if alert.action in ("cancel", "ended"):
        return alert.action
    if areas and all(a.status == "lift" for a in areas):
        return "lift"
    if not areas:
        return alert.action
    if alert.action == "lift":  # some of this city's areas were lifted, others are still in force
        return "update"
    if alert.action == "update" or all(a.status in ("update", "lift") for a in areas):
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


def _silent_reason(view: templates.View) -> str | None:
    """A telegram that names no warning in force and none that ended has nothing to tell residents."""
    if view.alert.kind not in ("weather_warning", "tsunami", "volcano") or view.action == "cancel":
        return None
    said = any(a.labels or a.lifted for a in view.areas)
    if said or view.alert.detail_tuple("warnings") or view.alert.detail_str("tsunami_grade"):
        return None
    return "発表中・解除された警報の名称がありません（掲載する内容がありません）"


def subject_of(view: templates.View) -> str:
    """What a post is about — kind, drill, and the thing itself — independent of identifiers and wording."""
    alert = view.alert
    parts = [alert.kind or alert.title, "drill" if alert.drill else "real", *_subject_parts(view)]
    return _digest("\x1f".join(parts))


def _subject_parts(view: templates.View) -> list[str]:
    alert, kind = view.alert, view.alert.kind
    if kind == "evacuation":
        return sorted({s for a in view.areas for s in a.subareas})
    if kind == "weather_warning":
        hazard = _R06_HAZARD.search(alert.telegram)
        return [hazard.group(1)] if hazard else ["all" if alert.format == "jma" else alert.title]
    if kind == "seismic":
        return [alert.detail_str("origin_time") or alert.thread]
    if kind in ("tsunami", "record_rain"):
        return sorted({a.code or a.name for a in view.areas})
    if kind in ("flood_forecast", "volcano"):
        return [alert.detail_str("river") or alert.detail_str("volcano")]
    return []


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


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


def _posts(view: templates.View, draft: Draft, municipality: Municipality, drill: bool, *,
           sandbox_only: bool) -> list[AlertPost]:
    """One post per target account and language, in the account's order of languages."""
    posts = []
    if sandbox_only:  # a drill forced onto a city it does not address: its normal targets, sandbox only
        targets = [(a, True) for a, _ in target_accounts(municipality, drill=False)]
    else:
        targets = target_accounts(municipality, drill)
    drafts = {"ja": draft}  # each language is rendered once, whatever the number of accounts
    for account, to_sandbox in targets:
        for language in account.languages:
            if account.platform not in fit.TEXT_PLATFORMS:
                label = account.platform.spec.label
                posts.append(AlertPost(account.id, account.platform, "", sandbox_only=to_sandbox, language=language,
                                       skip_reason=f"{label} は文字だけの緊急情報を掲載できません"))
                continue
            if language not in drafts:
                drafts[language] = multilingual.render(view, language)
            text = fit.fit(drafts[language], account.platform)
            posts.append(AlertPost(account.id, account.platform, text, sandbox_only=to_sandbox, language=language))
    return posts


_ACTION_LABELS = {"issue": "発表", "update": "続報", "cancel": "取消", "lift": "解除", "ended": "終了"}


def _summary(alert: Alert, view: templates.View) -> str:
    label = templates.KIND_LABELS.get(alert.kind or "", "情報")
    action = "訂正" if alert.correction and view.action in ("issue", "update") else _ACTION_LABELS[view.action]
    return f"{view.place}: {label}（{action}）"
