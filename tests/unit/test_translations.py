"""Staff-written versions in other languages (issue 17): intake validation, the posts each account makes,
the deliveries planned for them, and the checks run on every version."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.adapters.render import x_length
from gateway.alerts.multilingual import correction_mark, correction_prefixes
from gateway.cli.check import check_lines
from gateway.errors import InputError
from gateway.models import MAX_TEXT_CHARS, DeliveryState, Message, Platform, Severity, Translation, Verdict
from gateway.pipeline.checks import CheckInput
from gateway.pipeline.intake.languages import language_posts, message_in
from gateway.pipeline.intake.plan import plan_deliveries
from gateway.pipeline.intake.validation import as_correction, parse_message
from gateway.policy import LANGUAGES, Account, load_policies
from tests.unit.test_checks_fixtures import engine, municipality

CONFIG = Path(__file__).resolve().parents[2] / "config" / "municipalities"
NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 10:00 JST on a Tuesday


def _account(id_: str, platform: Platform, languages: tuple[str, ...], purpose: str = "main") -> Account:
    return Account(id=id_, platform=platform, handle=id_, manager="広報課長", categories=("city_news", "event"),
                   categories_clause="テスト市 5", languages=languages, purpose=purpose)


JA_X = _account("testcity_x", Platform.X, ("ja",))
JA_EN_X = _account("testcity_intl_x", Platform.X, ("ja", "en"), "intl")
EN_X = _account("testcity_en_x", Platform.X, ("en",), "en")
LINE = _account("testcity_line", Platform.LINE, ("ja", "ja-easy", "en"))
CITY = municipality(accounts=(JA_X, JA_EN_X, EN_X, LINE))


def _message(**fields: Any) -> dict[str, Any]:
    return {"municipality": "testcity", "category": "event", "text": "市民まつりを開きます。", **fields}


EN = {"language": "en", "text": "The city festival is on Sunday."}
EASY = {"language": "ja-easy", "text": "日曜日(にちようび)に まつりが あります。"}


# --- intake ------------------------------------------------------------------------------------

def test_staff_may_send_versions_in_the_contract_languages() -> None:
    message = parse_message(_message(translations=[EN, EASY]))
    assert message.translations == (Translation(language="en", text=EN["text"]),
                                    Translation(language="ja-easy", text=EASY["text"]))
    assert message.language == "ja"


@pytest.mark.parametrize(("translations", "field", "words"), [
    ([EN, {"language": "fr", "text": "Bonjour"}], "translations[1].language", "「fr」は指定できません"),
    ([{"language": "ja", "text": "日本語です"}], "translations[0].language", "「ja」は指定できません"),
    ([EN, EASY, {"language": "en", "text": "Again"}], "translations[2].language", "英語版が2つあります"),
    ([{"language": "en", "text": "   "}], "translations[0].text", "空にはできません"),
    ([{"language": "en"}], "translations[0].text", "必須"),
])
def test_bad_versions_are_refused_naming_the_field_in_japanese(
        translations: list[dict[str, str]], field: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_message(_message(translations=translations))
    problems = {p.field: p.message for p in caught.value.problems}
    assert field in problems, problems
    assert words in problems[field] or words in caught.value.message, problems


def test_duplicate_names_the_first_one() -> None:
    with pytest.raises(InputError) as caught:
        parse_message(_message(translations=[EN, {"language": "en", "text": "twice"}]))
    assert caught.value.problems[0].message == "英語版が2つあります（translations[0] と同じ言語です）"


def test_the_body_is_japanese() -> None:
    with pytest.raises(InputError) as caught:
        parse_message(_message(language="en"))
    assert caught.value.problems[0].field == "language"


# --- the posts each account makes --------------------------------------------------------------

def test_each_account_gets_only_its_languages() -> None:
    message = parse_message(_message(translations=[EN, EASY]))
    assert [p.language for p in language_posts(message, JA_X)] == ["ja"]
    assert [(p.language, p.message.text) for p in language_posts(message, JA_EN_X)] == [
        ("ja", "市民まつりを開きます。"), ("en", EN["text"])]
    assert [p.message.translations for p in language_posts(message, JA_EN_X)] == [(), ()]
    (line,) = language_posts(message, LINE)  # one broadcast, in the account's order
    assert line.language == "ja" and [t.language for t in line.message.translations] == ["ja-easy", "en"]
    assert [p.language for p in language_posts(message, EN_X)] == ["en"]
    assert language_posts(parse_message(_message()), EN_X) == []


def test_message_in_gives_the_delivery_its_version() -> None:
    message = parse_message(_message(translations=[EN]))
    english = message_in(message, JA_EN_X, "en")
    assert english.text == EN["text"] and english.language == "en" and english.translations == ()
    assert message_in(message, JA_X, "ja") == message.model_copy(update={"translations": ()})
    japanese_only = parse_message(_message())
    assert message_in(japanese_only, JA_X, "ja") is japanese_only  # nothing to choose: no copy


def test_plan_one_delivery_per_account_and_language() -> None:
    message = Message.model_validate(_message(translations=[EN, EASY]))
    planned = plan_deliveries(message, CITY, CITY.accounts, now=NOW, platforms=set(Platform))
    assert [(d.account, d.language, d.state) for d in planned] == [
        ("testcity_x", "ja", DeliveryState.QUEUED),
        ("testcity_intl_x", "ja", DeliveryState.QUEUED), ("testcity_intl_x", "en", DeliveryState.QUEUED),
        ("testcity_en_x", "en", DeliveryState.QUEUED),
        ("testcity_line", "ja", DeliveryState.QUEUED),
    ]


def test_an_account_without_the_messages_languages_gets_a_skipped_delivery_saying_why() -> None:
    planned = plan_deliveries(Message.model_validate(_message()), CITY, [EN_X], now=NOW, platforms=set(Platform))
    assert [(d.state, d.language) for d in planned] == [(DeliveryState.SKIPPED, "en")]
    assert planned[0].reason is not None and "英語" in planned[0].reason


# --- checks on every version ------------------------------------------------------------------

def _check(message: dict[str, Any], accounts: tuple[Account, ...] = (JA_X, JA_EN_X, LINE)) -> Any:
    return engine().check(CheckInput(Message.model_validate(message), CITY, accounts))


def test_a_violation_in_a_version_blocks_and_names_the_version() -> None:
    result = _check(_message(translations=[EASY, {"language": "en", "text": "Call Taro at 090-1234-5678."}]))
    assert result.verdict is Verdict.BLOCK
    (mobile,) = [f for f in result.findings if f.rule == "personal.mobile"]
    assert mobile.field == "translations[1].text" and mobile.start is None
    assert mobile.message.startswith("英語版（translations[1].text）: ")
    clean = _check(_message(translations=[EN]))
    assert clean.verdict is Verdict.PASS, clean.findings


def test_shared_parts_are_not_reported_once_per_version() -> None:
    result = _check(_message(link="javascript:alert(1)", translations=[EN]))
    assert [f.field for f in result.findings if f.rule == "malware.scheme"] == [None]


def test_length_is_measured_per_language_for_the_accounts_that_post_it() -> None:
    long_english = "word " * 70  # 350 characters: over X's 280, far within LINE's 5,000
    result = _check(_message(translations=[{"language": "en", "text": long_english}]))
    over = [f for f in result.findings if f.rule.startswith("length.")]
    assert [(f.rule, f.account, f.field, f.severity) for f in over] == [
        ("length.x", "testcity_intl_x", "translations[0].text", Severity.BLOCK)]
    assert "途中で切って送ることはしません" in over[0].message
    ja_only = _check(_message(translations=[{"language": "en", "text": long_english}]), (JA_X, LINE))
    assert ja_only.verdict is Verdict.PASS, ja_only.findings  # nobody posts the English on X


def test_a_line_broadcast_over_five_messages_blocks() -> None:
    long = "お知らせ。" * 1100  # 5,500 letters: two LINE messages each
    easy = "おしらせ です。" * 700
    result = _check(_message(text=long, translations=[{"language": "ja-easy", "text": easy},
                                                    {"language": "en", "text": "x" * 5001}]), (LINE,))
    (line,) = [f for f in result.findings if f.rule == "length.line"]
    assert line.severity is Severity.BLOCK and line.account == "testcity_line" and "5 通" in line.message
    fits = _check(_message(translations=[EN, EASY]), (LINE,))
    assert not [f for f in fits.findings if f.rule.startswith("length.")]


def test_check_jsonl_says_which_field_each_finding_is_about() -> None:
    """`gateway check --jsonl` keeps the contract's keys and adds `field` (null for the Japanese text)."""
    line = json.dumps({"municipality": "kisarazu", "accounts": ["kisarazu_line"], "category": "event",
                       "text": "問い合わせは090-1234-5678へ。",
                       "translations": [{"language": "en", "text": "Call Taro at 090-8765-4321."}]}, ensure_ascii=False)
    out = io.StringIO()
    assert check_lines([line], load_policies(CONFIG), engine(), out) == 0
    (result,) = [json.loads(text) for text in out.getvalue().splitlines()]
    assert result["verdict"] == "block"
    contract = {"rule", "severity", "start", "end", "clause", "message"}
    assert all(set(f) == contract | {"field"} for f in result["findings"]), result["findings"]
    mobiles = [(f["field"], f["start"] is None) for f in result["findings"] if f["rule"] == "personal.mobile"]
    assert mobiles == [(None, False), ("translations[0].text", True)]


