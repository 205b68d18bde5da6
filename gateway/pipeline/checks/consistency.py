"""A text that contradicts itself (issue 13, accuracy): a slip that inverts what the post means. Each is a
`review` finding that quotes the words which do not agree, so the author corrects one side:

- a change whose direction and figures disagree: 「500円から300円に引き上げます」, 「10冊から5冊に増やしました」;
- a decrease of more than 100 % (「120%減りました」);
- a threshold said to be passed by a figure that does not pass it (「20万人を超えました（199,842人）」);
- 「雨天決行」 and 「雨天中止」 in one post;
- a facility said to be open "because of" works or a closure (「改修工事のため…ご利用いただけます」) in a post
  that apologises for the inconvenience — the 「ません」 was lost;
- two phone or extension numbers that differ by two neighbouring digits swapped (042-341-1211 and
  042-341-1121; 内線275 and 内線257): one of them is a typo;
- one fee given two amounts, or free and paid (「入場無料」 and 「入場料は2,000円」), unless a clause says for whom;
- a procedure said to be unnecessary and, in the same post, required (「申請は不要です」…「必ず申請書を提出」);
- a charge by the year and by the month that do not agree (「年額26,400円（月額2,000円）」), an amount said to be free
  (「1,500円（無料）」), or a post that says free and asks for a payment with nothing saying for what else;
- a price per item and a total for several that do not agree (「1点につき500円…2点を出す場合は1,500円」).

The rules read the normalised text (NFKC: half-width digits, 「%」) and only figures with the same unit."""

from __future__ import annotations

import re
from collections.abc import Iterator

from gateway.models import Finding, Severity
from gateway.pipeline.checks.context import Prepared
from gateway.pipeline.checks.dates import CORRECTION
from gateway.pipeline.checks.text import sentence_begin

_UNIT = r"(?P<unit>万円|千円|円|冊|人|件|台|回|時間|分|日|か月|ヶ月|歳|%|km|キロ|点|枚|本|個|校|か所|箇所|名|組|世帯)"
_UP = r"増や|増え|増加|引き上げ|引上げ|値上げ|拡大|拡充|延長|延ば|伸ば|上が|上げ"
_DOWN = r"減ら|減り|減少|減っ|引き下げ|引下げ|値下げ|縮小|短縮|下が|下げ"
_CHANGE = re.compile(r"(?P<before>\d[\d,]*(?:\.\d+)?)" + _UNIT + r"(?:から|→)\s*(?P<after>\d[\d,]*(?:\.\d+)?)(?P=unit)?"
                     rf"(?:に|へ)[^。、]{{0,8}}?(?:(?P<up>{_UP})|{_DOWN})")
_OVER_100_DOWN = re.compile(r"(?P<pct>\d+(?:\.\d+)?)\s*%\s*(?:も|以上)?(?:の)?(?:減|削減|カット|少なく)")
_THRESHOLD = re.compile(r"(?P<figure>\d+(?:\.\d+)?)(?P<mult>万|千|億)?(?P<unit>人|円|件|台|世帯|本|冊|回)(?:の大台)?を"
                        r"(?:(?P<over>超え|突破|上回|達成|超)|下回|割り込|割っ)")
_COUNT = re.compile(r"(?<![\d.,])(?P<figure>\d{1,3}(?:,\d{3})+|\d+)(?P<unit>人|円|件|台|世帯|本|冊|回)")
_MULTIPLIER = {"万": 10_000, "千": 1_000, "億": 100_000_000}
_RAIN_GOES = re.compile(r"(?:雨天|小雨)決行")
_RAIN_STOPS = re.compile(r"雨天(?:の場合|時)?(?:は)?中止|雨(?:の場合)?は中止")
_CLOSED_BUT_OPEN = re.compile(
    r"(?:工事|改修|点検|修繕|休館|閉館|休止|閉鎖|清掃|消毒|整備)(?:作業)?のため[、,]?[^。]{0,40}?"
    r"(?:ご利用いただけます|ご利用になれます|利用できます|使用できます|ご使用いただけます|お使いいただけます|"
    r"入れます|通行できます|開館します|営業します|開いています)(?!ん)")
