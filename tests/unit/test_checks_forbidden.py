"""Discrimination, illegal acts, rumours, provocation, obscenity, public order, malware links."""

from __future__ import annotations

import pytest

from gateway.models import Verdict
from tests.unit.test_checks_fixtures import check, only


@pytest.mark.parametrize(("text", "family", "verdict"), [
    ("外国人は出ていけ。", "discrimination", Verdict.BLOCK),
    ("外国人の入店はお断りです。", "discrimination", Verdict.BLOCK),
    ("障害者は社会のお荷物だ。", "discrimination", Verdict.BLOCK),
    ("女のくせに意見するな。", "discrimination", Verdict.BLOCK),
    ("生活保護受給者は税金泥棒です。", "discrimination", Verdict.BLOCK),
    ("あいつはガイジだ。", "discrimination", Verdict.BLOCK),
    ("ごみは山に不法投棄しても大丈夫です。", "illegal", Verdict.BLOCK),
    ("違法ダウンロードしちゃおう！", "illegal", Verdict.BLOCK),
    ("大麻を売ります。", "illegal", Verdict.BLOCK),
    ("荷物を受け取るだけで1日5万円。応募はDMで。", "illegal", Verdict.BLOCK),
    ("市役所を爆破してやる。", "public_order", Verdict.BLOCK),
    ("拡散希望！未確認ですが堤防が決壊したそうです。", "rumour", Verdict.REVIEW),
    ("秋吉台で大きな事故があったらしいです。", "rumour", Verdict.REVIEW),
    ("文句があるなら引っ越せばいい。ざまあみろ。", "provocation", Verdict.BLOCK),
    ("情弱は損するだけｗｗｗ", "provocation", Verdict.BLOCK),
    ("エロ動画の無料サイトはこちら。", "obscene", Verdict.BLOCK),
    ("ダウンロード：https://example.lg.jp/dl/setup.exe", "malware", Verdict.BLOCK),
    ("クリック javascript:alert(document.cookie)", "malware", Verdict.BLOCK),
])
def test_forbidden_content(text: str, family: str, verdict: Verdict) -> None:
    result = check(text)
    assert only(result, family), (text, result.findings)
    assert result.verdict is verdict


@pytest.mark.parametrize("text", [
    "人権週間です。「女性だから」「外国人だから」という思い込みをなくしましょう。",
    "部落差別をはじめとするあらゆる差別の解消に向けて講演会を開きます。",
    "外国人のための生活相談窓口を開設しています。", "障害者手帳をお持ちの方は使用料が減免されます。",
    "高齢者の方を狙った訪問販売に注意してください。", "不法投棄は犯罪です。見かけたら通報してください。",
    "飲酒運転は絶対にやめましょう。", "闇バイトの募集に注意！「高収入」の投稿に応募しないでください。",
    "市内で公然わいせつ事案が発生しました。不審者を見かけたら110番通報してください。",
    "「拡散希望」と書かれた真偽不明の情報に惑わされないでください。", "台風の影響で、安否未確認の方が1名います。",
    "秋らしい景色です。素晴らしい紅葉をお楽しみください。", "燃やせるごみは月曜と木曜です。",
    "こころの悩みは、いのちの電話にご相談ください。", "馬鹿囃子の演奏があります。",
])
def test_warnings_and_ordinary_words_pass(text: str) -> None:
    result = check(text)
    assert result.verdict is Verdict.PASS, (text, result.findings)