# --- corrections in every language ---------------------------------------------------------------

OTHER = [code for code in LANGUAGES if code != "ja"]
# One letter of each language, to fill a version up to a platform's limit.
LETTER = {"ja-easy": "あ", "en": "a", "zh-Hans": "汉", "zh-Hant": "漢", "ko": "한", "vi": "ệ", "pt": "ã", "es": "ñ",
          "tl": "g", "ne": "क", "id": "a"}


def _correction(text: str = "市民まつりは日曜日です。", **fields: Any) -> Message:
    return as_correction(parse_message(_message(text=text, correction_of="m_1", **fields)), correction_prefixes())


def test_a_correction_marks_every_version_once_with_its_languages_words() -> None:
    versions = [{"language": code, "text": f"{LETTER[code]} {code}"} for code in OTHER]
    corrected = _correction(translations=versions)
    assert corrected.text == "【訂正】市民まつりは日曜日です。"
    marked = {t.language: t.text for t in corrected.translations}
    assert marked["en"] == "[Correction] a en" and marked["ja-easy"] == "【なおし】あ ja-easy"
    for code in OTHER:
        assert marked[code] == correction_prefixes()[code] + f"{LETTER[code]} {code}"
        assert marked[code].startswith(correction_mark(code)) and marked[code].count(correction_mark(code)) == 1
    again = as_correction(corrected, correction_prefixes())
    assert again == corrected  # once, however often intake sees it
    written = _correction("【訂正】日曜日です。", translations=[{"language": "en", "text": "[Correction] Sunday."}])
    assert (written.text, written.translations[0].text) == ("【訂正】日曜日です。", "[Correction] Sunday.")
    plain = parse_message(_message(translations=[EN]))
    assert as_correction(plain, correction_prefixes()) is plain  # not a correction: unchanged