_APOLOGY = re.compile(r"ご不便|ご迷惑|ご理解")
_THRESHOLD_HINT = re.compile(r"を(?:超|突破|上回|達成|下回|割)")
_FEE_HINT = re.compile(r"料|費|負担|上限|代金")
# 「1点につき500円」: a price per item, checked against the totals given for several (_per_item_total)
_PER_ITEM = re.compile(r"(?:1|一)\s*(?P<unit>点|枚|個|人|袋|本|台|回|冊|箱|件)\s*(?:につき|あたり|当たり|ごとに)\s*"
                       r"(?P<price>\d[\d,]*円)")
_PER_ITEM_HINT = re.compile(r"につき|あたり|当たり|ごとに")
_DISCOUNT = re.compile(r"割引|割り引|お得|セット|まとめて|上限|半額|無料")
_PHONE = re.compile(r"(?<![\d-])(?:0\d{1,4}-\d{1,4}-\d{3,4}|内線\s*\d{2,5})(?![\d-])")
_FEE = re.compile(r"(?P<noun>[一-龯ァ-ヶー]{1,6}(?:料|費|負担金|負担額|上限額|手数料|代金|料金))(?:(?:は|:|：|が)\s*"
                  r"[^。\n、]{0,12}?(?P<amount>無料|\d[\d,]*円|\d+(?:\.\d+)?万円)|"
                  # 「参加費500円を受付でお支払いください」: the amount right after the fee's name, to be paid
                  r"\s*(?P<paid>\d[\d,]*円)を(?:受付で|当日|会場で)?\s*(?:お支払|お納め|ご用意|持参))")
_FREE = re.compile(r"(?P<noun>[一-龯ァ-ヶー]{2,4})無料")
# Words that say whom or what an amount is for: two amounts of one fee are then a price list.
_FOR_WHOM = re.compile(r"の方|場合|以外|ただし|大人|子ども|小学生|中学生|高校生|歳|人目|以上|未満|以下|市外|市内|"
                       r"会員|障害|生活保護|ごと|あたり|につき|1点|枚|セット|回目|延長|のみ|当日|前売|団体|個人|1人(?!\d)|"
                       r"1組|月額|年額|日額|時間|一般|毎月|毎週|曜日|期間中|の日")
_PER_UNIT = frozenset({"1組", "1人"})
# 「年額26,400円（月額2,000円）」: one charge by the year and by the month, which must agree.
_YEAR_MONTH = re.compile(r"(?P<k1>年額|月額)\s*(?P<about>約)?\s*(?P<a1>\d[\d,]*)円\s*\(\s*"
                         r"(?P<k2>月額|年額)\s*(?:約)?\s*(?P<a2>\d[\d,]*)円\s*\)?")
# 「1,500円（無料）」「無料（500円）」: an amount and 「free」 for one thing (「無料（通常500円）」 says why:
# not matched).
_PAREN_FREE = re.compile(r"\d[\d,]*円\s*\(\s*無料\s*\)|無料\s*\(\s*\d[\d,]*円\s*\)")
# 「自己負担：無料」 and, elsewhere, 「受診料500円をお支払いください」 with nothing saying for what else.
_FREE_SAID = re.compile(r"(?:自己負担|自己負担額|費用|参加費|受講料|受診料|入場料|入館料|料金)\s*(?:は|:|：)?\s*無料|"
                        r"無料で(?:受け|参加|受診|入場|ご利用)")
_PAY = re.compile(r"(?P<amount>\d[\d,]*円)を(?:お支払い|お支払|ご負担|お納め|いただきます|徴収)")
_EXTRA = re.compile(r"ただし|場合|の方|以外|別途|材料費|実費|駐車|交通費|食事|弁当|保険料|資料代|テキスト代|教材|送料|"
                    r"手数料|希望|代")
