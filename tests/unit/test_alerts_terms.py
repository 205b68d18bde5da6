"""Terms and area codes: legal evacuation terms, intensity labels, JIS code forms."""

from __future__ import annotations

import pytest

from gateway.alerts import terms
from gateway.alerts.areas import city_key, code_type_of, is_prefecture_code


@pytest.mark.parametrize(
    ("source", "term"),
    [
        ("避難準備・高齢者等避難開始", "高齢者等避難"),
        ("避難準備", "高齢者等避難"),
        ("避難勧告", "避難指示"),
        ("避難指示（緊急）", "避難指示"),
        ("避難指示", "避難指示"),
        ("緊急安全確保", "緊急安全確保"),
        ("避難勧告・指示情報 発令", "避難指示"),
        ("お知らせ", None),
    ],
)
def test_evacuation_terms_map_to_current_law(source: str, term: str | None) -> None:
    assert terms.evacuation_type(source) == term
    if term:
        assert terms.LEVEL_OF[term] == {"高齢者等避難": 3, "避難指示": 4, "緊急安全確保": 5}[term]


def test_clean_rewrites_abolished_terms_and_folds_digits() -> None:
    cleaned = terms.clean("避難勧告を発令。避難準備・高齢者等避難開始。約１００ミリ、Ｍ３．７")
    assert "避難勧告" not in cleaned and "避難準備" not in cleaned
    assert "約100ミリ" in cleaned and "M3.7" in cleaned
    assert terms.clean("（括弧）と、句読点。") == "（括弧）と、句読点。"  # Japanese punctuation untouched


def test_intensity_codes_and_labels() -> None:
    assert terms.intensity_code("5-") == "5-" and terms.intensity_code("震度５弱") == "5-"
    assert terms.intensity_code("6強") == "6+" and terms.intensity_code("8") is None
    assert terms.intensity_label("6-") == "6弱"
    assert terms.intensity_rank("5-") > terms.intensity_rank("4") > terms.intensity_rank(None)


def test_levels_in_new_warning_names() -> None:
    assert terms.level_in("レベル４大雨危険警報") == 4
    assert terms.level_in("警戒レベル３相当") == 3
    assert terms.level_in("大雨警報") is None


@pytest.mark.parametrize(
    ("code", "city", "kind"),
    [
        ("13211", "13211", "city"),
        ("132110", "13211", "city"),  # with check digit
        ("1321100", "13211", "city"),  # JMA 市町村等
        ("3620701", "36207", "city"),  # JMA part of a city
        ("13", "", "prefecture"),
        ("13000", "13000", "prefecture"),
        ("130001", "13000", "prefecture"),
        ("AKZ185", "", "other"),
    ],
)
def test_code_forms(code: str, city: str, kind: str) -> None:
    assert city_key(code) == city
    assert code_type_of(code) == kind
    assert is_prefecture_code(code) == (kind == "prefecture")
