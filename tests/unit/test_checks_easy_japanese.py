"""The readability check of a やさしい日本語 version written by staff (issue 17): review findings with
suggestions, the same rules the alert templates are held to."""

from __future__ import annotations

import pytest

from gateway.alerts import multilingual
from gateway.models import Message, Severity, Verdict
from gateway.pipeline.checks import CheckInput
from gateway.pipeline.checks.easy_japanese import CLAUSE, sentences, unread_kanji, visible
from tests.unit.test_checks_fixtures import engine, municipality


def _easy(text: str, japanese: str = "市民まつりを開きます。") -> list[tuple[str, str]]:
    message = Message(municipality="testcity", category="event", text=japanese,
                      translations=({"language": "ja-easy", "text": text},))  # type: ignore[arg-type]
    city = municipality()
    result = engine().check(CheckInput(message, city, (city.accounts[0],)))
    easy = [f for f in result.findings if f.rule.startswith("easy_japanese.")]
    assert all(f.severity is Severity.REVIEW and f.clause == CLAUSE and f.field == "translations[0].text"
               and f.message.startswith("やさしい日本語版（translations[0].text）: ") for f in easy)
    return [(f.rule, f.message) for f in easy]


def test_plain_easy_japanese_passes() -> None:
    assert _easy("日曜日(にちようび)に まつりが あります。みんな 来(き)て ください。") == []


@pytest.mark.parametrize(("text", "rule", "words"), [
    ("日曜日(にちようび)に 公園(こうえん)で たのしい まつりが あって みんなで おどります。", "easy_japanese.sentence_length",
     "1つの文は24文字まで"),
    ("あした、あさって、しあさって あります。", "easy_japanese.commas", "「、」が2つ"),
    ("まつりを 行(おこな)いたします。", "easy_japanese.honorific", "「します」"),
    ("道(みち)が 閉(し)められます。", "easy_japanese.honorific", "「〜ます」"),
    ("避難(ひなん)して ください。", "easy_japanese.difficult_word", "「避難」はむずかしい言葉です。「にげる」"),
    ("直(ただ)ちに 来(き)て ください。", "easy_japanese.difficult_word", "「すぐに」"),
    ("まつりを 実施(じっし)します。", "easy_japanese.difficult_word", "「実施」"),
    ("公園で まつりが あります。", "easy_japanese.reading", "「公園」に読み方がありません"),
])
def test_each_rule_finds_what_it_says_and_suggests_a_fix(text: str, rule: str, words: str) -> None:
    found = _easy(text)
    assert [r for r, _ in found] == [rule], found
    assert words in found[0][1], found


def test_the_check_reads_only_the_easy_japanese_version() -> None:
    # The Japanese body may use kanji, keigo and long sentences; an English version is not Japanese.
    assert _easy("日曜日(にちようび)に まつりが あります。",
                 japanese="本日、市民まつりを開催いたしますので、皆様お誘い合わせの上ご来場ください。") == []
    message = Message(municipality="testcity", category="event", text="避難訓練を実施いたします。",
                      translations=({"language": "en", "text": "Evacuation drill today."},))  # type: ignore[arg-type]
    city = municipality()
    result = engine().check(CheckInput(message, city, (city.accounts[0],)))
    assert result.verdict is Verdict.PASS, result.findings


def test_readings_and_sentences_are_counted_as_the_template_test_counts_them() -> None:
    assert visible("海(うみ)から 出(で)て ください。") == "海から出てください。"
    assert sentences("にげて ください。\nあぶない です！ はい") == ["にげて ください。", "あぶない です！", "はい"]
    assert unread_kanji("避難所(ひなんじょ)へ 行って ください。行って") == ["行"]


@pytest.mark.parametrize("key", [k for k, v in multilingual.phrase_table()["ja-easy"].items()
                                 if isinstance(v, str) and "。" in v and "{" not in v])
def test_the_alert_templates_own_easy_japanese_passes_the_check(key: str) -> None:
    """The check and the templates keep one set of rules: a template phrase passes the staff check
    (difficult words aside, which the templates use with a reading where JMA's terms need them)."""
    text = multilingual.phrase_table()["ja-easy"][key]
    found = [rule for rule, _ in _easy(text) if rule != "easy_japanese.difficult_word"]
    assert found == [], (key, text, found)
