"""Platform-neutral text helpers used by every adapter's `render()`.

Each platform measures text differently (X: twitter-text weighted length, LINE: UTF-16 code
units, YouTube: bytes), so the fitting helpers take a `fits(text) -> bool` predicate instead of
a number. Cuts never split a surrogate-free code point sequence that belongs together: combining
marks, variation selectors, skin-tone modifiers and zero-width-joiner emoji stay whole.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from twitter_text import parse_tweet

from gateway.models import Message

ELLIPSIS = "…"

Fits = Callable[[str], bool]

# Break preferences when splitting, best first: paragraph, line, Japanese/Latin sentence end, space.
_BREAKS: tuple[str, ...] = ("\n\n", "\n", "。", "！", "？", "!", "?", "、", " ", "　")


def compose_text(message: Message) -> str:
    """The body as posted: the text, then the link on its own line unless the text already has it."""
    text = message.text.strip()
    link = (message.link or "").strip()
    if not link or link in text:
        return text
    return f"{text}\n{link}"


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (LINE counts text this way; astral characters count 2)."""
    return len(text.encode("utf-16-le")) // 2


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _joins_previous(char: str) -> bool:
    """True when `char` must stay attached to the code point before it."""
    code = ord(char)
    return (
        unicodedata.combining(char) != 0
        or code == 0x200D  # zero-width joiner
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # skin-tone modifiers
        or 0xE0020 <= code <= 0xE007F  # tag characters (flag subdivisions)
        or unicodedata.category(char) == "Mc"
    )


def safe_cut(text: str, index: int) -> int:
    """The largest cut position <= index that does not split a character sequence."""
    index = max(0, min(index, len(text)))
    while 0 < index < len(text) and (_joins_previous(text[index]) or text[index - 1] == "\u200d"):
        index -= 1
    return index


def longest_prefix(text: str, fits: Fits, suffix: str = "") -> int:
    """The largest safe cut `n` with `fits(text[:n] + suffix)`; 0 when even the suffix alone does not fit.

    The predicates we use (weighted length, UTF-16 units, bytes) grow with the prefix, so a search
    works: galloping up from 64 characters first, so that a 20,000-character text is never measured
    whole to find the few hundred that fit (twitter-text takes ~0.1 s for it, on the event loop).
    """
    low, high = 0, len(text)
    probe = 64
    while probe < high:
        if not fits(text[:probe] + suffix):
            high = probe - 1
            break
        low, probe = probe, probe * 2
    while low < high:
        mid = (low + high + 1) // 2
        if fits(text[:mid] + suffix):
            low = mid
        else:
            high = mid - 1
    return safe_cut(text, low)


def truncate_to(text: str, fits: Fits, ellipsis: str = ELLIPSIS, *, tail: str = "") -> str:
    """`text` unchanged if `fits(text + tail)`, else cut with `ellipsis` so that it fits, then `tail`.

    `tail` (e.g. "\\n" + link) is kept whole: X truncation keeps the link after the cut text.
    """
    if fits(text + tail):
        return text + tail
    suffix = ellipsis + tail
    cut = longest_prefix(text, fits, suffix)
    head = text[:cut].rstrip()
    if not head:
        # Not even one character fits beside the tail: drop the tail rather than send nothing.
        return truncate_to(text, fits, ellipsis) if tail else ellipsis if fits(ellipsis) else ""
    return head + suffix


def _best_break(chunk: str) -> int:
    """Where to end a part inside `chunk` (the most that fits): after the best break in its second half."""
    floor = len(chunk) // 2
    for sep in _BREAKS:
        at = chunk.rfind(sep)
        if at >= floor:
            return at + len(sep)
    return len(chunk)


def split_to(text: str, fits: Fits, *, marker: Callable[[int, int], str] | None = None) -> list[str]:
    """Split `text` into parts that each fit, breaking at paragraph, line, sentence or space boundaries.

    `marker(i, n)` (1-based) is appended to every part when given, e.g. " (1/3)" for an X thread;
    the space it needs is reserved in each part. Raises ValueError if a single character cannot fit.
    """
    text = text.strip()
    if fits(text):
        return [text]
    parts = _split_raw(text, fits, reserve=marker(99, 99) if marker else "")
    if marker is None or len(parts) == 1:
        return parts
    return [part + marker(i, len(parts)) for i, part in enumerate(parts, start=1)]


def _split_raw(text: str, fits: Fits, reserve: str) -> list[str]:
    parts: list[str] = []
    rest = text
    while rest:
        if fits(rest + reserve):
            parts.append(rest)
            break
        cut = longest_prefix(rest, fits, reserve)
        if cut == 0:
            raise ValueError("a single character does not fit the platform limit")
        cut = safe_cut(rest, _best_break(rest[:cut])) or cut
        part, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if part:
            parts.append(part)
    return parts


X_MAX_WEIGHTED = 280


def fits_x(text: str) -> bool:
    """Within X's weighted limit (twitter-text v3). Short texts are settled without twitter-text's
    parse (its emoji scan is slow, and fitting an alert text asks many times): after NFC, as
    twitter-text counts, no code point weighs more than 2, and a URL (which needs an ASCII dot and
    at least four characters, "a.jp") weighs 23, at most 15 more than twice its length."""
    normalized = unicodedata.normalize("NFC", text)
    if 2 * len(normalized) + 15 * normalized.count(".") <= X_MAX_WEIGHTED:
        return True
    if _weighs_at_least(normalized) > X_MAX_WEIGHTED:
        return False
    return int(parse_tweet(text).weightedLength) <= X_MAX_WEIGHTED


# Code points that weigh at least 1 in twitter-text v3 and cannot share their weight with another of
# them in one emoji sequence: ASCII and full-width letters and digits, kana, CJK ideographs.
_WEIGHS_ONE = re.compile(r"[0-9A-Za-z\u3041-\u3096\u30a1-\u30fa\u3400-\u4dbf\u4e00-\u9fff"
                         r"\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")


def _weighs_at_least(normalized: str) -> int:
    """A lower bound of the weighted length, without twitter-text's parse: those code points in the
    whitespace-separated words that have no ASCII dot (a URL, which weighs 23 however long, needs one)."""
    return sum(len(_WEIGHS_ONE.findall(word)) for word in normalized.split() if "." not in word)
