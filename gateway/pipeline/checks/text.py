"""Text normalisation with an offset map back to the original, and SudachiPy tokens.

Checks match on the NFKC-normalised text (full-width digits and letters become ASCII, ㊙ becomes
秘) but report spans in the original text, so every normalised character remembers the original
range it came from. Zero-width characters are dropped and dashes between digits are unified to
"-" so that 090ー1234ー5678 and 090‐1234‐5678 read like 090-1234-5678.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Protocol

# Characters that only hide words from a matcher ("極\u200b秘").
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad")
# Dash-like characters, unified to "-" between digits; ー/ｰ only there, since it is a kana mark.
_DASHES = frozenset("‐‑‒–—―−－ーｰ─━﹣⁃")
_HALF_VOICED = frozenset("\uff9e\uff9f\u3099\u309a")
# NFKC turns the circled ㊙ stamp into a bare 秘; keep its stamp form visible to the matchers.
_SPECIAL = {"\u3299": "【秘】"}
_DIGIT_DASH = re.compile("(?<=\\d)[" + "".join(sorted(_DASHES)) + "](?= ?\\d)")
_SLOW_PATH = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u20d0-\u20ff\ufe20-\ufe2f\u3099\u309a\uff9e\uff9f"
                        "\u200b-\u200d\u2060\ufeff\u00ad\u3299]")
# Sudachi refuses inputs over 49,149 bytes; chunks stay well under that.
_CHUNK_CHARS = 12_000
TOKEN_SEP = "\x1f"


@dataclass(frozen=True, slots=True)
class Token:
    surface: str
    norm: str  # SudachiPy normalised form
    pos: tuple[str, ...]  # first four part-of-speech fields
    start: int  # offsets into the normalised text
    end: int


class Tokenizer(Protocol):
    def tokenize(self, text: str) -> Sequence[Token]: ...


@dataclass(frozen=True)
class TextView:
    """One field's text: original, normalised, offset map, and (lazily) tokens."""

    original: str
    norm: str
    starts: tuple[int, ...]  # per normalised char: original start offset
    ends: tuple[int, ...]  # per normalised char: original end offset
    tokenizer: Tokenizer

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a normalised [start, end) to the original text."""
        if not self.norm:
            return 0, 0
        start = min(max(start, 0), len(self.norm) - 1)
        end = min(max(end, start + 1), len(self.norm))
        return self.starts[start], self.ends[end - 1]

    @cached_property
    def tokens(self) -> tuple[Token, ...]:
        return tuple(self.tokenizer.tokenize(self.norm))

    @cached_property
    def token_string(self) -> str:
        """Normalised token forms joined by TOKEN_SEP, with a leading and trailing separator."""
        return TOKEN_SEP + TOKEN_SEP.join(t.norm for t in self.tokens) + TOKEN_SEP

    @cached_property
    def _token_offsets(self) -> tuple[int, ...]:
        offsets, pos = [], 1
        for token in self.tokens:
            offsets.append(pos)
            pos += len(token.norm) + 1
        return tuple(offsets)

    def token_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) in token_string to a normalised-text span."""
        offsets = self._token_offsets
        first = max(bisect.bisect_right(offsets, start) - 1, 0)
        last = max(bisect.bisect_right(offsets, max(end - 1, start)) - 1, first)
        return self.tokens[first].start, self.tokens[last].end

    @cached_property
    def sentences(self) -> tuple[tuple[int, int], ...]:
        """Sentence ranges in the normalised text (split at 。！？!? and line breaks)."""
        ranges, begin = [], 0
        for i, ch in enumerate(self.norm):
            if ch in "。!?\n":
                if i + 1 > begin:
                    ranges.append((begin, i + 1))
                begin = i + 1
        if begin < len(self.norm):
            ranges.append((begin, len(self.norm)))
        return tuple(ranges)

    @cached_property
    def _sentence_begins(self) -> tuple[int, ...]:
        return tuple(begin for begin, _ in self.sentences)

    def sentence_of(self, pos: int) -> tuple[int, int]:
        """The sentence holding `pos`: a bisection (a rule firing in each of 10,000 one-line
        sentences asked 10,000 times, and a scan made that seconds)."""
        index = bisect.bisect_right(self._sentence_begins, pos) - 1
        if index >= 0:
            begin, end = self.sentences[index]
            if begin <= pos < end:
                return begin, end
        return 0, len(self.norm)


