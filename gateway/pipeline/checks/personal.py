"""Personal information (逗子 3-1(2)ア(イ), 厚木 7(3)エ).

Identifiers are read from runs of digits that may be full-width (NFKC), spaced or hyphenated
("1234 5678 9012"); a run is judged as a whole, so a 13-digit 法人番号 never yields a 12-digit
マイナンバー. Allowed: the municipality's own numbers and e-mail domains, public numbers
(0120, 0570, #7119, 110, 189 ...), *.lg.jp / *.go.jp, corporate numbers, donation accounts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from gateway.models import Finding, Severity
from gateway.pipeline.checks import identifiers as ids
from gateway.pipeline.checks.context import Field, Prepared
from gateway.pipeline.checks.names import name_findings

_NUMBER = re.compile(r"(?<![\d.,])\d(?:(?:[ \-]|\s-\s)?\d)*(?![.,]\d)")
_PASSPORT = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\s?\d{7}(?![0-9])")
_YUCHO = re.compile(r"記号\s*[:：]?\s*\d{5}.{0,6}?番号\s*[:：]?\s*\d{6,8}")
# From the start of a run of local-part characters only (the same matches: a later start in the run
# reaches the same "@"), so that a long run without one is scanned once, not once per character.
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@(?P<domain>[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)")
_MOBILE = re.compile(r"0[789]0\d{8}")
_WINDOW = 25


@dataclass(frozen=True)
class _Number:
    digits: str
    start: int
    end: int


def check(ctx: Prepared) -> list[Finding]:
    clause = ctx.clause("personal")
    findings: list[Finding] = []
    for fld in ctx.fields:
        findings.extend(_number_findings(ctx, fld, clause))
        findings.extend(_passport(ctx, fld, clause))
        findings.extend(_emails(ctx, fld, clause))
        findings.extend(name_findings(ctx, fld, clause))
    findings.extend(ctx.rule_findings("personal"))
    return findings


def numbers(text: str) -> Iterator[_Number]:
    for m in _NUMBER.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        yield _Number(digits, m.start(), m.end())


def _number_findings(ctx: Prepared, fld: Field, clause: str) -> Iterator[Finding]:
    text = fld.view.norm
    donation = _has(ctx, "donation_context", text)
    for number in numbers(text):
        before = text[max(0, number.start - _WINDOW):number.start]
        found = _classify(ctx, number, before, donation)
        if found is not None:
            rule, severity, message = found
            yield ctx.finding(rule, severity, clause, message, field=fld, span=(number.start, number.end))
    for m in _YUCHO.finditer(text):
        if not donation:
            yield ctx.finding("personal.bank_account", Severity.BLOCK, clause, _BANK, field=fld, span=m.span())


_MY_NUMBER = "マイナンバー（個人番号）が含まれています。個人番号は絶対に投稿しないでください。削除してください。"
_CARD = "クレジットカード番号が含まれています。削除してください。"
_BANK = ("個人の口座番号が含まれています。削除してください（団体の義援金・寄附の振込先であれば、"
         "義援金・寄附の受付先であることと団体名を明記してください）。")
_LICENCE = "運転免許証番号が含まれています。削除してください。"
_MOBILE_MSG = ("個人の携帯電話番号と思われる番号が含まれています。市の代表・担当課の電話番号に"
               "置き換えてください。")
_PENSION = "基礎年金番号・保険証の番号等が含まれています。削除してください。"


def _classify(ctx: Prepared, number: _Number, before: str,
              donation: bool) -> tuple[str, Severity, str] | None:
    digits = number.digits
    if len(digits) == 13 and ids.corporate_number_valid(digits):
        return None
    if donation and _has(ctx, "bank_context", before) and not _has(ctx, "my_number_strong_context", before):
        return None  # an organisation's published donation account (口座記号番号 00130-8-635289)
    if _has(ctx, "licence_context", before) and len(digits) == 12:
        return "personal.driver_licence", Severity.BLOCK, _LICENCE
    if len(digits) == 12 and _has(ctx, "my_number_strong_context", before):
        return "personal.my_number", Severity.BLOCK, _MY_NUMBER  # even with a mistyped check digit
    if len(digits) == 12 and ids.my_number_valid(digits):
        severity = Severity.BLOCK if _has(ctx, "my_number_context", before) else Severity.REVIEW
        return "personal.my_number", severity, _MY_NUMBER
    if 13 <= len(digits) <= 19 and ids.luhn_valid(digits) and (
            ids.card_issuer_prefix(digits) or _has(ctx, "card_context", before)):
        return "personal.card", Severity.BLOCK, _CARD
    if _has(ctx, "insurance_context", before) and 8 <= len(digits) <= 12:
        return "personal.insurance_number", Severity.BLOCK, _PENSION
    if 6 <= len(digits) <= 8 and _has(ctx, "bank_context", before) and not donation:
        return "personal.bank_account", Severity.BLOCK, _BANK
    if _MOBILE.fullmatch(digits) and not _own_number(ctx, digits):
        return "personal.mobile", Severity.BLOCK, _MOBILE_MSG
    return None


def _has(ctx: Prepared, list_name: str, text: str) -> bool:
    return any(word in text for word in ctx.lexicon.words(list_name))


def _own_number(ctx: Prepared, digits: str) -> bool:
    return any(re.sub(r"\D", "", n) == digits for n in ctx.municipality.contacts.phone_numbers)


def _passport(ctx: Prepared, fld: Field, clause: str) -> Iterator[Finding]:
    text = fld.view.norm
    for m in _PASSPORT.finditer(text):
        if _has(ctx, "passport_context", text[max(0, m.start() - _WINDOW):m.start()]):
            yield ctx.finding("personal.passport", Severity.BLOCK, clause,
                              "旅券（パスポート）番号が含まれています。削除してください。",
                              field=fld, span=m.span())


def _emails(ctx: Prepared, fld: Field, clause: str) -> Iterator[Finding]:
    for m in _EMAIL.finditer(fld.view.norm):
        domain = m.group("domain").lower()
        if public_domain(ctx, domain):
            continue
        if _matches_domain(domain, ctx.lexicon.words("personal_mail_domains")):
            yield ctx.finding("personal.email", Severity.BLOCK, clause,
                              "個人のメールアドレスと思われます。"
                              "担当課の公式アドレス（lg.jp 等）に置き換えてください。",
                              field=fld, span=m.span())


def public_domain(ctx: Prepared, domain: str) -> bool:
    own = tuple(d.lower() for d in ctx.municipality.contacts.email_domains)
    return domain.endswith((".lg.jp", ".go.jp")) or domain in ("lg.jp", "go.jp") or _matches_domain(domain, own)


def _matches_domain(domain: str, suffixes: frozenset[str] | tuple[str, ...]) -> bool:
    return any(domain == s or domain.endswith("." + s) for s in suffixes)