_NOT_NEEDED = re.compile(r"(?P<what>申請|申込み?|申し込み|予約|手続き|提出|応募)(?:は|の必要は|も)"
                         r"(?:不要|必要ありません|いりません|要りません)")
_REQUIRED = re.compile(r"必ず[^。]{0,30}?(?P<what>申請|申込|申し込|予約|手続|提出|応募)")
_PROCEDURE = {"申請": "申請", "提出": "申請", "手続": "申請",
              "申込": "申込", "申し込": "申込", "予約": "申込", "応募": "申込"}


# 「対象：65歳以上の方」 and later 「65歳以上の方は対象外です」.
_ELIGIBLE = re.compile(r"対象(?:者)?\s*(?:は|:|：)[^。\n]{0,20}?"
                       r"(?P<who>\d{1,3}歳(?:以上|以下|未満)|小学生|中学生|高校生|未就学児)")
_EXCLUDED = re.compile(r"(?P<who>\d{1,3}歳(?:以上|以下|未満)|小学生|中学生|高校生|未就学児)(?:の方|の方々|のお子さん)?"
                       r"(?:は|も)?\s*(?:対象外|対象となりません|対象になりません|ご参加いただけません|参加できません)")
# 「定員30名（先着50名まで受け付けます）」: two head counts for one event, with nothing that splits them.
_CAPACITY = re.compile(r"定員\s*(?:は|:|：)?\s*(?P<n>\d{1,4})\s*(?P<unit>人|名|組)")
_FIRST_COME = re.compile(r"先着\s*(?:順で)?\s*(?P<n>\d{1,4})\s*(?P<unit>人|名|組)")
_SPLIT = re.compile(r"各回|1回|各日|1日|午前|午後|部|コース|会場|クラス|ずつ|うち|それぞれ|当日|事前|残り|"
                    r"キャンセル待ち")


def check(ctx: Prepared) -> list[Finding]:
    if ctx.inp.generated:
        return []
    return ctx.findings_in_fields("accuracy.contradiction", Severity.REVIEW, ctx.clause("accuracy", "rumour"),
                                  _contradictions)


