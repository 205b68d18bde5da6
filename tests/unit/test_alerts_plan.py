"""Planning: who gets which Japanese text, fitted per platform, drills, lifecycle, addressing."""

from __future__ import annotations

from pathlib import Path

import pytest
from twitter_text import parse_tweet

from gateway.alerts import AlertPost, addressed_to, parse_alert, plan_for, posts_for
from gateway.alerts.draft import Draft, Items
from gateway.alerts.fit import fit
from gateway.alerts.multilingual import drill_mark
from gateway.models import Platform
from gateway.policy import Alerts, Municipality, Policies, load_policies

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "alerts"


@pytest.fixture(scope="module")
def policies() -> Policies:
    return load_policies(ROOT / "config" / "municipalities")


def city(policies: Policies, municipality_id: str) -> Municipality:
    found = policies.get(municipality_id)
    assert found is not None
    return found


def posts(name: str, municipality: Municipality, *, forced: bool = False) -> list[AlertPost]:
    return [p for p in posts_for(parse_alert((FIXTURES / name).read_bytes()), municipality, forced=forced)
            if p.skip_reason is None]


def texts(name: str, municipality: Municipality) -> list[str]:
    found = posts(name, municipality)
    assert found, name
    return [p.text for p in found]


def x_text(name: str, municipality: Municipality) -> str:
    return next(p.text for p in posts(name, municipality) if p.platform is Platform.X)


def test_targets_are_the_emergency_accounts(policies: Policies) -> None:
    kodaira = city(policies, "kodaira")
    expected = {a.id for a in kodaira.accounts_for("emergency") if a.platform in (Platform.X, Platform.LINE,
                                                                                   Platform.FACEBOOK)}
    assert {p.account for p in posts("lalert_kodaira_order.xml", kodaira)} == expected
    assert "kodaira_mayor_x" not in expected


@pytest.mark.parametrize(
    ("name", "must_contain"),
    [
        ("lalert_kodaira_order.xml", ("【避難情報】", "避難指示［警戒レベル4］", "発令", "小川町一丁目")),
        ("lalert_soap_kodaira_emergency.xml", ("緊急安全確保［警戒レベル5］", "直ちに身の安全を確保")),
        ("lalert_kodaira_legacy_junbi.xml", ("高齢者等避難［警戒レベル3］",)),
        ("lalert_kodaira_order_lift.xml", ("【解除】", "避難指示［警戒レベル4］を解除")),
        ("lalert_kodaira_order_update.xml", ("【続報】", "避難指示［警戒レベル4］", "仲町")),
        ("lalert_kodaira_order_cancel.xml", ("【取消】", "避難情報", "取り消されました")),
        ("lalert_kodaira_shelter.xml", ("【避難所開設】", "小平市立小平第一小学校")),
        ("json_shelter_kodaira.json", ("【避難所開設】", "小平市民総合体育館")),
        ("jma_weather_r06_kodaira_level4.xml", ("【気象警報】", "小平市", "レベル４大雨危険警報", "発表")),
        ("jma_weather_special_kodaira.xml", ("【気象特別警報】", "大雨特別警報", "命を守る")),
        ("jma_weather_h27_kodaira_lift.xml", ("【解除】", "大雨警報", "洪水警報", "解除されました")),
        ("jma_record_rain_kodaira.xml", ("【記録的短時間大雨情報】", "小平市付近で約120ミリ")),
        ("jma_quake_kodaira_5lower.xml", ("【地震情報】", "小平市で震度5弱", "M5.8", "津波の心配はありません")),
        ("jma_quake_kodaira_correction.xml", ("【訂正】", "震度5弱")),
        ("cap_ja_evacuation_update.xml", ("【続報】", "避難指示［警戒レベル4］")),
        ("cap_prefecture_special_warning.xml", ("【気象特別警報】", "大雨特別警報")),
    ],
)
def test_kodaira_texts(policies: Policies, name: str, must_contain: tuple[str, ...]) -> None:
    for text in texts(name, city(policies, "kodaira")):
        for fragment in must_contain:
            assert fragment in text, (fragment, text)


def test_landslide_for_atsugi(policies: Policies) -> None:
    atsugi = city(policies, "atsugi")
    for text in texts("jma_landslide_atsugi.xml", atsugi):
        assert text.startswith("【土砂災害警戒情報】厚木市") and "警戒レベル4相当" in text
    assert all("解除" in t for t in texts("jma_landslide_atsugi_lift.xml", atsugi))


def test_tsunami_goes_to_coastal_cities_only(policies: Policies) -> None:
    alert = parse_alert((FIXTURES / "jma_tsunami_warning_zushi.xml").read_bytes())
    addressed = {m.id for m in policies if addressed_to(alert, m)}
    assert addressed == {"zushi", "kisarazu"}
    zushi = x_text("jma_tsunami_warning_zushi.xml", city(policies, "zushi"))
    assert zushi.startswith("【津波警報】相模湾・三浦半島に津波警報") and "高台" in zushi
    kisarazu = x_text("jma_tsunami_warning_zushi.xml", city(policies, "kisarazu"))
    assert kisarazu.startswith("【津波注意報】東京湾内湾")
    lifted = x_text("jma_tsunami_lift_zushi.xml", city(policies, "zushi"))
    assert lifted.startswith("【解除】") and "津波警報は解除" in lifted


