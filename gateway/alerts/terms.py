"""Japanese terms: the current legal evacuation terms, intensity labels, text clean-up.

Since the 2021 amendment of 災害対策基本法 the evacuation information is 高齢者等避難
[警戒レベル3], 避難指示 [警戒レベル4] and 緊急安全確保 [警戒レベル5]. 避難勧告 was abolished and
merged into 避難指示; 避難準備・高齢者等避難開始 became 高齢者等避難. Older senders (L-Alert v1,
legacy CAP feeds) still send the old words, so inputs are mapped and outputs never contain them.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

from gateway.errors import FieldProblem, InputError

ELDERLY = "高齢者等避難"
ORDER = "避難指示"
EMERGENCY_SAFETY = "緊急安全確保"

LEVEL_OF = {ELDERLY: 3, ORDER: 4, EMERGENCY_SAFETY: 5}

# Searched in this order: the most severe term that appears wins; old terms map to current ones.
_EVACUATION_TERMS: tuple[tuple[str, str], ...] = (
    ("緊急安全確保", EMERGENCY_SAFETY),
    ("避難指示（緊急）", ORDER),
    ("避難指示(緊急)", ORDER),
    ("避難指示", ORDER),
    ("避難勧告", ORDER),
    ("高齢者等避難", ELDERLY),
    ("避難準備", ELDERLY),
)

# Output clean-up: abolished terms are rewritten wherever a source text is quoted.
_OUTPUT_REWRITES: tuple[tuple[str, str], ...] = (
    ("避難準備・高齢者等避難開始", ELDERLY),
    ("避難準備情報", ELDERLY),
    ("避難指示（緊急）", ORDER),
    ("避難指示(緊急)", ORDER),
    ("避難勧告・指示", ORDER),
    ("避難勧告等", "避難指示等"),
    ("避難勧告", ORDER),
)

INTENSITY_ORDER = ("1", "2", "3", "4", "5-", "5+", "6-", "6+", "7")
_INTENSITY_LABEL = {"5-": "5弱", "5+": "5強", "6-": "6弱", "6+": "6強"}
_INTENSITY_FROM_LABEL = {v: k for k, v in _INTENSITY_LABEL.items()}


def evacuation_type(*texts: str) -> str | None:
    """The current legal term for the most severe evacuation word in `texts`, or None."""
    joined = "\n".join(texts)
    for word, term in _EVACUATION_TERMS:
        if word in joined:
            return term
    return None


def clean(text: str) -> str:
    """Rewrite abolished terms and normalise full-width digits/letters (１００ミリ → 100ミリ)."""
    for old, new in _OUTPUT_REWRITES:
        text = text.replace(old, new)
    return _fold_alnum(text)


def _fold_alnum(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", c) if _foldable(c) else c for c in text)


def _foldable(char: str) -> bool:
    """Full-width digits, Latin letters and the full stop used in numbers (Ｍ３．７)."""
    code = ord(char)
    return 0xFF10 <= code <= 0xFF19 or 0xFF21 <= code <= 0xFF3A or 0xFF41 <= code <= 0xFF5A or code == 0xFF0E


def intensity_label(code: str) -> str:
    """JMA intensity code (5-, 6+) → posted label (5弱, 6強)."""
    return _INTENSITY_LABEL.get(code, code)


def intensity_code(value: str) -> str | None:
    """Accept either a JMA code ("5-") or a label ("5弱", "震度５弱") and return the code."""
    folded = _fold_alnum(value).replace("震度", "").strip()
    folded = _INTENSITY_FROM_LABEL.get(folded, folded)
    return folded if folded in INTENSITY_ORDER else None


def intensity_rank(code: str | None) -> int:
    return INTENSITY_ORDER.index(code) if code in INTENSITY_ORDER else -1


_LEVEL_RE = re.compile(r"(?:警戒)?レベル\s*([1-5１-５])")


def level_in(text: str) -> int | None:
    """A 警戒レベル number named in `text` (レベル４大雨危険警報, 警戒レベル３相当), or None."""
    match = _LEVEL_RE.search(text)
    return int(_fold_alnum(match.group(1))) if match else None


def warning_level(name: str) -> int | None:
    """The 警戒レベル of a warning's name: the one it names, else 5 for a 特別警報 and 4 for a 危険警報 (the
    level those names carry since 2026, with or without the 「レベル５」 prefix), else None."""
    return level_in(name) or (5 if "特別警報" in name else 4 if "危険警報" in name else None)


def parse_datetime(value: str, field: str) -> datetime:
    """An ISO 8601 date-time with offset (all four formats use one), else InputError naming `field`."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        message = f"{field}: 日時として解釈できません（{value!r}）"
        raise InputError(message, [FieldProblem(field, "bad_datetime", message)], code="alert_invalid") from exc
    if parsed.tzinfo is None:
        message = f"{field}: 日時に時差（+09:00 等）がありません（{value!r}）"
        raise InputError(message, [FieldProblem(field, "bad_datetime", message)], code="alert_invalid")
    try:
        year = parsed.astimezone(UTC).year
    except OverflowError:  # 0001-01-01T00:00+09:00 or 9999-12-31T23:00-12:00 has no UTC time
        year = 0
    if not 2000 <= year <= 2100:
        message = f"{field}: 日時が範囲外です（2000年〜2100年: {value!r}）"
        raise InputError(message, [FieldProblem(field, "bad_datetime", message)], code="alert_invalid")
    return parsed


def missing(field: str, what: str) -> InputError:
    message = f"{field}: {what}がありません"
    return InputError(message, [FieldProblem(field, "missing", message)], code="alert_invalid")


def invalid(field: str, message: str, code: str = "alert_invalid") -> InputError:
    text = f"{field}: {message}"
    return InputError(text, [FieldProblem(field, code, text)], code=code)
