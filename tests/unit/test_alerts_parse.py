"""Parsing: every format, identity/lifecycle keys, drills, hostile and malformed input, speed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gateway.alerts import Alert, parse_alert
from gateway.errors import InputError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alerts"


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse(name: str) -> Alert:
    return parse_alert(load(name))


@pytest.mark.parametrize(
    ("name", "fmt", "kind", "action", "drill"),
    [
        ("jma_weather_r06_kodaira_level4.xml", "jma", "weather_warning", "issue", False),
        ("jma_weather_h27_kodaira_lift.xml", "jma", "weather_warning", "lift", False),
        ("jma_weather_special_kodaira.xml", "jma", "weather_warning", "issue", False),
        ("jma_weather_test_status.xml", "jma", "weather_warning", "issue", True),
        ("jma_landslide_atsugi.xml", "jma", "landslide", "issue", False),
        ("jma_landslide_atsugi_lift.xml", "jma", "landslide", "lift", False),
        ("jma_record_rain_kodaira.xml", "jma", "record_rain", "issue", False),
        ("jma_quake_kodaira_5lower.xml", "jma", "seismic", "issue", False),
        ("jma_quake_kodaira_correction.xml", "jma", "seismic", "update", False),
        ("jma_quake_cancel.xml", "jma", "seismic", "cancel", False),
        ("jma_tsunami_warning_zushi.xml", "jma", "tsunami", "issue", False),
        ("jma_tsunami_lift_zushi.xml", "jma", "tsunami", "lift", False),
        ("jma_tsunami_drill_zushi.xml", "jma", "tsunami", "issue", True),
        ("jma_unsupported_tornado.xml", "jma", None, "issue", False),
        ("lalert_kodaira_order.xml", "edxl", "evacuation", "issue", False),
        ("lalert_kodaira_order_update.xml", "edxl", "evacuation", "update", False),
        ("lalert_kodaira_order_lift.xml", "edxl", "evacuation", "lift", False),
        ("lalert_kodaira_order_cancel.xml", "edxl", "evacuation", "cancel", False),
        ("lalert_soap_kodaira_emergency.xml", "edxl", "evacuation", "issue", False),
        ("lalert_kodaira_exercise.xml", "edxl", "evacuation", "issue", True),
        ("lalert_kodaira_shelter.xml", "edxl", "shelter", "issue", False),
        ("cap_ja_evacuation.xml", "cap", "evacuation", "issue", False),
        ("cap_ja_evacuation_update.xml", "cap", "evacuation", "update", False),
        ("cap_ja_cancel.xml", "cap", None, "cancel", False),
        ("cap_exercise.xml", "cap", "evacuation", "issue", True),
        ("cap_draft.xml", "cap", "evacuation", "issue", False),
        ("cap11_ja_evacuation.xml", "cap", "evacuation", "issue", False),
        ("json_shelter_kodaira.json", "json", "shelter", "issue", False),
        ("json_evacuation_lift_kodaira.json", "json", "evacuation", "lift", False),
        ("json_exercise_kodaira.json", "json", "seismic", "issue", True),
    ],
)
def test_format_kind_action_and_drill(name: str, fmt: str, kind: str | None, action: str, drill: bool) -> None:
    alert = parse(name)
    assert (alert.format, alert.kind, alert.action, alert.drill) == (fmt, kind, action, drill)
    assert len(alert.sha256) == 64 and alert.size == len(load(name))


def test_weather_warning_reads_each_city_item() -> None:
    alert = parse("jma_weather_r06_kodaira_level4.xml")
    by_code = {a.code: a for a in alert.areas}
    assert by_code["1321100"].status == "issue" and by_code["1321100"].level == 4
    assert by_code["1321100"].labels == ("レベル４大雨危険警報",)
    assert by_code["1321300"].status == "continue"  # 継続: nothing new to post
    assert by_code["1320100"].status == "none"  # an advisory alone is not a warning
    assert alert.area_codes == ("1321100",)


def test_weather_lift_names_the_lifted_warnings() -> None:
    area = next(a for a in parse("jma_weather_h27_kodaira_lift.xml").areas if a.code == "1321100")
    assert area.status == "lift" and area.lifted == ("大雨警報", "洪水警報")


def test_tsunami_areas_grade_and_lift() -> None:
    issue = {a.code: a for a in parse("jma_tsunami_warning_zushi.xml").areas}
    assert issue["330"].labels[0] == "津波警報" and issue["312"].labels[0] == "津波注意報"
    assert issue["380"].status == "none"  # 津波予報（若干の海面変動） is not posted
    lift = {a.code: a for a in parse("jma_tsunami_lift_zushi.xml").areas}
    assert lift["330"].status == "lift" and lift["330"].lifted == ("津波警報",)


def test_intensity_per_city() -> None:
    alert = parse("jma_quake_kodaira_5lower.xml")
    cities = {a.code: a.intensity for a in alert.areas if a.code_type == "city"}
    assert cities == {"1321100": "5-", "1321300": "4", "1421200": "2"}
    assert alert.details["magnitude"] == "M5.8" and alert.details["max_intensity"] == "5-"


def test_jma_keys_and_threads() -> None:
    issue, correction, cancel = (parse(n) for n in (
        "jma_quake_kodaira_5lower.xml", "jma_quake_kodaira_correction.xml", "jma_quake_cancel.xml"))
    assert issue.key == "jma|20260810101200|1|地震情報|震源・震度に関する情報"
    assert correction.key == "jma|20260810101200|2|地震情報|震源・震度に関する情報|訂正" and correction.correction
    assert cancel.key == "jma|20260810101200|3|地震情報|震源・震度に関する情報|取消"
    assert issue.thread == correction.thread == cancel.thread == "jma|20260810101200|地震情報"


def test_jma_empty_serial_uses_report_time_so_a_lift_is_not_a_duplicate() -> None:
    issue, lift = parse("jma_tsunami_warning_zushi.xml"), parse("jma_tsunami_lift_zushi.xml")
    assert issue.thread == lift.thread
    assert issue.key != lift.key


def test_duplicate_documents_have_the_same_key() -> None:
    for name in ("jma_weather_r06_kodaira_level4.xml", "lalert_kodaira_order.xml", "cap_ja_evacuation.xml",
                 "json_shelter_kodaira.json"):
        assert parse(name).key == parse_alert(load(name)).key
    # the same L-Alert content re-sent with whitespace changes is still the same document revision
    assert parse_alert(load("lalert_kodaira_order.xml").replace(b"\n", b"\n  ")).key == parse(
        "lalert_kodaira_order.xml").key


def test_lalert_revisions_reference_the_previous_one() -> None:
    first, update, lift = (parse(n) for n in (
        "lalert_kodaira_order.xml", "lalert_kodaira_order_update.xml", "lalert_kodaira_order_lift.xml"))
    assert first.key == "edxl|doc-kodaira-0702|1" and first.references == ()
    assert update.references == ("edxl|doc-kodaira-0702|1",)
    assert lift.references == ("edxl|doc-kodaira-0702|2",)
    assert first.thread == update.thread == lift.thread == "edxl|doc-kodaira-0702"


def test_cap_references_and_thread() -> None:
    alert, update, cancel = (parse(n) for n in (
        "cap_ja_evacuation.xml", "cap_ja_evacuation_update.xml", "cap_ja_cancel.xml"))
    assert alert.key == "cap|bousai@city.kodaira.example|KDR-2026-001|2026-07-02T10:00:00+09:00"
    assert update.references == (alert.key,)
    assert cancel.references == (alert.key, update.key)
    assert alert.thread == update.thread == cancel.thread == alert.key
    assert cancel.areas == () and cancel.kind is None


def test_cap_japanese_info_is_chosen_and_jis_codes_read() -> None:
    alert = parse("cap11_ja_evacuation.xml")
    assert alert.details["evacuation_type"] == "高齢者等避難" and alert.details["level"] == 3
    assert alert.area_codes == ("142085",)


def test_legacy_terms_are_mapped_to_current_ones() -> None:
    assert parse("lalert_kodaira_legacy_kankoku.xml").details["evacuation_type"] == "避難指示"
    assert parse("lalert_kodaira_legacy_junbi.xml").details["evacuation_type"] == "高齢者等避難"
    assert parse("json_evacuation_legacy_kodaira.json").details["evacuation_type"] == "避難指示"
    assert "避難勧告" not in parse("json_evacuation_legacy_kodaira.json").headline


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("hostile_billion_laughs.xml", "xml_dtd_forbidden"),
        ("hostile_xxe.xml", "xml_dtd_forbidden"),
        ("hostile_xxe_parameter.xml", "xml_dtd_forbidden"),
        ("malformed_unclosed.xml", "xml_malformed"),
        ("wrong_root.xml", "alert_unsupported_format"),
        ("not_xml.txt", "alert_unsupported_format"),
        ("jma_missing_head.xml", "alert_invalid"),
        ("lalert_missing_document_id.xml", "alert_invalid"),
        ("cap_missing_identifier.xml", "alert_invalid"),
        ("json_invalid.json", "alert_invalid"),
    ],
)
def test_refused_with_code_and_where(name: str, code: str) -> None:
    with pytest.raises(InputError) as caught:
        parse(name)
    assert caught.value.code == code
    assert caught.value.problems and caught.value.problems[0].field
    assert caught.value.message  # a Japanese reason


def test_xxe_never_reads_the_file() -> None:
    with pytest.raises(InputError) as caught:
        parse("hostile_xxe.xml")
    assert "root:" not in caught.value.message


def test_malformed_names_line_and_column() -> None:
    with pytest.raises(InputError) as caught:
        parse("malformed_unclosed.xml")
    assert caught.value.problems[0].field.startswith("line 6")


def test_oversize_is_refused_before_parsing() -> None:
    raw = load("cap_ja_evacuation.xml")
    with pytest.raises(InputError) as caught:
        parse_alert(raw + b" " * 2_000, max_bytes=len(raw) + 100)
    assert caught.value.code == "too_large"
    with pytest.raises(InputError):
        parse_alert(b"<" * 1_000_001)


def test_empty_document_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        parse_alert(b"  \n")
    assert caught.value.code == "empty"


def test_json_detected_by_content_type_or_shape() -> None:
    raw = load("json_shelter_kodaira.json")
    assert parse_alert(raw, content_type="application/json").format == "json"
    assert parse_alert(b"\n" + raw).format == "json"


def test_unknown_json_kind_parses_to_none() -> None:
    raw = load("json_other_city.json").replace(b'"kind": "evacuation"', b'"kind": "blizzard"')
    assert parse_alert(raw).kind is None


@pytest.mark.parametrize(("name", "withheld", "words"), [
    ("cap_ack.xml", "receipt", "受信確認"),
    ("cap_draft.xml", "draft", "下書き"),
])
def test_receipts_and_drafts_are_withheld(name: str, withheld: str, words: str) -> None:
    alert = parse(name)
    assert alert.withheld == withheld and words in alert.withheld_reason and not alert.drill


def test_parsing_is_fast() -> None:
    docs = [load(n) for n in ("jma_tsunami_warning_zushi.xml", "lalert_soap_kodaira_emergency.xml",
                              "cap_ja_evacuation.xml", "jma_weather_r06_kodaira_level4.xml")] * 25
    started = time.perf_counter()
    for raw in docs:
        parse_alert(raw)
    per_alert_ms = (time.perf_counter() - started) * 1000 / len(docs)
    assert per_alert_ms < 5, per_alert_ms  # ~0.1-0.3 ms on the 2-core box; generous for CI noise


def test_new_scheme_downgrade_is_an_update() -> None:
    raw = load("jma_weather_r06_kodaira_level4.xml").replace(
        "<Name>レベル４大雨危険警報</Name><Code>00</Code><Status>発表</Status><LastKind><Name>レベル３大雨警報".encode(),
        "<Name>レベル３大雨警報</Name><Code>00</Code><Status>発表</Status><LastKind><Name>レベル４大雨危険警報".encode())
    area = next(a for a in parse_alert(raw).areas if a.code == "1321100")
    assert area.status == "update" and area.labels == ("レベル３大雨警報",) and area.level == 3
