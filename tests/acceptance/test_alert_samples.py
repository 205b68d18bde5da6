"""Every file in ../shared/alert_samples/ is turned into the right posts or refused/ignored with a reason.

The documents are judged as a feed delivers them: a minute after their issue time (`received`). Then,
without --municipality the seed cities' own areas decide (only the 2011 tsunami and the tsunami drill
concern a seed city: 逗子市/木更津市 are on the coast). `municipality=` only narrows: a city the alert
does not address is refused, except for drills (sandbox only) and follow-ups that name no areas.
Judged today instead, every one of them is years old: none is posted, the addressed ones are held.

jma_official_all/ holds all 546 official JMA sample telegrams: each parses, or is refused with a
reason; none raises. Each one that addresses a municipality is also planned for a municipality made
from its first area, and the texts are checked for what must never be posted.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gateway.alerts import Alert, dry_run, parse_alert, parse_document, plan_for, seismic_regions
from gateway.alerts.multilingual import drill_mark
from gateway.errors import InputError
from gateway.policy import ALERT_KINDS, Municipality, Policies, load_policies

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "alert_samples"
OFFICIAL_ALL = SAMPLES / "jma_official_all"

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/alert_samples is not present")

# path -> (outcome as received, words in its reason, narrowed to, outcome then, words in every post then)
EXPECTED: dict[str, tuple[str, tuple[str, ...], str | None, str, tuple[str, ...]]] = {
    "cap/Oasis_AmberAlert.xml": ("rejected", ("対応していない種別", "Child Abduction"), None, "", ()),
    "cap/Oasis_HomelandAlert.xml": ("rejected", ("対応していない種別",), None, "", ()),
    "cap/Oasis_ThunderstormWarning.xml": ("ignored", ("対象地域外",), None, "", ()),
    "cap/Oasis_EarthquakeReport.xml": ("ignored", ("対象地域外",), "kodaira", "rejected", ()),
    "cap/australia_bom.cap": ("ignored", ("対象地域外",), None, "", ()),
    "cap/canada.cap": ("rejected", ("対応していない種別", "thunderstorm"), "kodaira", "rejected", ()),
    "cap/earthquake.cap": ("ignored", ("対象地域外",), "zushi", "rejected", ()),
    "cap/mexico.xml": ("rejected", ("対応していない種別",), None, "", ()),
    "cap/no_info_tag.cap": ("ignored", ("取消",), "kodaira", "accepted", ("【取消】", "取り消されました")),
    "cap/ph.cap": ("rejected", ("対応していない種別",), None, "", ()),
    "cap/taiwan.cap": ("rejected", ("対応していない種別", "水庫洩洪"), None, "", ()),
    "cap/wcatwc-warning.cap": ("ignored", ("対象地域外",), "kodaira", "rejected", ()),
    "jma_official_samples/15_15_01_220314_VPWW54.xml": ("ignored", ("藍住町",), "kodaira", "rejected", ()),
    "jma_official_samples/15_16_03_241226_VPWW55.xml": ("ignored", ("稚内市",), "kodaira", "rejected", ()),
    "jma_official_samples/17_02_01_190529_VXWW50.xml": ("ignored", ("松前町",), "kodaira", "rejected", ()),
    "jma_official_samples/18_03_01_190412_VPOA50.xml": ("ignored", ("札幌市中央区",), "kodaira", "rejected", ()),
    "jma_official_samples/32-35_01_03_100514_VXSE53.xml": ("ignored", ("対象地域外",), "kodaira", "rejected", ()),
    "jma_official_samples/32-35_06_06_100915_VXSE53.xml": ("ignored", ("取消",), "kodaira", "accepted",
                                                           ("【取消】", "地震情報", "気象庁")),
    "jma_official_samples/32-39_11_02_250206_VTSE41.xml": ("accepted", ("逗子市",), "zushi", "accepted",
                                                           ("【津波注意報】", "相模湾・三浦半島", "2011年3月11日")),
    "jma_official_samples/32-39_13_07_250206_VTSE41.xml": ("accepted", ("木更津市", "逗子市", "サンドボックス"),
                                                           "kisarazu", "accepted",
                                                           ("【訓練】【解除】", "東京湾内湾", "津波注意報は解除")),
    "jma_official_samples/38-39_03_01_210805_VTSE41.xml": ("ignored", ("取消",), "kodaira", "accepted",
                                                           ("【取消】", "津波情報")),
    "jma_real_feed/20210216233339_0_VXSE53_010000.xml": ("ignored", ("田村市",), "kodaira", "rejected", ()),
    "jma_real_feed/20220918154907_08013775_VTSE41.xml": ("ignored", ("宮古島・八重山地方",), "kodaira", "rejected",
                                                         ()),
    "jma_real_feed/20220918171502_07401528_VTSE41.xml": ("ignored", ("宮古島・八重山地方",), "kodaira", "rejected",
                                                         ()),
    "lalert_commons/sample1.xml": ("ignored", ("282103",), "kodaira", "rejected", ()),
    # A drill may be tried in any city's sandbox.
    "lalert_commons/soap1.xml": ("ignored", ("千代田区",), "kodaira", "accepted",
                                 ("【訓練】【避難情報】", "高齢者等避難［警戒レベル3］", "一ツ橋一丁目")),
}
DRILLS = {"cap/ph.cap", "jma_official_samples/32-39_13_07_250206_VTSE41.xml", "lalert_commons/soap1.xml"}
# Warnings JMA does not issue: a lifting notice must never name one.
NOT_WARNINGS = re.compile(r"強風(特別)?警報|(?<!暴)風雪(特別)?警報|洪水特別警報|雷(特別)?警報|濃霧警報|乾燥警報|なだれ警報|着氷警報|"
                          r"着雪警報|融雪警報|霜警報|低温警報")
# What only an order or a warning in force says.
CALLS_TO_ACT = ("を発令しました", "避難してください", "命を守る行動", "身の安全を確保", "が発表されました")


@pytest.fixture(scope="module")
def policies() -> Policies:
    return load_policies(ROOT / "config" / "municipalities")


def received(raw: bytes) -> datetime | None:
    """A minute after the document's issue time: when a feed delivers it."""
    try:
        return parse_alert(raw, max_bytes=10_000_000).sent + timedelta(minutes=1)
    except InputError:
        return None


