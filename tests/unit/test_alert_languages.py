"""Alert posts in every language (issue 17): the accounts' `languages`, templates for every meaning in
every language with no slot left unfilled, fitted to every platform, drills marked; やさしい日本語 rules;
where each official term comes from; docs/alert-texts.md up to date; the dry run lists every language."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.alerts import catalog, dry_run, fit, multilingual, parse_alert
from gateway.alerts.multilingual import correction_mark, drill_mark
from gateway.errors import InputError
from gateway.models import Platform
from gateway.policy import LANGUAGES, load_municipality, load_policies

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "alerts"
MEANINGS = catalog.meanings()
OTHER = [code for code in LANGUAGES if code != "ja"]


def _kisarazu_with(tmp_path: Path, line: str) -> Path:
    source = (ROOT / "config" / "municipalities" / "kisarazu.toml").read_text(encoding="utf-8")
    path = tmp_path / "kisarazu.toml"
    path.write_text(source.replace('languages = ["ja", "ja-easy", "en"]', line), encoding="utf-8")
    return path


def test_languages_default_to_japanese_and_keep_their_order() -> None:
    policies = load_policies(ROOT / "config" / "municipalities")
    kisarazu = policies.get("kisarazu")
    assert kisarazu is not None
    languages = {a.id: a.languages for a in kisarazu.accounts}
    assert languages["kisarazu_line"] == ("ja", "ja-easy", "en")
    assert languages["kisarazu_en_x"] == ("en",)
    assert languages["kisarazu_x"] == ("ja",)
    assert all(a.languages == ("ja",) for m in policies if m.id != "kisarazu" for a in m.accounts)


@pytest.mark.parametrize(("line", "words"), [
    ('languages = ["ja", "fr"]', ("unknown languages", "'fr'")),
    ('languages = ["ja", "ja"]', ("twice",)),
    ('languages = []', ("at least one",)),
    ('languages = ["ja", "ja-easy", "en", "zh-Hans", "ko", "vi"]', ("at most 5",)),
])
def test_bad_languages_are_refused_naming_file_account_and_value(tmp_path: Path, line: str,
                                                                 words: tuple[str, ...]) -> None:
    path = _kisarazu_with(tmp_path, line)
    with pytest.raises(InputError) as caught:
        load_municipality(path)
    message = caught.value.message
    assert str(path) in message and "accounts[kisarazu_line]" in message, message
    for word in words:
        assert word in message, message


def test_every_language_has_every_phrase_and_term() -> None:
    assert set(multilingual.languages()) == set(OTHER)
    phrases = multilingual.phrase_table()
    keys = set(phrases["en"])
    table = multilingual.term_table()
    for code in OTHER:
        assert set(phrases[code]) == keys, code
    for key, term in table["terms"].items():
        assert set(LANGUAGES) <= set(term), (key, set(LANGUAGES) - set(term))
        assert term["source"] in table["sources"], key
        for language, where in term.get("seen", {}).items():
            assert language in LANGUAGES and where in table["seen_at"], (key, language)


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_meaning_renders_fits_and_marks_drills(language: str) -> None:
    assert len(MEANINGS) >= 50
    # Every meaning, on the catalog's date and on the longest date line (12/31 23:59), drill or not.
    for meaning, sent, drill in itertools.product(MEANINGS, (catalog.SENT, catalog.WIDEST_SENT), (False, True)):
        draft = multilingual.render(meaning.view(drill, sent=sent), language)
        full = draft.full_text()
        assert not re.search(r"\{[a-z_]*\}", full), (meaning.name, language, full)  # no slot left unfilled
        assert "None" not in full and "  " not in full.replace("\n", ""), (meaning.name, language, full)
        for platform in fit.TEXT_PLATFORMS:
            text = fit.fit(draft, platform)
            assert fit.FITS[platform](text), (meaning.name, language, platform)
            for line in draft.required:  # what is said and what to do are never cut
                assert line in text, (meaning.name, language, platform, text)
            assert draft.footer in text
        if drill:
            assert full.startswith(drill_mark(language)), (meaning.name, language, full)
            assert multilingual.Lang(language).say("drill_note") in full if language != "ja" else "訓練です" in full
        else:
            assert drill_mark(language) not in full


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_a_correction_is_marked_once_in_every_language_and_fits(language: str) -> None:
    """An alert 訂正 says so in each language, after the drill mark, with the words of the templates."""
    mark = correction_mark(language)
    for meaning in MEANINGS:
        for drill in (False, True):
            draft = multilingual.render(meaning.view(drill, correction=True), language)
            full = draft.full_text()
            if meaning.action in ("issue", "update"):
                assert full.startswith((drill_mark(language) if drill else "") + mark), (meaning.name, language, full)
                assert full.count(mark) == 1, (meaning.name, language, full)
            else:  # a lifting or a cancellation is marked as what it is
                assert mark not in full, (meaning.name, language, full)
            for platform in fit.TEXT_PLATFORMS:
                text = fit.fit(draft, platform)
                assert fit.FITS[platform](text) and draft.required[0] in text, (meaning.name, language, platform)


def test_correction_marks_are_the_templates_words() -> None:
    marks = {code: correction_mark(code) for code in LANGUAGES}
    assert marks["ja"] == "【訂正】" and marks["ja-easy"] == "【なおし】" and marks["en"] == "[Correction]"
    assert marks["zh-Hans"] == marks["zh-Hant"] == "【更正】" and marks["ko"] == "[정정]"
    assert len(set(marks.values())) == len(marks) - 1  # each language its own word (Chinese shares one)
    assert multilingual.correction_prefixes()["en"] == "[Correction] "
    assert multilingual.correction_prefixes()["ja-easy"] == "【なおし】"


def test_an_alert_correction_reaches_each_language_marked() -> None:
    raw = (FIXTURES / "jma_tsunami_warning_zushi.xml").read_bytes().replace(
        "<InfoType>発表</InfoType>".encode(), "<InfoType>訂正</InfoType>".encode())
    now = parse_alert(raw).sent + timedelta(minutes=1)
    result = dry_run(raw, load_policies(ROOT / "config" / "municipalities"), municipality="kisarazu", now=now)
    assert result.outcome == "accepted", result.reason
    texts = {(p.account, p.language): p.text for p in result.posts}
    assert texts[("kisarazu_x", "ja")].startswith("【訂正】【津波注意報】")
    assert texts[("kisarazu_line", "ja-easy")].startswith("【なおし】【つなみ】")
    assert texts[("kisarazu_en_x", "en")].startswith("[Correction][Tsunami] Tsunami Advisory")
    assert all(text.count(correction_mark(language)) == 1 for (_, language), text in texts.items())


def test_x_weighs_cjk_as_two_for_every_language() -> None:
    """The X fit uses the project's one x_length: a Chinese or Korean text is cut at half the letters."""
    from gateway.adapters.render import x_length

    long = catalog.Meaning("long", "evacuation", "issue", catalog._city(subareas=tuple(f"地区{i}" for i in range(60))),
                           (("evacuation_type", "避難指示"),))
    for language in LANGUAGES:
        text = catalog.text(long, language, Platform.X)
        assert x_length(text).weighted_length <= 280, language
        corrected = catalog.text(long, language, Platform.X, correction=True)
        assert x_length(corrected).weighted_length <= 280 and corrected.startswith(correction_mark(language))
        assert ("ほか" in text or "more" in text or "등" in text or "외" in text or "+" in text
                or re.search(r"\d", text.splitlines()[-2])), (language, text)


