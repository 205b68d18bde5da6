"""A date that names its year and a weekday that is not that date's (or a date no calendar has) is an
`accuracy.weekday` review finding that says which day it is; dates without a year are left alone."""

from __future__ import annotations

import pytest

from gateway.models import Severity, Verdict
from tests.unit.test_checks_fixtures import check, rules


@pytest.mark.parametrize(("text", "says"), [
    ("市民まつりは2026年12月5日（金）に中央公園で開きます。", "2026年12月5日は土曜日です"),
    ("説明会は令和8年12月7日(火曜日)午後2時からです。", "2026年12月7日は月曜日です"),
    ("成人の日の式典は２０２７年１月１１日（火・祝）です。", "2027年1月11日は月曜日です"),
    ("申込は2027年2月30日（火）までです。", "ない日付です"),
])
def test_a_weekday_that_contradicts_its_date_is_reviewed(text: str, says: str) -> None:
    result = check(text)
    [found] = [f for f in result.findings if f.rule == "accuracy.weekday"]
    assert found.severity is Severity.REVIEW and says in found.message
    assert found.start is not None and text[found.start:found.end].endswith(("）", ")"))


@pytest.mark.parametrize("text", [
    "市民まつりは2026年12月5日（土）に中央公園で開きます。",
    "説明会は令和8年12月7日（月）午後2時からです。",
    "成人の日の式典は2027年1月11日（月・祝）です。",
    "市民まつりは12月5日（金）に開きます。",  # no year: it could be any year's
])
def test_a_date_that_agrees_with_its_weekday_passes(text: str) -> None:
    assert "accuracy.weekday" not in rules(check(text))
    assert check(text).verdict is Verdict.PASS, rules(check(text))
