"""Issue 11: what an alert means, and that the post says exactly that — never an order for a lifting.

CAP documents are written here from a template (the project's own fixtures), one table row per case
of the standard; JMA cases use the files under tests/fixtures/alerts.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.alerts import dry_run, parse_alert, parse_document, plan_for
from gateway.alerts.freshness import age_text, hold_for
from gateway.alerts.jma_weather import ended_warning
from gateway.alerts.route import Narrowed, Refusal, narrow
from gateway.alerts.templates import municipality_word, when
from gateway.errors import InputError
from gateway.policy import Municipality, Policies, load_policies
from tests.alertdocs import EARLIER, SENT, cap, info, json_alert

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "alerts"
NOW = SENT + timedelta(minutes=2)

# What only an order or a warning in force says.
ORDER_WORDS = ("を発令しました", "避難してください", "命を守る行動", "身の安全を確保", "が発表されました")


@pytest.fixture(scope="module")
def policies() -> Policies:
    return load_policies(ROOT / "config" / "municipalities")


def city(policies: Policies, municipality_id: str) -> Municipality:
    found = policies.get(municipality_id)
    assert found is not None
    return found




def x_texts(raw: bytes, municipality: Municipality, now: datetime = NOW) -> list[str]:
    texts = []
    for alert in parse_document(raw):
        plan = plan_for(alert, municipality, now=now)
        texts += [p.text for p in plan.posts if p.skip_reason is None and p.platform.value == "x"]
    return texts


# -- the meaning of a CAP message ---------------------------------------------------------------

@pytest.mark.parametrize(("raw", "action", "mark", "words"), [
    (cap(info(response="AllClear", headline="避難指示を発令しました"), msg_type="Update", references=EARLIER),
     "lift", "【解除】【避難情報】", ("避難指示［警戒レベル4］を解除しました",)),
    (cap(info(urgency="Past", headline="避難指示を発令しました")), "ended", "【終了】【避難情報】",
     ("避難指示［警戒レベル4］についての情報は終了しました",)),
    (cap(info(event="避難指示解除", headline="避難指示を解除しました")), "lift", "【解除】【避難情報】",
     ("発令していた避難指示［警戒レベル4］を解除しました",)),
    (cap(info(event="大雨警報解除", category="Met", response="AllClear")), "lift", "【解除】【気象警報】",
     ("大雨警報は解除されました",)),
    (cap(info(event="緊急安全確保", urgency="Past")), "ended", "【終了】【避難情報】", ("緊急安全確保［警戒レベル5］",)),
    (cap(info(), msg_type="Update", references=EARLIER), "update", "【続報】【避難情報】",
     ("避難指示［警戒レベル4］を発令しました", "危険な場所から全員避難してください")),
    (cap(info()), "issue", "【避難情報】", ("避難指示［警戒レベル4］を発令しました",)),
])
def test_cap_meaning_and_wording(policies: Policies, raw: bytes, action: str, mark: str,
                                 words: tuple[str, ...]) -> None:
    alert = parse_alert(raw)
    assert alert.action == action
    texts = x_texts(raw, city(policies, "kodaira"))
    assert texts
    for text in texts:
        assert text.startswith(mark), text
        for word in words:
            assert word in text, (word, text)
        if action in ("lift", "ended"):  # never the order's sentence or its call to act, nor its headline
            for word in ORDER_WORDS:
                assert word not in text, (word, text)


def test_cap_tsunami_all_clear_is_a_lifting(policies: Policies) -> None:
    raw = cap(info(event="津波警報", code="14208", area="神奈川県逗子市", category="Geo", response="AllClear",
                   headline="津波警報を発表しました。高台へ避難してください"), msg_type="Update", references=EARLIER)
    alert = parse_alert(raw)
    assert alert.action == "lift" and alert.kind == "tsunami"
    texts = x_texts(raw, city(policies, "zushi"))
    assert texts and all(t.startswith("【解除】【津波情報】") and "津波警報は解除されました" in t for t in texts)
    assert not any(w in t for t in texts for w in (*ORDER_WORDS, "高台"))


# -- scope, receipts and status --------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "withheld"), [
    (cap(info(), scope="Restricted", head="<restriction>防災関係機関のみ</restriction>"), "restricted"),
    (cap(info(), scope="Private", head="<addresses>bousai@pref.tokyo.example</addresses>"), "private"),
    (cap(msg_type="Ack", references=EARLIER), "receipt"),
    (cap(msg_type="Error", references=EARLIER), "receipt"),
    (cap(info(), status="System"), "system"),
    (cap(info(), status="Draft"), "draft"),
])
def test_non_public_and_non_alert_messages_are_withheld(policies: Policies, raw: bytes, withheld: str) -> None:
    alert = parse_alert(raw)
    assert alert.withheld == withheld and alert.withheld_reason
    result = dry_run(raw, policies, now=NOW)
    assert result.outcome == "ignored" and result.posts == [] and result.reason == alert.withheld_reason
    assert not plan_for(alert, city(policies, "kodaira"), now=NOW).posts


@pytest.mark.parametrize(("raw", "field"), [
    (cap(info(), scope=None), "alert/scope"),
    (cap(info(), scope="Everyone"), "alert/scope"),
    (cap(info(), scope="Restricted"), "alert/restriction"),
    (cap(info(), scope="Private"), "alert/addresses"),
    (cap(info(), msg_type="Update"), "alert/references"),
    (cap(msg_type="Cancel"), "alert/references"),
    (cap(info(), msg_type="Update", references="bousai@city.kodaira.example,KDR-T-0"), "alert/references"),
    (cap(info(), msg_type="Update", references="a,b,yesterday"), "alert/references"),
    (cap(info(), msg_type="Notice"), "alert/msgType"),
    (cap(info(), status="Real"), "alert/status"),
    (cap(info(urgency="Soon")), "alert/info[1]/urgency"),
    (cap(info().replace("<certainty>Observed</certainty>", "")), "alert/info[1]/certainty"),
    (cap(info().replace("<category>Safety</category>", "")), "alert/info[1]/category"),
    (cap(info(), info(category="Weather")), "alert/info[2]/category"),
    (cap(info(response="Run")), "alert/info[1]/responseType"),
    (cap(info().replace("<areaDesc>東京都小平市</areaDesc>", "")), "alert/info[1]/area[1]/areaDesc"),
    (cap(info(extra="<expires>tomorrow</expires>")), "alert/info[1]/expires"),
    (cap(), "alert/info"),
])
def test_a_missing_or_wrong_element_is_named(policies: Policies, raw: bytes, field: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_alert(raw)
    assert caught.value.problems[0].field == field, caught.value.problems
    result = dry_run(raw, policies, now=NOW)
    assert result.outcome == "rejected" and result.exit_code == 2 and field in result.reason


def test_cap_1_1_is_read_like_1_2(policies: Policies) -> None:
    raw = cap(info().replace("Observed", "Very Likely"), version="1.1")  # CAP 1.1 still allowed "Very Likely"
    assert parse_alert(raw).kind == "evacuation" and x_texts(raw, city(policies, "kodaira"))


# -- every <info> block -----------------------------------------------------------------------------

def test_every_japanese_info_is_an_event(policies: Policies) -> None:
    raw = cap(info(event="高齢者等避難", code="13211"), info(event="避難指示", code="14208", area="神奈川県逗子市"))
    alerts = parse_document(raw)
    assert [(a.part, a.kind, a.detail_str("evacuation_type")) for a in alerts] == [
        (0, "evacuation", "高齢者等避難"), (1, "evacuation", "避難指示")]
    assert alerts[0].unit_key != alerts[1].unit_key and alerts[0].thread == alerts[1].thread
    assert any("高齢者等避難［警戒レベル3］" in t for t in x_texts(raw, city(policies, "kodaira")))
    assert any("避難指示［警戒レベル4］" in t for t in x_texts(raw, city(policies, "zushi")))
    result = dry_run(raw, policies, now=NOW)
    assert result.outcome == "accepted" and {p.account for p in result.posts} >= {"kodaira_x", "zushi_x"}


def test_a_city_named_only_in_the_second_block_is_addressed(policies: Policies) -> None:
    raw = cap(info(event="避難指示", code="28210", area="兵庫県加古川市"), info(event="緊急安全確保"))
    result = dry_run(raw, policies, now=NOW)
    assert result.outcome == "accepted", result.reason
    assert all("緊急安全確保［警戒レベル5］" in p.text for p in result.posts)


def test_both_levels_for_one_city_are_posted(policies: Policies) -> None:
    raw = cap(info(event="高齢者等避難"), info(event="避難指示"))
    texts = x_texts(raw, city(policies, "kodaira"))
    assert any("高齢者等避難［警戒レベル3］" in t for t in texts)
    assert any("避難指示［警戒レベル4］" in t for t in texts)


def test_language_defaults_to_en_us_and_japanese_blocks_are_chosen() -> None:
    raw = cap(info(event="Evacuation", language=None, headline="Evacuate now"), info(event="避難指示"))
    alerts = parse_document(raw)
    assert len(alerts) == 1 and alerts[0].detail_str("evacuation_type") == "避難指示"
    foreign = cap(info(event="Evacuation order", language=None), info(event="Ordre d'évacuation", language="fr-CA"))
    chosen = parse_document(foreign)
    assert len(chosen) == 1 and chosen[0].title == "Evacuation order"  # no language = en-US


# -- expiry and freshness ---------------------------------------------------------------------------

def test_expired_stale_and_future_alerts_are_held(policies: Policies) -> None:
    kodaira = city(policies, "kodaira")
    expired = cap(info(extra=f"<expires>{(SENT + timedelta(minutes=1)).isoformat()}</expires>"))
    result = dry_run(expired, policies, now=NOW)
    assert result.outcome == "held" and result.posts == [] and "有効期限" in result.reason
    assert result.held_posts and result.to_json()["posts"] == []
    stale = dry_run(cap(info()), policies, now=SENT + timedelta(hours=4))
    assert stale.outcome == "held" and "4時間" in stale.reason and "3時間以内" in stale.reason
    future = dry_run(cap(info()), policies, now=SENT - timedelta(minutes=30))
    assert (future.outcome == "held" and "未来" in future.reason) or "現在より先" in future.reason
    fresh = dry_run(cap(info()), policies, now=SENT + timedelta(hours=2, minutes=59))
    assert fresh.outcome == "accepted"
    two_years = plan_for(parse_alert(cap(info(), sent=SENT - timedelta(days=800))), kodaira, now=NOW)
    assert two_years.held is not None and two_years.held.code == "stale" and "2年以上" in two_years.held.reason


def test_freshness_window_per_kind_and_per_city(policies: Policies) -> None:
    kodaira = city(policies, "kodaira")
    quake = parse_alert((FIXTURES / "jma_quake_kodaira_5lower.xml").read_bytes())
    assert hold_for(quake, kodaira.alerts.freshness("seismic"), quake.sent + timedelta(minutes=59)) is None
    assert hold_for(quake, kodaira.alerts.freshness("seismic"), quake.sent + timedelta(minutes=61)) is not None
    patient = kodaira.model_copy(update={"alerts": kodaira.alerts.model_copy(
        update={"freshness_minutes": {"seismic": 240}})})
    assert plan_for(quake, patient, now=quake.sent + timedelta(hours=3)).held is None
    with pytest.raises(ValueError, match="unknown alert kinds"):
        kodaira.alerts.model_validate({**kodaira.alerts.model_dump(), "freshness_minutes": {"blizzard": 10}})


def test_every_post_states_the_issue_time_and_the_year_when_not_this_year(policies: Policies) -> None:
    kodaira = city(policies, "kodaira")
    old = parse_alert(cap(info(), sent=datetime(2024, 6, 30, 22, 5, tzinfo=UTC)))
    plan = plan_for(old, kodaira, now=NOW, allow_stale=True)
    assert plan.held is None
    assert all("（2024年7月1日7時05分 小平市発表）" in p.text for p in plan.posts if not p.skip_reason)
    this_year = plan_for(parse_alert(cap(info())), kodaira, now=NOW)
    assert all("（12月4日19時00分 小平市発表）" in p.text for p in this_year.posts if not p.skip_reason)
    assert when(SENT, NOW) == "12月4日19時00分" and when(SENT, NOW + timedelta(days=40)) == "2026年12月4日19時00分"
    assert age_text(timedelta(minutes=75)) == "1時間15分" and age_text(timedelta(days=3)) == "3日"


def test_the_issue_time_survives_fitting_a_long_post(policies: Policies) -> None:
    districts = "".join(f"<area><areaDesc>小川町{i}丁目</areaDesc><geocode><valueName>JIS X 0402</valueName>"
                        f"<value>13211</value></geocode></area>" for i in range(1, 80))
    raw = cap(info(headline="長い見出し" * 40, extra="", area="東京都小平市").replace("</info>", districts + "</info>"))
    for text in x_texts(raw, city(policies, "kodaira")):
        assert text.endswith("小平市発表）"), text


# -- narrowing ----------------------------------------------------------------------------------------

def test_narrowing_only_to_an_addressed_city(policies: Policies) -> None:
    other = parse_document((FIXTURES / "lalert_other_city.xml").read_bytes())
    refused = narrow(other, policies, "kodaira")
    assert isinstance(refused, Refusal) and refused.code == "alert_not_addressed" and "加古川市" in refused.reason
    own = parse_document((FIXTURES / "lalert_kodaira_order.xml").read_bytes())
    assert narrow(own, policies, "kodaira") == Narrowed(city(policies, "kodaira"))
    assert isinstance(narrow(own, policies, "atlantis"), Refusal)
    drill = parse_document((FIXTURES / "lalert_kodaira_exercise.xml").read_bytes())
    assert narrow(drill, policies, "zushi") == Narrowed(city(policies, "zushi"), sandbox_only=True)
    foreign = parse_document(cap(info(event="Earthquake", code="06037", area="Los Angeles", category="Geo",
                                      language="en-US")))
    assert isinstance(narrow(foreign, policies, "zushi"), Refusal)


# -- JMA: only real warnings, regions, new kinds, wording per municipality type -----------------------

@pytest.mark.parametrize(("name", "status", "ended"), [
    ("強風注意報", "警報から注意報", "暴風警報"),
    ("風雪注意報", "警報から注意報", "暴風雪警報"),
    ("大雨注意報", "特別警報から注意報", "大雨特別警報"),
    ("強風注意報", "特別警報から注意報", "暴風特別警報"),
    ("洪水注意報", "特別警報から注意報", ""),  # there is no 洪水特別警報
    ("雷注意報", "警報から注意報", ""),  # nor a 雷警報
    ("レベル２大雨注意報", "警報から注意報", "大雨警報"),
    ("大雨警報", "解除", "大雨警報"),
    ("大雨注意報", "解除", ""),
])
def test_lifted_warnings_are_real_ones(name: str, status: str, ended: str) -> None:
    assert ended_warning(name, status) == ended


def test_wind_lifting_names_the_storm_warnings(policies: Policies) -> None:
    raw = (FIXTURES / "jma_weather_wind_ends_kodaira.xml").read_bytes()
    texts = x_texts(raw, city(policies, "kodaira"), now=parse_alert(raw).sent + timedelta(minutes=1))
    assert texts
    for text in texts:
        assert text.startswith("【解除】【気象警報】小平市の暴風警報・暴風雪警報は解除されました。"), text
        assert not re.search(r"強風(?:特別)?警報|(?<!暴)風雪(?:特別)?警報", text), text


def test_intensity_by_region_reaches_the_city(policies: Policies) -> None:
    raw = (FIXTURES / "jma_quake_region_kodaira.xml").read_bytes()
    alert = parse_alert(raw)
    texts = x_texts(raw, city(policies, "kodaira"), now=alert.sent + timedelta(minutes=1))
    assert texts and all("東京都多摩東部（小平市を含む地域）で震度4を観測しました" in t for t in texts)
    atsugi = x_texts(raw, city(policies, "atsugi"), now=alert.sent + timedelta(minutes=1))  # 神奈川県西部
    assert atsugi and all("神奈川県西部（厚木市を含む地域）で震度4" in t for t in atsugi)
    assert not x_texts(raw, city(policies, "zushi"), now=alert.sent + timedelta(minutes=1))  # 神奈川県東部: none


def test_city_detail_wins_over_its_region(policies: Policies) -> None:
    alert = parse_alert((FIXTURES / "jma_quake_kodaira_5lower.xml").read_bytes())
    regions = [a for a in alert.areas if a.code_type == "seismic_area"]
    assert regions and all(a.status == "none" for a in regions)  # the municipalities are listed


def test_new_kinds_are_subscribed_to_by_name(policies: Policies) -> None:
    atsugi = city(policies, "atsugi")
    flood = parse_alert((FIXTURES / "jma_flood_sagami_atsugi.xml").read_bytes())
    now = flood.sent + timedelta(minutes=1)
    not_subscribed = plan_for(flood, atsugi, now=now)
    assert not_subscribed.ignored is not None and "掲載しない設定" in not_subscribed.ignored
    subscribed = atsugi.model_copy(update={"alerts": atsugi.alerts.model_copy(
        update={"kinds": (*atsugi.alerts.kinds, "flood_forecast", "nankai")})})
    texts = [p.text for p in plan_for(flood, subscribed, now=now).posts if not p.skip_reason]
    assert texts and all("相模川の氾濫危険情報［警戒レベル4相当］" in t and "市の避難情報に従い" in t for t in texts)
    assert any("厚木市の浸水想定地区: 旭町、岡田、厚木" in t for t in texts)
    nankai = parse_alert((FIXTURES / "jma_nankai_advisory.xml").read_bytes())
    advisory = plan_for(nankai, subscribed, now=nankai.sent + timedelta(minutes=1))
    assert advisory.posts and all(p.text.startswith("【南海トラフ地震臨時情報（巨大地震注意）】")
                                  for p in advisory.posts if not p.skip_reason)
    assert plan_for(nankai, atsugi, now=nankai.sent).ignored is not None


@pytest.mark.parametrize(("name", "word"), [("小平市", "市"), ("葉山町", "町"), ("檜原村", "村"), ("千代田区", "区")])
def test_wording_per_municipality_type(policies: Policies, name: str, word: str) -> None:
    assert municipality_word(name) == word
    atsugi = city(policies, "atsugi")
    town = atsugi.model_copy(update={"name": name})
    alert = parse_alert((FIXTURES / "jma_landslide_atsugi.xml").read_bytes())
    texts = [p.text for p in plan_for(alert, town, now=alert.sent).posts if not p.skip_reason]
    assert texts and all(f"{word}の避難情報に従い" in t for t in texts)
    if word != "市":
        assert all("市の避難情報" not in t for t in texts)


def test_a_telegram_with_nothing_new_posts_nothing(policies: Policies) -> None:
    continued = parse_alert((FIXTURES / "jma_weather_h27_kodaira_continue.xml").read_bytes())
    plan = plan_for(continued, city(policies, "kodaira"), now=continued.sent)
    assert plan.posts == [] and plan.ignored is not None
    assert not any("気象警報が発表されました" in p.text for p in plan.posts)


@pytest.mark.parametrize("sent", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+09:00", "1999-12-31T10:00:00Z"])
def test_an_issue_time_off_the_calendar_is_refused_not_a_crash(policies: Policies, sent: str) -> None:
    """9999-12-31T23:59-12:00 has no UTC time: it used to raise OverflowError (a 500) when worded."""
    as_json = json_alert(sent=SENT).replace(SENT.isoformat().encode(), sent.encode())
    as_cap = cap(info()).replace(SENT.isoformat().encode(), sent.encode())
    for raw in (as_json, as_cap):
        result = dry_run(raw, policies, now=NOW)
        assert result.outcome == "rejected" and "範囲外" in result.reason, result.reason
