"""Platform-neutral text helpers used by every adapter's `render()`, and X's weighted length.

Each platform measures text differently (X: twitter-text weighted length, LINE: UTF-16 code
units, YouTube: bytes), so the fitting helpers take a `fits(text) -> bool` predicate instead of
a number. Cuts fall only on extended grapheme cluster boundaries (Unicode UAX #29, via `regex`'s
`\\X`): flags, keycaps, ZWJ emoji, skin tones, kanji with an ideographic variation selector and
half-width kana with their sound marks (ﾊﾟ) are never split, whatever the limit.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from math import floor

import regex
from twitter_text.config import config as twitter_text_config
from twitter_text.extract_urls import extract_urls_with_indices
from twitter_text.regexp.emoji import emoji as _EMOJI

from gateway.models import Message

ELLIPSIS = "…"

Fits = Callable[[str], bool]

# Break preferences when splitting, best first: paragraph, line, Japanese/Latin sentence end, space.
_BREAKS: tuple[str, ...] = ("\n\n", "\n", "。", "！", "？", "!", "?", "、", " ", "　")


def share_url(message: Message) -> str | None:
    """The URL of the shared post or page, exactly as the checks saw it (it is published unchanged)."""
    return message.share.url if message.share is not None else None


def post_urls(message: Message, *, with_share: bool = True) -> list[str]:
    """The URLs a post carries after its text: the link, then the shared URL (each once)."""
    urls = [(message.link or "").strip(), (share_url(message) or "") if with_share else ""]
    return [url for i, url in enumerate(urls) if url and url not in urls[:i]]


# A post on X, by any of its URL forms: x.com or twitter.com (www., mobile.), a handle or i/web.
_X_POST_URL = re.compile(
    r"https?://(?:www\.|mobile\.)?(?:x|twitter)\.com/(?:i/web|i|[A-Za-z0-9_]{1,15})/status/([0-9]{1,19})"
    r"(?:[/?#][^\s]*)?", re.IGNORECASE)


def quoted_post_id(message: Message) -> str | None:
    """The id of the X post a share quotes, when the shared URL is one (else None: the URL is posted)."""
    url = share_url(message)
    match = _X_POST_URL.fullmatch(url) if url else None
    return match.group(1) if match else None


def compose_text(message: Message, *, with_share: bool = True) -> str:
    """The body as posted: the text, then the link and the shared URL, each on its own line unless
    the text already has it. `with_share=False` when the platform carries the share otherwise (an X quote)."""
    text = message.text.strip()
    for url in post_urls(message, with_share=with_share):
        if url not in text:
            text = f"{text}\n{url}"
    return text


YOUTUBE_MAX_TITLE = 100  # characters
YOUTUBE_MAX_DESCRIPTION_BYTES = 5_000  # UTF-8


def youtube_title(source: str) -> str:
    """A video title before any cut: one line, without `<` and `>` (YouTube refuses them)."""
    return " ".join(source.replace("<", "").replace(">", "").split())


def youtube_description(text: str, link: str | None) -> tuple[str, str]:
    """A video description before any cut, as (body, tail): `<`/`>` become their full-width forms (YouTube
    refuses them; the meaning stays) and the link, unless the text has it, follows on its own line."""
    body = text.strip().replace("<", "＜").replace(">", "＞")
    link = (link or "").strip()
    return body, f"\n{link}" if link and link not in body else ""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (LINE counts text this way; astral characters count 2)."""
    return len(text.encode("utf-16-le")) // 2


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


_GRAPHEME = regex.compile(r"\X")


def grapheme_ends(text: str, upto: int | None = None) -> Iterator[int]:
    """The end of each grapheme cluster of `text`, in order; with `upto`, only as far as needed to pass it.

    A boundary depends only on the code points before it and the one after it (UAX #29), so a
    scan that stops one code point past `upto` still places every boundary up to `upto` exactly.
    """
    end = len(text) if upto is None else min(len(text), upto + 1)
    for match in _GRAPHEME.finditer(text, 0, end):
        yield match.end()


