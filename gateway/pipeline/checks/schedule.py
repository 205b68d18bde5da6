"""A schedule that contradicts itself (issue 13, accuracy), read by `dates.check` as `accuracy.dates`:

- days listed against their count: 「18日（土）・19日（日）の1日限り」, 「29日・30日・31日の2日間」,
  「3日～6日の3日間」;
- a weekly or monthly rule against the next date it gives: 「毎週日曜日…次回は8月2日（土）」, 「第2・第4土曜日…次回は
  第3土曜日」;
- a last admission after closing time: 「午後5時まで（最終入場は午後5時30分）」;
- a postponement to a day before the one postponed: 「2月16日（日）…延期の場合は2月15日（土）」;
- a time range against the length it states: 「午前10時～正午（約3時間）」;
- one opening time given twice, differently: 「受付　午前8時から」…「受付開始が午前10時」;
- a time range that ends before it begins, both halves with their 午前・午後: 「午前10時から午前9時まで」;
- a number of sessions against the dates listed for them: 「全4回」 over three dated lines, 「次の3日間」 over
  「日程：11月1日、8日」;
- a day counted back from the event that is not that many days back: 「7月18日（土）…開催日の1週間前の7月20日
  まで」.

Each finder reads the normalised text (NFKC) and yields (span, message in Japanese)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta

from gateway.pipeline.checks.text import sentence_begin

_KANJI_COUNT = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7}
_DAY = r"\d{1,2}日\s*(?:\([^)]{1,6}\))?"
_LISTED_DAYS = re.compile(rf"(?P<days>(?:{_DAY}\s*[・、,と]\s*)+{_DAY})\s*の\s*"
                          r"(?:(?P<n>\d|[一二三四五六七])日間|(?P<one>[1一]日限り))")
_RANGE_DAYS = re.compile(r"(?<!\d)(?P<a>\d{1,2})日\s*(?:\([^)]{1,6}\))?\s*(?:~|〜|～|から)\s*(?P<b>\d{1,2})日\s*"
                         r"(?:\([^)]{1,6}\))?\s*(?:まで)?\s*の\s*(?P<n>\d|[一二三四五六七])日間")
_WEEKLY = re.compile(r"毎週(?P<weekday>[月火水木金土日])曜")
_NEXT_DATE = re.compile(r"次回(?:は|の開催は|の開催日は)?[^。]{0,12}?(?P<month>\d{1,2})月\s*(?P<day>\d{1,2})日\s*\(\s*"
                        r"(?P<weekday>[月火水木金土日])")
_MONTHLY = re.compile(r"毎月(?P<ords>第\s*\d(?:\s*[・、,と及び]\s*第?\s*\d)*)\s*(?P<weekday>[月火水木金土日])曜")
_NEXT_ORDINAL = re.compile(r"次回[^。]{0,20}?第\s*(?P<n>\d)\s*(?P<weekday>[月火水木金土日])曜")
# A time; `named`: its 午前 or 午後 must be written (正午 names itself).
_TIME = (r"(?:(?P<{p}noon>正午)|(?P<{p}half>午前|午後){named}\s*(?P<{p}h>\d{{1,2}})時"
         r"(?:(?P<{p}m>\d{{1,2}})分|(?P<{p}han>半))?)")


def _time(p: str, *, named: bool = False) -> str:
    return _TIME.format(p=p, named="" if named else "?")



_CLOSING = re.compile(_time("c") + r"\s*まで[^。(]{0,6}?\(\s*(?:最終)?(?:入場|入館|入園|受付)"
                      r"(?:は|受付は|締切は)?\s*" + _time("l") + r"(?:まで)?\)?")
_POSTPONED = re.compile(r"延期|順延|予備日")
_MONTH_DAY = re.compile(r"(?<![\d/])(?P<month>\d{1,2})月\s*(?P<day>\d{1,2})日")
_SPAN = re.compile(_time("a") + r"\s*(?:~|〜|～|-|から)\s*" + _time("b") + r"(?:まで)?\s*"
                   r"[(（]\s*(?:約|およそ)?\s*(?:(?P<hours>\d{1,2})時間(?P<and_half>半)?(?P<minutes>\d{1,2})?分?|"
                   r"(?P<only_minutes>\d{2,3})分)(?:間|程度|ほど)?\s*[)）]")
_OPENS = re.compile(r"(?P<what>受付|開場|集合)(?:開始)?(?:時間|時刻)?\s*(?:は|が|:|:|\s)?\s*(?:当日)?\s*"
                    + "(?P<at>" + _time("t") + r")(?:から|より|〜|~|～|です|に|と|\s|$)")
_BACKWARD = re.compile(_time("a", named=True) + r"\s*(?:~|〜|～|から)\s*" + _time("b", named=True) + r"\s*まで")
# 「全4回」「次の3日間」「3日間開催」, and the dates given for them: one per bulleted line, or a list after 日程.
_SESSION_COUNT = re.compile(r"全\s*(?P<n>\d{1,2})\s*回|次の\s*(?P<d>\d|[一二三四五六七])\s*日間")
_DATE_LINE = re.compile(r"^[・\-●○◆◇■□▶*]\s*(?:第\d+回\s*[:：]?\s*)?(?:\d{1,2}月)?\d{1,2}日\s*"
                        r"(?:\([^)\n]{1,6}\))?[^\n]{0,30}$", re.MULTILINE)
_DATE_LIST = re.compile(r"(?:日程|開催日|日にち|とき)\s*[:：]\s*"
                        r"(?P<dates>\d{1,2}月\d{1,2}日(?:\s*\([^)]{1,6}\))?(?:\s*[、,・と]\s*(?:\d{1,2}月)?\d{1,2}日(?:\s*\([^)]{1,6}\))?)+)")
_DAYS_BEFORE = re.compile(r"(?:開催日|実施日|当日|イベント)の\s*(?:(?P<days>\d{1,2})日|(?P<weeks>\d|一|二)週間)前"
                          r"(?:の|、|\()?\s*(?:(?P<month>\d{1,2})月)?\s*(?P<day>\d{1,2})日")
_SESSIONS = re.compile(r"部|回目|日目|午前の|午後の|場合|平日|土日|土曜|日曜|祝日|団体|子ども|大人|一般")


def contradictions(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    if "日間" in text or "日限り" in text:
        yield from _day_counts(text)
    if "次回" in text:
        yield from _rule_and_next(text)
    if "まで" in text and ("時" in text or "正午" in text):
        yield from _last_admission(text)
    if _POSTPONED.search(text):
        yield from _earlier_postponement(text)
    if "時間" in text or "分" in text:
        yield from _stated_length(text)
    if "時" in text:
        yield from _opening_twice(text)
        yield from _backward_hours(text)
    if "回" in text or "日間" in text:
        yield from _sessions_and_dates(text)
    if "前" in text:
        yield from _days_before(text)


def _count(word: str) -> int:
    return int(word) if word.isdigit() else _KANJI_COUNT[word]


def _day_counts(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    for m in _LISTED_DAYS.finditer(text):
        listed = len(re.findall(r"\d{1,2}日", m["days"]))
        said = 1 if m["one"] else _count(m["n"])
        if listed != said:
            yield m.span(), (f"「{m.group()}」: 日付は{listed}日分書かれていますが、{said}日と書かれています。"
                             "日付か日数を確認してください。")
    for m in _RANGE_DAYS.finditer(text):
        days = int(m["b"]) - int(m["a"]) + 1
        if days > 0 and days != _count(m["n"]):
            yield m.span(), (f"「{m.group()}」: この期間は{days}日間です。日付か日数を確認してください。")


def _rule_and_next(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    weekly, following = _WEEKLY.search(text), _NEXT_DATE.search(text)
    if weekly and following and weekly["weekday"] != following["weekday"]:
        yield following.span(), (f"「{weekly.group()}日」と書かれていますが、次回は{following['month']}月"
                                 f"{following['day']}日（{following['weekday']}）となっています。日付か曜日を確認してください。")
    monthly, ordinal = _MONTHLY.search(text), _NEXT_ORDINAL.search(text)
    if monthly and ordinal and monthly["weekday"] == ordinal["weekday"]:
        ordinals = set(re.findall(r"\d", monthly["ords"]))
        if ordinal["n"] not in ordinals:
            yield ordinal.span(), (f"「{monthly.group()}」と書かれていますが、次回は「第{ordinal['n']}"
                                   f"{ordinal['weekday']}曜日」となっています。どちらかを確認してください。")


def _minutes(m: re.Match[str], p: str, half: str | None) -> int:
    if m[f"{p}noon"]:
        return 12 * 60
    hour = int(m[f"{p}h"])
    if (m[f"{p}half"] or half) == "午後" and hour < 12:
        hour += 12
    return hour * 60 + (30 if m[f"{p}han"] else int(m[f"{p}m"] or 0))


def _last_admission(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    for m in _CLOSING.finditer(text):
        closes = _minutes(m, "c", None)
        last = _minutes(m, "l", m["chalf"])  # 「午後5時まで（最終入場は4時30分）」: the afternoon
        if last > closes:
            yield m.span(), (f"「{m.group()}」: 最終の入場・受付が終わりの時刻より後になっています。"
                             "時刻を確認してください。")


def _earlier_postponement(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    """A date in the sentence of a postponement that comes before the post's first date (in the same month
    or the one before: a postponement into the next year is not judged)."""
    original = _MONTH_DAY.search(text)
    if original is None:
        return
    for keyword in _POSTPONED.finditer(text):
        begin = sentence_begin(text, keyword.start())
        end = text.find("。", keyword.end())
        for later in _MONTH_DAY.finditer(text, max(begin, original.end()), end if end >= 0 else len(text)):
            months = int(later["month"]) - int(original["month"])
            if -1 <= months <= 0 and (months, int(later["day"])) < (0, int(original["day"])):
                yield later.span(), (f"延期後の日付「{later.group()}」が、もとの日付「{original.group()}」より前です。"
                                     "日付を確認してください。")
                return


def _stated_length(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    """「午前10時～正午（約3時間）」: the range lasts 2 hours; more than half an hour apart is a slip."""
    for m in _SPAN.finditer(text):
        begins = _minutes(m, "a", None)
        ends = _minutes(m, "b", m["ahalf"])
        if m["bhalf"] is None and not m["bnoon"] and ends <= begins and ends + 12 * 60 > begins:
            ends += 12 * 60  # 「午前10時～2時」: the afternoon
        if ends <= begins:
            continue
        if m["only_minutes"]:
            said = int(m["only_minutes"])
        else:
            said = int(m["hours"]) * 60 + (30 if m["and_half"] else int(m["minutes"] or 0))
        if abs((ends - begins) - said) > 30:
            hours, minutes = divmod(ends - begins, 60)
            length = f"{hours}時間" + (f"{minutes}分" if minutes else "")
            yield m.span(), (f"「{m.group()}」: この時間帯は{length}です。時刻か時間の長さを確認してください。")


def _opening_twice(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    """「受付　午前8時から」 and later 「受付開始が午前10時」, with nothing (a session, a day, a group) to tell
    them apart."""
    first: dict[str, tuple[int, re.Match[str]]] = {}
    for m in _OPENS.finditer(text):
        begin = sentence_begin(text, m.start())
        if _SESSIONS.search(text, begin, min(len(text), m.end() + 8)):
            continue
        at = _minutes(m, "t", None)
        seen = first.get(m["what"])
        if seen is None:
            first[m["what"]] = (at, m)
        elif seen[0] != at:
            yield m.span("at"), (f"{m['what']}の時刻が「{seen[1]['at']}」と「{m['at']}」で食い違っています。"
                                 "時刻を確認してください。")
            return


def _backward_hours(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    """「受付時間：午前10時から午前9時まで」: both halves say the same 午前 or 午後, so the end cannot be the next
    half-day (「午後10時から午前2時まで」 runs past midnight)."""
    for m in _BACKWARD.finditer(text):
        if m["ahalf"] == m["bhalf"] and _minutes(m, "b", None) < _minutes(m, "a", None):  # 午後→午前: past midnight
            yield m.span(), f"「{m.group()}」は、終わりの時刻が始まりの時刻より前です。時刻を確認してください。"
            return


def _sessions_and_dates(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    """「全4回」 with three dates listed (one per bulleted line, or after 日程：). Two or more dates must be
    listed, so that 「全8回（毎週火曜日）」 with its first date alone is not read."""
    said = _SESSION_COUNT.search(text)
    if said is None:
        return
    count = int(said["n"]) if said["n"] else _count(said["d"])
    inline = _DATE_LIST.search(text, said.end())
    if inline is not None:
        listed = len(re.findall(r"\d{1,2}日", inline["dates"]))
        where = inline
    else:
        lines = list(_DATE_LINE.finditer(text, said.end()))
        listed = len(lines)
        where = lines[-1] if lines else said
    if listed >= 2 and listed != count:
        yield where.span(), (f"「{said.group()}」と書かれていますが、日程は{listed}回分（{listed}日）しか"
                             f"書かれていません。" if listed < count else
                             f"「{said.group()}」と書かれていますが、日程は{listed}日分書かれています。") + \
            "回数か日程を確認してください。"


def _days_before(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    """「7月18日（土）…開催日の1週間前の7月20日まで」: the day counted back from the event's (the post's first
    date) must be that many days before it."""
    m = _DAYS_BEFORE.search(text)
    event = _MONTH_DAY.search(text)
    if m is None or event is None or event.start() >= m.start():
        return
    days = int(m["days"]) if m["days"] else 7 * _count(m["weeks"])
    try:  # a leap year, so that 2月29日 is a day; only the month and day are compared
        held = date(2028, int(event["month"]), int(event["day"]))
    except ValueError:
        return
    expected = held - timedelta(days=days)
    month = int(m["month"]) if m["month"] else held.month
    if (month, int(m["day"])) != (expected.month, expected.day):
        yield m.span(), (f"開催日（{held.month}月{held.day}日）の{days}日前は{expected.month}月{expected.day}日ですが、"
                         f"「{m.group()}」と書かれています。日付を確認してください。")
