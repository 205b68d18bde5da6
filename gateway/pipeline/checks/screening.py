"""The linguistic layer: who or what a sentence is about, and what it says of them.

Each rule names a subject (a private person, a candidate or party, a faith, a nationality or group,
a company) and what is said of it (an exposing attribute, a request for support, a recommendation,
an exclusion or generalisation, permission to break a rule, hearsay), and drops sentences that
deny, warn against or quote the thing (election-commission notices, 宗教法人 tax notices, shrines
as shelters, fraud warnings). A clear violation blocks; a possible one goes to review. Findings
cite the municipality's clause for the family, as the exact layer's do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from gateway.models import Finding, Severity
from gateway.pipeline.checks.concepts import CONCEPTS, Concepts
from gateway.pipeline.checks.context import Field, Prepared
from gateway.pipeline.checks.language import Language, Reading, Sentence, Word
from gateway.pipeline.checks.names import consented


@dataclass(frozen=True)
class Hit:
    rule: str
    severity: Severity
    message: str
    clause_keys: tuple[str, ...]


Rule = Callable[["Screen", Sentence, Reading], Hit | None]

_HONORIFIC = ("さん", "様", "氏", "くん", "君", "ちゃん")
_PUBLIC_ROLE = re.compile(r"市長|副市長|知事|議長|大臣|講師|先生|教授|館長|校長|署長|職員|国際交流員|選手|監督|会長が|社長が")
_NOTICE = re.compile(r"ご注意|注意して|注意を|詐欺|デマ|事実ではありません|惑わされ|許されません|禁止されて|犯罪です|"
                     r"を名乗る|根拠のない|発表|によると|によれば|相談")
_DIRECTIVE = re.compile(r"ください|下さい|ましょう|しよう|ませんか|お願い|よろしく|頼みます|ぜひ|是非|を$|へ。$|支えて")


class Screen:
    """The linguistic rules with the concepts they share; one per engine."""

    def __init__(self, language: Language) -> None:
        self.language = language
        self.concepts = Concepts(language, CONCEPTS)

    def findings(self, ctx: Prepared) -> list[Finding]:
        out: list[Finding] = []
        for fld in ctx.fields:
            reading = self.language.read(fld.view.norm)
            out.extend(self._field(ctx, fld, reading))
        return out

    def _field(self, ctx: Prepared, fld: Field, reading: Reading) -> Iterator[Finding]:
        for sentence in reading.sentences:
            for rule in RULES:
                hit = rule(self, sentence, reading)
                if hit is not None:
                    span = (sentence.start, sentence.start + len(sentence.text.rstrip("。!?\n")))
                    yield ctx.finding(hit.rule, hit.severity, ctx.clause(*hit.clause_keys),
                                      _quote(hit.message, sentence.text), field=fld, span=span)

    def has(self, concept: str, sentence: Sentence) -> str | None:
        return self.concepts.find(concept, sentence)


def _quote(message: str, sentence: str) -> str:
    excerpt = " ".join(sentence.split())
    if len(excerpt) > 30:
        excerpt = excerpt[:29] + "…"
    return f"「{excerpt}」: {message}"


# -- who: the subjects ----------------------------------------------------------------------------

def private_person(sentence: Sentence) -> str | None:
    """A person named with an honorific or by family and given name, not introduced in a public role."""
    words = sentence.words
    for i, word in enumerate(words):
        if not word.is_name:
            continue
        j = i
        while j + 1 < len(words) and words[j + 1].is_name:
            j += 1
        after = words[j + 1].surface if j + 1 < len(words) else ""
        named = j > i or after in _HONORIFIC
        before = sentence.text[max(0, words[i].start - 6):words[i].start]
        role = _PUBLIC_ROLE.search(before + after) or _PUBLIC_ROLE.match(sentence.text[words[j].end:words[j].end + 4])
        name = sentence.text[words[i].start:words[j].end]
        if named and not role and not _place_named(name, word.surface, words):
            return name
    return None


def _place_named(name: str, surname: str, words: list[Word]) -> bool:
    """A "name" whose first characters are a place named in the same sentence, cut through the
    surname, is a local product or site (「秋芳梨のコンポート（秋芳町）」 read as 秋 + 芳梨), not a person;
    a surname that is a place's whole name (「田中町の田中太郎さん」) is still a person's."""
    for w in words:
        stem = re.sub(r"(?:町|市|村|区|郡|地区)$", "", w.surface) if w.is_place else ""
        if len(stem) > len(surname) and name.startswith(stem):
            return True
    return False


_GROUP = re.compile(r"(?:外国人|外国籍|在日|移民|難民|アジア系|黒人|白人|[ァ-ヶー一-龯]{1,6}(?:人|系)(?:の|は|が|って|観光客|労働者|住民|実習生)|"
                    r"[ァ-ヶー一-龯]{1,6}出身の(?:女性|男性|人|方)|生活保護の人|障害のある(?:子|人|方)|障がいのある(?:子|人|方))")
_NOT_GROUP = re.compile(r"^(?:個人|本人|大人|一人|二人|三人|住人|友人|知人|他人|市民|外人墓地|成人|法人|役人|老人|"
                        r"何人|犯人|証人|新人|達人|名人|職人|商人|美人|恋人|主人|管理人|代理人|保証人|発起人|世話人|"
                        r"芸人|病人|怪我人|故人|旅人|日本人|地元の人|周りの人|近所の人|町の人|都会の人|家の人)")


def group(sentence: Sentence, reading: Reading) -> str | None:
    """A nationality or other group of people: GiNZA's Nationality entity, or a listed group noun."""
    for m in _GROUP.finditer(sentence.text):
        word = m.group()
        stem = re.sub(r"(?:の|は|が|って|観光客|労働者|住民|実習生)$", "", word)
        listed = stem.startswith(("生活保護の人", "障害のある", "障がいのある"))
        if not listed and (_NOT_GROUP.match(stem) or stem.endswith(("の人", "する人", "ない人"))):
            continue
        needs_nation = not listed and stem.endswith(("人", "系")) and not stem.startswith(("外国", "アジア"))
        if needs_nation and not _nationality(sentence, reading, stem):
            continue
        return word
    return None


def _nationality(sentence: Sentence, reading: Reading, stem: str) -> bool:
    root = stem[:-1]
    if any(w.is_country and w.surface in (root, stem) for w in sentence.words):
        return True
    return any((e.label in ("Nationality", "Ethnic_Group_Other") and stem in e.text) or
               (e.label == "Country" and e.text == root) for e in sentence.entities(reading))


_PARTY = re.compile(r"[ァ-ヶー一-龯]{1,8}党|[ァ-ヶー一-龯]{1,8}の会|支持する会|応援する会|後援会|陣営")
_CANDIDATE = re.compile(r"候補(?!者の(?:主張|政策|経歴|情報))|市議(?!会)|県議(?!会)|議員(?!選挙|補欠選挙|の任期|定数)|知事(?!選挙)|代議士|"
                        r"(?:氏|さん)(?:を|に|の後援|こそ)")
# 「あの政党」, or a named politician's rally (「杉本ゆうき 県政報告・決起集会」); not a 市政報告会, which a city
# holds itself
_POINTED = re.compile(r"(?:あの|例の|某|今の)(?:政党|会派|党)|[一-龯ぁ-んァ-ヶー]{2,8}\s*(?:[県国]政報告|決起集会|総決起|出陣式)")
_GENERIC_PARTY = re.compile(r"^(?:政党|各政党|与党|野党|全政党|届出政党)$")


def candidate_or_party(sentence: Sentence, reading: Reading) -> str | None:
    pointed = _POINTED.search(sentence.text)
    if pointed is not None:  # 「あの政党」: a party the reader is meant to recognise
        return pointed.group()
    for m in _PARTY.finditer(sentence.text):
        if m.group().endswith("支持政党"):  # 「支持政党や宗教を尋ねることはありません」: nobody's party
            continue
        if (not _GENERIC_PARTY.match(m.group()) and not m.group().endswith(("の会", "会"))) or \
                re.search(r"支持|応援|後援|創る|つくる|の会", m.group()):
            if m.group().endswith("の会") and not re.search(r"支持|応援|創る|つくる|守る|を", m.group()):
                continue
            return m.group()
    if any(e.label == "Political_Party" for e in sentence.entities(reading)):
        return "政党"
    name = _any_name(sentence)
    cand = _CANDIDATE.search(sentence.text)
    if name and cand:
        return name
    return None


_ELECTION_NOTICE = re.compile(r"選挙管理委員会|選管|期日前投票|不在者投票|投票所|投票率|入場整理券|選挙公報|明るい選挙|"
                              r"主権者教育|模擬投票")