# --- やさしい日本語 -----------------------------------------------------------------------------------

EASY = multilingual.phrase_table()["ja-easy"]
_READING = re.compile(r"[\u4e00-\u9fff々]+\([ぁ-ゖー]+\)")
_POLITE_OR_PASSIVE = ("されました", "されて", "られ", "いたし", "ございます", "おります", "いただ", "ご注意", "なさい")
SENTENCE_MAX = 24  # letters, readings left out (やさしい日本語 guidelines: short sentences)


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=。)", text) if s.strip()]


def _visible(sentence: str) -> str:
    return re.sub(r"\([ぁ-ゖー]+\)", "", re.sub(r"\{[a-z_]+\}", "〇", sentence)).replace(" ", "")


@pytest.mark.parametrize("key", [k for k, v in EASY.items() if isinstance(v, str) and "。" in v])
def test_easy_japanese_sentences_are_short_plain_and_read(key: str) -> None:
    for sentence in _sentences(EASY[key]):
        assert len(_visible(sentence)) <= SENTENCE_MAX, (key, sentence)
        assert sentence.count("、") <= 1, (key, sentence)  # one idea a sentence
        assert not any(word in sentence for word in _POLITE_OR_PASSIVE), (key, sentence)
        without_readings = _READING.sub("", sentence)
        assert not re.search(r"[\u4e00-\u9fff]", without_readings), (key, sentence)  # every kanji has furigana


