"""Normalisation with an offset map: spans point into the original text."""

from __future__ import annotations

from gateway.pipeline.checks.text import normalise
from tests.unit.test_checks_fixtures import check, only


def test_full_width_digits_normalise_and_map_back() -> None:
    norm, starts, _ = normalise("番号：１２３")
    assert norm == "番号:123"
    assert [starts[i] for i in range(len(norm))] == [0, 1, 2, 3, 4, 5]


def test_half_width_kana_with_voiced_mark_maps_to_both_original_chars() -> None:
    norm, starts, ends = normalise("ｶﾞｽ")
    assert norm == "ガス"
    assert (starts[0], ends[0]) == (0, 2)
    assert (starts[1], ends[1]) == (2, 3)


def test_dashes_between_digits_are_unified_and_zero_width_chars_dropped() -> None:
    norm, _, _ = normalise("090ー1234―5678 極\u200b秘 ラーメン")
    assert norm == "090-1234-5678 極秘 ラーメン"


def test_circled_secret_stamp_keeps_its_stamp_form() -> None:
    norm, starts, ends = normalise("㊙資料")
    assert norm == "【秘】資料"
    assert starts[:3] == [0, 0, 0] and ends[:3] == [1, 1, 1]


def test_span_of_full_width_my_number_is_in_the_original_text() -> None:
    text = "確認済み。マイナンバー：１２３４　５６７８　９０１８です"
    finding = only(check(text), "personal.my_number")[0]
    assert text[finding.start:finding.end] == "１２３４　５６７８　９０１８"


def test_span_of_marker_after_half_width_kana() -> None:
    text = "ｶﾞｲﾄﾞﾌﾞｯｸ【極秘】"
    finding = only(check(text), "confidential")[0]
    assert text[finding.start:finding.end] == "【極秘】"
