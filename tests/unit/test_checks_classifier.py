"""The trained layer (classifier.py): loads, predicts deterministically, is reproduced by retraining,
catches what the rules miss and leaves the city's ordinary posts alone."""

from __future__ import annotations

import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from gateway.models import CheckResult, Message, Severity, Verdict
from gateway.pipeline.checks import CheckEngine, CheckInput, classifier, language
from tests.unit.test_checks_fixtures import check, municipality, rules

# Written for these tests (in no corpus); the exact and linguistic layers pass every one of them.
MUST_FLAG = [
    ("この神社のお札を玄関に貼れば、家内安全間違いなしです。市もおすすめします。", "religious.model"),
    ("夜中なら河原でごみを燃やしても誰にも迷惑はかかりませんよ。", "illegal.model"),
    # (「外国人が多い地区は夜は出歩かないように」 was here until a rule read it: discrimination.keep_in)
    ("外国の方が増えて、このあたりも物騒になりましたね。", "discrimination.model"),
    # A known miss since the model was retrained on 3,700 posts: the accuracy family's calibrated review
    # threshold rose from 0.85 to 0.92 (campaign wording in legitimate posts scores high too) and this
    # sentence scores 0.79. Out-of-fold recall of the family is 0.21: inverted meaning needs more than
    # word statistics. Strict: the day it is flagged again, this mark must go.
    pytest.param("防災のため、非常食は賞味期限が切れるまで買わないようにしましょう。", "accuracy.model",
                 marks=pytest.mark.xfail(strict=True, reason="accuracy family under its calibrated threshold")),
]
MUST_PASS = [
    "来週の日曜日、市民体育館で卓球大会を開きます。参加は無料です。",
    "市長選挙の投票日は11月9日です。期日前投票もご利用ください。",
    "熱中症に気をつけて、こまめに水分をとりましょう。",
    "秋らしい景色です。素晴らしい紅葉をお楽しみください。",
    "Coastal areas between Unimak Pass and Attu, Alaska: tsunami warning issued by the center.",
]


@lru_cache(maxsize=1)
def without_model() -> CheckEngine:
    return CheckEngine(trained=False)


def _check_without_model(text: str) -> Verdict:
    city = municipality()
    message = Message(municipality=city.id, category="city_news", text=text)
    return without_model().check(CheckInput(message, city, city.accounts_for("city_news"))).verdict


def test_the_model_file_is_plain_arrays() -> None:
    with zipfile.ZipFile(classifier.MODEL_PATH) as zf:
        assert sorted(zf.namelist()) == sorted(f"{n}.npy" for n in
                                               ("vocab", "idf", "coef", "intercept", "dense", "families", "review",
                                                "block"))
    model = classifier.Model.load()  # allow_pickle=False: an object array would not load
    assert model.coef.shape == (len(model.vocab), len(model.families))
    assert model.dense.shape == (classifier.VECTOR_DIM, len(model.families))
    assert np.any(model.dense != 0)  # the word vectors take part
    assert any(term.startswith(classifier.WORD) for term in model.vocab)  # and the lemmas
    named = [f for f in model.families if f not in classifier.HEADS]
    assert set(named) <= set(classifier.ADVICE) and model.families[len(named):] == classifier.HEADS
    assert np.all(model.block >= 0.85) and np.all(model.review >= 0.5)
    # Only families the policies forbid outright may block (obscene too: わいせつな表現, e.g. 木更津 (12),
    # 厚木 7(3)ケ); hearsay, favouritism, taunts and typos go to a person.
    for family, threshold in zip(model.families, model.block, strict=True):
        if family in ("rumour", "bias", "provocation", "accuracy", classifier.VIOLATION):
            assert np.isinf(threshold), family
    assert np.isinf(model.review[model.families.index(classifier.BLOCKING)])  # the block head only blocks


def _toy(violation: float, blocking: float) -> classifier.Model:
    """A model that reads nothing: each column's probability is its intercept's logistic."""
    families = ("political", "rumour", classifier.VIOLATION, classifier.BLOCKING)
    logits = np.log(np.array([0.62, 0.70, violation, blocking]) / (1 - np.array([0.62, 0.70, violation, blocking])))
    return classifier.Model({"\x00": 0}, np.ones(1), np.zeros((1, 4)), logits, families,
                            review=np.array([0.9, 0.9, 0.8, np.inf]), block=np.array([0.95, np.inf, np.inf, 0.8]))


