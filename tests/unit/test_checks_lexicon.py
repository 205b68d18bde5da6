"""Lexicon files: per-municipality overrides, clause citations, errors; long texts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gateway.errors import InputError
from gateway.models import Message, Verdict
from gateway.pipeline.checks import CheckEngine, CheckInput
from gateway.pipeline.checks.engine import DEFAULT_LEXICON_DIR
from gateway.policy import load_policies
from tests.unit.test_checks_fixtures import check, engine, municipality, only

POLICIES = Path(__file__).resolve().parents[2] / "config" / "municipalities"


def _write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text, encoding="utf-8")


def test_override_adds_replaces_disables_and_extends_lists(tmp_path: Path) -> None:
    _write(tmp_path, "default.toml", (DEFAULT_LEXICON_DIR / "default.toml").read_text(encoding="utf-8"))
    _write(tmp_path, "testcity.toml", """
disable = ["provocation.mocking"]

[[rule]]
id = "confidential.local_system"
clause = "confidential"
clause_text = "テスト市 情報セキュリティ規程 第5条"
severity = "block"
message = "庁内システム名です。"
terms = ["テスト市ネット"]

[lists.personal_mail_domains]
add = ["example-isp.ne.jp"]
""")
    local = CheckEngine(tmp_path)
    city = municipality()

    def run(text: str) -> set[str]:
        message = Message(municipality=city.id, category="city_news", text=text)
        return {f.rule for f in local.check(CheckInput(message, city, city.accounts_for("city_news"))).findings}

    assert run("テスト市ネットの更新") == {"confidential.local_system"}
    assert "provocation.mocking" not in run("まだ知らないの？時代遅れですね（笑）")
    assert run("連絡は someone@example-isp.ne.jp へ") == {"personal.email"}
    finding = local.check(CheckInput(Message(municipality=city.id, category="city_news", text="テスト市ネット"),
                                     city, ())).findings
    assert any(f.clause == "テスト市 情報セキュリティ規程 第5条" for f in finding)


def test_zushi_override_cites_its_clause_and_other_cities_are_unaffected() -> None:
    policies = load_policies(POLICIES)
    text = "検討中の計画案ですが、来年度から駐車場を有料にします。"
    for city_id, expected in (("zushi", True), ("kodaira", False)):
        city = policies.get(city_id)
        assert city is not None
        message = Message(municipality=city_id, category="city_news" if city_id == "zushi" else "other", text=text)
        result = engine().check(CheckInput(message, city, city.accounts_for(message.category)))
        found = only(result, "confidential.immature")
        assert bool(found) is expected
        if found:
            assert found[0].clause == "逗子市ソーシャルメディア利活用ガイドライン 3-1(2)ア(ア)、4⑥"


def test_real_clause_text_from_the_municipality_file() -> None:
    zushi = load_policies(POLICIES).get("zushi")
    assert zushi is not None
    result = check("自民党を応援してください", city=zushi, category="city_news")
    assert only(result, "political")[0].clause == "逗子市ソーシャルメディア利活用ガイドライン 3-1(2)ア(カ)"


def test_bad_rule_is_an_input_error(tmp_path: Path) -> None:
    _write(tmp_path, "default.toml", '[[rule]]\nid = "x.bad"\nclause = "x"\nmessage = "m"\nregex = ["(unclosed"]\n')
    with pytest.raises(InputError, match=r"x\.bad"):
        CheckEngine(tmp_path)


def test_unknown_list_reference_is_an_input_error(tmp_path: Path) -> None:
    _write(tmp_path, "default.toml", '[[rule]]\nid = "x.bad"\nclause = "x"\nmessage = "m"\nregex = ["{list:nope}"]\n')
    with pytest.raises(InputError, match="nope"):
        CheckEngine(tmp_path)


def test_longest_message_is_checked_quickly_with_spans_in_range() -> None:
    paragraph = "市民まつりを開催します。会場は中央公園、問い合わせは市役所 046-873-1111 まで。山田太郎さん（45歳）も出演します。"
    text = (paragraph * 400)[:19_990] + "【秘】"
    started = time.perf_counter()
    result = check(text)
    assert time.perf_counter() - started < 3.0
    assert result.verdict is Verdict.BLOCK
    stamp = only(result, "confidential.stamp")[0]
    assert text[stamp.start:stamp.end] == "【秘】"
