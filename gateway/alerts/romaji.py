"""Readings of Japanese place names: romaji for languages written in Latin or Hangul, hiragana for やさしい日本語.

Sudachi (already loaded for the checks) splits a name into words and gives each word's reading in
katakana; pykakasi turns kana into Hepburn. Long vowels are written the way road signs and JMA's
English pages write them (Tōkyō → Tokyo: "ou"/"uu" folded, no macrons). A municipality's suffix is
hyphenated (木更津市 → Kisarazu-shi). Names are cached: an alert names the same few places again and again.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

# A municipality's suffix and its readings: 木更津市 is read as one word, then written Kisarazu-shi.
_SUFFIXES = {"市": ("シ",), "区": ("ク",), "町": ("マチ", "チョウ"), "村": ("ムラ", "ソン")}
_KANJI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\u3005\u30f6]")
# Readings Sudachi gets wrong in addresses (一丁目 is itchōme, not ichichōme).
_FIXES = (("イチチョウメ", "イッチョウメ"), ("ハチチョウメ", "ハッチョウメ"), ("ジュウチョウメ", "ジッチョウメ"))


@lru_cache(maxsize=1)
def _tokenizer() -> Any:
    from sudachipy import Dictionary

    return Dictionary(dict="core").create()


@lru_cache(maxsize=1)
def _kakasi() -> Any:
    import pykakasi

    return pykakasi.kakasi()  # type: ignore[no-untyped-call]


def warm_up() -> None:
    """Load the dictionaries now, so that the first alert in another language does not wait for them."""
    romaji("木更津市")


@lru_cache(maxsize=4096)
def _words(name: str) -> tuple[tuple[str, str], ...]:
    """(surface, katakana reading) per word."""
    from sudachipy import SplitMode

    words: list[tuple[str, str]] = []
    for m in _tokenizer().tokenize(name, SplitMode.C):
        if m.surface().startswith("丁目") and words:  # 一 + 丁目 is one word: itchōme
            surface, kana = words.pop()
            words.append((surface + m.surface(), kana + m.reading_form()))
        else:
            words.append((m.surface(), m.reading_form()))
    return tuple((surface, _fix(kana)) for surface, kana in words)


def _fix(reading: str) -> str:
    for wrong, right in _FIXES:
        reading = reading.replace(wrong, right)
    return reading


def reading(name: str) -> str:
    """The name's reading in hiragana (木更津市 → きさらづし)."""
    kana = "".join(r for _, r in _words(name))
    return "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in kana)


@lru_cache(maxsize=4096)
def romaji(name: str) -> str:
    """Hepburn romaji of a Japanese name, one capitalised word per dictionary word (相模湾・三浦半島 →
    Sagamiwan・Miura Hanto); "" when the name has nothing to read (already Latin)."""
    if not _needs_reading(name):
        return ""
    words = list(_words(name))
    suffix = ""
    last_surface, last_kana = words[-1]
    for kana in _SUFFIXES.get(name[-1], ()):
        if len(last_surface) > 1 and last_kana.endswith(kana) and len(last_kana) > len(kana):
            words[-1] = (last_surface[:-1], last_kana[:-len(kana)])
            suffix = _word_romaji(name[-1], kana).lower()
            break
    text = " ".join(w for w in (_word_romaji(s, k) for s, k in words) if w)
    text = text.replace(" ・ ", "・").replace("・ ", "・").replace(" ・", "・")
    return f"{text}-{suffix}" if suffix else text


def _word_romaji(surface: str, kana: str) -> str:
    if not kana.strip() or surface in "・、,":
        return surface.strip()
    hepburn = "".join(item["hepburn"] for item in _kakasi().convert(kana))
    folded = hepburn.replace("ou", "o").replace("uu", "u").replace("oo", "o")
    ascii_only = unicodedata.normalize("NFKD", folded)
    return ascii_only[:1].upper() + ascii_only[1:]


def _needs_reading(name: str) -> bool:
    return any(_KANJI.match(c) or "ぁ" <= c <= "ヶ" for c in name)


def with_romaji(name: str) -> str:
    """木更津市 (Kisarazu-shi): the Japanese name a resident sees on signs, and how to say it."""
    spoken = romaji(name)
    return f"{name} ({spoken})" if spoken else name


def with_furigana(name: str) -> str:
    """木更津市(きさらづし): やさしい日本語 writes a kanji name with its reading in parentheses."""
    return f"{name}({reading(name)})" if _KANJI.search(name) else name
