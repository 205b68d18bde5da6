"""A text that contradicts itself (accuracy.contradiction): figures against the words of their change, an
impossible decrease, a threshold a nearby figure does not pass, rain go and stop, open "because of" works."""

from __future__ import annotations

import pytest

from gateway.models import Severity
from tests.unit.test_checks_fixtures import check, rules


@pytest.mark.parametrize(("text", "quotes"), [
    ("4月1日から、粗大ごみの手数料を1点につき500円から300円に引き上げます。", "500円から300円に引き上げ"),
    ("4月1日から、1人あたりの貸出上限を10冊から5冊に増やしました。", "10冊から5冊に増や"),
    ("開館時間を午後8時までの12時間から9時間に延長します。", "12時間から9時間に延長"),
    ("保育料を月額２万円から３万円に引き下げます。", "2万円から3万円に引き下げ"),
    ("燃やすごみの収集量が前年度より120%も減りました!", "120%も減"),
    ("小平市の人口が初めて20万人を超えました!(11月1日現在の人口 199,842人)", "20万人を超え"),
    ("・雨天決行(荒天の場合は中止)\n※雨天の場合は中止となります。", "雨天決行"),
    ("市民体育館は、天井の改修工事のため、4月1日(火)から当分の間ご利用いただけます。ご不便をおかけします。",
     "工事のため"),
    ("市役所の代表番号は042-341-1211です。相談室へは、代表電話(042-341-1121)からおつなぎします。", "042-341-1211"),
    ("出展の申込みは市民協働課(内線275)へ。お電話は内線257でお受けします。", "内線275"),
    ("牛込海岸の潮干狩り場は入場無料! 入場料は大人2,000円、子ども1,000円です。", "入場料"),
    ("入園料は500円(試食込み)。摘み取ったブルーベリーは100gあたり250円で、入園料は800円です。", "入園料"),
    ("現在受給中の方は、申請は不要です。すでに受給している方も、必ず9月30日までに申請書を提出してください。", "申請は不要"),
    ("介護保険料の基準額は年額72,000円(月額5,000円)です。", "年額72,000円"),
    ("子ども食堂の利用料は300円(無料)です。", "300円(無料)"),
    ("がん検診の自己負担は無料です。\n受診の際、窓口で検査料1,000円をお支払いください。", "自己負担は無料"),
])
def test_a_self_contradiction_is_reviewed_with_its_words(text: str, quotes: str) -> None:
    found = [f for f in check(text).findings if f.rule == "accuracy.contradiction"]
    assert found, rules(check(text))
    assert found[0].severity is Severity.REVIEW and f"「{quotes}" in found[0].message, found[0].message


@pytest.mark.parametrize("text", [
    "4月1日から、粗大ごみの手数料を1点につき300円から500円に引き上げます。",
    "貸出上限を5冊から10冊に増やしました。",
    "燃やすごみの収集量が前年度より12%減りました。",
    "小平市の人口が初めて20万人を超えました(11月1日現在の人口 200,158人)。",
    "雨天決行です。荒天の場合は中止し、午前7時にお知らせします。",
    "市民体育館は、改修工事のため、4月1日から当分の間ご利用いただけません。ご不便をおかけします。",
    "工事のため駐車場は使えませんが、体育館はご利用いただけます。",
    "市役所の代表番号は042-341-1211、防災危機管理課は042-346-9500です。",
    "入場料は大人500円、中学生以下は無料です。",
    "参加費は無料です。材料費として500円をいただきます。",
    "申込みは不要です。駐車場の利用には、必ず事前に駐車券をお求めください。",
    "介護保険料の基準額は年額72,000円(月額6,000円)です。",
    "入館料は無料(通常500円)です。",
    "参加費は無料です。昼食代として800円をお支払いください。",
])
def test_a_consistent_text_is_not_called_a_contradiction(text: str) -> None:
    assert "accuracy.contradiction" not in rules(check(text))