TOY_TEXT = "市の広報として皆さまにお知らせする内容です。よろしくお願いします。"


def test_a_head_over_its_threshold_names_the_family_that_scores_highest() -> None:
    found = [(s.family, sev) for s, sev in _toy(violation=0.85, blocking=0.5).scores(TOY_TEXT)]
    assert found == [("rumour", Severity.REVIEW)]  # no family over its own threshold, rumour highest


def test_the_block_head_names_the_highest_family_that_may_block() -> None:
    found = [(s.family, sev) for s, sev in _toy(violation=0.85, blocking=0.9).scores(TOY_TEXT)]
    assert found == [("political", Severity.BLOCK)]  # rumour never blocks; the review head adds nothing


def test_heads_under_their_thresholds_say_nothing() -> None:
    assert list(_toy(violation=0.7, blocking=0.7).scores(TOY_TEXT)) == []


def test_prediction_is_deterministic() -> None:
    text = classifier.normalise("夜中なら河原でごみを燃やしても誰にも迷惑はかかりませんよ。")
    first = classifier.Model.load().probabilities(text)
    second = classifier.Model.load().probabilities(text)
    assert np.array_equal(first, second)
    assert np.array_equal(classifier.load().probabilities(text), first)


@pytest.mark.parametrize(("text", "rule"), MUST_FLAG)
def test_the_model_flags_what_the_rules_miss(text: str, rule: str) -> None:
    assert _check_without_model(text) is Verdict.PASS
    result = check(text)
    found = [f for f in result.findings if f.rule == rule]
    assert found, rules(result)
    assert found[0].clause.startswith("テスト市運用方針")  # the city's clause for the family
    assert "可能性があります" in found[0].message and "確認してください" in found[0].message
    assert result.verdict is not Verdict.PASS


@pytest.mark.parametrize("text", MUST_PASS)
def test_ordinary_posts_pass(text: str) -> None:
    result = check(text)
    assert not [f for f in result.findings if f.rule.endswith(".model")], rules(result)


def test_review_only_families_never_block() -> None:
    result = check("防災のため、非常食は賞味期限が切れるまで買わないようにしましょう。")
    assert all(f.severity is Severity.REVIEW for f in result.findings if f.rule == "accuracy.model")


def test_alert_template_posts_skip_the_model() -> None:
    city = municipality()
    text = "夜中なら河原でごみを燃やしても誰にも迷惑はかかりませんよ。"
    message = Message(municipality=city.id, category="city_news", text=text)
    result = CheckEngine().check(CheckInput(message, city, city.accounts_for("city_news"), generated=True))
    assert not [f for f in result.findings if f.rule.endswith(".model")]


def test_families_another_layer_found_are_not_repeated() -> None:
    result = check("市議会議員の森本は嘘ばかりの政治家です。次は落としましょう。")
    assert "political.model" not in rules(result)