def _contradictions(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    # Each rule's regex runs only when a word it needs is in the text (most posts have none of them).
    if "から" in text or "→" in text:
        yield from _changes(text)
    if "%" in text:
        yield from _decreases(text)
    if _THRESHOLD_HINT.search(text):
        yield from _thresholds(text)
    if "決行" in text:
        goes, stops = _RAIN_GOES.search(text), _RAIN_STOPS.search(text)
        if goes and stops:
            yield goes.span(), (f"「{goes.group()}」と「{stops.group()}」が両方書かれています。"
                                "雨の日に行うのか中止するのか、どちらかにしてください。")
    if "のため" in text and _APOLOGY.search(text):
        for m in _CLOSED_BUT_OPEN.finditer(text):
            yield m.span(), (f"「{m.group()}」: 休止の理由のあとで利用できると書かれています。"
                             "「ご利用いただけません」の誤りではないか確認してください。")
    if (text.count("-") >= 4 or "内線" in text) and not CORRECTION.search(text):  # a correction quotes both
        yield from _swapped_numbers(text)
    yield from _money(text)
    if "必ず" in text:
        yield from _procedures(text)
    if "対象" in text:
        yield from _eligible_and_excluded(text)
    if "先着" in text and "定員" in text:
        yield from _two_capacities(text)


def _changes(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    for m in _CHANGE.finditer(text):
        before, after = _number(m["before"]), _number(m["after"])
        if (m["up"] and after < before) or (not m["up"] and after > before):
            verb = "増える・上がる" if m["up"] else "減る・下がる"
            yield m.span(), (f"「{m.group()}」: {verb}と書かれていますが、数字は逆の変化です。"
                             "数字か言葉を確認してください。")


def _decreases(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    for m in _OVER_100_DOWN.finditer(text):
        if _number(m["pct"]) > 100:
            yield m.span(), f"「{m.group()}」: 100%を超えて減ることはありません。数字を確認してください。"


def _swapped_numbers(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    numbers = list(_PHONE.finditer(text))
    for i, a in enumerate(numbers):
        for b in numbers[i + 1:]:
            da, db = re.sub(r"\D", "", a.group()), re.sub(r"\D", "", b.group())
            differ = [k for k in range(min(len(da), len(db))) if da[k] != db[k]]
            if len(da) == len(db) and len(differ) == 2 and differ[1] == differ[0] + 1 and sorted(da) == sorted(db):
                yield b.span(), (f"「{a.group()}」と「{b.group()}」は、数字が入れ替わった同じ番号に見えます。"
                                 "正しい番号を確認してください。")
                return


def _fees(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    """One fee with two amounts that no clause explains, or free and paid."""
    amounts: dict[str, list[tuple[float, bool, re.Match[str]]]] = {}
    for m in _FEE.finditer(text):
        # (「当日は、参加費500円をお支払いください」: 「当日」 says when to pay, not a day's own price)
        begin = m.start() if m["paid"] else max(0, m.start() - 4)
        words = {w.group() for w in _FOR_WHOM.finditer(text, begin, m.end())}
        # 「1組500円」 and later 「1組1,000円」: the same unit twice is one price said two ways, not a price list
        per = words & _PER_UNIT
        qualified = bool(words - _PER_UNIT) or _conditional_sentence(text, m)
        noun = m["noun"] + "".join(sorted(per))
        amounts.setdefault(noun, []).append((_yen(m["amount"] or m["paid"]), qualified, m))
    for m in _FREE.finditer(text):
        if not (_FOR_WHOM.search(text, max(0, m.start() - 8), m.end()) or _conditional_sentence(text, m)):
            amounts.setdefault(m["noun"] + "料", []).append((0.0, False, m))
    for said in amounts.values():
        plain = {amount for amount, qualified, _ in said if not qualified}
        free_and_paid = 0.0 in plain and any(amount > 0 for amount, _, _ in said)
        if free_and_paid or len(plain) > 1:
            first, last = said[0][2], said[-1][2]
            yield last.span(), (f"{first['noun']}が「{first.group()}」と「{last.group()}」で食い違っています。"
                                "金額を確認してください。")


def _conditional_sentence(text: str, m: re.Match[str]) -> bool:
    """「毎月第3土曜日は…観覧料が無料になります」: the amount's sentence says when or for whom it applies."""
    before = text[sentence_begin(text, m.start()):m.start()]
    return bool(re.search(r"毎月|毎週|曜日は|の日は|期間中|の方は|場合は", before))


def _procedures(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    not_needed, required = _NOT_NEEDED.search(text), _REQUIRED.search(text)
    if not_needed is None or required is None:
        return
    if _procedure(not_needed["what"]) == _procedure(required["what"]):
        yield required.span(), (f"「{not_needed.group()}」と「{required.group()}」が両方書かれています。"
                                "手続きが必要かどうか確認してください。")


def _procedure(word: str) -> str:
    return next(kind for stem, kind in _PROCEDURE.items() if word.startswith(stem))


def _yen(amount: str) -> float:
    if amount == "無料":
        return 0.0
    if amount.endswith("万円"):
        return _number(amount[:-2]) * 10_000
    return _number(amount[:-1])


def _thresholds(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    """「20万人を超えました（199,842人）」: a nearby figure of the same unit on the wrong side of the line."""
    for m in _THRESHOLD.finditer(text):
        line = _number(m["figure"]) * _MULTIPLIER.get(m["mult"] or "", 1)
        for count in _COUNT.finditer(text):
            figure = _number(count["figure"])
            if count["unit"] != m["unit"] or figure == line or not 0.8 * line <= figure <= 1.25 * line:
                continue
            if (m["over"] and figure < line) or (not m["over"] and figure > line):
                yield m.span(), (f"「{m.group()}」と書かれていますが、「{count.group()}」はそうなっていません。"
                                 "数字か言葉を確認してください。")
                break


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _money(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    if _FEE_HINT.search(text):
        yield from _fees(text)
    if "額" in text:
        yield from _year_and_month(text)
    if "無料" in text:
        yield from _free_and_paid(text)
    if _PER_ITEM_HINT.search(text):
        yield from _per_item_total(text)


def _year_and_month(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    for m in _YEAR_MONTH.finditer(text):
        if m["k1"] == m["k2"]:
            continue
        first, second = _number(m["a1"]), _number(m["a2"])
        year, month = (first, second) if m["k1"] == "年額" else (second, first)
        if abs(year - 12 * month) > max(12.0, (0.1 if m["about"] else 0.01) * year):
            yield m.span(), (f"「{m.group()}」: 月額の12か月分は{12 * month:,.0f}円で、年額と合いません。"
                             "金額を確認してください。")


def _free_and_paid(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    for m in _PAREN_FREE.finditer(text):
        yield m.span(), f"「{m.group()}」: 金額と「無料」が一緒に書かれています。どちらが正しいか確認してください。"
        return
    free = _FREE_SAID.search(text)
    if free is None:
        return
    for pay in _PAY.finditer(text):
        if not _EXTRA.search(text, sentence_begin(text, pay.start()), pay.end()):
            yield pay.span(), (f"「{free.group()}」と書かれていますが、「{pay.group()}」ともあります。"
                               "費用がかかるのかどうか確認してください。")
            return


def _per_item_total(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    """「1点につき500円」 and a later 「2点…1,500円」: the count times the price is not the total (unless the
    total's sentence speaks of a discount or a cap)."""
    for per in _PER_ITEM.finditer(text):
        price = _yen(per["price"])
        total = re.compile(rf"(?<![\d,])(?P<n>\d{{1,2}})\s*{per['unit']}[^。]{{0,30}}?(?P<sum>\d[\d,]*円)")
        for m in total.finditer(text, per.end()):
            n, said = int(m["n"]), _yen(m["sum"])
            begin = sentence_begin(text, m.start())
            end = text.find("。", m.end())
            if n < 2 or _DISCOUNT.search(text, begin, end if end >= 0 else len(text)):
                continue
            if n * price != said:
                yield m.span(), (f"「{per.group()}」ですが、「{m.group()}」となっています（{n}{per['unit']}なら"
                                 f"{n * price:,.0f}円）。金額か数を確認してください。")
                return


def _eligible_and_excluded(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    eligible = {m["who"]: m for m in _ELIGIBLE.finditer(text)}
    for m in _EXCLUDED.finditer(text):
        first = eligible.get(m["who"])
        if first is not None and first.start() < m.start():
            yield m.span(), (f"「{first.group()}」と書かれていますが、「{m.group()}」ともあります。"
                             "対象を確認してください（「未満」「以外」の誤りではありませんか）。")
            return


def _two_capacities(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    capacity, first_come = _CAPACITY.search(text), _FIRST_COME.search(text)
    if capacity is None or first_come is None or capacity["n"] == first_come["n"]:
        return
    if capacity["unit"] != first_come["unit"] and {capacity["unit"], first_come["unit"]} != {"人", "名"}:
        return
    begin, end = sorted((capacity.start(), first_come.start()))
    if abs(first_come.start() - capacity.start()) > 40 or _SPLIT.search(text, begin, end + 12):
        return
    yield first_come.span(), (f"「{capacity.group()}」と「{first_come.group()}」で人数が食い違っています。"
                              "定員を確認してください。")
