"""Which municipalities a document is planned for, and what a caller's choice of one may do.

`?municipality=` (API) and `--municipality` (CLI) only narrow: they pick one municipality among
those the alert already concerns. An alert whose areas do not include it is refused — a 加古川市
evacuation order must never become 「小平市は、避難指示を発令しました」. Two exceptions, neither of
which reaches a public account on its own:
- a drill may be sent to any municipality's sandbox (`sandbox_only`);
- a follow-up that names no areas (a JMA 取消, a CAP Cancel) goes where its predecessor went, which
  only the ledger knows (`follow_up`): the intake posts it only where the earlier alert went out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.alerts.areas import matching_areas
from gateway.alerts.model import Alert
from gateway.policy import Municipality, Policies


@dataclass(frozen=True)
class Refusal:
    reason: str  # Japanese
    code: str


@dataclass(frozen=True)
class Narrowed:
    municipality: Municipality
    sandbox_only: bool = False  # a drill for a municipality it does not address: sandbox only
    follow_up: bool = False  # names no areas: posted only where the earlier alert went out


def narrow(alerts: Sequence[Alert], policies: Policies, municipality_id: str) -> Narrowed | Refusal:
    chosen = policies.get(municipality_id)
    if chosen is None:
        return Refusal(f"自治体 {municipality_id!r} の設定がありません", "municipality_unknown")
    if any(matching_areas(alert, chosen) for alert in alerts):
        return Narrowed(chosen)
    if all(alert.drill for alert in alerts):
        return Narrowed(chosen, sandbox_only=True)
    if all(not alert.areas and alert.action in ("cancel", "update", "lift", "ended") for alert in alerts):
        return Narrowed(chosen, follow_up=True)
    return Refusal(
        f"{chosen.name}はこの情報の対象地域に含まれていません（対象: {where(alerts)}）。"
        "自治体の指定は、情報の対象地域の中から絞り込む場合にだけ使えます",
        "alert_not_addressed")


def where(alerts: Sequence[Alert]) -> str:
    """The first few areas an alert names, for a reason shown to people."""
    names = [n for alert in alerts for n in (alert.area_names or alert.area_codes)]
    if not names:
        names = [a.name or a.code for alert in alerts for a in alert.areas if a.name or a.code]
    shown = [_short(n) for n in dict.fromkeys(names)][:5]
    return "、".join(shown) or "地域の指定なし"


def _short(name: str) -> str:
    """A foreign areaDesc can be a paragraph: the first 40 characters are enough to tell where."""
    return name if len(name) <= 40 else name[:39] + "…"