@pytest.mark.slow
def test_retraining_reproduces_the_committed_file(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    from gateway.pipeline.checks import train

    out = tmp_path / "classifier.npz"
    assert train.main(["--out", str(out)]) == 0
    assert out.read_bytes() == classifier.MODEL_PATH.read_bytes()


def test_inflected_forms_share_a_lemma_feature() -> None:
    lang = language.load()
    first = [f for f in classifier.lemmas(lang.tokens("祖母が入院しました")) if f.startswith(classifier.WORD)]
    second = [f for f in classifier.lemmas(lang.tokens("祖母が入院するそうだ")) if f.startswith(classifier.WORD)]
    assert classifier.WORD + "入院" in first and classifier.WORD + "入院" in second
    assert classifier.WORD + "する" in first and classifier.WORD + "する" in second  # し → する
    assert not any(f.startswith(classifier.WORD + "。") for f in first)  # punctuation is no word


def test_each_sentence_is_scored_with_its_own_words() -> None:
    text = classifier.normalise("来週の日曜日は中央公園で市民まつりです。 近所の佐藤さんが先月から入院しているらしいです。"
                                "皆さまお誘い合わせのうえぜひお越しください。")
    pieces = list(classifier.pieces(text, language.load().tokens(text)))
    assert pieces[0][2] == text  # the whole text first
    for start, end, chunk, words in pieces:
        assert chunk == text[start:end].strip()
        assert words and all(chunk[w.start:w.end] == w.surface for w in words)
    assert [p[2] for p in pieces[1:]] == ["来週の日曜日は中央公園で市民まつりです。",
                                         "近所の佐藤さんが先月から入院しているらしいです。",
                                         "皆さまお誘い合わせのうえぜひお越しください。"]


def test_the_word_vectors_move_the_score() -> None:
    model = classifier.load()
    text = classifier.normalise("この神社のお札を玄関に貼れば、家内安全間違いなしです。")
    words = language.load().tokens(text)
    without = classifier.Model(model.vocab, model.idf, model.coef, model.intercept, model.families,
                               model.review, model.block, np.zeros_like(model.dense))
    assert not np.allclose(model.decision(text, words), without.decision(text, words))


@pytest.mark.parametrize("text", [
    "誰も見ていないところでも、ごみのポイ捨てはやめましょう。",
    "夜中に河原でごみを燃やすことは、法律で禁止されています。",
])
def test_a_sentence_that_forbids_the_act_is_no_encouragement(text: str) -> None:
    model = classifier.load()
    norm = classifier.normalise(text)
    best, _ = model.best(norm)
    k = model.families.index("illegal")
    assert best[k] == 0.0
    assert model.probabilities(norm)[k] > 0.0  # the raw score is there; the reading sets it aside


def test_encouragement_is_still_read_when_a_warning_follows() -> None:
    model = classifier.load()
    norm = classifier.normalise("夜中なら河原でごみを燃やしても誰にも迷惑はかかりませんよ。ただし火の始末には気をつけましょう。")
    best, _ = model.best(norm)
    assert best[model.families.index("illegal")] > 0.0


def _only(family: str, probability: float, block: float = 0.95) -> classifier.Model:
    """A model that reads nothing and gives `family` this probability (review 0.9, block `block`)."""
    logit = np.log(probability / (1 - probability))
    return classifier.Model({"\x00": 0}, np.ones(1), np.zeros((1, 1)), np.array([logit]), (family,),
                            review=np.array([0.9]), block=np.array([block]))


def _check_with(model: classifier.Model, text: str) -> CheckResult:
    city = municipality()
    engine = CheckEngine()
    engine._classifier = classifier.Classifier(model)
    return engine.check(CheckInput(Message(municipality=city.id, category="city_news", text=text), city,
                                   city.accounts_for("city_news")))


@pytest.mark.parametrize(("text", "raised"), [
    ("来週の日曜日は市議会議員選挙です。投票所は入場整理券に書いてあります。", False),  # the city's own notice
    ("来週の日曜日は市議会議員選挙です。みなさんの考えをしっかり届けましょう。", True),
])
def test_the_models_doubt_is_not_raised_in_the_citys_own_notice(text: str, raised: bool) -> None:
    result = _check_with(_only("political", 0.92), text)
    assert ("political.model" in rules(result)) is raised


def test_a_block_level_score_stops_even_in_a_notice() -> None:
    result = _check_with(_only("political", 0.97), "来週の日曜日は市議会議員選挙です。投票所は入場整理券に書いてあります。")
    assert result.verdict is Verdict.BLOCK and "political.model" in rules(result)


@pytest.mark.parametrize(("text", "raised"), [
    ("市民まつりは12月5日（金）に開きます。", False),  # the calendar judges a date with its weekday
    ("非常食は、賞味期限が切れるまで買わないようにしましょう。", True),
])
def test_the_models_doubt_about_a_dated_sentence_is_left_to_the_calendar(text: str, raised: bool) -> None:
    result = _check_with(_only("accuracy", 0.99, block=np.inf), text)
    assert ("accuracy.model" in rules(result)) is raised
