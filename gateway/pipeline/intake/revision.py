"""What changed between two versions of a post, for the audit and the approver: pure.

Texts (本文, タイトル, the other-language versions) as a unified diff of their lines; every other field
that changed as its value before and after, in words staff read.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from gateway.models import Message

# The fields compared as values, with their names on the console.
_FIELDS: tuple[tuple[str, str], ...] = (
    ("category", "カテゴリ"), ("accounts", "アカウント"), ("link", "リンク"), ("media", "画像・動画"),
    ("not_before", "予約日時"), ("priority", "優先度"), ("share", "シェア元"), ("official_view", "公式見解の決裁"),
    ("preauthorized", "事前許可の種類"), ("emergency_reason", "緊急の理由"), ("correction_of", "訂正元"),
)
MAX_DIFF_CHARS = 20_000  # an audit row stays readable; a longer diff is cut with a note


def _texts(message: Message) -> dict[str, str]:
    found = {"本文": message.text, "タイトル": message.title or ""}
    for item in message.translations:
        found[f"翻訳（{item.language}）"] = item.text
    return found


def text_diff(before: Message, after: Message, *, old: int, new: int) -> str:
    """A unified diff of every text that changed, each under its own header (empty when none did)."""
    parts: list[str] = []
    was, now = _texts(before), _texts(after)
    for name in dict.fromkeys([*was, *now]):
        a, b = was.get(name, ""), now.get(name, "")
        if a != b:
            parts.extend(difflib.unified_diff(a.splitlines(), b.splitlines(), f"{name}（第{old}版）",
                                              f"{name}（第{new}版）", lineterm=""))
    diff = "\n".join(parts)
    return diff if len(diff) <= MAX_DIFF_CHARS else diff[:MAX_DIFF_CHARS] + "\n…（長いため省略）"


def _shown(value: Any) -> str:
    if value is None or value == () or value == "":
        return "（なし）"
    if isinstance(value, tuple):
        return "、".join(_shown(v) for v in value)
    if isinstance(value, bool):
        return "はい" if value else "いいえ"
    dump: Callable[..., Any] | None = getattr(value, "model_dump", None)
    if dump is not None:
        return " ".join(f"{k}={v}" for k, v in dump(mode="json", exclude_none=True).items())
    return str(getattr(value, "value", value))


def field_changes(before: Message, after: Message) -> list[dict[str, str]]:
    """The non-text fields that changed: [{"field", "label", "before", "after"}]."""
    out = []
    for name, label in _FIELDS:
        a, b = getattr(before, name), getattr(after, name)
        if a != b:
            out.append({"field": name, "label": label, "before": _shown(a), "after": _shown(b)})
    return out


def revision_detail(before: Message, after: Message, *, old: int) -> dict[str, Any]:
    """The `message.revised` audit row's detail: versions, the text diff and the other changes."""
    return {"previous_revision": old, "diff": text_diff(before, after, old=old, new=old + 1),
            "changes": field_changes(before, after)}
