"""Political, religious and biased content; election-commission and venue wording must pass."""

from __future__ import annotations

import pytest

from gateway.models import Severity, Verdict
from tests.unit.test_checks_fixtures import check, only


@pytest.mark.parametrize("text", [
    "12月14日（日）は市議会議員選挙の投票日です。投票時間は午前7時から午後8時まで。",
    "期日前投票は12月8日から13日まで、市役所本庁舎1階で行っています。",
    "投票所は入場整理券に記載されています。18歳になったら選挙権があります。投票に行きましょう。",
    "候補者の届出書類の事前審査を行います。立候補予定者説明会は10月10日です。",
    "住民投票の投票用紙には、賛成または反対のいずれかに○を記入してください。",
    "宗教法人が所有し、専ら宗教の用に供する境内地は固定資産税が非課税です。",
    "大規模地震の際、市内の寺院・神社の一部は一時避難場所に指定されています。",
    "亀岡八幡宮の境内で朝市を開きます。", "八劔八幡神社の例大祭で神輿の渡御があります。",
    "明治維新から近代化へと続く歴史を紹介する企画展です。", "主権者教育で民主主義と選挙の仕組みを学びました。",
    "原子力災害に備えた避難計画の説明会を開きます。", "消費税の軽減税率制度の説明会を開きます。",
    "霊感商法や開運商法にご注意ください。消費生活センターへご相談を。",
    "投票所では、どの候補者・政党に投票したかを聞かれることはありません。安心して投票してください。",
])
def test_neutral_public_information_passes(text: str) -> None:
    result = check(text)
    assert result.verdict is Verdict.PASS, (text, result.findings)


@pytest.mark.parametrize("text", [
    "自民党の候補者を応援しています！", "日本共産党の政策は正しいと思います。", "渡辺候補に清き一票をお願いします。",
    "選挙では山本さんに投票してください！", "田中議員を応援しよう！", "住民投票では賛成に投票しましょう！",
    "佐藤候補を当選させましょう。", "高橋候補の応援にぜひお越しください。", "市長リコールの署名をしましょう！",
    "中村先生に皆さんの一票を！", "野党は反対ばかりで最悪です。",
    # Parties in no list: a new or local party, a masked 〇〇党 (a party's name is not a fixed list)
    "みらい党に投票しましょう！", "〇〇党以外に投票する理由あります？", "市民の森党を応援しています。",
])
def test_support_or_opposition_blocks_and_cites_clause(text: str) -> None:
    found = only(check(text), "political")
    assert found and found[0].severity is Severity.BLOCK, text
    assert found[0].clause == "逗子市ソーシャルメディア利活用ガイドライン 3-1(2)ア(カ)"


@pytest.mark.parametrize("text", ["甘党のみなさんに朗報です。新作スイーツを応援よろしくお願いします。",
                                  "与党と野党の議席数の推移を紹介します。", "辛党の方には激辛カレーを応援します。"])
def test_words_ending_in_party_that_name_no_party_are_no_party(text: str) -> None:
    assert "political.party_named_stance" not in {f.rule for f in check(text).findings}


@pytest.mark.parametrize("text", [
    "神を信じれば救われます。", "幸福な人生のために入信しませんか。", "聖書の勉強会にご参加ください。",
    "布教活動にご協力ください。", "信仰を持ちましょう。", "天光教に入りましょう。", "信者になりませんか。",
])
def test_religious_invitation_blocks(text: str) -> None:
    found = only(check(text), "religious")
    assert found and found[0].severity is Severity.BLOCK, text


@pytest.mark.parametrize("text", [
    "原発再稼働に断固反対します。", "死刑制度は廃止すべきです。", "移民受け入れは許されない。",
    "抗議集会に参加しましょう。",
])
def test_one_side_of_contested_issue_goes_to_review(text: str) -> None:
    result = check(text)
    assert result.verdict is Verdict.REVIEW and only(result, "bias"), text


def test_issue_with_both_sides_passes() -> None:
    assert check("意識調査では、防衛費の増額に賛成の意見と反対の意見がありました。").verdict is Verdict.PASS
