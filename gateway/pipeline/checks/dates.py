"""Dates that contradict themselves (issue 13, accuracy). Residents then come on the wrong day; a `review`
finding says what does not agree, so the author corrects it:

- a date that names its year, with a weekday that is not that date's — 「2026年12月5日（金）」 when 5 December
  2026 is a Saturday — or a date no calendar has (2月30日). A date without its year is read against the
  writer's day (`CheckInput.today`): 「12月5日（金）」 written in December 2026, when no 5 December from four
  months back to ten months ahead is a Friday. Without a day to read it against it is left alone, but
- two dates of the same month whose weekdays cannot both be right (「6月5日（水）」 and 「6月12日（金）」, or one
  date given two weekdays) — except in a correction, which quotes the wrong date beside the right one;
- an application deadline after the day of the event it is for (「日時：6月8日」, 「申込締切：6月20日」), or
  applications opening after their deadline (「受付開始：8月17日」, 「申込期限：8月7日」);
- a period that ends before it begins (「6月9日から6月3日まで」);
- a schedule that disagrees with itself (days against their count, a weekly rule against the next date, a
  last admission after closing, a postponement to an earlier day): `schedule.py`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta

from gateway.models import Finding, Severity
from gateway.pipeline.checks import schedule
from gateway.pipeline.checks.context import Prepared

WEEKDAYS = "月火水木金土日"
REIWA_BASE = 2018  # 令和元年 = 2019
# A date with its weekday, with or without its year (西暦 or 令和), in the normalised text (NFKC: half-width
# digits and parentheses). 「（月・祝）」 and 「（月曜日）」 are read too.
_DATED = re.compile(r"(?:(?:(?P<year>\d{4})|令和(?P<reiwa>\d{1,2}|元))年\s*)?(?<![\d/])"
                    r"(?P<month>\d{1,2})月\s*(?P<day>\d{1,2})日\s*\(\s*(?P<weekday>[月火水木金土日])(?:曜日?)?(?:・[^)]{1,3})?\s*\)")


def weekday_dated(text: str) -> bool:
    """Whether `text` gives a date with its weekday: the calendar judges those (`check`), not word statistics."""
    return _DATED.search(text) is not None


def _year(m: re.Match[str]) -> int | None:
    if m["year"]:
        return int(m["year"])
    if m["reiwa"]:
        return REIWA_BASE + (1 if m["reiwa"] == "元" else int(m["reiwa"]))
    return None


CORRECTION = re.compile(r"訂正|誤り|正しくは|[(\[【]\s*誤\s*[)\]】]|誤って|間違")
# 「申込締切：6月20日」「6月20日（金）必着」; 「日時：6月8日」「開催日 6月8日」.
_DEADLINE = re.compile(r"(?:申込|申し込み|締切|締め切り|〆切)(?!開始|受付開始)[^。\n]{0,8}?(?<![\d/])"
                       r"(?P<month>\d{1,2})月\s*(?P<day>\d{1,2})日")
# One day, not a period (「会期：6月1日～30日」 may take applications until its 20th).
_EVENT_DAY = re.compile(r"(?:日時|開催日|実施日|とき)\s*[:：]?\s*(?:(?:\d{4}|令和(?:\d{1,2}|元))年\s*)?"
                        r"(?P<month>\d{1,2})月\s*(?P<day>\d{1,2})日(?!\s*(?:\([^)]{1,6}\))?\s*(?:~|〜|～|から|-))")
_OPENS = re.compile(r"(?:受付開始|受け付け開始|募集開始|応募受付|申込受付)\s*[:：]?\s*"
                    r"(?P<month>\d{1,2})月\s*(?P<day>\d{1,2})日")
_CLOSES = re.compile(r"(?:締切|締め切り|期限|〆切)\s*[:：]?\s*(?P<month>\d{1,2})月\s*(?P<day>\d{1,2})日")
_PERIOD = re.compile(r"(?<![\d/])(?P<month>\d{1,2})月\s*(?P<day>\d{1,2})日(?:\s*\([^)]{1,6}\))?\s*(?:~|〜|～|から)\s*"
                     r"(?:(?P<month2>\d{1,2})月\s*)?(?P<day2>\d{1,2})日(?![間前後以])")


def check(ctx: Prepared) -> list[Finding]:
    if ctx.inp.generated:
        return []
    clause = ctx.clause("accuracy", "rumour")
    today = ctx.inp.today
    return [*ctx.findings_in_fields("accuracy.weekday", Severity.REVIEW, clause,
                                    lambda text: _wrong_weekdays(text, today)),
            *ctx.findings_in_fields("accuracy.dates", Severity.REVIEW, clause, _disagreeing_dates)]


# How far from the writer's day a date without its year is taken to be: a report of an event some months
# past, or an announcement up to ten months ahead. Where the window holds the day twice (two years), either
# weekday is accepted.
_BEFORE, _AHEAD = timedelta(days=120), timedelta(days=300)


def _wrong_weekdays(text: str, today: date | None = None) -> Iterator[tuple[tuple[int, int], str]]:
    """Dates whose weekday is not theirs (with their year, or near `today` without it), and dates no calendar has."""
    if today is None and "年" not in text:
        return
    for m in _DATED.finditer(text):
        year, month, day = _year(m), int(m["month"]), int(m["day"])
        if year is None:
            if today is not None:
                yield from _yearless(m, today)
            continue
        try:
            actual = WEEKDAYS[date(year, month, day).weekday()]
        except ValueError:
            yield m.span(), f"「{m.group()}」はない日付です。日付を確認してください。"
            continue
        if actual != m["weekday"]:
            yield m.span(), (f"{year}年{month}月{day}日は{actual}曜日です"
                             f"（「{month}月{day}日（{m['weekday']}）」と書かれています）。日付か曜日を確認してください。")


def _yearless(m: re.Match[str], today: date) -> Iterator[tuple[tuple[int, int], str]]:
    month, day = int(m["month"]), int(m["day"])
    days: list[date] = []
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if today - _BEFORE <= candidate <= today + _AHEAD:
            days.append(candidate)
    written = f"{m['month']}月{m['day']}日（{m['weekday']}）"
    if not days and (month, day) == (2, 29):  # no leap year near the writer's day
        year = today.year + (today.month > 2)
        yield m.span(), (f"作成日の{today.month}月{today.day}日から近い{year}年の2月には29日がありません"
                         f"（「{written}」）。日付を確認してください。")
        return
    if not days:  # 2月30日, 4月31日
        yield m.span(), f"「{m.group()}」はない日付です。日付を確認してください。"
        return
    if any(WEEKDAYS[d.weekday()] == m["weekday"] for d in days):
        return
    nearest = min(days, key=lambda d: abs(d - today))
    actual = f"{nearest.year}年{month}月{day}日は{WEEKDAYS[nearest.weekday()]}曜日です"
    yield m.span(), (f"{actual}（「{written}」と書かれています。年の書かれていない日付は、"
                     f"作成日の{today.month}月{today.day}日から近い日として読みました）。日付か曜日を確認してください。")


def _disagreeing_dates(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    yield from schedule.contradictions(text)
    if "月" not in text:  # no date: most posts' characters are not read by the patterns below
        return
    yield from _weekday_pairs(text)
    yield from _deadline_after_event(text)
    yield from _backward_periods(text)


def _weekday_pairs(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    """The first two dates of one month (and one year) whose weekdays cannot both be right."""
    if CORRECTION.search(text):
        return
    seen: dict[tuple[int | None, int], re.Match[str]] = {}
    for m in _DATED.finditer(text):
        key = (_year(m), int(m["month"]))
        first = seen.setdefault(key, m)
        if first is m:
            continue
        gap = int(m["day"]) - int(first["day"])
        if (WEEKDAYS.index(first["weekday"]) + gap) % 7 != WEEKDAYS.index(m["weekday"]):
            yield ((first.start(), m.end()),
                   f"「{_short(first)}」と「{_short(m)}」の曜日が合いません（{gap}日違いで"
                   f"{first['weekday']}曜日と{m['weekday']}曜日）。日付か曜日を確認してください。")
            return


def _deadline_after_event(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    """An application deadline after the event's day, in the same season (not next year's event)."""
    events = list(_EVENT_DAY.finditer(text))
    for deadline in _DEADLINE.finditer(text):
        for event in events:
            months = int(deadline["month"]) - int(event["month"])
            if 0 <= months <= 3 and (months, int(deadline["day"])) > (0, int(event["day"])):
                yield ((deadline.start(), deadline.end()),
                       f"申込の締切（{deadline['month']}月{deadline['day']}日）が、開催日（{event['month']}月"
                       f"{event['day']}日）より後になっています。締切か開催日を確認してください。")
                return
    for opens in _OPENS.finditer(text):
        for closes in _CLOSES.finditer(text):
            months = int(opens["month"]) - int(closes["month"])
            if 0 <= months <= 2 and (months, int(opens["day"])) > (0, int(closes["day"])):
                yield ((opens.start(), opens.end()),
                       f"受付の開始（{opens['month']}月{opens['day']}日）が締切（{closes['month']}月{closes['day']}日）"
                       "より後になっています。日付を確認してください。")
                return


def _backward_periods(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    """A period of one month that ends before it begins."""
    for m in _PERIOD.finditer(text):
        if (m["month2"] is None or m["month2"] == m["month"]) and int(m["day2"]) < int(m["day"]):
            yield (m.span(), f"「{m.group()}」は、終わりの日が始まりの日より前です。期間を確認してください。")


def _short(m: re.Match[str]) -> str:
    return f"{m['month']}月{m['day']}日（{m['weekday']}）"