def test_prefecture_codes_apply_to_weather_warnings_only(policies: Policies) -> None:
    kodaira = city(policies, "kodaira")
    special = parse_alert((FIXTURES / "cap_prefecture_special_warning.xml").read_bytes())
    tsunami = parse_alert((FIXTURES / "cap_prefecture_tsunami.xml").read_bytes())
    assert addressed_to(special, kodaira)
    assert not addressed_to(tsunami, kodaira)  # an inland city must not post a tsunami warning
    assert not addressed_to(special, city(policies, "atsugi"))  # another prefecture


def test_other_areas_and_unchanged_warnings_are_ignored(policies: Policies) -> None:
    kodaira = city(policies, "kodaira")
    for name in ("lalert_other_city.xml", "json_other_city.json"):
        plan = plan_for(parse_alert((FIXTURES / name).read_bytes()), kodaira)
        assert plan.posts == [] and plan.ignored is not None and "対象地域外" in plan.ignored
    continued = plan_for(parse_alert((FIXTURES / "jma_weather_h27_kodaira_continue.xml").read_bytes()), kodaira)
    assert continued.ignored is not None and "継続" in continued.ignored


def test_low_intensity_is_not_posted(policies: Policies) -> None:
    plan = plan_for(parse_alert((FIXTURES / "jma_quake_kodaira_5lower.xml").read_bytes()), city(policies, "atsugi"))
    assert plan.ignored is not None and "震度2" in plan.ignored


def test_kind_not_published_is_ignored(policies: Policies) -> None:
    kodaira = city(policies, "kodaira")
    no_shelter = kodaira.model_copy(update={"alerts": kodaira.alerts.model_copy(update={"kinds": ("evacuation",)})})
    plan = plan_for(parse_alert((FIXTURES / "json_shelter_kodaira.json").read_bytes()), no_shelter)
    assert plan.posts == [] and plan.ignored is not None and "掲載しない設定" in plan.ignored


def test_drill_without_drill_accounts_is_sandbox_only(policies: Policies) -> None:
    found = posts("lalert_kodaira_exercise.xml", city(policies, "kodaira"))
    assert found and all(p.sandbox_only for p in found)
    assert all(p.text.startswith("【訓練】") and "※これは訓練です。" in p.text for p in found)


def test_drill_goes_only_to_drill_accounts(policies: Policies) -> None:
    kodaira = city(policies, "kodaira")
    drill_city = Municipality.model_validate(
        {**kodaira.model_dump(), "alerts": Alerts(area_codes=("13211",), drill_accounts=("kodaira_x",)).model_dump()})
    found = posts("cap_exercise.xml", drill_city)
    assert [(p.account, p.sandbox_only) for p in found] == [("kodaira_x", False)]
    assert found[0].text.startswith("【訓練】")
    real = posts("cap_ja_evacuation.xml", drill_city)
    assert {p.account for p in real} >= {"kodaira_x", "kodaira_facebook"}
    assert not any(p.sandbox_only for p in real)


@pytest.mark.parametrize("name", ["jma_tsunami_drill_zushi.xml", "jma_weather_test_status.xml", "cap_exercise.xml",
                                  "json_exercise_kodaira.json"])
def test_every_drill_post_starts_with_kunren(policies: Policies, name: str) -> None:
    alert = parse_alert((FIXTURES / name).read_bytes())
    assert alert.drill
    for municipality in policies:
        for post in posts_for(alert, municipality, forced=True):
            assert post.skip_reason or post.text.startswith(drill_mark(post.language)), post


def test_never_outputs_abolished_terms(policies: Policies) -> None:
    kodaira = city(policies, "kodaira")
    for path in sorted(FIXTURES.iterdir()):
        try:
            alert = parse_alert(path.read_bytes())
        except Exception:
            continue
        for post in posts_for(alert, kodaira, forced=True):
            assert "避難勧告" not in post.text and "避難準備" not in post.text, path.name


def test_x_posts_fit_280_weighted(policies: Policies) -> None:
    for municipality in policies:
        for path in sorted(FIXTURES.iterdir()):
            try:
                alert = parse_alert(path.read_bytes())
            except Exception:
                continue
            for post in posts_for(alert, municipality, forced=True):
                if post.platform is Platform.X:
                    assert parse_tweet(post.text).weightedLength <= 280, (path.name, post.text)


def test_fit_shortens_lists_then_truncates() -> None:
    many = tuple(f"小川町{i}丁目" for i in range(1, 60))
    head = "【避難情報】小平市は、次の地区に避難指示［警戒レベル4］を発令しました。"
    draft = Draft([head], [Items("対象地区", many), "（出典）"])
    x = fit(draft, Platform.X)
    assert parse_tweet(x).weightedLength <= 280 and "ほか" in x and x.startswith("【避難情報】")
    line = fit(draft, Platform.LINE)
    assert "小川町59丁目" in line and "ほか" not in line  # LINE has room for the whole list
    long = Draft(["【訓練】" + "あ" * 400])
    cut = fit(long, Platform.X)
    assert cut.startswith("【訓練】") and cut.endswith("…") and parse_tweet(cut).weightedLength <= 280


def test_youtube_is_skipped_not_posted(policies: Policies) -> None:
    atsugi = city(policies, "atsugi")
    alert = parse_alert((FIXTURES / "jma_landslide_atsugi.xml").read_bytes())
    found = posts_for(alert, atsugi)
    youtube = [p for p in found if p.platform is Platform.YOUTUBE]
    assert all(p.skip_reason and not p.text for p in youtube)