def safe_cut(text: str, index: int) -> int:
    """The largest grapheme cluster boundary <= index: a cut there splits no character."""
    index = max(0, min(index, len(text)))
    if index in (0, len(text)):
        return index
    best = 0
    for end in grapheme_ends(text, index):
        if end > index:
            break
        best = end
    return best


def cut_graphemes(text: str, limit: int) -> str:
    """At most `limit` code points of `text`, cut on a grapheme boundary (for fields counted in characters)."""
    return text[:safe_cut(text, limit)]


def longest_prefix(text: str, fits: Fits, suffix: str = "") -> int:
    """The largest grapheme boundary `n` with `fits(text[:n] + suffix)`; 0 when even the suffix alone does not fit.

    The search runs over whole grapheme clusters (a prefix ending inside a ZWJ emoji can weigh more
    than the whole emoji, so cutting code points would not even be monotonic). It gallops up from
    64 clusters first, so that a 20,000-character text is never segmented or measured whole to find
    the few hundred characters that fit (twitter-text takes ~0.1 s for it, on the event loop).
    """
    ends: list[int] = [0]
    clusters = grapheme_ends(text)
    low, high, probe = 0, None, 64
    while high is None:
        ends.extend(islice(clusters, probe + 1 - len(ends)))
        if len(ends) <= probe:  # the whole text is shorter than the probe
            high = len(ends) - 1
        elif fits(text[:ends[probe]] + suffix):
            low, probe = probe, probe * 2
        else:
            high = probe - 1
    while low < high:
        mid = (low + high + 1) // 2
        if fits(text[:ends[mid]] + suffix):
            low = mid
        else:
            high = mid - 1
    return ends[low]


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


# --- X: twitter-text v3 weighted length ------------------------------------------------------------

X_CONFIG = twitter_text_config["version3"]
X_MAX_WEIGHTED: int = X_CONFIG["max_weighted_tweet_length"]
_X_SCALE: int = X_CONFIG["scale"]
_X_URL_WEIGHT: int = X_CONFIG["transformed_url_length"] * _X_SCALE
_X_LIGHT: tuple[tuple[int, int], ...] = tuple((r["start"], r["end"]) for r in X_CONFIG["ranges"])
# twitter-text's invalid characters: a text holding any of them is not a valid post.
X_INVALID = re.compile("[\ufffe\ufeff\uffff]")


@dataclass(frozen=True)
class XLength:
    """twitter-text's `parseTweet` result (ranges in UTF-16 code units, as twitter-text gives them)."""

    weighted_length: int
    valid: bool
    permillage: int
    valid_range_end: int
    display_range_end: int


def _x_weight(char: str) -> int:
    code = ord(char)
    if code < len(_X_BMP_WEIGHTS):
        return _X_BMP_WEIGHTS[code]
    return _X_SCALE if any(start <= code <= end for start, end in _X_LIGHT) else X_CONFIG["default_weight"]


_X_BMP_WEIGHTS = bytes(_X_SCALE if any(start <= code <= end for start, end in _X_LIGHT) else X_CONFIG["default_weight"]
                       for code in range(0x10000))
# Code points that are never part of an emoji sequence in twitter-text's emoji pattern (ASCII, Latin
# letters, CJK punctuation but 〰 and 〽, kana, ideographs, full- and half-width forms). An emoji match
# is a run of other code points, after at most one keycap base (0-9, #, *): only those runs are scanned,
# because the pattern is slow (about 4 ms over 300 characters of Japanese).
_MAYBE_EMOJI = re.compile(r"[0-9#*]?[^\t\n\r\x20-\x7e\u00a0-\u00a8\u00aa-\u00ad\u00af-\u02ff\u3000-\u302f"
                          r"\u3031-\u303c\u303e-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff01-\uffef]+")