def test_easy_japanese_terms_carry_furigana() -> None:
    for key, term in multilingual.term_table()["terms"].items():
        assert not re.search(r"[\u4e00-\u9fff]", _READING.sub("", term["ja-easy"])), (key, term["ja-easy"])


@pytest.mark.parametrize("name", [m.name for m in MEANINGS if m.action == "issue" and m.kind in (
    "evacuation", "tsunami")])
def test_easy_japanese_says_what_to_do_first(name: str) -> None:
    meaning = next(m for m in MEANINGS if m.name == name)
    text = multilingual.render(meaning.view(), "ja-easy").full_text()
    first = text.split("\n")[0]
    assert "ください" in first and ("にげて" in first or "出(で)て" in first or "行(い)って" in first), text


# --- the reviewer's file and the dry run -----------------------------------------------------------


def test_alert_texts_document_is_up_to_date() -> None:
    path = ROOT / "docs" / "alert-texts.md"
    assert path.read_text(encoding="utf-8") == catalog.markdown(), (
        "docs/alert-texts.md is stale: python -m gateway.alerts.catalog > docs/alert-texts.md")


def test_dry_run_lists_one_post_per_account_and_language() -> None:
    raw = (FIXTURES / "jma_tsunami_warning_zushi.xml").read_bytes()
    now = parse_alert(raw).sent + timedelta(minutes=1)
    result = dry_run(raw, load_policies(ROOT / "config" / "municipalities"), municipality="kisarazu", now=now)
    assert result.outcome == "accepted", result.reason
    posts = [(p["account"], p["language"]) for p in result.to_json()["posts"]]  # type: ignore[index]
    assert posts == [("kisarazu_x", "ja"), ("kisarazu_facebook", "ja"), ("kisarazu_line", "ja"),
                     ("kisarazu_line", "ja-easy"), ("kisarazu_line", "en"), ("kisarazu_en_x", "en")]
    texts = {(p.account, p.language): p.text for p in result.posts}
    assert texts[("kisarazu_en_x", "en")].startswith("[Tsunami] Tsunami Advisory has been issued for 東京湾内湾")
    assert "(Tokyowan Naiwan)" in texts[("kisarazu_en_x", "en")]
    assert texts[("kisarazu_line", "ja-easy")].startswith("【つなみ】海(うみ)から 出(で)て ください。")


@pytest.mark.parametrize(("label", "language", "said"), [
    ("レベル４大雨危険警報", "en", "Level 4 Urgent Warning (Heavy Rain)"),  # the dictionary's 2026 name
    ("大雨危険警報", "en", "Level 4 Urgent Warning (Heavy Rain)"),  # level 4 without the prefix too
    ("レベル４高潮危険警報", "zh-Hant", "4級暴潮危險警報"),
    ("レベル４高潮危険警報", "ko", "레벨 4 폭풍 해일 위험 경보"),
    ("レベル４大雨危険警報", "ja-easy", "大雨(おおあめ)危険警報(きけんけいほう) ［レベル4］"),
    ("レベル３大雨警報", "en", "Heavy Rain Warning [Alert level 3]"),  # not an Urgent Warning
])
def test_a_danger_warning_keeps_its_name_and_level(label: str, language: str, said: str) -> None:
    """危険警報 (level 4, since May 2026) was rendered as a plain 警報: 「Heavy Rain Warning [Alert level 4]」."""
    assert multilingual.warning_term(label, multilingual.Lang(language)) == said


def test_a_danger_warning_without_its_level_prefix_asks_to_evacuate() -> None:
    meaning = catalog.Meaning("大雨危険警報（issue）", "weather_warning", "issue",
                              catalog._city(labels=("大雨危険警報",)))
    lang = multilingual.Lang("en")
    assert lang.say("act_level4", place=lang.name(catalog.PLACE)) in multilingual.render(meaning.view(), "en").full_text()