def _sample_files() -> set[str]:
    return {str(p.relative_to(SAMPLES)) for p in SAMPLES.rglob("*")
            if p.is_file() and p.suffix in (".xml", ".cap") and OFFICIAL_ALL not in p.parents}


def test_every_sample_is_covered() -> None:
    assert _sample_files() == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_as_received(policies: Policies, name: str) -> None:
    outcome, words, _, _, _ = EXPECTED[name]
    raw = (SAMPLES / name).read_bytes()
    result = dry_run(raw, policies, now=received(raw))
    assert result.outcome == outcome, result.reason
    assert result.drill == (name in DRILLS)
    for word in words:
        assert word in result.reason, (word, result.reason)
    if outcome == "accepted":
        assert result.posts and all(not p.sandbox_only or result.drill for p in result.posts)


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e[2]))
def test_sample_narrowed_to_a_seed_city(policies: Policies, name: str) -> None:
    _, _, municipality, outcome, words = EXPECTED[name]
    raw = (SAMPLES / name).read_bytes()
    today = "2011年3月11日" in words  # judged today: held, and publishing would state the year
    result = dry_run(raw, policies, municipality=municipality, now=None if today else received(raw))
    if today:
        assert result.outcome == "held" and not result.posts, result.reason
        posts = [(p.language, p.text) for p in result.held_posts if p.skip_reason is None]
    else:
        assert result.outcome == outcome, result.reason
        posts = [(p["language"], p["text"]) for p in result.to_json()["posts"]]  # type: ignore[index]
        assert bool(posts) == (outcome == "accepted")
    if outcome == "rejected" and "対応していない種別" not in result.reason:
        assert "含まれていません" in result.reason
    for language, text in posts:
        assert isinstance(text, str) and isinstance(language, str)
        assert "避難勧告" not in text and "避難準備" not in text
        for word in words if language == "ja" else ():  # the words are the Japanese post's
            assert word in text, (word, text)
        if result.drill:
            assert text.startswith(drill_mark(language))
    if result.drill and result.posts:
        assert all(p.sandbox_only for p in result.posts)  # a drill tried in another city: sandbox only


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_no_sample_is_posted_as_news_today(policies: Policies, name: str) -> None:
    """Each sample is years old: judged now, none goes out; the addressed ones wait for an operator."""
    raw = (SAMPLES / name).read_bytes()
    as_received = EXPECTED[name][0]
    result = dry_run(raw, policies)
    assert result.posts == []
    assert result.outcome == ("held" if as_received == "accepted" else as_received), result.reason
    if result.outcome == "held":
        assert "経過しています" in result.reason and "年" in result.reason


