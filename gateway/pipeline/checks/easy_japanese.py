"""Readability of a やさしい日本語 version written by staff (issue 17): `review` findings with suggestions.

The rules are those the alert templates keep (tests/unit/test_alert_languages.py): short sentences
(at most 24 letters, readings in parentheses left out), one idea each (at most one 、), no honorific or
passive forms, easy words, and a reading in parentheses after every kanji (避難所(ひなんじょ)). They come
from guidance, not from a city's policy, and the clause says so. The check reads the version only
(`Message.language == "ja-easy"`, set by the engine when it checks translations).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from gateway.models import Finding, Severity
from gateway.pipeline.checks.context import Prepared

LANGUAGE = "ja-easy"
CLAUSE = ("やさしい日本語の書き方（出入国在留管理庁・文化庁「在留支援のためのやさしい日本語ガイドライン」）"
          "※市の運用方針の条項ではなく、読みやすさの目安です")
SENTENCE_MAX = 24  # visible letters: readings in parentheses and spaces left out

# Hard words and what to write instead (the guidelines' and JMA's やさしい日本語 wording).
EASY_WORDS: Mapping[str, str] = {
    "避難": "にげる",
    "直ちに": "すぐに",
    "速やかに": "すぐに",
    "至急": "すぐに",
    "実施": "します",
    "開催": "します・あります",
    "中止": "しません・ありません",
    "警戒": "気(き)をつける",
    "危険": "あぶない",
    "徒歩": "あるいて",
    "高台": "たかい ところ",
    "確認": "たしかめる・見(み)る",
    "余震": "あとから くる 地震(じしん)",
    "給水": "水(みず)を くばります",
}
# Honorific, humble and passive endings the guidelines avoid, with the plain form to use.
PLAIN_FORMS: Mapping[str, str] = {
    "いたします": "します", "いたしま": "します", "ございます": "あります・です", "申し上げ": "言(い)います",
    "おります": "います", "いただ": "〜て ください", "なさい": "〜て ください",
    "されました": "しました", "されます": "します", "されて": "して", "される": "する",
    "られました": "〜ました", "られます": "〜ます", "られて": "〜て", "られる": "〜る",
}
_SENTENCE_END = re.compile(r"(?<=[。！？!?])|\n")
_READING = re.compile(r"[（(][ぁ-ゖー・\s]+[)）]")
_KANJI = re.compile(r"[\u4e00-\u9fff々〆]+")


def check(ctx: Prepared) -> list[Finding]:
    if ctx.message.language != LANGUAGE:
        return []
    text = ctx.message.text
    read = _READING.sub("", text)  # 直(ただ)ちに is still 直ちに
    findings = [f for sentence in sentences(text) for f in _sentence_findings(ctx, sentence)]
    findings += [_review(ctx, "easy_japanese.difficult_word",
                         f"「{word}」はむずかしい言葉です。「{easy}」のように書きかえてください。")
                 for word, easy in EASY_WORDS.items() if word in read]
    findings += [_review(ctx, "easy_japanese.honorific",
                         f"「{form}」（敬語・受け身）はわかりにくい表現です。「{plain}」のような形にしてください。")
                 for form, plain in _forms(read)]
    bare = unread_kanji(text)
    if bare:
        shown = "、".join(f"「{word}」" for word in bare[:5]) + (" など" if len(bare) > 5 else "")
        findings.append(_review(ctx, "easy_japanese.reading",
                                f"{shown}に読み方がありません。漢字のあとに（ ）で読み方を書いてください"
                                f"（例: 避難所(ひなんじょ)）。"))
    return findings


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def visible(sentence: str) -> str:
    """The letters a reader reads: readings in parentheses and spaces left out."""
    return re.sub(r"\s", "", _READING.sub("", sentence))


def unread_kanji(text: str) -> list[str]:
    """Runs of kanji not followed by a reading in parentheses, each once, in order."""
    found: dict[str, None] = {}
    for match in _KANJI.finditer(text):
        if not _READING.match(text, match.end()):
            found.setdefault(match.group(), None)
    return list(found)


def _sentence_findings(ctx: Prepared, sentence: str) -> Iterator[Finding]:
    letters = len(visible(sentence))
    quoted = sentence if len(sentence) <= 30 else sentence[:29] + "…"
    if letters > SENTENCE_MAX:
        yield _review(ctx, "easy_japanese.sentence_length",
                      f"「{quoted}」は{letters}文字です。1つの文は{SENTENCE_MAX}文字までにして、"
                      "2つ以上の文に分けてください。")
    if sentence.count("、") > 1:
        yield _review(ctx, "easy_japanese.commas",
                      f"「{quoted}」は「、」が{sentence.count('、')}つあります。1つの文には1つのことだけを書き、"
                      "「、」は1つまでにしてください。")


def _forms(text: str) -> Iterator[tuple[str, str]]:
    """The forms found, a longer one hiding the shorter it contains (されました, not also される)."""
    seen: list[str] = []
    for form in sorted(PLAIN_FORMS, key=len, reverse=True):
        if form in text and not any(form in longer for longer in seen):
            seen.append(form)
            yield form, PLAIN_FORMS[form]


def _review(ctx: Prepared, rule: str, message: str) -> Finding:
    return ctx.finding(rule, Severity.REVIEW, CLAUSE, message)