def x_emojis(normalized: str) -> dict[int, int]:
    """twitter-text's emoji sequences of an NFC text: start index -> end index (code points)."""
    return {m.start(): m.end() for run in _MAYBE_EMOJI.finditer(normalized)
            for m in _EMOJI.finditer(normalized, run.start(), run.end())}


@lru_cache(maxsize=256)  # the checks, the preview and the renderer ask about the same text
def x_length(text: str) -> XLength:
    """X's weighted length and validity: the one implementation the gateway uses (render, sandbox, console).

    As twitter-text's reference implementations count (checked against its conformance suite,
    tests/unit/test_x_conformance.py): NFC first, every URL 23, an emoji sequence 2, other code
    points 1 or 2 by range; U+FFFE, U+FEFF and U+FFFF make a text invalid. Unlike twitter-text-parser
    (whose URL and emoji extractors this reuses), CR LF is not folded into one LF: it counts 2.
    """
    normalized = unicodedata.normalize("NFC", text)
    urls = {e["indices"][0]: e["indices"][1] for e in extract_urls_with_indices(normalized)}
    emojis = x_emojis(normalized)
    weighted, valid, last_valid, index = 0, True, 0, 0
    while index < len(normalized):
        if index in urls:
            weighted, index = weighted + _X_URL_WEIGHT, urls[index] - 1
        elif index in emojis:
            weighted, index = weighted + X_CONFIG["default_weight"], emojis[index] - 1
        else:
            weighted += _x_weight(normalized[index])
        valid = valid and not X_INVALID.match(normalized, index)
        if valid and weighted <= X_MAX_WEIGHTED * _X_SCALE:
            last_valid = index
        index += 1
    length = weighted // _X_SCALE
    offset = utf16_len(text) - utf16_len(normalized)
    return XLength(
        weighted_length=length, valid=valid and 0 < length <= X_MAX_WEIGHTED,
        permillage=floor(length / X_MAX_WEIGHTED * 1000),
        valid_range_end=utf16_len(normalized[:last_valid + 1]) - 1 + offset,
        display_range_end=max(utf16_len(text) - 1, 0),
    )


def x_clean(text: str) -> str:
    """The text without twitter-text's invalid characters (a stray byte-order mark, noncharacters),
    which would make X refuse the whole post; they carry no meaning in a message."""
    return X_INVALID.sub("", text)


def fits_x(text: str) -> bool:
    """Within X's weighted limit once cleaned (`x_clean`, as `render_x` sends it). Short texts are
    settled without the full parse (its emoji scan is slow, and fitting an alert text asks many
    times): after NFC no code point weighs more than 2, and a URL (which needs an ASCII dot and at
    least four characters, "a.jp") weighs 23, at most 15 more than twice its length."""
    normalized = unicodedata.normalize("NFC", x_clean(text))
    if 2 * len(normalized) + 15 * normalized.count(".") <= X_MAX_WEIGHTED:
        return True
    if _weighs_at_least(normalized) > X_MAX_WEIGHTED:
        return False
    return x_length(normalized).weighted_length <= X_MAX_WEIGHTED


# Code points that weigh at least 1 in twitter-text v3 and cannot share their weight with another of
# them in one emoji sequence: ASCII and full-width letters and digits, kana, CJK ideographs.
_WEIGHS_ONE = re.compile(r"[0-9A-Za-z\u3041-\u3096\u30a1-\u30fa\u3400-\u4dbf\u4e00-\u9fff"
                         r"\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")


def _weighs_at_least(normalized: str) -> int:
    """A lower bound of the weighted length, without twitter-text's parse: those code points in the
    whitespace-separated words that have no ASCII dot (a URL, which weighs 23 however long, needs one)."""
    return sum(len(_WEIGHS_ONE.findall(word)) for word in normalized.split() if "." not in word)
