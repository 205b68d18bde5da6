"""A date that names its year and a weekday that is not that date's (or a date no calendar has) is an
`accuracy.weekday` review finding that says which day it is; a date without its year is read near the day it
is written, and left alone when that day is not known (a labelled corpus)."""

from __future__ import annotations

from datetime import date

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


@pytest.mark.parametrize(("written", "text", "says"), [
    (date(2026, 12, 1), "おはなし会は12月5日（金）に開きます。", "2026年12月5日は土曜日です"),
    (date(2026, 12, 1), "成人式は1月11日（日）です。", "2027年1月11日は月曜日です"),  # next year's, not this year's
    (date(2027, 1, 20), "12月5日（金）の市民まつりには、約3千人が来場しました。", "2026年12月5日は土曜日です"),
    (date(2026, 12, 1), "申込は2月29日（月）までです。", "2027年の2月には29日がありません"),
    (date(2026, 12, 1), "申込は4月31日（金）までです。", "「4月31日(金)」はない日付です"),
])
def test_a_date_without_its_year_is_read_near_the_day_it_is_written(written: date, text: str, says: str) -> None:
    [found] = [f for f in check(text, today=written).findings if f.rule == "accuracy.weekday"]
    assert found.severity is Severity.REVIEW and says in found.message, found.message
    assert "ない日付" in says or f"作成日の{written.month}月{written.day}日" in found.message


@pytest.mark.parametrize(("written", "text"), [
    (date(2026, 12, 1), "おはなし会は12月5日（土）に開きます。"),
    (date(2026, 12, 1), "成人式は1月11日（月・祝）です。"),
    (date(2027, 1, 20), "12月5日（土）の市民まつりには、約3千人が来場しました。"),
    (date(2026, 3, 1), "説明会は4月10日（金）です。"),  # 2026's; a year earlier it was a Thursday
    (date(2027, 12, 1), "申込は2月29日（火）までです。"),  # 2028 is a leap year
    (date(2026, 3, 1), "昨年12月6日（土）の訓練には500人が参加しました。"),  # both Decembers are near: 2025's fits
])
def test_a_date_without_its_year_that_agrees_with_a_near_year_passes(written: date, text: str) -> None:
    assert "accuracy.weekday" not in rules(check(text, today=written))


@pytest.mark.parametrize(("text", "says"), [
    ("健診は6月5日（水）と6月12日（金）に行います。", "曜日が合いません"),
    ("説明会は11月9日（土）です。当日、11月9日（日）は駐車場が使えません。", "曜日が合いません"),
    ("【親子観察会】\n・日時：6月8日（日）午前10時\n・申込締切：6月20日（金）必着", "締切（6月20日）が、開催日（6月8日）より後"),
    ("受付期間は6月9日から6月3日までです。", "終わりの日が始まりの日より前"),
    ("・申込受付開始:8月17日(月)\n・申込期限:8月7日(金)必着", "受付の開始（8月17日）が締切（8月7日）より後"),
    ("朝顔市は3月6日（土）・7日（日）・8日（月）の2日間です。", "日付は3日分書かれています"),
    ("菊まつりは11月1日(土)・2日(日)の1日限りです。", "日付は2日分"),
    ("工作教室は8月3日～6日の3日間、午前中に開きます。", "この期間は4日間"),
    ("ふれあい市は毎週土曜日に開いています。次回は3月8日(日)です。", "次回は3月8日（日）となっています"),
    ("図書館の移動文庫は毎月第1・第3水曜日に来ます。次回は第2水曜日の12日です。", "次回は「第2水曜日」"),
    ("郷土資料館は午前10時から午後4時まで(最終入館は午後4時30分)です。", "最終の入場・受付が終わりの時刻より後"),
    ("見学会は午前9時から正午まで（最終受付は午後1時）です。", "最終の入場・受付が終わりの時刻より後"),
    ("どんど焼きは1月18日(日)に行います。雨天の場合は1月11日(日)に延期します。", "延期後の日付「1月11日」"),
    ("観察会は午前10時～正午（約3時間）です。", "この時間帯は2時間"),
    ("講座は午後1時30分から4時（90分）です。", "この時間帯は2時間30分"),
    ("■ 受付　午前8時から\n■ スタート　午前9時\n当日は、受付開始が午前10時となります。", "「午前8時」と「午前10時」"),
    ("・日時：11月15日（日）\n・受付時間：午前10時から午前9時まで", "終わりの時刻が始まりの時刻より前"),
    ("今年のツアーは全4回です。\n・5月9日（土）\n・5月16日（土）\n・5月23日（土）\n各回とも午前10時集合。",
     "日程は3回分（3日）しか書かれていません"),
    ("観察会を次の3日間開催します。\n・日程：11月1日、8日\n・時間：午前9時30分～正午", "「次の3日間」"),
    ("【工作教室】7月18日（土）午前10時～、公民館で開催。申込は開催日の1週間前の7月20日までに電話で。",
     "7日前は7月11日ですが"),
])
def test_dates_that_contradict_each_other_are_reviewed(text: str, says: str) -> None:
    [found] = [f for f in check(text).findings if f.rule == "accuracy.dates"]
    assert found.severity is Severity.REVIEW and says in found.message, found.message


@pytest.mark.parametrize("text", [
    "健診は6月5日（木）と6月12日（木）に行います。",
    "年末年始は12月29日（月）から1月3日（土）まで休みます。",  # two months: the year may turn
    "【訂正】健診の日付を「6月5日（水）」としましたが、正しくは「6月5日（木）」です。",
    "・日時：6月28日（日）\n・申込締切：6月20日（土）必着",
    "・会期：6月1日～6月30日\n・申込締切：6月20日",  # applications during a period
    "・日時：1月12日（月・祝）\n・申込締切：12月20日（土）",  # last year's December
    "受付期間は6月3日から6月9日まで。工事は6月1日から10日間です。",
    "朝顔市は3月6日（土）・7日（日）の2日間です。",
    "工作教室は8月3日～6日の4日間です。",
    "ふれあい市は毎週土曜日に開いています。次回は3月7日(土)です。",
    "移動文庫は毎月第1・第3水曜日に来ます。次回は第3水曜日の19日です。",
    "郷土資料館は午前10時から午後4時まで(最終入館は午後3時30分)です。",
    "見学会は午前9時から正午まで（最終受付は11時30分）です。",
    "窓口は午後1時から午後5時まで（受付は正午から）です。",
    "どんど焼きは1月11日(日)に行います。雨天の場合は1月18日(日)に延期します。",
    "市民まつりは12月6日（日）。雨天順延（予備日は翌年1月10日）。",
    "観察会は午前10時～正午（約2時間）です。",
    "講座は午前9時30分から午後3時（約5時間半）です。",
    "一般の部の受付は午前9時から。子どもの部の受付は午前10時からです。",
    "■ 受付　午前8時から\n当日は、受付開始が午前8時となります。",
    "受付時間：午前9時から午前10時まで",
    "開館時間は午後10時から午前2時まで（星空観察会の特別開館）。",  # past midnight: 午後 to 午前
    "今年のツアーは全3回です。\n・5月9日（土）\n・5月16日（土）\n・5月23日（土）",
    "健康教室（全8回）\n・日時：10月6日（火）から毎週火曜日",  # one date and a rule: not a list
    "【工作教室】7月18日（土）開催。申込は開催日の1週間前の7月11日までに。",
    "【説明会】8月3日（月）開催。申込は開催日の3日前（7月31日）まで。",  # back into the month before
])
def test_dates_that_agree_pass(text: str) -> None:
    assert "accuracy.dates" not in rules(check(text))