def normalise(text: str) -> tuple[str, list[int], list[int]]:
    """NFKC per character cluster, keeping for each output char the original range it came from."""
    if not _SLOW_PATH.search(text):
        # Usual case: no combining marks or invisible characters, so each character normalises
        # on its own (a cached table), and when none expands (㍻ -> 平成) the map is the identity.
        norm = text.translate(_NFKC_TABLE)
        if len(norm) == len(text):
            return _DIGIT_DASH.sub("-", norm), list(range(len(text))), list(range(1, len(text) + 1))
    return _normalise_clusters(text)


def _normalise_clusters(text: str) -> tuple[str, list[int], list[int]]:
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        # A base character and its combining marks (ｶﾞ, か\u3099) normalise together.
        while j < n and (text[j] in _HALF_VOICED or unicodedata.combining(text[j])):
            j += 1
        cluster = text[i:j]
        if cluster not in _INVISIBLE:
            piece = _SPECIAL.get(cluster) or _nfkc(cluster)
            out.extend(piece)
            starts.extend([i] * len(piece))
            ends.extend([j] * len(piece))
        i = j
    _unify_dashes(out)
    return "".join(out), starts, ends


@lru_cache(maxsize=8192)
def _nfkc(cluster: str) -> str:
    return unicodedata.normalize("NFKC", cluster)


class _NfkcTable(dict[int, str]):
    """`str.translate` table filled on demand with each character's NFKC form."""

    def __missing__(self, codepoint: int) -> str:
        value = self[codepoint] = _nfkc(chr(codepoint))
        return value


_NFKC_TABLE = _NfkcTable()


def _unify_dashes(chars: list[str]) -> None:
    for k in range(1, len(chars) - 1):
        if chars[k] in _DASHES and chars[k - 1].isdigit() and _next_digit(chars, k + 1):
            chars[k] = "-"


def _next_digit(chars: list[str], k: int) -> bool:
    # "090 ー 1234" also counts: skip one space after the dash.
    if k < len(chars) and chars[k] == " ":
        k += 1
    return k < len(chars) and chars[k].isdigit()


def view(text: str, tokenizer: Tokenizer) -> TextView:
    norm, starts, ends = normalise(text)
    return TextView(text, norm, tuple(starts), tuple(ends), tokenizer)


class SudachiTokenizer:
    """SudachiPy mode C; the dictionary is loaded once per process (about 0.2 s)."""

    def __init__(self) -> None:
        from sudachipy import Dictionary, SplitMode

        self._dict = Dictionary()
        # SudachiPy 0.7 names it `tokenizer`; 0.6 (which GiNZA 5 requires) only has `create`.
        make = getattr(self._dict, "tokenizer", None) or self._dict.create
        self._tok = make(mode=SplitMode.C)
        self._pos: dict[int, tuple[str, ...]] = {}

    def tokenize(self, text: str) -> Sequence[Token]:
        tokens: list[Token] = []
        pos_cache = self._pos
        for offset, chunk in _chunks(text):
            for m in self._tok.tokenize(chunk):
                pos_id = m.part_of_speech_id()
                pos = pos_cache.get(pos_id)
                if pos is None:
                    pos = pos_cache[pos_id] = tuple(self._dict.pos_of(pos_id)[:4])
                begin, end = m.begin(), m.end()
                tokens.append(Token(chunk[begin:end], m.normalized_form(), pos, offset + begin, offset + end))
        return tokens


def sentence_begin(text: str, pos: int) -> int:
    """Where the sentence holding `pos` begins: after the last 「。」 or line break before it (for finders that
    read a plain string; `TextView.sentence_of` answers the same for a view)."""
    return max(text.rfind("。", 0, pos), text.rfind("\n", 0, pos)) + 1


def _chunks(text: str) -> list[tuple[int, str]]:
    if len(text) <= _CHUNK_CHARS:
        return [(0, text)]
    chunks, begin = [], 0
    while begin < len(text):
        end = min(begin + _CHUNK_CHARS, len(text))
        cut = max(text.rfind("\n", begin, end), text.rfind("。", begin, end))
        if end < len(text) and cut > begin:
            end = cut + 1
        chunks.append((begin, text[begin:end]))
        begin = end
    return chunks
