"""Personal information: check-digit identifiers in context, contacts, names tied to details."""

from __future__ import annotations

import pytest

from gateway.models import Severity, Verdict
from gateway.pipeline.checks.identifiers import corporate_number_valid, luhn_valid, my_number_valid
from tests.unit.test_checks_fixtures import check, only, rules


def test_validators() -> None:
    assert my_number_valid("123456789018") and not my_number_valid("123456789019")
    assert corporate_number_valid("7000012050002") and not corporate_number_valid("7000012050003")
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


@pytest.mark.parametrize(("text", "rule"), [
    ("マイナンバー：１２３４ ５６７８ ９０１８ を確認", "personal.my_number"),
    ("個人番号 4321-8765-0987 の方", "personal.my_number"),
    ("マイナンバーは 1 2 3 4 5 6 7 8 9 0 1 8 です", "personal.my_number"),
    ("カード（番号 4111 1111 1111 1111）", "personal.card"),
    ("カード番号３５３０１１１３３３３０００００の方", "personal.card"),
    ("横浜銀行 本厚木支店 普通 1234567 ヤマダタロウ", "personal.bank_account"),
    ("ゆうちょ銀行 記号 12340 番号 12345678 田中花子様", "personal.bank_account"),
    ("免許証番号 第123456789012号", "personal.driver_licence"),
    ("旅券番号 TK1234567 のパスポート", "personal.passport"),
    ("基礎年金番号 1234-567890 の方", "personal.insurance_number"),
    ("担当の携帯 090-1234-5678 まで", "personal.mobile"),
    ("連絡先：０８０ー９８７６ー５４３２", "personal.mobile"),
    ("申し込みは yamada.taro1985@gmail.com まで", "personal.email"),
])
def test_identifiers_in_context_block(text: str, rule: str) -> None:
    found = only(check(text), rule)
    assert found and found[0].severity is Severity.BLOCK, text


def test_valid_my_number_without_context_goes_to_review() -> None:
    assert only(check("受付 123456789018 です"), "personal.my_number")[0].severity is Severity.REVIEW


@pytest.mark.parametrize("text", [
    "問い合わせ：市役所 046-873-1111（代表）、メール kouhou@city.test.lg.jp",
    "急な病気の相談は #7119 へ。消費者ホットライン188、児童相談所虐待対応ダイヤル189。",
    "コールセンター（0120-526-145）、ねんきんダイヤル 0570-05-1165",
    "事件は110番、火事・救急は119番へ。",
    "国税庁の法人番号 7000012050002 です。",
    "総務省 soumu@soumu.go.jp、県 info@pref.kanagawa.lg.jp",
    "義援金口座：ゆうちょ銀行 00130-8-635289 口座名義 日赤災害義援金。",
    "寄附の受付口座：テスト銀行 本店 普通 7654321 テスト市社会福祉協議会",
    "令和8年11月21日（土）午前10時から、定員30名、参加費1,000円。",
    "マイナンバーカードと暗証番号（4桁）をお持ちください。",
])
def test_public_and_own_numbers_pass(text: str) -> None:
    assert not only(check(text), "personal"), text


def test_name_with_address_blocks_and_with_age_reviews() -> None:
    assert "personal.name_address" in rules(check("山田太郎さん（45歳）は本町2丁目3番4号にお住まいです。"))
    result = check("田中一郎さん（82歳）が行方不明になっています。")
    assert result.verdict is Verdict.REVIEW and "personal.name_age" in rules(result)


def test_titled_person_is_not_private() -> None:
    assert not only(check("講師の山田太郎先生（50歳）が講演します。"), "personal.name")


def test_municipality_address_is_allowed() -> None:
    assert not only(check("会場：テスト市役所（本町5-2-16）で山田花子さんが受付"), "personal.name_address")
