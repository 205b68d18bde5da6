"""`dry_run`: the JSON object of `gateway alert --dry-run` and its exit code for every own fixture."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gateway.alerts import dry_run, parse_alert
from gateway.errors import InputError
from gateway.policy import Policies, load_policies

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "alerts"

# fixture -> (outcome, drill, accounts that post, words the reason must contain)
EXPECTED: dict[str, tuple[str, bool, set[str], tuple[str, ...]]] = {
    "cap11_ja_evacuation.xml": ("accepted", False, {"zushi_x", "zushi_facebook"}, ("逗子市",)),
    "cap_ack.xml": ("ignored", False, set(), ("受信確認",)),
    "cap_draft.xml": ("ignored", False, set(), ("下書き",)),
    "cap_exercise.xml": ("accepted", True, {"kodaira_x", "kodaira_facebook"}, ("訓練",)),
    "cap_ja_cancel.xml": ("ignored", False, set(), ("取消",)),
    "cap_ja_evacuation.xml": ("accepted", False, {"kodaira_x", "kodaira_facebook"}, ("小平市",)),
    "cap_ja_evacuation_update.xml": ("accepted", False, {"kodaira_x", "kodaira_facebook"}, ("続報",)),
    "cap_missing_identifier.xml": ("rejected", False, set(), ("identifier",)),
    "cap_prefecture_special_warning.xml": ("accepted", False, {"kodaira_x", "kodaira_facebook"}, ("気象警報",)),
    "cap_prefecture_tsunami.xml": ("ignored", False, set(), ("対象地域外",)),
    "hostile_billion_laughs.xml": ("rejected", False, set(), ("DTD",)),
    "hostile_xxe.xml": ("rejected", False, set(), ("DTD",)),
    "hostile_xxe_parameter.xml": ("rejected", False, set(), ("DTD",)),
    "jma_landslide_atsugi.xml": ("accepted", False, {"atsugi_x", "atsugi_pr_x", "atsugi_line"}, ("厚木市",)),
    "jma_landslide_atsugi_lift.xml": ("accepted", False, {"atsugi_x", "atsugi_pr_x", "atsugi_line"}, ("解除",)),
    "jma_missing_head.xml": ("rejected", False, set(), ("Head",)),
    "jma_quake_cancel.xml": ("ignored", False, set(), ("取消",)),
    "jma_quake_kodaira_5lower.xml": ("accepted", False, {"kodaira_x", "kodaira_facebook"}, ("地震情報",)),
    "jma_quake_kodaira_correction.xml": ("accepted", False, {"kodaira_x", "kodaira_facebook"}, ("訂正",)),
    "jma_record_rain_kodaira.xml": ("accepted", False, {"kodaira_x", "kodaira_facebook"}, ("記録的短時間大雨",)),
    "jma_tsunami_drill_zushi.xml": ("accepted", True, {"zushi_x", "zushi_facebook"}, ("訓練",)),
    "jma_tsunami_lift_zushi.xml": ("accepted", False, {"zushi_x", "zushi_facebook", "kisarazu_x",
                                                       "kisarazu_facebook"}, ("解除",)),
    "jma_tsunami_warning_zushi.xml": ("accepted", False, {"zushi_x", "zushi_facebook", "kisarazu_x",
                                                          "kisarazu_facebook"}, ("津波",)),
    "jma_unsupported_tornado.xml": ("rejected", False, set(), ("対応していない種別",)),
    "jma_weather_vpww50_kodaira.xml": ("accepted", False, {"kodaira_x", "kodaira_facebook"}, ("気象警報",)),
    "jma_weather_vpww53_kodaira.xml": ("accepted", False, {"kodaira_x", "kodaira_facebook"}, ("気象警報",)),
    "jma_weather_wind_ends_kodaira.xml": ("accepted", False, {"kodaira_x", "kodaira_facebook"}, ("解除",)),
    "jma_quake_region_kodaira.xml": ("accepted", False, {"kodaira_x", "kodaira_facebook", "atsugi_x"}, ("地震情報",)),
    "jma_flood_sagami_atsugi.xml": ("ignored", False, set(), ("掲載しない設定",)),
    "jma_nankai_advisory.xml": ("ignored", False, set(), ("掲載しない設定",)),
    "jma_weather_h27_kodaira_continue.xml": ("ignored", False, set(), ("継続",)),
    "jma_weather_h27_kodaira_lift.xml": ("accepted", False, {"kodaira_x", "kodaira_facebook"}, ("解除",)),
    "jma_weather_r06_kodaira_level4.xml": ("accepted", False, {"kodaira_x", "kodaira_facebook"}, ("気象警報",)),
    "jma_weather_special_kodaira.xml": ("accepted", False, {"kodaira_x", "kodaira_facebook"}, ("気象警報",)),
    "jma_weather_test_status.xml": ("accepted", True, {"kodaira_x", "kodaira_facebook"}, ("訓練",)),
    "json_evacuation_legacy_kodaira.json": ("accepted", False, {"kodaira_x", "kodaira_facebook"}, ("避難情報",)),
    "json_evacuation_lift_kodaira.json": ("accepted", False, {"kodaira_x", "kodaira_facebook"}, ("解除",)),
    "json_exercise_kodaira.json": ("accepted", True, {"kodaira_x", "kodaira_facebook"}, ("訓練",)),
    "json_invalid.json": ("rejected", False, set(), ("id",)),
    "json_other_city.json": ("ignored", False, set(), ("対象地域外",)),
    "json_shelter_kodaira.json": ("accepted", False, {"kodaira_x", "kodaira_facebook"}, ("避難所",)),
    "lalert_kodaira_exercise.xml": ("accepted", True, {"kodaira_x", "kodaira_facebook"}, ("訓練",)),
    "lalert_kodaira_legacy_junbi.xml": ("accepted", False, {"kodaira_x", "kodaira_facebook"}, ("避難情報",)),
    "lalert_kodaira_legacy_kankoku.xml": ("accepted", False, {"kodaira_x", "kodaira_facebook"}, ("避難情報",)),
    "lalert_kodaira_order.xml": ("accepted", False, {"kodaira_x", "kodaira_facebook"}, ("避難情報",)),
    "lalert_kodaira_order_cancel.xml": ("accepted", False, {"kodaira_x", "kodaira_facebook"}, ("取消",)),
    "lalert_kodaira_order_lift.xml": ("accepted", False, {"kodaira_x", "kodaira_facebook"}, ("解除",)),
    "lalert_kodaira_order_update.xml": ("accepted", False, {"kodaira_x", "kodaira_facebook"}, ("続報",)),
    "lalert_kodaira_shelter.xml": ("accepted", False, {"kodaira_x", "kodaira_facebook"}, ("避難所",)),
    "lalert_missing_document_id.xml": ("rejected", False, set(), ("documentID",)),
    "lalert_other_city.xml": ("ignored", False, set(), ("対象地域外",)),
    "lalert_soap_kodaira_emergency.xml": ("accepted", False, {"kodaira_x", "kodaira_facebook"}, ("避難情報",)),
    "malformed_unclosed.xml": ("rejected", False, set(), ("XML",)),
    "not_xml.txt": ("rejected", False, set(), ("JSON",)),
    "wrong_root.xml": ("rejected", False, set(), ("対応していない形式",)),
}


@pytest.fixture(scope="module")
def policies() -> Policies:
    return load_policies(ROOT / "config" / "municipalities")


def received_at(raw: bytes) -> datetime | None:
    """A minute after the document was issued: as a feed delivers it (None when it does not parse)."""
    try:
        return parse_alert(raw).sent + timedelta(minutes=1)
    except InputError:
        return None


def test_every_fixture_has_an_expectation() -> None:
    assert {p.name for p in FIXTURES.iterdir()} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dry_run_outcome(policies: Policies, name: str) -> None:
    outcome, drill, accounts, words = EXPECTED[name]
    raw = (FIXTURES / name).read_bytes()
    result = dry_run(raw, policies, now=received_at(raw))
    out = result.to_json()
    assert set(out) == {"outcome", "reason", "drill", "posts"}
    assert json.loads(json.dumps(out, ensure_ascii=False)) == out
    assert (out["outcome"], out["drill"]) == (outcome, drill), out["reason"]
    assert result.exit_code == (2 if outcome == "rejected" else 0)
    posted = {p["account"] for p in result.to_json()["posts"]}  # type: ignore[union-attr]
    platform_posts = {p.account for p in result.posts if p.skip_reason is None}
    assert posted == platform_posts
    if accounts:
        assert accounts <= posted, (accounts, posted)
    else:
        assert posted == set()
    for word in words:
        assert word in out["reason"], (word, out["reason"])
    if drill:
        assert all(p.text.startswith("【訓練】") for p in result.posts if p.skip_reason is None)


def test_municipality_option_only_narrows(policies: Policies) -> None:
    raw = (FIXTURES / "lalert_other_city.xml").read_bytes()  # 加古川市's evacuation order
    refused = dry_run(raw, policies, municipality="kodaira", now=received_at(raw))
    assert refused.outcome == "rejected" and refused.exit_code == 2 and refused.posts == []
    assert "小平市はこの情報の対象地域に含まれていません" in refused.reason and "加古川市" in refused.reason
    own = (FIXTURES / "jma_tsunami_warning_zushi.xml").read_bytes()  # 逗子市 and 木更津市
    narrowed = dry_run(own, policies, municipality="zushi", now=received_at(own))
    assert narrowed.outcome == "accepted" and {p.account for p in narrowed.posts} == {"zushi_x", "zushi_facebook"}
    cancel = (FIXTURES / "jma_quake_cancel.xml").read_bytes()  # names no areas: where the earlier went
    follow_up = dry_run(cancel, policies, municipality="kodaira", now=received_at(cancel))
    assert follow_up.outcome == "accepted" and all(p.text.startswith("【取消】") for p in follow_up.posts)


def test_a_drill_may_be_sent_to_any_sandbox(policies: Policies) -> None:
    raw = (FIXTURES / "jma_tsunami_drill_zushi.xml").read_bytes()  # 逗子市's drill, tried in 小平市
    result = dry_run(raw, policies, municipality="kodaira", now=received_at(raw))
    assert result.outcome == "accepted" and result.posts
    assert all(p.sandbox_only and p.text.startswith("【訓練】") for p in result.posts)


def test_unknown_municipality_is_rejected(policies: Policies) -> None:
    result = dry_run((FIXTURES / "lalert_kodaira_order.xml").read_bytes(), policies, municipality="nowhere")
    assert result.outcome == "rejected" and result.exit_code == 2


def test_oversize_is_rejected(policies: Policies) -> None:
    result = dry_run(b"<a>" + b"x" * 1_000_001 + b"</a>", policies)
    assert result.outcome == "rejected" and "大きすぎ" in result.reason
