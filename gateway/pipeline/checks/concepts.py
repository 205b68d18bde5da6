"""Concepts the linguistic rules speak of: seed words, reached further by word vectors.

A concept matches a sentence when a seed occurs in its text, or when a content word's GiNZA
(chiVe) vector lies within `threshold` cosine of a seed's: 「骨折」「糖尿病」 reach 〈illness〉 without
being listed. Antonyms sit close in these vectors (無能/有能 0.71), so only concepts whose
neighbours are harmless to include use vectors, with a high threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.pipeline.checks.language import Language, Sentence, Vector

_CONTENT = frozenset({"NOUN", "VERB", "ADJ", "PROPN"})


@dataclass(frozen=True)
class Concept:
    name: str
    seeds: tuple[str, ...]
    threshold: float | None = None  # None: seeds only, no vector expansion


@dataclass(frozen=True)
class _Compiled:
    concept: Concept
    matrix: Vector


class Concepts:
    """Concepts with their seed vectors, built once per engine."""

    def __init__(self, language: Language, concepts: tuple[Concept, ...]) -> None:
        self._language = language
        self._compiled = {c.name: _Compiled(c, language.matrix(c.seeds) if c.threshold else _EMPTY)
                          for c in concepts}

    def find(self, name: str, sentence: Sentence) -> str | None:
        """The word of `sentence` that expresses the concept, if any."""
        compiled = self._compiled[name]
        for seed in compiled.concept.seeds:
            if seed in sentence.text:
                return seed
        if compiled.concept.threshold is None or not len(compiled.matrix):
            return None
        for word in sentence.words:
            if word.pos not in _CONTENT or len(word.lemma) < 2:
                continue
            vector = self._language.vector(word.lemma)
            if vector is not None and float(np.max(compiled.matrix @ vector)) >= compiled.concept.threshold:
                return word.surface
        return None


_EMPTY = np.zeros((0, 300), dtype=np.float32)

CONCEPTS: tuple[Concept, ...] = (
    Concept("illness", ("入院", "病気", "疾患", "がん", "癌", "うつ病", "認知症", "精神科", "療養", "治療", "透析",
                        "糖尿病", "感染し", "感染した", "手術", "要介護", "介護認定", "障害者手帳", "障がい者手帳",
                        "闘病", "持病", "難病", "休職", "寝たきり", "徘徊"), 0.62),
    # A household's private circumstances: debts, a divorce, a single parent, violence at home, a record.
    Concept("private_life", ("借金", "離婚", "ひとり親", "母子家庭", "父子家庭", "DV", "家庭内暴力", "虐待", "パトカーが来",
                             "自己破産", "破産し", "滞納", "前科", "逮捕され", "不登校", "ひきこもり", "引きこもり", "別居",
                             "失業", "夜勤", "夜に歩き回", "夜中に歩き回", "一人暮らし", "独り暮らし", "家を空けて",
                             "留守にして", "物忘れ")),
    Concept("welfare", ("生活保護", "扶養手当", "手当を受", "給付を受", "受給", "保護費", "就学援助", "支援を受けて")),
    Concept("fire", ("火事", "火災", "全焼", "半焼", "焼け", "燃え")),
    Concept("birth", ("生年月日", "生まれ", "誕生日")),
    Concept("residence", ("に住む", "にお住まい", "在住", "の自宅", "のご自宅", "のお宅", "さん宅", "様宅", "の家", "住所",
                           "お住まいは")),
    Concept("school_grade", ("年生", "年の", "年2組", "年1組", "年3組", "組の")),
    Concept("disparage", ("無能", "無責任", "最低", "失敗ばかり", "だまし", "騙し", "嘘", "うそ", "居眠り", "無駄遣い",
                          "税金泥棒", "役立たず", "辞めろ", "辞めるべき", "聞かない", "守らない", "ひどい", "最悪",
                          "腐って", "ろくな", "能無し", "売国"), 0.72),
    Concept("accuse", ("うそつき", "嘘つき", "うそばかり", "だます", "騙す", "悪質", "ずさん", "ごまかす", "誤診", "使い込",
                       "不正", "ぼったくり", "信用できない", "期限切れ", "詐欺師", "手抜き", "インチキ", "いんちき",
                       "欠陥", "不衛生", "見下す", "以下の人間", "人間のクズ", "人でなし")),
    Concept("boycott", ("利用しないで", "買わないで", "行かないで", "頼まないほうが", "避けたほう", "乗らないよう",
                        "取引しない", "入らないほう", "信用しないで", "使わないで", "行かないほう", "買わないほう",
                        "利用しないほう", "頼まないで", "近寄らない", "関わらないのが", "関わらないほう")),
    Concept("bad_trait", ("騒ぐ", "マナーが悪", "治安が悪", "治安を悪", "治安が悪化", "信用できない", "約束を守らない",
                          "理解できない", "働く気がない", "働く気があり", "学力が低", "犯罪", "危険", "うるさい", "汚い",
                          "怠け", "ルールを守らない", "すぐ国に帰", "迷惑", "臭い", "乱暴", "盗み"), None),
    Concept("exclude", ("遠慮", "お断り", "断って", "断っている", "断った", "禁止", "近づかない", "入れない",
                        "別の学校", "慎重に", "貸さない", "売らない", "来ないで", "出て行", "出ていって", "お控え")),
)
