"""Confidential information: stamps, embargo lines, internal locations, credentials."""

from __future__ import annotations

import pytest

from gateway.models import Severity, Verdict
from tests.unit.test_checks_fixtures import check, only, rules


@pytest.mark.parametrize("text", [
    "【秘】来年度予算の査定状況", "㊙ 人事案", "［取扱注意］内示一覧", "（庁内限り）選定結果", "〔未定稿〕計画案",
    "極秘：市長日程", "【 部 外 秘 】補正予算", "極　秘の資料です", "部・外・秘のメモ", "決裁前ですが来年度から値上げ",
    "関係者限り\n整備計画について", "【報道解禁：11月25日午前5時】新施策", "解禁日時：12月1日 午前10時",
    "会見まで公表禁止の情報です", "ここだけの話ですが",
])
def test_stamps_markers_and_embargo_block(text: str) -> None:
    result = check(text)
    assert result.verdict is Verdict.BLOCK
    assert any(r.startswith("confidential.") for r in rules(result))


@pytest.mark.parametrize("text", [
    "秘書広報課からのお知らせです。", "便秘予防の講座を開きます。", "秋吉台の秘境を紹介します。",
    "相模川のアユ漁が6月1日に解禁されます。", "しらす漁の解禁日は3月11日です。", "式典の取扱説明書を配布します。",
    "パスワードは定期的に変更しましょう。8文字以上がおすすめです。", "暗証番号（4桁）をご用意ください。",
    "パスワードが必要です。", "暗証番号4桁を入力してください。", "passportをお持ちください。",
])
def test_ordinary_words_pass(text: str) -> None:
    assert not only(check(text), "confidential"), text


def test_finding_cites_clause_and_points_at_the_stamp() -> None:
    text = "お知らせ【秘】です"
    finding = only(check(text), "confidential.stamp")[0]
    assert finding.severity is Severity.BLOCK
    assert finding.clause == "テスト市運用方針 confidential"
    assert text[finding.start:finding.end] == "【秘】"
    assert "削除" in finding.message


@pytest.mark.parametrize(("text", "needle"), [
    ("資料は \\\\fs01\\somu\\予算 にあります", "\\\\fs01\\somu\\予算"),
    ("様式は Z:\\企画課\\様式集 にあります", "Z:\\企画課\\様式集"),
    ("管理画面 http://192.168.10.25:8080/ を参照", "192.168.10.25"),
    ("ループバック 127.0.0.1 で確認", "127.0.0.1"),
    ("テスト環境 https://yoyaku.city.internal/ です", "yoyaku.city.internal"),
])
def test_internal_locations_block(text: str, needle: str) -> None:
    found = only(check(text), "confidential.internal_address")
    assert found and found[0].severity is Severity.BLOCK
    assert any(text[f.start:f.end] == needle for f in found)


def test_public_ip_and_lgwan_mention() -> None:
    assert not only(check("公開サーバ 8.8.8.8 です"), "confidential.internal_address")
    assert check("LGWAN接続系のメールが止まります").verdict is Verdict.REVIEW


@pytest.mark.parametrize(("text", "secret"), [
    ("アカウントのパスワード：Zushi2026!koho", "Zushi2026!koho"),
    ("共用端末の暗証番号は 4821 です", "4821"),
    ("ＰＷ：ｋｏｄａｉｒａ２０２６ でログイン", "ｋｏｄａｉｒａ２０２６"),
    ("password=Summer2026 で入れます", "Summer2026"),
    ("通用口のテンキー（暗証番号7302）から入ってください", "7302"),
    ("共有フォルダのパスワードが「tsuru2026#」に変わりました", "tsuru2026#"),
    ("鍵 AKIAIOSFODNN7EXAMPLE を設定", "AKIAIOSFODNN7EXAMPLE"),
    ("トークン ghp_1A2b3C4d5E6f7G8h9I0jKlMnOpQrStUvWxYz を更新", "ghp_1A2b3C4d5E6f7G8h9I0jKlMnOpQrStUvWxYz"),
])
def test_credentials_block_with_span_on_the_value(text: str, secret: str) -> None:
    found = only(check(text), "confidential.credential")
    assert found, text
    assert any(secret in text[f.start:f.end] for f in found)


def test_private_key_block() -> None:
    text = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7x\n-----END RSA PRIVATE KEY-----"
    assert only(check(text), "confidential.credential")


def test_marker_in_title_has_no_span_and_names_the_field() -> None:
    result = check("紹介動画です", title="【取扱注意】編集途中版", category="tourism")
    finding = only(result, "confidential.stamp")[0]
    assert finding.start is None and finding.end is None
    assert finding.message.startswith("タイトル")