def election_notice(text: str) -> bool:
    """An election commission's notice (投票率, 期日前投票 …) that names no party, supporters' group or
    candidate (judged by the words around them, without parsing): its call to vote is neutral."""
    if not _ELECTION_NOTICE.search(text):
        return False
    return not (any(not _GENERIC_PARTY.match(m.group()) for m in _PARTY.finditer(text)) or _CANDIDATE.search(text)
                or _STANCE.search(text))


# Words that take a side in an election: the incumbent, the issues, the government.
_STANCE = re.compile(r"現職|再選|続投|新人|争点|政権|与党|野党|市政の(?:安定|刷新|転換)|変えよう|変えましょう")


def _any_name(sentence: Sentence) -> str | None:
    for word in sentence.words:
        if word.is_name:
            return word.surface
    return None


_COMPANY = re.compile(r"(?:株式会社|有限会社|合同会社)[^\s、。]{1,12}|[^\s、。「」のをにがはでと]{1,12}(?:株式会社|有限会社|商事|商会|商店|工務店|不動産|"
                      r"食品|交通|建設|医院|整骨院|接骨院|歯科|病院|クリニック|ホーム|ガス|電気|銀行|薬局|ストア|亭|"
                      r"喫茶店|食堂|旅館|ホテル|タクシー)|スーパー[ァ-ヶー]+|[ァ-ヶー]{2,}(?:店|屋)")


def company(sentence: Sentence, reading: Reading) -> str | None:
    m = _COMPANY.search(sentence.text)
    if m:
        return m.group()
    for e in sentence.entities(reading):
        if e.label in ("Company", "Corporation_Other", "Company_Group"):
            return e.text
    return None


# -- rules ------------------------------------------------------------------------------------------