def test_a_version_with_no_room_for_its_mark_is_refused_naming_it() -> None:
    with pytest.raises(InputError) as caught:
        _correction(translations=[EASY, {"language": "en", "text": "a" * MAX_TEXT_CHARS}])
    (problem,) = caught.value.problems
    assert problem.field == "translations[1].text" and "[Correction]" in problem.message and "英語版" in problem.message


@pytest.mark.parametrize("language", OTHER)
def test_a_marked_version_is_measured_with_its_mark(language: str) -> None:
    """The mark counts towards the platform's limit: a version that fits X only without it is length.x."""
    prefix = correction_prefixes()[language]
    room = max(n for n in range(1, 300) if x_length(prefix + LETTER[language] * n).weighted_length <= 280)
    account = _account("testcity_intl_x", Platform.X, ("ja", language), "intl")

    def findings(letters: int) -> list[tuple[str, str | None]]:
        message = _correction(translations=[{"language": language, "text": LETTER[language] * letters}])
        assert message.translations[0].text.startswith(prefix)
        result = engine().check(CheckInput(message, CITY, (account,)))
        return [(f.rule, f.field) for f in result.findings if f.rule.startswith("length.")]

    assert findings(room) == []
    assert findings(room + 1) == [("length.x", "translations[0].text")]
    unmarked = Message.model_validate(_message(translations=[{"language": language, "text": LETTER[language] * (room + 1)}]))
    assert not [f for f in engine().check(CheckInput(unmarked, CITY, (account,))).findings if f.rule.startswith("length.")]


def test_gateway_check_measures_a_correction_with_the_mark_intake_will_add() -> None:
    """A correction that fits X only without its 【訂正】 passed `gateway check` and was refused at submit."""
    text = "小平市民まつりの会場は中央公園です。" * 7 + "お越しください。" + "a" * 8  # 276 weighted, 284 marked
    assert x_length(text).weighted_length == 276 and x_length("【訂正】" + text).weighted_length == 284
    message = Message(municipality=CITY.id, category="city_news", text=text, correction_of="m_" + "0" * 22)
    result = engine().check(CheckInput(message, CITY, (JA_X,)))
    [finding] = [f for f in result.findings if f.rule == "length.x"]
    assert "4 超えています" in finding.message
    plain = engine().check(CheckInput(message.model_copy(update={"correction_of": None}), CITY, (JA_X,)))
    assert not [f for f in plain.findings if f.rule.startswith("length.")]
