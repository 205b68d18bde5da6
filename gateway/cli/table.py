"""Plain-text tables for the CLI (status, demo, accounts)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from gateway.models import Delivery
from gateway.policy import Policies

_JST_OFFSET_HOURS = 9


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - _width(text), 0)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max([_width(h), *(_width(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = ["  ".join(_pad(h, w) for h, w in zip(headers, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(_pad(c, w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _jst(value: datetime | None) -> str:
    if value is None:
        return "-"
    from zoneinfo import ZoneInfo

    return value.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%m-%d %H:%M")


def delivery_table(deliveries: Sequence[Delivery]) -> str:
    headers = ("message", "account", "platform", "priority", "state", "not_before(JST)", "attempts", "remote/error")
    rows = [
        (d.message_id, d.account, d.platform.value, d.priority.value, d.state.value, _jst(d.not_before),
         str(d.attempts), (d.remote_id or d.error_text or "-")[:48])
        for d in deliveries
    ]
    return render_table(headers, rows) if rows else "（配信はありません）"


def accounts_table(
    policies: Policies, last_sent: Mapping[str, datetime], credentials: Mapping[str, Mapping[str, Any]],
    stopped: Mapping[str, str] | None = None,
) -> str:
    """`stopped`: account -> reason, for accounts an operator stopped (console, API): shown as 停止 too."""
    stopped = stopped or {}
    now = datetime.now(UTC)
    rows = []
    for municipality in policies:
        for account in municipality.accounts:
            sent = last_sent.get(account.id)
            cred = credentials.get(account.id)
            rows.append((
                account.id, account.platform.value, account.handle, ",".join(account.categories),
                _jst(sent), str((now - sent).days) if sent else "-",
                _masked(cred), _status(account.stopped, stopped.get(account.id)),
            ))
    headers = ("account", "platform", "handle", "categories", "last_post(JST)", "days", "credentials", "status")
    return render_table(headers, rows)


def _status(configured_stop: bool, operator_stop: str | None) -> str:
    if operator_stop is not None:
        return f"停止（{operator_stop}）" if operator_stop else "停止"
    return "停止（設定）" if configured_stop else "稼働"


def _masked(cred: Mapping[str, Any] | None) -> str:
    if not cred:
        return "-"
    fields = cred.get("fields") or {}
    shown = " ".join(f"{k}={v}" for k, v in dict(fields).items())
    age = cred.get("age_days")
    return f"{shown} ({age}日前)" if age is not None else shown