def personal_exposure(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    """A private person's name with an attribute that identifies or exposes them."""
    person = private_person(s)
    what = _exposure(screen, s) if person is not None else None
    if what is None:  # the person named in one sentence, what exposes them in the next
        before = reading.previous(s)
        person = private_person(before) if before is not None else None
        what = _exposure(screen, s, alone=True) if person is not None else None
    if person is None or what is None:
        return None
    if _HISTORY.search(reading.text):  # 「小川九郎兵衛が…開発を願い出ました」: a figure of the city's history
        return None
    if consented(reading.text):  # named with their consent: a health or family matter still needs a second look
        if what not in _SENSITIVE:
            return None
        return Hit("personal.exposure", Severity.REVIEW,
                   f"個人（{person}）の氏名と{what}が結び付いています。本人の同意があるとされていますが、健康・家庭などの"
                   f"事情は特に慎重に扱う情報です。同意の範囲に{what}が含まれるか確認してください。", ("personal",))
    return Hit("personal.exposure", Severity.BLOCK,
               f"個人（{person}）の氏名と{what}が結び付いています。本人が特定され、プライバシーを侵害します。"
               f"氏名か{what}を削除してください。", ("personal",))


_PRIVATE_LIFE = "借金・離婚・家庭の事情などの私生活"
_HEALTH = "病気・入院などの健康情報"
_SENSITIVE = frozenset({_PRIVATE_LIFE, _HEALTH, "福祉の受給の情報", "自宅の火災"})
_HISTORY = re.compile(r"(?<![0-9])1[0-8][0-9]{2}年|江戸時代|戦国時代|幕末|鎌倉時代|室町時代|平安時代|安土桃山")


def _exposure(screen: Screen, s: Sentence, *, alone: bool = False) -> str | None:
    """What in `s` exposes a person named in it (`alone`: named in the sentence before, so only what
    could be said of nobody else: private circumstances, a home)."""
    text = s.text
    if screen.has("private_life", s) and not _NOTICE.search(text):
        return _PRIVATE_LIFE
    if alone:
        return "住所" if screen.has("residence", s) and _lives_in_a_place(text) and not _NOT_HOME.search(text) else None
    if _BORN.search(text) or (screen.has("birth", s) and
                              re.search(r"(?:明治|大正|昭和|平成|令和|\d{4})\s*\d*年|生年月日", text)):
        return "生年月日"
    if screen.has("illness", s) and not re.search(r"検診|予防|相談|申請|手続き|代理人", text):
        return _HEALTH
    if screen.has("welfare", s):
        return "福祉の受給の情報"
    if screen.has("fire", s) and re.search(r"自宅|宅|家|住宅|住まい", text):
        return "自宅の火災"
    if re.search(r"(?:小学校|中学校|小学|中学|高校|学園)[^。]{0,6}?\d\s*年|\d\s*年生|[（(]\s*\d\s*年\s*[)）]", text):
        return "学校と学年"
    # A missing-person appeal names the district on purpose (with the family's consent): the exact
    # layer's name-and-age finding sends it to an approver instead.
    lives = _lives_in_a_place(text) if screen.has("residence", s) or _TOWN_IN_PARENS.search(text) else False
    if lives and re.search(r"住|在住|宅|[（(]", text) and not _NOT_HOME.search(text):
        return "住所"
    return None


# A full date of birth the way a list of names gives it: 「昭和38年5月2日生」, or a Shōwa or earlier date alone in
# the name's brackets 「（昭和38年5月2日・於福町）」 — a 平成 or 令和 date there is as likely the event's own day.
_BORN = re.compile(r"(?:(?:明治|大正|昭和|平成|令和)\s*(?:\d{1,2}|元)|\d{4})\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日\s*生(?!活|産|徒|涯)|"
                   r"(?:明治|大正|昭和)\s*(?:\d{1,2}|元)\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日\s*[)）・]")
_TOWN_IN_PARENS = re.compile(r"[（(][^）)]{1,8}(?:町|丁目|番地|台|山)[^）)]{0,4}[)）]")
# 「市内在住」「厚木市在住」 says no more than a city: award winners are introduced so, with their consent.
_CITY_WIDE = re.compile(r"(?:市内|市外|町内|県内|県外|都内|[一-龯]{1,5}[市県都府])(?:に)?(?:在住|在勤|在学|にお住まい|に住む)")
_RESIDENCE_WORDS = re.compile("|".join(next(c.seeds for c in CONCEPTS if c.name == "residence")))


def _lives_in_a_place(text: str) -> bool:
    """Whether the sentence places someone more narrowly than a whole city."""
    rest = _CITY_WIDE.sub("", text)
    return bool(_RESIDENCE_WORDS.search(rest) or _TOWN_IN_PARENS.search(rest))


_NOT_HOME = re.compile(r"市役所|庁舎|公民館|会場|行方不明|捜して|探して")


_SUPPORT = re.compile(r"応援|支持|支援|投票(?!所|率|日|箱|用紙|区|券|時間|入場)|一票|1票|清き|よろしくお願い|力を貸|支え|当選|入会|推し|推す|推薦|"
                      r"全力で|唯一の人|こそ|変える勇気|変えませんか|交代させ|決起集会|総決起|出陣式")


def political_support(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    """A request for votes or support for a named candidate, a party or its supporters' group."""
    before = reading.previous(s)
    if not (_SUPPORT.search(s.text) or (before is not None and _SUPPORT.search(before.text))):
        return None
    # The cheap tests first: the target may need the named-entity recogniser.
    if not (_DIRECTIVE.search(s.text) or re.search(r"全力で|唯一の人|こそ", s.text)):
        return None
    if re.search(r"選挙管理委員会|推薦することはありません|禁止されて", s.text):
        return None
    target = candidate_or_party(s, reading)
    if target is None and before is not None and (_SUPPORT.search(before.text) or _POINTED.search(before.text)):
        target = candidate_or_party(before, reading)
    if target is None:
        return None
    return Hit("political.support", Severity.BLOCK,
               f"特定の候補者・政党等（{target}）への投票や支持を呼びかける内容です。市の発信は政治的に中立である"
               "必要があります。呼びかけを削除し、選挙は選挙管理委員会の中立的な案内に限ってください。", ("political",))


_POLITICIAN = re.compile(r"議員|市議|県議|知事|大臣|首相|総理|代議士|政治家")
_NAMED_ROLE = re.compile(r"(?:^|の|、|は|「)(?!市議会|県議会|国会|各|全)[一-龯ぁ-んァ-ヶ]{1,4}(?:議員|市議|県議|知事|大臣)")


def political_attack(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    """A named politician attacked."""
    if not _POLITICIAN.search(s.text) or _NOTICE.search(s.text):
        return None
    word = screen.has("disparage", s)
    if word is None:
        return None
    if not (_any_name(s) or _NAMED_ROLE.search(s.text)
            or any(e.label in ("Person", "Political_Party") for e in s.entities(reading))):
        return None
    return Hit("political.attack", Severity.BLOCK,
               f"名前を挙げて政治家を非難する内容です（「{word}」）。市の発信は政治的に中立である必要があります。"
               "該当部分を削除してください。", ("political",))


# 「教え」 the noun (teachings), not the verb (「教えてください」「教えます」).
_FAITH = re.compile(r"神様|神を|神が|仏の|仏様|仏教|キリスト教|イスラム教|天理教|[ァ-ヶー一-龯]{1,4}教の|信仰|教え(?![てまるなたら])|お題目|念仏|"
                    r"祈祷|祈とう|礼拝|修養会|ご利益|御利益|お守り|参拝|お参り|[一-龯]{1,4}(?:寺|神社|教会)|霊場|御朱印|功徳|"
                    r"(?:檀家|氏子|信者)に(?:なって|なる|なり)|入信")
_FAITH_BENEFIT = re.compile(r"(?:ば|れば|すれば|と)[^。]{0,20}(?:治る|治り|救われ|解決|合格|叶|かな|幸せ|約束され|恵まれ)|"
                            r"ご利益|御利益|病気が治|心が救われ|功徳|どんな願いも")
_FAITH_INVITE = re.compile(r"おすすめ|お勧め|勧めて|勧め|ませんか|ましょう|ください|においで|ぜひ|いただきましょう|"
                           r"いただくよう|お願いして|お願いします")
# A faith word naming a time or the people doing it (「お参りの後は…お持ち帰りください」「参拝者の皆さま」): the
# request in the sentence is about something else.
_FAITH_AS_TIME = re.compile(r"(?:お参り|参拝|礼拝)(?:の(?:後|あと|前|際|とき|時|帰り|方)|時|後|者|客)")
_FAITH_CIVIC = re.compile(r"境内|避難|固定資産税|宗教法人|交通規制|紅葉|文化財|祭り|まつり|会場|協定|清掃|安全祈願|見頃|墓地|霊園|"
                          r"防火|コンサート|合唱|発表会|初詣|除夜の鐘|観光|認証|非課税|妨げ|ご配慮|ご迷惑|迷惑をかけ|マナー|見学|静かに|"
                          r"ゆっくり|足元")


def religious_recommendation(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    """The city recommending a faith or promising a religious benefit."""
    faith = _FAITH.search(_FAITH_AS_TIME.sub("", s.text))
    if faith is None or _FAITH_CIVIC.search(s.text) or _NOTICE.search(s.text):
        return None
    benefit = _FAITH_BENEFIT.search(s.text)
    invite = _FAITH_INVITE.search(s.text)
    if not (benefit or invite):
        return None
    if not benefit and not re.search(r"信仰|教え(?![てまるなたら])|礼拝|参拝|お参り|修養会|祈祷|お題目|ご利益|教会|神様|"
                                     r"(?:檀家|氏子|信者)に(?:なって|なる|なり)|入信",
                                     _FAITH_AS_TIME.sub("", s.text)):
        return None
    return Hit("religious.recommendation", Severity.BLOCK,
               f"信仰や寺社・宗教（{faith.group()}）を勧める、または宗教による利益をうたう内容です。市の発信は宗教的に"
               "中立である必要があります。該当部分を削除してください（寺社を会場・避難所・観光地として案内するのは"
               "問題ありません）。", ("religious",))


_INCLUSIVE = re.compile(r"のための|向け|避難(?:に時間|を始め|の支援|支援|行動要支援|を手伝)|も利用でき|もご利用|共生|交流|人権|差別|偏見|ヘイト|相談|支援|講師|ようこそ|歓迎|協力して|"
                        r"皆さんが|皆さんと|参加してくれ|研修|案内|通訳")


def discrimination_group(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    """Exclusion of, or a generalisation about, people of a nationality or group."""
    who = group(s, reading)
    if who is None or _INCLUSIVE.search(s.text):
        return None
    trait = screen.has("bad_trait", s)
    exclude = screen.has("exclude", s)
    generalise = re.search(r"べき|がち|みんな|全員|どうせ|いつも|すぐ|増え(?:ると|てから|たら)", s.text)
    if (exclude or (trait and (generalise or re.search(r"は|が|って", s.text))) or (generalise and "べき" in s.text)) \
            and not _AWARENESS.search(reading.text):  # a human-rights post quotes the generalisation it condemns
        said = exclude or trait or "一般化"
        return Hit("discrimination.group", Severity.BLOCK,
                   f"国籍・属性（{who}）を理由に人を排除し、または一律に決めつける内容です（「{said}」）。差別を"
                   "助長する表現は発信できません。削除してください。", ("discrimination",))
    return None


# Where a person comes from, or a group's worth, made the reason to turn them away.
_ORIGIN = re.compile(r"本籍|出身地|出身の方|出身者|家柄|門地|生まれた地域|同和地区")
_SELECTION = re.compile(r"採用|選考|合否|参考に|見送|お断り|入居|貸さ|結婚|不利")
# A background check sold as a service (「参加者の出身地やご家族のことも確認していますので」); not 「県外出身の方も
# 安心してご参加ください」.
_CHECKED = re.compile(r"(?:本籍|出身地|家柄|門地|ご家族|家族)[^。]{0,12}?(?:確認して|調べて|調査して)")
_FAIR = re.compile(r"尋ね(?:ること|ません|ない)|聞(?:くこと|きません|かない)|ありません|しません|いたしません|公正|"
                   r"禁止|いけません|関係なく|問わず")  # 差別・人権・偏見: _AWARENESS, over the whole field
_WORTH = re.compile(r"活力につながらない|役に立たない|生産性(?:が|の)(?:低|な)|負担になる|お荷物|足手まとい|価値がない|"
                    r"貢献(?:しない|できない)")
_AWARENESS = re.compile(r"差別|人権|偏見|公正な採用|不当な扱い|身元調査")
_TURNED_AWAY = re.compile(r"ご遠慮|お断り|対象外|受け付けません|受け入れません|来ないで")


def discrimination_origin(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    """Selection by birthplace or family origin (本籍・出身地), or a group turned away as worth less."""
    origin, worth = _ORIGIN.search(s.text), _WORTH.search(s.text)
    if origin and (_SELECTION.search(s.text) or _CHECKED.search(s.text)):
        said = origin.group()
    elif worth and _TURNED_AWAY.search(s.text):
        said = worth.group()
    else:
        return None
    # a sentence that says it is not done, or a human-rights post quoting the prejudice it condemns
    if _FAIR.search(s.text) or _AWARENESS.search(reading.text):
        return None
    return Hit("discrimination.origin", Severity.BLOCK,
               f"出身地・本籍や属性を理由に人を選別し、または受け入れを断る内容です（「{said}」）。差別にあたるため"
               "発信できません。削除してください。", ("discrimination",))


_UNWATCHED = re.compile(r"誰も見て(?:い)?ない|誰にも(?:見られ|分から|わから|ばれ|バレ)|監視(?:員|カメラ)(?:が|の)(?:い)?ない|"
                        r"(?:警察|パトカー|取り締まり)(?:が|は)?(?:い|来)?ない|見つからなければ|ばれなければ|バレなければ|"
                        r"人通りの少ない|深夜なら|夜なら|早朝なら|山の中なら|少しぐらい|少しくらい|少しだけなら|ちょっとなら|"
                        r"調べられることは")
_PERMIT = re.compile(r"(?:ても|でも)[^。]{0,24}?(?:大丈夫|問題(?:は)?(?:ない|ありません)|構わない|構いません|平気|OK|"
                     r"いい(?:です|んです)?(?:よ)?(?:[。!]|$)|ばれ(?:ない|ません)|バレ(?:ない|ません)|分かりません|"
                     r"分からない|わかりません|取り締まりは)|(?:取り締まり|罰金)(?:は|も)(?:ありません|ない)|"
                     r"調べられることは(?:ない|ありません)|(?:なければ|なきゃ)(?:問題|大丈夫|OK)|"
                     r"見た目(?:で|では|じゃ)(?:分から|わから|分かり|わかり|ばれ|バレ)")
# A rule named and then got round (「禁止されていますが、…」): the 禁止 is not the city's warning.
_ROUND_THE_RULE = re.compile(r"禁止[^。]{0,10}(?:が|けど|けれど)、")
# Waste got rid of where it does not belong, offered as a way (「山林に埋めてしまうのも一つの手」).
_DUMPING = re.compile(r"(?:山林|山の中|空き地|河原|川|海|林|畑|他人の土地|道端|草むら)[^。]{0,12}(?:埋め|捨て|燃や|流し)[^。]{0,12}?"
                      r"(?:一つの手|ひとつの手|手です|のもあり|簡単|おすすめ|構いません|かまいません|大丈夫|いいでしょう|"
                      r"ましょう|てしまえば)")


# An act that rules restrict, itself the thing 「〜しても大丈夫」 allows (not 「手ぶらで来ても大丈夫」 after
# 「釣り道具の貸し出しもある」: the act must come before the 「ても」 in the same clause).
_ACT_ALLOWED = re.compile(r"(?:捨て|燃や|駐車|たき火|焚き火|スピード|釣り|釣っ|飲酒|置いて|飲んで[^。]{0,12}(?:運転|車で))"
                          r"[^。、]{0,12}?(?:ても|でも)|(?:飲ん|飲酒し)(?:でも|ても)[^。]{0,16}?(?:運転|車で)")


def illegal_unwatched(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    """Advice that a rule may be broken where nobody is watching."""
    if re.search(r"やめましょう|守りましょう|いけません|犯罪です|不法投棄|禁止", _ROUND_THE_RULE.sub("", s.text)):
        return None
    permitted = _PERMIT.search(s.text) and (
        _UNWATCHED.search(s.text) or _ROUND_THE_RULE.search(s.text)
        or _ACT_ALLOWED.search(s.text))
    if not (permitted or _DUMPING.search(s.text)):
        return None
    return Hit("illegal.unwatched", Severity.BLOCK,
               "見られていなければ法令・ルールを破ってよいと勧める内容です。違法行為を助長する表現は発信できません。"
               "削除し、ルールを守るよう呼びかける表現にしてください。", ("illegal",))


def defamation_named(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    """A named person or company called dishonest, or named for residents to avoid."""
    accuse = screen.has("accuse", s)
    boycott = screen.has("boycott", s)
    if not (accuse or boycott) or _POLITICIAN.search(s.text):
        return None
    if _NOTICE.search(s.text) or re.search(r"を名乗る|かたる|装った|行政処分|業務停止", s.text):
        return None
    target = company(s, reading) or _named_person(s)
    if target is None:
        return None
    return Hit("defamation.named", Severity.BLOCK,
               f"特定の個人・事業者（{target}）の名誉を傷つけ、または利用を避けるよう呼びかける内容です（「"
               f"{accuse or boycott}」）。経済的・精神的な損害を与えるおそれがあるため発信できません。削除してください。",
               ("defamation", "harm"))


def _named_person(s: Sentence) -> str | None:
    name = private_person(s)
    if name:
        return name
    m = re.search(r"(?:院長|社長|会長|店長|店主|町内会長)", s.text)
    return m.group() if m else None


_HEARSAY = re.compile(r"聞きました|聞いた(?:話)?|という話|との(?:うわさ|噂|情報)|(?:うわさ|噂|ウワサ)(?:が|に|に?なって)|"
                      r"と言われて|という人がいる|人がいるよう|(?:る|た|い|だ)そうです|らしい(?:です|と|よ|。)|かもしれないとの|"
                      r"の話では|話によると|(?:の間|近所|巷)で(?:は)?(?:言われ|噂|うわさ|話題)")
_SOURCE = re.compile(r"気象庁|警察|消防|発表|公式|市の調査|市が確認|市ホームページ|ホームページ|によると|によれば|確認しま|事実ではありません|"
                     r"惑わされ|デマ|根拠のない|ご意見|通報を受け")


# A post that quotes a rumour to deny it: 「…という噂がありますが、事実ではありません」 (anywhere in the post).
_DENIAL = re.compile(r"事実ではありません|事実はありません|決定(?:は|を)?して(?:い)?ません|決まっていません|ございません|"
                     r"誤った情報|誤り(?:です|でした)|デマ|惑わされ|通常どおり|通常通り|根拠のない|"
                     r"そのような(?:制度|予定|事実|決定|計画|規則|ルール|こと)はありません|ことはありません|"
                     # a fraud warning quotes what the fraudster says
                     r"詐欺|悪質商法|不審な電話|クーリング・オフ|と言われても")


def rumour_hearsay(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    """Hearsay about dangers or services, passed on without a source."""
    m = _HEARSAY.search(s.text)
    if m is None or _SOURCE.search(s.text) or _DENIAL.search(reading.text):
        return None
    return Hit("rumour.hearsay_claim", Severity.REVIEW,
               f"伝聞・うわさ（「{m.group()}」）を確かめずに伝える内容です。市が確認した事実と出典を示すか、"
               "削除してください。", ("rumour",))


_FAVOUR = re.compile(r"(?<!春)一番(?!星|茶|列車|電車|バス|乗り)|最も|断然|以外は|だけで(?:し|買)|比べものに|価値がありません|価値がない|に任せる|おすすめします|"
                     r"をおすすめ|がおすすめ|が断然|ほかの(?:店|地区|地域)|他の(?:店|地区|地域)|住みにくい|遅れて")
_EQUAL = re.compile(r"全ての|すべての|全地域|各地区|各地域|市内の全|参加店|取扱店|\d+店舗|\d+事業者|高い山|長い|古い|大きな")


def bias_favouring(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    """One business or district favoured over (or disparaged against) the others."""
    m = _FAVOUR.search(s.text)
    if m is None or _EQUAL.search(s.text):
        return None
    target = company(s, reading) or _district(s)
    if target is None:
        return None
    return Hit("bias.favouring", Severity.REVIEW,
               f"特定の事業者・地区（{target}）をほかより優遇し、または劣ると評する内容です（「{m.group()}」）。"
               "市の発信としての公平性を確認し、客観的な情報に改めてください。", ("bias", "ideology"))


def _district(s: Sentence) -> str | None:
    m = re.search(r"[一-龯ァ-ヶー]{1,6}(?:地区|地域|町|駅周辺|北部|南部|東部|西部|商店街)", s.text)
    if m:
        return m.group()
    return next((w.surface for w in s.words if w.is_place), None)


_TAUNT = re.compile(r"本当にいるんですか|資格がありません|資格はない|何度言っても|人が悪い|騒ぐなんて|大げさ|文句は言えません|"
                    r"後悔すればいい|(?:時代|流行|世の中)に取り残され|考えられないのでしょうか|分からない人|わからない人|知らないなんて|恥ずかしくない|"
                    r"自業自得|自己責任ですよ|自己責任(?:って|という)こと|自己責任でよろしく|笑っちゃ|情けない")


def provocation_taunt(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    m = _TAUNT.search(s.text)
    if m is None:
        return None
    return Hit("provocation.taunt_sentence", Severity.REVIEW,
               f"住民を挑発・揶揄すると受け取られる表現です（「{m.group()}」）。事実と依頼だけを丁寧に伝える表現に"
               "改めてください。", ("provocation",))


_HARMFUL = re.compile(r"飲酒運転|ポイ捨て|寝たばこ|被害|不法投棄|スピードを出|踏み台を置|事故|火遊び|信号無視|詐欺")
_ENCOURAGE = re.compile(r"広め|増や|心がけ|ましょう|推進|しよう")
_PREVENT = re.compile(r"なくし|減ら|やめ|防|撲滅|控え|禁止|注意|気をつけ|追放|ストップ|ゼロ|防止|させない|しない")
_PROTECTIVE = re.compile(r"水分補給|手洗い|換気|シートベルト|ヘルメット|戸締まり|うがい|避難")
_CAMPAIGN = re.compile(r"運動|週間|キャンペーン|予防|防止|防ぐ|ため|安全")


def accuracy_inversion(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    """A wording (often a typo) that says the opposite of the campaign it belongs to."""
    text = s.text
    for harmful in _HARMFUL.finditer(text):
        after = text[harmful.end():harmful.end() + 14]
        if _ENCOURAGE.search(after) and not _PREVENT.search(after):
            return _accuracy(harmful.group())
    late = _LATE_ESCAPE.search(text)
    if late and not re.search(r"待たず|ではなく|いけません|しないで|ないでください|間に合(?:わ|いません)|遅れ|遅すぎ|では遅",
                              text):
        return _accuracy(late.group())
    protective = _PROTECTIVE.search(text)
    if protective and _CAMPAIGN.search(text):
        after = text[protective.end():protective.end() + 10]
        if re.search(r"控え|やめ|しないで|禁止", after):
            return _accuracy(protective.group())
    return None


# Waiting for the warning, or for the wave, before escaping: JMA and every city say the opposite.
_LATE_ESCAPE = re.compile(r"(?:津波|大津波|津波警報|避難指示|警報)[^。]{0,12}?(?:を確認して(?:から)?|が(?:出るの|来るの)?を?確認してから|"
                          r"が来るまで|を待って(?:から)?|を見てから|が出てから|が出るまで)[^。]{0,20}?(?:避難|逃げ|待機|高台)")


def _accuracy(word: str) -> Hit:
    return Hit("accuracy.inverted", Severity.REVIEW,
               f"「{word}」について、呼びかけの意味が逆になっています（誤字・脱字のおそれ）。意図した表現"
               "（〜をなくしましょう、〜を心がけましょう等）になっているか確認してください。", ("accuracy", "rumour"))


_DOUBLE = re.compile(r"熱い夜|ムラムラ|イキまく|イっちゃ|昇天する|朝までハッスル|濡れ濡れ|ヌルヌル|大人だけの|悶絶|絶頂")
_TRIVIAL = re.compile(r"死ぬほど|殺人的|ラッキー|よかったね|怖くない|ゲーム感覚|楽しもう|遊びに行こう")
_DISASTER = re.compile(r"台風|地震|大雨|休校|災害|防災|津波|洪水|避難")


def obscene_phrase(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    """Everyday phrases a reader can take as sexual, or that make light of death and disaster."""
    m = _DOUBLE.search(s.text)
    if m is None:
        trivial = _TRIVIAL.search(s.text)
        if trivial is None or (trivial.group() not in ("死ぬほど", "殺人的") and not _DISASTER.search(s.text)):
            return None
        m = trivial
    return Hit("obscene.innuendo", Severity.REVIEW,
               f"性的な意味に受け取られる、または死や災害を軽く扱うと受け取られる表現です（「{m.group()}」）。"
               "公式の発信にふさわしい表現に改めてください。", ("obscene", "public_order"))


_FORCE = re.compile(r"押しかけ|思い知らせ|突き落と|パンクさせ|取り囲ん|謝らせ|懲らしめ|痛い目|吊るし上げ|袋叩き|殴って|脅して|"
                    r"追い詰め")
_URGE = re.compile(r"やりましょう|ましょう|ればいい|やりたい|てやれ|しよう|やろう")


# The city's own threat, or a harmful act offered as relief: no urging verb is needed.
_THREAT = re.compile(r"どうなっても知りません|黙ってはいません|ただでは済みません|ただじゃ済まな|痛めつけ")
_HARM_ACT = re.compile(r"破裂させ|叩き割|ぶち壊|壊して|放り込|投げ込|殴(?:る|って|れば)|石を投げ|蹴飛ば")
_NEGATED = re.compile(r"[らさまかわ]?(?:ず|ない|なく|ぬ)")  # 「叩き割らずに」「放り込まないで」
_RELIEF = re.compile(r"すっきり|スッキリ|ストレス解消|スカッと|気分が晴れ|気が晴れ")


def public_order_force(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    """Urging residents to use force or intimidation against someone, threatening them, or offering a
    harmful act as a way to feel better."""
    if _NOTICE.search(s.text):
        return None
    m = _FORCE.search(s.text)
    if m is None or not _URGE.search(s.text[m.start():]):
        m = _THREAT.search(s.text)
        if m is None:
            act = _HARM_ACT.search(s.text)
            if act is not None and not _NEGATED.match(s.text, act.end()) and _RELIEF.search(s.text, act.start()):
                m = act
    if m is None:
        return None
    return Hit("public_order.force", Severity.BLOCK,
               f"人に対する実力行使・威圧を促す表現です（「{m.group()}」）。公序良俗に反する内容は発信できません。"
               "削除してください。", ("public_order", "illegal"))


# A dangerous act or place, and the sentence recommending it (not warning against it).
# (「柵の外から」 is where spectators stand: 「観覧は柵の外からどうぞ」; beyond it is 「柵の外に出て」「柵の外で」)
_DANGER = re.compile(r"柵の外(?!から)|柵を越え|崖(?:の(?:ぎりぎり|先|端|ふち)|っぷち)|増水した|濁流|台風の(?:日|中|時)|嵐の(?:日|中)|"
                     r"高波の(?:日|中)|荒れた海|立(?:ち)?入(?:り)?禁止(?:の|柵|区域|ロープ|エリア)|凍った(?:池|湖|川)の上|大麻|覚醒剤|"
                     r"危険ドラッグ|スピードを出し|猛スピード|走り放題|泳いで渡|飲んで運転|運転しても|一気飲み|"
                     r"水分(?:は|を)(?:とらず|控え)|ブレーキをかけず|ノーブレーキ|ブイの外|遊泳区域の外|欄干の上|"
                     r"(?:垂れ下が|切れ)[^。]{0,6}電線|電線[^。]{0,10}(?:垂れ|切れ)|枯れ草[^。]{0,10}(?:花火|火)|"
                     r"(?:乾いた|乾燥した)[^。]{0,8}(?:草|林|山)[^。]{0,10}(?:花火|火)|"
                     r"(?:警報|注意報)が(?:出て|発表されて)いる|雷が(?:ゴロゴロ|鳴)|"
                     r"(?:台風|強風|風が強)[^。]{0,24}屋根に(?:上|登|のぼ)|"
                     r"(?:お酒|酒|ビール|飲ん|酔っ|あおっ)[^。]{0,24}(?:海に|川に|泳|ざぶん|ザブン|飛び込)|"
                     r"(?:夜中|夜通し|深夜|朝まで)[^。]{0,24}(?:大声|爆音|スピーカー|騒い|騒ぐ)|"
                     r"(?:大声|爆音|スピーカー)[^。]{0,24}(?:夜中|夜通し|深夜|住宅街|ご近所)|"
                     r"(?:手すり|欄干|柵|フェンス|ロープ|ガードレール)[^。]{0,8}(?:乗り越え|越えて|くぐ)|(?:手すり|柵|フェンス)の上|"
                     r"柵の(?:先|向こう|奥)|未整備(?:区域|エリア)|防波堤の(?:先|上)|堤防の上|"
                     r"線路(?:の上|内|に(?:立|入|降|寝))|踏切(?:の中|内)|(?:電車|列車)が(?:来る|通る)(?:直前|寸前|ぎりぎり)|"
                     r"ドリフト|(?:雪|凍結|路面)[^。]{0,12}(?:攻め|飛ばし)|"
                     r"(?:台風|大雨|増水|高潮|濁流|荒れ|嵐)[^。]{0,30}(?:河原|川岸|岸壁|防波堤|堤防|海岸)(?:まで|へ|に)")
_RECOMMEND = re.compile(r"おすすめ|オススメ|チャンス|最高|いい思い出|思い出に|楽しい|楽しめ|楽しんで|楽しみ方|映え|腕試し|挑戦して|"
                        r"してみては|てみて|ぜひ|体にいい|もってこい|スリル|走り放題|気持ちいい|いかが|絶好|醍醐味|"
                        r"通の|流の|風物詩|大目に|どうぞ|しましょう|あげましょう|行けば|たまりません|(?:見物|見)に行(?:きましょう|こう|ってみ|っては)|"
                        r"行きましょう|撮れます|めったに見られない|一生に一度|いちばん|がいちばん|のが一番|"
                        # the city holding it (「一気飲み大会も予定しています」「最後まで立っていられた人には豪華賞品」)
                        r"(?:大会|選手権|コンテスト)(?:も|を)?(?:予定|開催|開き|行い)|賞品|景品|爽快|たくなる")
_WARNED = re.compile(r"ないで|しないよう|ないよう|やめ|禁止され|危険です|危険な|危ない|絶対に|控えて|注意|おそれ|命を落と|"
                     r"事故|違法|犯罪|いけません|近づかない|うそです|嘘です|誤り|誤った|デマ|間違い|根拠(?:の|が)ない")


# A dare: words that sell a risk as the attraction, with something that can hurt in the same sentence.
# (「スリル満点の吊り橋」 alone is a tourist site's; 「肝試し大会」 a children's event.)
_DARE = re.compile(r"度胸|肝試し(?!大会)|勇気のある方|命知らず|一人前|勇者|武勇伝|冒険好き")
_NO_DARE = re.compile(r"(?:度胸|勇気)(?:も|は)?(?:いらず|いらない|要らない|不要)")  # 「度胸もいらず」
# A precaution in the sentence: a guided, equipped or designated activity, not a dare.
_SAFE_FRAME = re.compile(r"ライフジャケット|インストラクター|ガイド|係員|指導員|安全|指定の|決められた|ヘルメット|見学場所|"
                         r"観覧(?:場所|席|エリア)|バケツ|用意して|ルール")
# Slipping past the staff or the rules turns a guided activity into a dare (「係員の目を盗み」).
_DEFY = re.compile(r"目を盗|見つからない|見つからず|バレない|ばれない|こっそり|内緒で")
# The sentence before says what harm follows: it warns, so the next one's 「どうぞ」 is not about the danger.
_CONSEQUENCE = re.compile(r"つなが|火災|事故|けが|怪我|おぼれ|溺れ|流され|危険|命|死")
_HAZARD = re.compile(r"火|炎|花火|川|上水|海|波|崖|滝|飛び込|ザブン|ダイブ|てっぺん|欄干|近づ|すぐそば|真下|真っ暗|破裂|線路|踏切|屋根|柵|"
                     r"立入|立ち入|山焼き|流れ|深い|吸う|吸って|酒")
# Drugs by their slang: 「葉っぱ」「あの草」 smoked; a challenge that stops breath or blood, by its name
# (「息止めチャレンジ」「気絶ゲーム」), which sells itself.
_DRUG_SLANG = re.compile(r"(?:息止め|気絶|失神|首絞め|窒息)(?:チャレンジ|ゲーム|遊び)|(?:葉っぱ|あの草|“草”|ハッパ|例の草)[^。]{0,24}?(?:吸|くゆら|キメ|炙|あぶ)|"
                         # a drug sold as harmless (「大麻は…体への害もお酒より少ない」)
                         r"(?:大麻|マリファナ|MDMA|覚醒剤|危険ドラッグ)[^。]{0,30}?(?:害[^。]{0,12}?(?:少ない|ない|低い)|"
                         r"合法の国も多|安全な|依存性(?:は|も)?(?:ない|低い|少ない))")


def _recommended_danger(text: str, context: str, *, safe: bool) -> tuple[re.Match[str], re.Match[str]] | None:
    """(the danger, the words recommending it): drugs by slang (their own recommendation), a listed danger
    in the sentence or the one before with a recommendation in this one, or a dare near a hazard."""
    drug = _DRUG_SLANG.search(text)
    if drug is not None:
        return drug, drug
    danger = _DANGER.search(text) or (_DANGER.search(context) if context else None)
    recommend = _RECOMMEND.search(text) if danger is not None else None
    if danger is not None and recommend is not None:
        return danger, recommend
    if safe or _NO_DARE.search(text):
        return None
    dare = _DARE.search(text) or (_DARE.search(context) if context else None)
    hazard = _HAZARD.search(text) if dare is not None else None
    return (hazard, dare) if hazard is not None and dare is not None else None


def public_order_danger(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    """A dangerous act or place recommended to residents (a typhoon's waves, a flooded river, beyond the fence,
    drugs, speeding, a dare near fire or water), where a city would warn against it."""
    if _WARNED.search(s.text) or _NOTICE.search(s.text):
        return None
    # The danger may be set up in the sentence before the one that recommends it (「濁流は大迫力。」
    # 「眺めるなら今がチャンス」), when that sentence does not warn either.
    before = reading.previous(s)
    safe = not _DEFY.search(s.text) and (
        _SAFE_FRAME.search(s.text) or (before is not None and _SAFE_FRAME.search(before.text)
                                       and not _DEFY.search(before.text)))
    context = before.text if before is not None and not safe and not (
        _WARNED.search(before.text) or _CONSEQUENCE.search(before.text)) else ""
    found = _recommended_danger(s.text, context, safe=bool(safe))
    if found is None:
        return None
    danger, recommend = found
    return Hit("public_order.danger", Severity.BLOCK,
               f"危険な行為・場所（「{danger.group()}」）を勧める内容です（「{recommend.group()}」）。住民の安全を"
               "損なうおそれがあるため発信できません。削除し、危険を避けるよう呼びかける表現にしてください。",
               ("public_order", "harm"))


# Self-harm offered as a way out (「楽になる方法を自分で選ぶのも、ひとつの答え」): a city's post about mental
# health must point to help, never to this. Not when the sentence says it is not an answer.
_SELF_HARM = re.compile(r"(?:楽になる|命を絶つ|死を選ぶ|死ぬ|自ら命を|この世を去る|終わりにする)(?:方法|道|こと)?(?:を|も)?"
                        r"[^。]{0,12}?(?:選ぶ|選択|答え|自由|権利)")
_SELF_HARM_DENIED = re.compile(r"ではありません|ではない|じゃない|してはいけ|相談|ないで|止め|守る")


def public_order_self_harm(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    m = _SELF_HARM.search(s.text)
    if m is None or _SELF_HARM_DENIED.search(s.text):
        return None
    return Hit("public_order.self_harm", Severity.BLOCK,
               f"自ら命を絶つことを選択肢として示す内容です（「{m.group()}」）。命にかかわるため発信できません。削除し、"
               "相談窓口につなぐ表現にしてください。", ("public_order", "harm"))


# Tricks that break a law, offered as advice: a fare dodged, a benefit kept by not reporting a death or
# a move, a form filled in falsely, a worker's passport kept from them, and 「ばれません」 after an act.
# A fare or fee not paid is a trick only with a word that says so: 「敬老パスで運賃を払わずに乗れます」 is a service.
_FARE_DODGE = re.compile(r"(?:払わず|支払わず|払わないで|タダで)[^。]{0,12}?(?:通れ|通過|乗れ|入れ|済み|済む|済ま|できちゃ)")
_TRICKS = re.compile(
    r"(?:届け?出|届出|申告|手続き?)を[^。]{0,8}?(?:遅らせ|出さず|しなけれ|せず|しないで)[^。]{0,24}?"
    r"(?:受け取り続け|もらい続け|受給し続け|もらえ|受け取れ|お得|得を|損)|"
    r"と(?:書いて|記入して|申告して|届け出て)(?:しまえば|おけば)|"
    r"(?:パスポート|旅券|在留カード)[^。]{0,24}?(?:預か|取り上げ)[^。]{0,24}?(?:渡さない|返さない|コツ|効果的|おすすめ)")
_FARE_TRICK = re.compile(r"ついて行|ついていけ|続けば|に続いて|こっそり|ばれ|バレ|知ってまし|知ってた|裏技|抜け道|ぴったり|夜中|深夜")
_UNNOTICED = re.compile(r"(?:ばれ|バレ)(?:ない|ません|なきゃ|なければ|ずに)|見つから(?:ない|なければ|ずに)|"
                        r"誰も(?:気づ|気付)(?:きません|かない|かれ)")
_GO_AHEAD = re.compile(r"ましょう|ちゃい|てみて|済みます|大丈夫|OK|平気|タダ|ぴったり|ですよ|ますよ|ませんよ|しちゃ|お得")
_WARNS_OFF = re.compile(r"やめ|断|誘われ|という(?:考え|言葉|誘い|話)|と言われ|いけません|犯罪|詐欺|注意|禁止|罰|違法|通報")


def illegal_trick(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    if _WARNS_OFF.search(s.text) or _NOTICE.search(s.text):
        return None
    m = _TRICKS.search(s.text) or (_FARE_DODGE.search(s.text) if _FARE_TRICK.search(s.text) else None)
    if m is None:
        unnoticed = _UNNOTICED.search(s.text)
        before = reading.previous(s)
        if unnoticed is None or not (_GO_AHEAD.search(s.text) or (before is not None and _GO_AHEAD.search(before.text)
                                                                and not _WARNS_OFF.search(before.text))):
            return None
        m = unnoticed
    return Hit("illegal.trick", Severity.BLOCK,
               f"法令やルールを破る方法を勧める内容です（「{m.group()}」）。違法行為を助長する表現は発信できません。"
               "削除し、ルールを守るよう呼びかける表現にしてください。", ("illegal",))


# Sexual minorities called ill or blamed; neighbourhoods to avoid for who lives there.
_MINORITY_BLAMED = re.compile(r"(?:同性愛|LGBT|性的少数者|性的マイノリティ|トランスジェンダー|ゲイ|レズビアン)[^。]{0,24}?"
                              r"(?:病気|治療|治す|治る|異常|普通に戻|増えると|のせいで|せいで)")
_AVOID_WHO_LIVES = re.compile(r"(?:生活保護|母子家庭|父子家庭|ひとり親|外国人|低所得|障がい者|障害者)[^。]{0,20}?"
                              r"(?:多い|住む|集まる|暮らす)(?:地区|地域|エリア|団地|学校|町|ところ)[^。]{0,30}?"
                              r"(?:避け|やめ|控え|不安|心配|おすすめしません|無難)")
_NOT_ILL = re.compile(r"(?:病気|異常)(?:では|じゃ)(?:ありません|ない|なく)|治療の必要は|治す必要は|"
                      r"という(?:誤解|偏見|誤った|考え)|と(?:言われ|考える人)|根拠(?:は|の)(?:ありません|ない)|ではありません")
_GENDER_TASK = re.compile(r"(?:男性|女性)(?:の皆さん|の方|陣)?(?:に|が|は)[^。]{0,30}?(?:男性|女性)(?:の皆さん|の方|陣)?(?:に|が|は)")
_TASKS = re.compile(r"力仕事|撤去|運搬|搬送|炊き出し|受付|料理|お茶|配膳|片付け|子守")


def discrimination_minority(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    m = _MINORITY_BLAMED.search(s.text) or _AVOID_WHO_LIVES.search(s.text)
    if m is not None and not _NOT_ILL.search(s.text):
        return Hit("discrimination.minority", Severity.BLOCK,
                   f"特定の属性の人々を病気扱い・原因扱いし、または避けるよう勧める内容です（「{m.group()}」）。差別に"
                   "あたるため発信できません。削除してください。", ("discrimination",))
    tasks = _GENDER_TASK.search(s.text)
    if tasks is not None and "男性" in tasks.group() and "女性" in tasks.group() and _TASKS.search(s.text) and \
            not re.search(r"問わず|関係なく|どなたでも|にかかわらず", s.text):
        return Hit("discrimination.gender_roles", Severity.REVIEW,
                   f"性別で役割を割り振る内容です（「{tasks.group()}」）。性別によらず希望や体力に応じて分担する"
                   "表現にしてください。", ("discrimination",))
    return None



# A named candidate praised in the city's voice (「中川候補の選挙カーはいつもマナーが良くて…好感が持てます」): no
# vote is asked for, but the city takes a side.
_NAMED_CANDIDATE = re.compile(r"(?<!優勝)(?<!移転)(?<!建設)[一-龯ァ-ヶー]{1,6}(?:候補|陣営)"
                              r"(?!地|日|作|者の(?:主張|政策|経歴|情報)|者説明会|者一覧)")
_PRAISE = re.compile(r"好感|さすが|頼もしい|素晴らしい|すばらしい|立派|信頼でき|期待して|期待でき|誠実|マナーが(?:良|よ)|"
                     r"(?:いい|良い|よい)人|好きです|ファン")


def political_praise(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    m = _NAMED_CANDIDATE.search(s.text)
    if m is None or _NOTICE.search(s.text) or re.search(r"選挙管理委員会|公報|届出|立候補の受付", s.text):
        return None
    if "優勝" in m.group() or not re.search(r"選挙|投票|演説|公約|立候補", reading.text):
        return None
    after = reading.next(s)
    praise = _PRAISE.search(s.text) or (_PRAISE.search(after.text) if after is not None else None)
    if praise is None:
        return None
    return Hit("political.praise", Severity.BLOCK,
               f"特定の候補者（「{m.group()}」）を評価・称賛する内容です（「{praise.group()}」）。市の発信は政治的に"
               "中立である必要があります。該当部分を削除してください。", ("political",))


# A petition for one side of a contested question, collected or urged by the city (「原発の再稼働に反対する署名を、
# 市役所…でも受け付けています」). Reported as others' (「…署名も呼びかけられていました」), it is a matter to review.
_PETITION = re.compile(r"(?:反対|賛成|撤回|中止|廃止|推進|求める|求め)[^。]{0,12}?署名")
_COLLECTED = re.compile(r"受け付けて|受付して|集めて|ご協力|お願い|署名しましょう|ご署名|ください|設置して")


def political_petition(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    m = _PETITION.search(s.text)
    if m is None or re.search(r"選挙管理委員会|直接請求|条例制定請求|審査|縦覧|署名簿", s.text):
        return None
    if _COLLECTED.search(s.text):
        return Hit("political.petition", Severity.BLOCK,
                   f"意見の分かれる問題の一方の立場の署名を市が集め、または呼びかける内容です（「{m.group()}」）。市の"
                   "発信は政治的に中立である必要があります。該当部分を削除してください。", ("political",))
    if re.search(r"呼びかけ|集められ|行われ", s.text):
        return Hit("political.petition_reported", Severity.REVIEW,
                   f"一方の立場の署名活動を紹介しています（「{m.group()}」）。市が賛同していると受け取られないか"
                   "確認してください。", ("political",))
    return None


# A person's details as a form's fields (「・氏名：村上 拓也 さん」「・生年月日：平成3年6月14日」「・住所：…2-14-7」):
# a lost-property notice or a list copied from a register. A template to fill in (「氏名：〇〇」) is not.
_FIELD_NAME = re.compile(r"(?:氏名|お名前|名前)\s*[:：]\s*(?P<value>[一-龯ァ-ヶー々]{1,5}\s?[一-龯ぁ-んァ-ヶー々]{1,5})")
_FIELD_DETAIL = re.compile(r"生年月日\s*[:：]\s*(?:昭和|平成|令和|\d{4}年)\s*\d|"
                           r"(?:住所|現住所)\s*[:：]\s*(?![^\n]{0,30}(?:市役所|庁舎|役場|センター|公民館))[^\n]{0,20}\d+(?:-\d+|丁目|番)")
_TEMPLATE = re.compile(r"〇|○|◯|×|記入例|例\s*[:：)）]|見本|様式")


def personal_fields(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    name = _FIELD_NAME.search(s.text)
    if name is None or _TEMPLATE.search(name["value"]):
        return None
    # the other fields in the lines around it (a sentence may be one bulleted line)
    around = reading.text[max(0, s.start - 120):s.start + len(s.text) + 120]
    detail = _FIELD_DETAIL.search(around)
    if detail is None or _TEMPLATE.search(around):
        return None
    return Hit("personal.fields", Severity.BLOCK,
               f"個人（{name['value']}）の氏名と「{detail.group()}」が項目として並んでいます。本人が特定され、"
               "プライバシーを侵害します。氏名・生年月日・住所などを削除し、問い合わせ先だけを示してください。",
               ("personal",))


# A group told to stay in or keep away (「実習生の皆さんは、夜9時以降はなるべく外出しないようにしてください」):
# who they are is the reason, not what anyone did.
_GROUP_PEOPLE = re.compile(r"外国人|技能実習生|実習生|留学生|外国籍|障害のある方|障がいのある方|生活保護|ホームレス|"
                           r"(?:中国|韓国|ベトナム|フィリピン|ブラジル|ネパール|クルド|インドネシア)(?:人|籍|の方)")
_KEEP_IN = re.compile(r"外出しない|出歩かない|外出を(?:控え|自粛)|集まらない|来ないで|入店(?:を)?お断り|利用(?:を)?お断り")


def discrimination_keep_in(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    group = _GROUP_PEOPLE.search(s.text)
    # the group is who is told (「実習生の皆さんは、…外出しないように」), not a place (「障害のある方の駐車場」)
    subject = group is not None and re.match(r"(?:の方|の皆さん|の皆様|の人)?(?:は|が|も)", s.text[group.end():])
    keep = _KEEP_IN.search(s.text) if subject else None
    if group is None or keep is None or re.search(r"差別|偏見|人権|ではなく|関係なく|問わず|感染|警報|避難|大雨|台風|"
                                                  r"災害|暑さ|熱中症|雪", s.text):
        return None
    return Hit("discrimination.keep_in", Severity.BLOCK,
               f"属性（「{group.group()}」）を理由に、外出や立ち入りを控えるよう求める内容です（「{keep.group()}」）。"
               "差別にあたるため発信できません。迷惑行為があれば、行為そのものへの注意として書いてください。",
               ("discrimination",))


# What a city keeps to itself, said in public: a leak hinted at (「まだ議会の同意前なので名前は言えませんが…」),
# an inspection announced as unannounced (「抜き打ち…内緒でお願いします」), a weak point in security
# (「通用口は午後10時以降カメラの死角」).
# (a teaser — 「出演者はまだ言えませんが、お楽しみに」 — is not a leak: a person's appointment or a council matter is)
_HINTED = re.compile(r"(?:名前|氏名|人事|後任|内定|議会|同意)[^。]{0,16}?(?:言えません|言えない|明かせません|書けません)が")
_UNANNOUNCED = re.compile(r"抜き打ち[^。]{0,6}?(?:検査|立入|立ち入り|調査)[^。]{0,40}?(?:予定|行います|実施します)|"
                          r"(?:お店|業者|対象)[^。]{0,12}?(?:内緒|ないしょ|秘密)で")
_WEAK_SPOT = re.compile(r"(?:カメラ|監視)の死角|死角になる")


def confidential_hint(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    m = _HINTED.search(s.text) or _UNANNOUNCED.search(s.text) or _WEAK_SPOT.search(s.text)
    if m is None or re.search(r"詐欺|不審|ご注意|注意して", s.text):
        return None
    return Hit("confidential.hint", Severity.BLOCK,
               f"公表前の情報や、警備・検査など公にすると支障が出る情報に触れています（「{m.group()}」）。発信できません。"
               "該当部分を削除してください。", ("confidential",))


# Violence sold as the show (「毎年殴り合いになって、けが人が出ることもありますが、それも祭りの華」「血が出てこそ」).
# (「けんか神輿が見どころ」 names a festival; 「血が騒ぐ」 is not blood)
_VIOLENCE_PRAISED = re.compile(r"(?:殴り合い|けが人|怪我人|流血)[^。]{0,30}?(?:それも[^。]{0,8}?(?:華|醍醐味|魅力|見どころ)|てこそ)|"
                               r"血が出てこそ")


def public_order_violence(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    m = _VIOLENCE_PRAISED.search(s.text)
    if m is None or _WARNED.search(s.text):
        return None
    return Hit("public_order.violence", Severity.BLOCK,
               f"暴力やけがを見どころとして扱う内容です（「{m.group()}」）。公序良俗に反するため発信できません。"
               "削除してください。", ("public_order",))


# A safety step written the wrong way round (「ガスの元栓は必ず開けてから避難してください」).
_WRONG_STEP = re.compile(r"元栓(?:は|を)[^。]{0,8}?開け(?:て|てから)[^。]{0,12}?(?:避難|逃げ|外へ|外に)|"
                         r"ブレーカー(?:は|を)[^。]{0,8}?(?:上げ|入れ)(?:て|てから)[^。]{0,12}?(?:避難|逃げ)")


def accuracy_wrong_step(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    m = _WRONG_STEP.search(s.text)
    if m is None:
        return None
    return _accuracy(m.group())


# A religious group's own meeting, with joining it offered (「主催は宗教法人…会の教えを紹介する冊子の配布と、入会の
# ご案内もあります」): the city would be recruiting for a faith. Tax and shelter notices name no joining.
_JOIN_FAITH = re.compile(r"入会の(?:ご)?案内|入信|会の教え|教えを紹介|布教|勧誘(?:も|を)(?:行|し)")
_FAITH_BODY = re.compile(r"宗教法人|教団|教会|信仰|宗派")


def religious_group_event(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    m = _JOIN_FAITH.search(s.text)
    if m is None or not _FAITH_BODY.search(reading.text) or re.search(r"ご注意|注意して|断|相談|勧誘に", s.text):
        return None
    return Hit("religious.group_event", Severity.BLOCK,
               f"宗教団体の会合を案内し、入会や教えの紹介を伝える内容です（「{m.group()}」）。市の発信は宗教的に中立で"
               "ある必要があります。該当部分を削除してください。", ("religious",))


# A named person or business put down in the city's voice: 「田島という男…くれぐれもお気をつけて」, 「監督さんの…暴言には
# あきれました…最低ですね」, 「『焼きそば大将』さんは衛生面がひどくて」, 「NPO法人…代表が私的に使っているのでは…市としても
# 同じ疑いを持っています」.
_CONTEMPT = re.compile(r"[一-龯ァ-ヶ]{1,4}(?:という|って)(?:男(?!性|子)|女(?!性|子)|やつ|奴|人物)")
_BEWARE = re.compile(r"(?:お)?気をつけ|ご注意|注意してください|近づかない|関わらない|用心")
_PUT_DOWN = re.compile(r"最低(?:です|だ|な|の人)|最悪(?:です|だ|な)|あきれ|呆れ|"
                       r"(?:衛生面|衛生|対応|態度|教え方|接客|仕事ぶり)が(?:ひどく|ひどい|最悪)|同じ疑い|疑いを持って")
_NAMED_BODY = re.compile(r"[『「][^』」]{2,16}[』」](?:さん|は|の)|(?:監督|店長|社長|代表|会長|院長|オーナー|大家)(?:さん)?の|"
                         r"(?:NPO法人|株式会社|有限会社)[一-龯ァ-ヶー]{2,12}")


def defamation_put_down(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    if _NOTICE.search(s.text) or re.search(r"を名乗る|かたる|装った|行政処分|業務停止|逮捕|判決|不審|電話|訪問|メール",
                                           s.text):
        return None
    contempt = _CONTEMPT.search(s.text)
    if contempt is not None:
        after = reading.next(s)
        if _BEWARE.search(s.text) or (after is not None and _BEWARE.search(after.text)):
            return _put_down(contempt.group())
    down = _PUT_DOWN.search(s.text)
    if down is None:
        return None
    before = reading.previous(s)
    named = _NAMED_BODY.search(s.text) or (before is not None and _NAMED_BODY.search(before.text))
    return _put_down(down.group()) if named else None


def _put_down(word: str) -> Hit:
    return Hit("defamation.put_down", Severity.BLOCK,
               f"特定の個人・事業者をおとしめる内容です（「{word}」）。名誉を傷つけ、損害を与えるおそれがあるため"
               "発信できません。削除してください。", ("defamation",))


# A child named with their age and a health or family matter (「りお君（3歳）のおうちだけ…接種が済んでいない」).
_CHILD = re.compile(r"[ぁ-んァ-ヶ一-龯]{1,4}(?:君|くん|ちゃん)\s*\(\s*\d{1,2}歳\s*\)")
_CHILD_MATTER = re.compile(r"接種|健診|病気|アレルギー|発達|障害|障がい|入院|欠席|未納|滞納|済んでいない")


def personal_child(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    m = _CHILD.search(s.text)
    if m is None or not _CHILD_MATTER.search(s.text) or consented(reading.text):
        return None
    return Hit("personal.child", Severity.BLOCK,
               f"子ども（「{m.group()}」）を名前と年齢で特定し、健康や家庭の事情と結び付けています。プライバシーを"
               "侵害するため発信できません。個別の連絡は本人・保護者に直接してください。", ("personal",))


# People who live among others presented as a danger to be watched (「精神障害のある方が暮らすグループホーム…
# 防犯カメラを増設し、警察のパトロールも強化…ご安心ください」).
_WATCHED_GROUP = re.compile(r"障害のある方|障がいのある方|精神障害|グループホーム|外国人|実習生|更生保護|出所")
_WATCHED = re.compile(r"防犯カメラ|パトロール|見回り|監視")
_REASSURED = re.compile(r"ご安心|安心して|ご心配なく|心配いりません")


def discrimination_watched(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    watched = _WATCHED.search(s.text)
    if watched is None or not _REASSURED.search(s.text) or re.search(r"差別|偏見|人権|誤解", reading.text):
        return None
    before = reading.previous(s)
    who = _WATCHED_GROUP.search(s.text) or (_WATCHED_GROUP.search(before.text) if before is not None else None)
    around = s.text + (before.text if before is not None else "")
    if who is None or not re.search(r"暮らす|住む|入居|開設|グループホーム|寮|施設", around):  # residents, not visitors
        return None
    return Hit("discrimination.watched", Severity.BLOCK,
               f"属性（「{who.group()}」）のある人々を、監視すべき危険として扱う内容です（「{watched.group()}」）。"
               "差別を助長するため発信できません。施設の案内は、住む人を危険視しない表現にしてください。",
               ("discrimination",))


# Harm shown as it is (「事故の現場映像を、ぼかしなしでそのまま公開します」); names, incomes on screen shown anyway
# (「お名前と所得額が映り込んでいますが…問題ないと判断しました」).
_GRAPHIC = re.compile(r"(?:ぼかし|モザイク)(?:なし|を入れず|無し)|無修正")
_ON_SCREEN = re.compile(r"(?:名前|氏名|住所|所得|税額|電話番号|個人情報)[^。]{0,16}?映り込")


def public_order_graphic(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    m = _GRAPHIC.search(s.text)
    if m is not None and re.search(r"事故|遺体|現場|けが|負傷|血", reading.text) and \
            not re.search(r"ないで|ないよう|やめ|禁止|いけません|しません", s.text):
        return Hit("public_order.graphic", Severity.BLOCK,
                   f"事故やけがの様子を加工せずに見せる内容です（「{m.group()}」）。被害者の尊厳を損ない、見る人を"
                   "傷つけるおそれがあるため発信できません。", ("public_order",))
    shown = _ON_SCREEN.search(s.text)
    if shown is not None and not re.search(r"(?:ない|ぬ)よう|しません|ありません|加工|ぼかし", s.text):
        return Hit("confidential.on_screen", Severity.BLOCK,
                   f"個人の情報が画面に映り込んだまま公開しようとしています（「{shown.group()}」）。発信できません。"
                   "映像を差し替えるか、映り込んだ部分を隠してください。", ("confidential", "personal"))
    return None


# One business recommended by name in a resident's voice the city endorses (「『さくら整体院』で長年の腰痛が治った！」
# …「ぜひ一度行ってみてください」).
_SHOP_NAMED = re.compile(r"[『「][^』」]{2,16}(?:院|店|屋|堂|クリニック|サロン|整体|教室|塾|ジム)[』」]")
_GO_THERE = re.compile(r"ぜひ一度|行ってみて|おすすめ|オススメ|足を運んで|通ってみて")


def bias_named_shop(screen: Screen, s: Sentence, reading: Reading) -> Hit | None:
    go = _GO_THERE.search(s.text)
    if go is None:
        return None
    shop = _SHOP_NAMED.search(reading.text, max(0, s.start - 120), s.start + len(s.text))  # this or a sentence before
    if shop is None or re.search(r"認定|登録店|加盟店|取扱店|一覧|各店|どの店", reading.text):
        return None
    return Hit("bias.named_shop", Severity.REVIEW,
               f"特定の店・事業者（{shop.group()}）を勧める内容です（「{go.group()}」）。市の発信としての公平性を確認し、"
               "客観的な情報に改めてください。", ("bias", "ideology"))


RULES: tuple[Rule, ...] = (
    personal_exposure, political_support, political_attack, religious_recommendation, discrimination_group,
    discrimination_origin,
    illegal_unwatched, defamation_named, rumour_hearsay, bias_favouring, provocation_taunt, accuracy_inversion,
    obscene_phrase, public_order_force, public_order_danger, public_order_self_harm, illegal_trick,
    discrimination_minority, political_praise, political_petition, personal_fields, discrimination_keep_in,
    confidential_hint, public_order_violence, accuracy_wrong_step, religious_group_event, defamation_put_down,
    personal_child, discrimination_watched, public_order_graphic, bias_named_shop,
)
