"""Whether an alert is still news: old, expired or future-dated alerts are held for an operator.

A feed that re-sends a two-year-old flood warning, a relay that replays yesterday's queue, a sender
whose clock is wrong: each would post something residents read as current. An alert is held (要確認)
instead of posted when
- its issue time is older than the city's freshness window for its kind (policy.Alerts.freshness),
- its own expiry (CAP expires, JMA/L-Alert ValidDateTime, JSON expires) has passed, or
- its issue time lies more than FUTURE_TOLERANCE ahead of the gateway's clock.
An operator then publishes it (the post states its issue date, with the year) or dismisses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from gateway.alerts.model import Alert
from gateway.alerts.templates import when

FUTURE_TOLERANCE = timedelta(minutes=10)
HoldCode = Literal["stale", "expired", "future"]


@dataclass(frozen=True)
class Hold:
    code: HoldCode
    reason: str  # Japanese, for the operator


def hold_for(alert: Alert, window_minutes: int, now: datetime) -> Hold | None:
    """Why `alert` must wait for an operator at `now`, or None when it may be posted."""
    if alert.sent - now > FUTURE_TOLERANCE:
        return Hold("future",
                    f"発表時刻（{when(alert.sent, now)}）が現在より先です。送信元の時刻設定を確認してください")
    if alert.expires is not None and alert.expires <= now:
        return Hold("expired", f"有効期限（{when(alert.expires, now)}）を過ぎた情報です")
    age = now - alert.sent
    if age > timedelta(minutes=window_minutes):
        return Hold("stale", f"発表（{when(alert.sent, now)}）から{age_text(age)}が経過しています"
                             f"（自動で掲載するのは発表後{age_text(timedelta(minutes=window_minutes))}以内）")
    return None


def age_text(age: timedelta) -> str:
    """A duration as staff read it: 2年以上, 3日, 4時間5分, 12分."""
    minutes = int(age.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    if days >= 365:
        return f"{days // 365}年以上"
    if days:
        return f"{days}日"
    hours, minutes = divmod(rest, 60)
    if hours:
        return f"{hours}時間{minutes}分" if minutes else f"{hours}時間"
    return f"{minutes}分"
