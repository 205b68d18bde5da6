"""Dates that contradict themselves (issue 13, accuracy): a date that names its year, with a weekday that is
not that date's — 「2026年12月5日（金）」 when 5 December 2026 is a Saturday — or a date no calendar has
(2月30日). Residents then come on the wrong day. A `review` finding says which day it is, so the author
corrects the date or the weekday. Only dates with their year (西暦, or 令和): a date without one could be any
year's."""

from __future__ import annotations

import re
from datetime import date

from gateway.models import Finding, Severity
from gateway.pipeline.checks.context import Prepared

WEEKDAYS = "月火水木金土日"
REIWA_BASE = 2018  # 令和元年 = 2019
# The normalised text (NFKC): half-width digits and parentheses. 「（月・祝）」 and 「（月曜日）」 are read too.
_DATED = re.compile(r"(?:(?P<year>\d{4})|令和(?P<reiwa>\d{1,2}|元))年\s*(?P<month>\d{1,2})月\s*(?P<day>\d{1,2})日"
                    r"\s*\(\s*(?P<weekday>[月火水木金土日])(?:曜日?)?(?:・[^)]{1,3})?\s*\)")


def _year(m: re.Match[str]) -> int:
    if m["year"]:
        return int(m["year"])
    return REIWA_BASE + (1 if m["reiwa"] == "元" else int(m["reiwa"]))


def check(ctx: Prepared) -> list[Finding]:
    if ctx.inp.generated:
        return []
    findings = []
    for field in ctx.fields:
        for m in _DATED.finditer(field.view.norm):
            year, month, day = _year(m), int(m["month"]), int(m["day"])
            try:
                actual = WEEKDAYS[date(year, month, day).weekday()]
            except ValueError:
                message = f"「{m.group()}」はない日付です。日付を確認してください。"
            else:
                if actual == m["weekday"]:
                    continue
                message = (f"{year}年{month}月{day}日は{actual}曜日です"
                           f"（「{month}月{day}日（{m['weekday']}）」と書かれています）。日付か曜日を確認してください。")
            findings.append(ctx.finding("accuracy.weekday", Severity.REVIEW, ctx.clause("accuracy", "rumour"),
                                        message, field=field, span=m.span()))
    return findings