def test_real_tsunami_issue_and_lift_share_a_thread_not_a_key() -> None:
    issue = parse_alert((SAMPLES / "jma_real_feed/20220918154907_08013775_VTSE41.xml").read_bytes())
    lift = parse_alert((SAMPLES / "jma_real_feed/20220918171502_07401528_VTSE41.xml").read_bytes())
    assert issue.thread == lift.thread == "jma|20220918154449|津波警報・注意報・予報"
    assert issue.key != lift.key and (issue.action, lift.action) == ("issue", "lift")


def test_cap_update_and_cancel_reference_their_predecessors() -> None:
    update = parse_alert((SAMPLES / "cap/Oasis_EarthquakeReport.xml").read_bytes())
    assert update.references == ("cap|trinet@caltech.edu|TRI13970876.1|2003-06-11T20:30:00-07:00",)
    cancel = parse_alert((SAMPLES / "cap/no_info_tag.cap").read_bytes())
    assert cancel.action == "cancel"
    assert cancel.references == ("cap|AtHoc|1017033100951096-517189320160225203219800|2016-02-25T12:32:19-08:00",)
    canada = parse_alert((SAMPLES / "cap/canada.cap").read_bytes())
    assert len(canada.references) == 2 and canada.thread == canada.references[0]
    assert canada.action == "lift"  # responseType AllClear


def test_jma_cancellations_are_cancels() -> None:
    for name in ("32-35_06_06_100915_VXSE53.xml", "38-39_03_01_210805_VTSE41.xml"):
        alert = parse_alert((SAMPLES / "jma_official_samples" / name).read_bytes())
        assert alert.action == "cancel" and alert.key.endswith("|取消")


# -- the 546 official JMA sample telegrams ----------------------------------------------------------

def _official() -> list[Path]:
    return sorted(OFFICIAL_ALL.glob("*.xml")) if OFFICIAL_ALL.is_dir() else []


def _telegram_type(path: Path) -> str:
    return path.stem.rsplit("_", 1)[-1]


def test_all_546_official_telegrams_are_here() -> None:
    assert len(_official()) == 546


@pytest.mark.parametrize("path", _official(), ids=lambda p: p.name)
def test_official_telegram_parses_or_is_refused_with_a_reason(policies: Policies, path: Path) -> None:
    raw = path.read_bytes()
    try:
        alerts = parse_document(raw)
    except InputError as exc:  # refused: say what and where
        assert exc.message and exc.problems and exc.problems[0].field, exc
        result = dry_run(raw, policies)
        assert result.outcome == "rejected" and result.reason == exc.message
        return
    assert alerts and all(a.format == "jma" for a in alerts)
    for now in (received(raw), None):
        result = dry_run(raw, policies, now=now)
        assert result.outcome in ("accepted", "ignored", "rejected", "held") and result.reason
        if result.outcome == "rejected":
            assert "対応していない種別" in result.reason


KINDS_BY_TYPE = {
    "VPWW50": "weather_warning", "VPWW53": "weather_warning", "VPWW54": "weather_warning",
    "VPWW55": "weather_warning", "VPWW56": "weather_warning", "VPWW57": "weather_warning",
    "VPWW58": "weather_warning", "VPWW59": "weather_warning", "VPWW60": "weather_warning",
    "VPWW61": "weather_warning", "VPWP50": None, "VXWW50": "landslide", "VPOA50": "record_rain",
    "VXSE51": "seismic", "VXSE53": "seismic", "VXSE52": None, "VTSE41": "tsunami", "VTSE51": None,
    "VXKOii": "flood_forecast", "VFVO50": "volcano", "VYSE50": "nankai", "VYSE51": None, "VXSE43": None,
    "VPHW50": None, "VPFD50": None,
}


