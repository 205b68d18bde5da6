"""Office-hours window against the Japanese calendar (2026 dates; 2026-11-21 is a Saturday)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from gateway.hours import TOKYO, describe, is_holiday, is_open, next_open
from gateway.policy import Hours, load_municipality

CONFIG = Path(__file__).resolve().parents[2] / "config" / "municipalities"

WEEKDAY = Hours(clause="test")  # Mon–Fri 8:30–17:15, closed on holidays, no year-end closure
KODAIRA = Hours(year_end_closure=True, clause="test")


def jst(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TOKYO)


def test_open_in_the_middle_of_a_weekday() -> None:
    at = jst(2026, 11, 24, 10, 0)  # Tuesday
    assert is_open(at, WEEKDAY)
    assert next_open(at, WEEKDAY) is at


def test_weekday_evening_opens_next_morning() -> None:
    assert next_open(jst(2026, 11, 25, 19, 0), WEEKDAY) == jst(2026, 11, 26, 8, 30)


def test_weekday_early_morning_opens_same_day() -> None:
    assert next_open(jst(2026, 11, 25, 6, 0), WEEKDAY) == jst(2026, 11, 25, 8, 30)


def test_saturday_opens_monday() -> None:
    assert not is_open(jst(2026, 11, 14, 10, 0), WEEKDAY)
    assert next_open(jst(2026, 11, 14, 10, 0), WEEKDAY) == jst(2026, 11, 16, 8, 30)


def test_national_holiday_on_monday_opens_tuesday() -> None:
    # 勤労感謝の日 2026-11-23 is a Monday; Saturday the 21st waits until Tuesday.
    assert is_holiday(jst(2026, 11, 23).date())
    assert not is_open(jst(2026, 11, 23, 10, 0), WEEKDAY)
    assert next_open(jst(2026, 11, 21, 12, 0), WEEKDAY) == jst(2026, 11, 24, 8, 30)


def test_holiday_counts_only_when_closed_on_holidays() -> None:
    open_on_holidays = Hours(closed_on_holidays=False, clause="test")
    assert is_open(jst(2026, 11, 23, 10, 0), open_on_holidays)


def test_substitute_holiday_is_closed() -> None:
    # 2026-05-03 憲法記念日 falls on Sunday → 振替休日 Wednesday 2026-05-06.
    assert is_holiday(jst(2026, 5, 6).date())
    assert next_open(jst(2026, 5, 5, 23, 0), WEEKDAY) == jst(2026, 5, 7, 8, 30)


def test_golden_week_opens_after_the_holidays() -> None:
    # Sat 5/2 → Sun 5/3, Mon 5/4, Tue 5/5, Wed 5/6 (substitute) are all closed.
    assert next_open(jst(2026, 5, 1, 18, 0), WEEKDAY) == jst(2026, 5, 7, 8, 30)


def test_kokumin_no_kyujitsu_is_closed() -> None:
    # 2026-09-22 lies between 敬老の日 and 秋分の日 and becomes 国民の休日.
    assert next_open(jst(2026, 9, 18, 18, 0), WEEKDAY) == jst(2026, 9, 24, 8, 30)


def test_year_end_closure_opens_on_january_4() -> None:
    # 2027-01-04 is a Monday, the first day after the closure.
    assert next_open(jst(2026, 12, 30, 10, 0), KODAIRA) == jst(2027, 1, 4, 8, 30)
    assert not is_open(jst(2026, 12, 29, 9, 0), KODAIRA)
    assert is_open(jst(2026, 12, 28, 9, 0), KODAIRA)


def test_year_end_closure_skips_to_next_weekday_after_january_3() -> None:
    # 2028-01-04 is a Tuesday; 2025-01-04 a Saturday → Monday 2025-01-06.
    assert next_open(jst(2027, 12, 30, 10, 0), KODAIRA) == jst(2028, 1, 4, 8, 30)
    assert next_open(jst(2024, 12, 27, 18, 0), KODAIRA) == jst(2025, 1, 6, 8, 30)


def test_without_year_end_closure_december_30_is_open() -> None:
    at = jst(2026, 12, 30, 10, 0)  # Wednesday
    assert is_open(at, WEEKDAY)
    assert next_open(at, WEEKDAY) is at


def test_boundaries_open_inclusive_close_exclusive() -> None:
    assert is_open(jst(2026, 11, 24, 8, 30), WEEKDAY)
    assert not is_open(jst(2026, 11, 24, 8, 30) - timedelta(microseconds=1), WEEKDAY)
    assert is_open(jst(2026, 11, 24, 17, 15) - timedelta(microseconds=1), WEEKDAY)
    assert not is_open(jst(2026, 11, 24, 17, 15), WEEKDAY)
    assert next_open(jst(2026, 11, 24, 17, 15), WEEKDAY) == jst(2026, 11, 25, 8, 30)
    opening = jst(2026, 11, 24, 8, 30)
    assert next_open(opening, WEEKDAY) is opening


def test_naive_datetime_is_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        is_open(datetime(2026, 11, 24, 10, 0), WEEKDAY)
    with pytest.raises(ValueError, match="aware"):
        next_open(datetime(2026, 11, 24, 10, 0), WEEKDAY)


def test_utc_input_is_judged_in_tokyo_and_returned_in_utc() -> None:
    # 2026-11-24 08:00 UTC = 17:00 JST Tuesday → open; 09:00 UTC = 18:00 JST → next day 8:30 JST.
    assert is_open(datetime(2026, 11, 24, 8, 0, tzinfo=UTC), WEEKDAY)
    result = next_open(datetime(2026, 11, 24, 9, 0, tzinfo=UTC), WEEKDAY)
    assert result == datetime(2026, 11, 24, 23, 30, tzinfo=UTC)
    assert result.utcoffset() == timedelta(0)


def test_utc_input_crossing_midnight_in_tokyo() -> None:
    # Friday 2026-11-20 23:00 UTC is Saturday 08:00 JST: the weekday is Tokyo's, not UTC's.
    assert not is_open(datetime(2026, 11, 20, 23, 40, tzinfo=UTC), WEEKDAY)


def test_other_fixed_offset_is_kept() -> None:
    new_york_winter = timezone(timedelta(hours=-5))
    result = next_open(datetime(2026, 11, 24, 5, 0, tzinfo=new_york_winter), WEEKDAY)  # 19:00 JST
    assert result.tzinfo is new_york_winter
    assert result == jst(2026, 11, 25, 8, 30)


def test_odd_configs_terminate() -> None:
    sunday_only = Hours(weekdays=(6,), open=time(0, 0), close=time(0, 1), year_end_closure=True, clause="t")
    result = next_open(jst(2026, 12, 27, 0, 1), sunday_only)
    assert result == jst(2027, 1, 10, 0, 0)  # 1/3 is a Sunday in the closure


def test_zushi_closes_at_five() -> None:
    zushi = load_municipality(CONFIG / "zushi.toml").hours
    assert is_open(jst(2026, 11, 24, 16, 59), zushi)
    assert not is_open(jst(2026, 11, 24, 17, 0), zushi)


def test_describe() -> None:
    assert describe(KODAIRA) == "平日 8:30〜17:15（祝日・12/29〜1/3を除く）"
    assert describe(WEEKDAY) == "平日 8:30〜17:15（祝日を除く）"
    every_day = Hours(weekdays=tuple(range(7)), closed_on_holidays=False, clause="t")
    assert describe(every_day) == "毎日 8:30〜17:15"
    odd = Hours(weekdays=(0, 2, 4), open=time(9, 0), close=time(12, 0), closed_on_holidays=False,
                year_end_closure=True, clause="t")
    assert describe(odd) == "月・水・金曜 9:00〜12:00（12/29〜1/3を除く）"
