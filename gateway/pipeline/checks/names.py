"""A private person's name tied to an address, age or phone number (personal information).

Names are SudachiPy person-name tokens (固有名詞・人名) followed by an honorific or forming a
family-plus-given name. A title before the name (市長, 議長, 講師, 先生...) marks a public role
and is not flagged: introducing a lecturer or the mayor is ordinary.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from gateway.models import Finding, Severity
from gateway.pipeline.checks.context import Field, Prepared
from gateway.pipeline.checks.text import Token

_HONORIFICS = frozenset({"さん", "様", "氏", "君", "くん", "ちゃん", "殿"})
_ADDRESS = re.compile(
    r"\d+丁目\d+(?:番地?)?(?:\d+号?)?|\d+番地(?:の?\d+)?|\d+番\d+号|(?<=[町村目])\d+-\d+(?:-\d+)?")
_AGE = re.compile(r"\d{1,3}\s*歳|[(（]\s*\d{1,3}\s*[)）]")
_PHONE = re.compile(r"0\d{1,4}-\d{1,4}-\d{3,4}|0\d{9,10}")
_NEAR = 40
_PERSON_HINT = re.compile(r"さん|様|氏|君|くん|ちゃん|殿|歳|才")
# The post says the person (or their guardian, family) agreed to be named:
# 「ご本人と保護者の了承を得てご紹介しています」.
# 「お二人には、お名前を掲載することについてご了承をいただいています」「ご本人の了解を得て掲載しています」.
_CONSENT = re.compile(r"(?:本人|保護者|家族|遺族|皆さん|皆様|皆さま|会員|お[一二三]人|受賞者|受章者|各位|方々)"
                      r"[^。]{0,24}?(?:了承|了解|同意|承諾|許可|快諾)(?:を|も)?(?:得|いただ|頂)"
                      r"|(?:了承|了解|同意|承諾)を(?:得|いただ|頂)いて(?:掲載|紹介|公表|ご紹介|お知らせ)"
                      r"|(?:了承|了解|同意|承諾)を得て(?:掲載|紹介|公表|ご紹介|お知らせ)")


def consented(text: str) -> bool:
    """Whether the text says the people it names agreed to be named."""
    return bool(_CONSENT.search(text))


def name_findings(ctx: Prepared, fld: Field, clause: str) -> Iterator[Finding]:
    view = fld.view
    # Only a field with a way of naming a person (honorific, age) and a detail to tie the name
    # to can fire; tokenising is skipped otherwise (it is most of a check's cost).
    if not _PERSON_HINT.search(view.norm):
        return
    if not (_ADDRESS.search(view.norm) or _PHONE.search(view.norm) or _AGE.search(view.norm)):
        return
    titles = ctx.lexicon.words("public_titles")
    for start, end in _private_names(view.tokens, titles):
        window = view.norm[start:min(len(view.norm), end + _NEAR)]
        sentence_end = view.sentence_of(start)[1]
        window = window[: max(0, sentence_end - start)]
        found = _tie(ctx, window)
        if found is not None:
            rule, severity, what = found
            yield ctx.finding(rule, severity, clause,
                              f"個人の氏名と{what}が結び付いています。本人の同意が確認できない限り、"
                              f"氏名か{what}を削除してください。", field=fld, span=(start, end))


def _tie(ctx: Prepared, window: str) -> tuple[str, Severity, str] | None:
    for m in _ADDRESS.finditer(window):
        if not _own_address(ctx, m.group()):
            return "personal.name_address", Severity.BLOCK, "住所"
    for m in _PHONE.finditer(window):
        digits = re.sub(r"\D", "", m.group())
        if not digits.startswith(("0120", "0800", "0570")) and not _own_phone(ctx, digits):
            return "personal.name_phone", Severity.BLOCK, "電話番号"
    if _AGE.search(window) and not consented(ctx.body.view.norm):
        return "personal.name_age", Severity.REVIEW, "年齢"
    return None


def _private_names(tokens: tuple[Token, ...], titles: frozenset[str]) -> Iterator[tuple[int, int]]:
    i = 0
    while i < len(tokens):
        if not _is_name(tokens[i]):
            i += 1
            continue
        j = i
        while j + 1 < len(tokens) and _is_name(tokens[j + 1]):
            j += 1
        honorific = j + 1 < len(tokens) and tokens[j + 1].surface in _HONORIFICS
        full_name = j > i
        titled = _titled(tokens, i, j, titles)
        if (honorific or full_name) and not titled:
            yield tokens[i].start, tokens[j].end
        i = j + 1


def _titled(tokens: tuple[Token, ...], first: int, last: int, titles: frozenset[str]) -> bool:
    """A title just before ("講師の", "市長 ") or just after ("先生", "市長") marks a public role."""
    around = [t.surface for t in tokens[max(0, first - 2):first]]
    if last + 1 < len(tokens):
        around.append(tokens[last + 1].surface)
    return any(s.endswith(title) for s in around for title in titles)


def _is_name(token: Token) -> bool:
    return len(token.pos) > 2 and token.pos[1] == "固有名詞" and token.pos[2] == "人名"


def _own_address(ctx: Prepared, found: str) -> bool:
    return any(found in a or a.endswith(found) for a in ctx.municipality.contacts.addresses)


def _own_phone(ctx: Prepared, digits: str) -> bool:
    return any(re.sub(r"\D", "", n) == digits for n in ctx.municipality.contacts.phone_numbers)