def test_telegram_types_map_to_kinds() -> None:
    seen: set[str] = set()
    for path in _official():
        kind = KINDS_BY_TYPE.get(_telegram_type(path), "unlisted")
        if kind == "unlisted":
            continue
        try:
            alert = parse_alert(path.read_bytes())
        except InputError:
            continue
        assert alert.kind == kind, (path.name, alert.kind)
        seen.add(_telegram_type(path))
    assert seen == set(KINDS_BY_TYPE)


def test_vpww50_and_vpww53_of_one_issuance_have_different_keys() -> None:
    pairs = 0
    for path in _official():
        if _telegram_type(path) != "VPWW53":
            continue
        twin = path.with_name(path.name.replace("VPWW53", "VPWW50"))
        if not twin.exists():
            continue
        special, plain = parse_alert(path.read_bytes()), parse_alert(twin.read_bytes())
        assert special.thread == plain.thread and special.sent == plain.sent
        assert special.key != plain.key and special.scheme_rank > plain.scheme_rank
        pairs += 1
    assert pairs >= 5


def _municipality_for(alert: Alert, policies: Policies) -> Municipality | None:
    """A municipality made from the alert's first changing area (a region: a municipality in it)."""
    area = next((a for a in alert.areas if a.status in ("issue", "update", "lift")), None)
    if area is None:
        return None
    if area.code_type == "seismic_area":
        code = min(seismic_regions.cities_in(area.code), default="")
    elif area.code_type == "nation":
        code = "13211"
    else:
        code = area.code[:5]
    if not code.isascii() or not code.isdigit() or len(code) != 5:
        return None
    base = policies.get("kodaira")
    assert base is not None
    name = area.name.split("県")[-1].split("都")[-1] if area.code_type == "city" else "試験市"
    config = base.alerts.model_copy(update={"area_codes": (code,), "area_names": (area.name,),
                                            "kinds": tuple(ALERT_KINDS)})
    return base.model_copy(update={"id": "sample", "name": name or "試験市", "alerts": config})


def test_official_telegrams_planned_for_a_city_they_address(policies: Policies) -> None:
    planned = 0
    for path in _official():
        try:
            alerts = parse_document(path.read_bytes())
        except InputError:
            continue
        for alert in alerts:
            municipality = _municipality_for(alert, policies)
            if municipality is None or alert.kind is None:
                continue
            plan = plan_for(alert, municipality, now=alert.sent + timedelta(minutes=1))
            if plan.ignored is not None:
                continue
            planned += 1
            for post in (p for p in plan.posts if p.skip_reason is None):
                assert not NOT_WARNINGS.search(post.text), (path.name, post.text)
                assert "発表）" in post.text and "避難勧告" not in post.text, (path.name, post.text)
                if plan.action in ("lift", "ended", "cancel"):
                    for phrase in CALLS_TO_ACT:
                        assert phrase not in post.text, (path.name, phrase, post.text)
                if plan.action == "lift":
                    assert post.text.startswith(("【解除】", "【訓練】【解除】")), (path.name, post.text)
    assert planned >= 100  # 107 of the 546 address a municipality with something to post


def test_intensity_by_region_reaches_the_municipalities_in_it(policies: Policies) -> None:
    """震度速報 (VXSE51) names regions only; 小平市 is in 東京都多摩東部."""
    reached = 0
    for path in _official():
        if _telegram_type(path) != "VXSE51":
            continue
        alert = parse_alert(path.read_bytes())
        for area in (a for a in alert.areas if a.code_type == "seismic_area" and a.status == "issue"):
            city = min(seismic_regions.cities_in(area.code))
            municipality = _municipality_for(alert.model_copy(update={"areas": (area,)}), policies)
            assert municipality is not None and municipality.alerts.area_codes == (city,)
            plan = plan_for(alert, municipality, now=alert.sent + timedelta(minutes=1))
            if plan.ignored is None:
                assert all(f"{area.name}（試験市を含む地域）で震度" in p.text for p in plan.posts if not p.skip_reason)
                reached += 1
    assert reached >= 5
    assert "13211" in seismic_regions.cities_in("351")
