"""Office-hours window: weekdays, Japanese national holidays, the 12/29–1/3 year-end closure.

Pure functions over `gateway.policy.Hours`. Times are judged in Asia/Tokyo whatever the input's
zone; results come back in the input's zone. Routine deliveries outside the window are held
until `next_open`; the emergency lane never asks.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

from gateway.policy import Hours

TOKYO = ZoneInfo("Asia/Tokyo")

# A valid Hours has at least one weekday, so an open day comes within a few weeks even after
# holidays and the year-end closure; the bound only guards against a calendar that never opens.
_MAX_DAYS_AHEAD = 366

_WEEKDAY_NAMES = "月火水木金土日"
_WORKWEEK = (0, 1, 2, 3, 4)


@functools.lru_cache(maxsize=16)
def _holidays_of(year: int) -> frozenset[date]:
    """National holidays of one year, substitute holidays and 国民の休日 included."""
    return frozenset(holidays.country_holidays("JP", years=year))


def is_holiday(day: date) -> bool:
    return day in _holidays_of(day.year)


def is_year_end(day: date) -> bool:
    """12/29 – 1/3, the closure of Japanese local government offices."""
    return (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)


def is_open_day(day: date, hours: Hours) -> bool:
    if day.weekday() not in hours.weekdays:
        return False
    if hours.closed_on_holidays and is_holiday(day):
        return False
    return not (hours.year_end_closure and is_year_end(day))


def is_open(at: datetime, hours: Hours) -> bool:
    """Whether `at` falls in the window; `close` itself is already closed."""
    local = _to_tokyo(at)
    return is_open_day(local.date(), hours) and hours.open <= local.time() < hours.close


def next_open(at: datetime, hours: Hours) -> datetime:
    """`at` itself when open, else the next opening instant, in `at`'s time zone."""
    local = _to_tokyo(at)
    if is_open(local, hours):
        return at
    day = local.date()
    if local.time() >= hours.open:
        day += timedelta(days=1)
    try:
        for _ in range(_MAX_DAYS_AHEAD):
            if is_open_day(day, hours):
                return datetime.combine(day, hours.open, tzinfo=TOKYO).astimezone(at.tzinfo)
            day += timedelta(days=1)
    except OverflowError:  # the calendar ends at 9999-12-31
        pass
    raise ValueError(f"no open day within {_MAX_DAYS_AHEAD} days of {at.isoformat()}")


def describe(hours: Hours) -> str:
    """Japanese summary for staff, e.g. 「平日 8:30〜17:15（祝日・12/29〜1/3を除く）」."""
    days = _describe_days(hours.weekdays)
    window = f"{_hm(hours.open)}〜{_hm(hours.close)}"
    closures = ((hours.closed_on_holidays, "祝日"), (hours.year_end_closure, "12/29〜1/3"))
    excluded = [label for closed, label in closures if closed]
    suffix = f"（{'・'.join(excluded)}を除く）" if excluded else ""
    return f"{days} {window}{suffix}"


def _describe_days(weekdays: tuple[int, ...]) -> str:
    ordered = tuple(sorted(set(weekdays)))
    if ordered == _WORKWEEK:
        return "平日"
    if ordered == tuple(range(7)):
        return "毎日"
    return "・".join(_WEEKDAY_NAMES[d] for d in ordered) + "曜"


def _hm(value: time) -> str:
    return f"{value.hour}:{value.minute:02d}"


def _to_tokyo(at: datetime) -> datetime:
    if at.tzinfo is None or at.tzinfo.utcoffset(at) is None:
        raise ValueError("a time zone-aware datetime is required (naive datetimes are ambiguous)")
    return at.astimezone(TOKYO)
