"""Every file in ../shared/alert_samples/ is turned into the right posts or refused/ignored with the right reason.

Without --municipality the seed cities' own areas decide (only the 2011 tsunami and the tsunami drill
concern a seed city: 逗子市/木更津市 are on the coast). With municipality="kodaira" (or a coastal city) the
alert is treated as addressed to that city, which shows what it would post.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.alerts import dry_run, parse_alert
from gateway.policy import Policies, load_policies

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "alert_samples"

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/alert_samples is not present")

# path -> (outcome as received, words in its reason, forced city or None, forced outcome, words in every forced post)
EXPECTED: dict[str, tuple[str, tuple[str, ...], str | None, str, tuple[str, ...]]] = {
    "cap/Oasis_AmberAlert.xml": ("rejected", ("対応していない種別", "Child Abduction"), None, "", ()),
    "cap/Oasis_HomelandAlert.xml": ("rejected", ("対応していない種別",), None, "", ()),
    "cap/Oasis_ThunderstormWarning.xml": ("ignored", ("対象地域外",), None, "", ()),
    "cap/Oasis_EarthquakeReport.xml": ("ignored", ("対象地域外",), "kodaira", "accepted",
                                       ("【続報】【地震情報】", "M3.4")),
    "cap/australia_bom.cap": ("ignored", ("対象地域外",), None, "", ()),
    "cap/canada.cap": ("rejected", ("対応していない種別", "thunderstorm"), None, "", ()),
    "cap/earthquake.cap": ("ignored", ("対象地域外",), "kodaira", "accepted", ("【地震情報】", "M6.3")),
    "cap/mexico.xml": ("rejected", ("対応していない種別",), None, "", ()),
    "cap/no_info_tag.cap": ("ignored", ("取消",), "kodaira", "accepted", ("【取消】", "取り消されました")),
    "cap/ph.cap": ("rejected", ("対応していない種別",), None, "", ()),
    "cap/taiwan.cap": ("rejected", ("対応していない種別", "水庫洩洪"), None, "", ()),
    "cap/wcatwc-warning.cap": ("ignored", ("対象地域外",), "kodaira", "accepted", ("【続報】【津波警報】",)),
    "jma_official_samples/15_15_01_220314_VPWW54.xml": ("ignored", ("藍住町",), "kodaira", "accepted",
                                                        ("【気象警報】", "高潮警報", "発表")),
    "jma_official_samples/15_16_03_241226_VPWW55.xml": ("ignored", ("稚内市",), "kodaira", "accepted",
                                                        ("【気象警報】", "レベル４大雨危険警報")),
    "jma_official_samples/17_02_01_190529_VXWW50.xml": ("ignored", ("松前町",), "kodaira", "accepted",
                                                        ("【土砂災害警戒情報】", "警戒レベル4相当")),
    "jma_official_samples/18_03_01_190412_VPOA50.xml": ("ignored", ("札幌市中央区",), "kodaira", "accepted",
                                                        ("【記録的短時間大雨情報】", "札幌市中央区付近で約100ミリ")),
    "jma_official_samples/32-35_01_03_100514_VXSE53.xml": ("ignored", ("対象地域外",), "kodaira", "ignored", ()),
    "jma_official_samples/32-35_06_06_100915_VXSE53.xml": ("ignored", ("取消",), "kodaira", "accepted",
                                                           ("【取消】", "地震情報", "気象庁")),
    "jma_official_samples/32-39_11_02_250206_VTSE41.xml": ("accepted", ("逗子市",), "zushi", "accepted",
                                                           ("【津波注意報】", "相模湾・三浦半島")),
    "jma_official_samples/32-39_13_07_250206_VTSE41.xml": ("accepted", ("木更津市", "逗子市", "サンドボックス"),
                                                           "kisarazu", "accepted",
                                                           ("【訓練】【解除】", "東京湾内湾", "津波注意報は解除")),
    "jma_official_samples/38-39_03_01_210805_VTSE41.xml": ("ignored", ("取消",), "kodaira", "accepted",
                                                           ("【取消】", "津波情報")),
    "jma_real_feed/20210216233339_0_VXSE53_010000.xml": ("ignored", ("田村市",), "kodaira", "ignored", ()),
    "jma_real_feed/20220918154907_08013775_VTSE41.xml": ("ignored", ("宮古島・八重山地方",), "kodaira", "accepted",
                                                         ("【津波注意報】", "宮古島・八重山地方")),
    "jma_real_feed/20220918171502_07401528_VTSE41.xml": ("ignored", ("宮古島・八重山地方",), "kodaira", "accepted",
                                                         ("【解除】", "津波注意報は解除")),
    "lalert_commons/sample1.xml": ("ignored", ("282103",), "kodaira", "accepted",
                                   ("【避難情報】", "避難指示［警戒レベル4］", "発令")),
    "lalert_commons/soap1.xml": ("ignored", ("千代田区",), "kodaira", "accepted",
                                 ("【訓練】【避難情報】", "高齢者等避難［警戒レベル3］", "一ツ橋一丁目")),
}
DRILLS = {"cap/ph.cap", "jma_official_samples/32-39_13_07_250206_VTSE41.xml", "lalert_commons/soap1.xml"}


@pytest.fixture(scope="module")
def policies() -> Policies:
    return load_policies(ROOT / "config" / "municipalities")


def _sample_files() -> set[str]:
    return {str(p.relative_to(SAMPLES)) for p in SAMPLES.rglob("*") if p.is_file() and p.suffix in (".xml", ".cap")}


def test_every_sample_is_covered() -> None:
    assert _sample_files() == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_as_received(policies: Policies, name: str) -> None:
    outcome, words, _, _, _ = EXPECTED[name]
    result = dry_run((SAMPLES / name).read_bytes(), policies)
    assert result.outcome == outcome, result.reason
    assert result.drill == (name in DRILLS)
    for word in words:
        assert word in result.reason, (word, result.reason)
    if outcome == "accepted":
        assert result.posts and all(not p.sandbox_only or result.drill for p in result.posts)


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e[2]))
def test_sample_for_a_seed_city(policies: Policies, name: str) -> None:
    _, _, municipality, outcome, words = EXPECTED[name]
    result = dry_run((SAMPLES / name).read_bytes(), policies, municipality=municipality)
    assert result.outcome == outcome, result.reason
    texts = [p["text"] for p in result.to_json()["posts"]]  # type: ignore[index]
    assert bool(texts) == (outcome == "accepted")
    for text in texts:
        assert isinstance(text, str) and "避難勧告" not in text and "避難準備" not in text
        for word in words:
            assert word in text, (word, text)
        if result.drill:
            assert text.startswith("【訓練】")


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


def test_jma_cancellations_are_cancels() -> None:
    for name in ("32-35_06_06_100915_VXSE53.xml", "38-39_03_01_210805_VTSE41.xml"):
        alert = parse_alert((SAMPLES / "jma_official_samples" / name).read_bytes())
        assert alert.action == "cancel" and alert.key.endswith("|取消")
