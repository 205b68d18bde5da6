"""The trained layer: a linear classifier over characters, words and word vectors, one score per family.

The model is trained by `python -m gateway.pipeline.checks.train` on the training corpora and stored
as plain arrays in `data/classifier.npz` (vocabulary, idf weights, coefficients, intercepts and the
thresholds calibrated by cross-validation; no pickle). Its features are character 1-3-grams, the
lemmas and lemma pairs of the words (SudachiPy inside GiNZA: 「入院し」 and 「入院する」 are one
feature) and the mean GiNZA word vector of the content words, which lets a family reach words the
training data never used (「寺院」 near 「お寺」). Prediction is reimplemented here with numpy: TF-IDF
with sublinear term frequency and L2 normalisation, the vector appended, a logistic function per
family.

A text is scored as a whole and sentence by sentence, and the highest score counts, so that a
violation embedded in an ordinary announcement is not diluted by it. A family scoring above its
review threshold is a `review` finding (`<family>.model`); above its block threshold, a `block`;
only families the policies forbid outright have a block threshold.

Two more heads read every family at once, trained on all the violations together (more examples
than any one family has, so they reach wording no single family's examples cover): `_violation`
(any violation) and `_block` (a violation its writer judged clear enough to block). When a head is
over its threshold and no family is, the finding names the family that scores highest in the
sentence the head read (`review` for `_violation`; `block` for `_block`, naming the highest of the
families that may block). Alert template posts skip this layer, as they skip the linguistic one.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

import numpy as np

from gateway.models import Finding, Severity
from gateway.pipeline.checks import language
from gateway.pipeline.checks.context import Field, Prepared
from gateway.pipeline.checks.dates import weekday_dated
from gateway.pipeline.checks.language import Word
from gateway.pipeline.checks.names import consented
from gateway.pipeline.checks.screening import election_notice

MODEL_PATH = Path(__file__).resolve().parent / "data" / "classifier.npz"
NGRAMS = (1, 2, 3)
WORD, PAIR = "\x01", "\x02"  # prefixes of lemma and lemma-pair features
VECTOR_DIM = 300
_NOT_WORDS = frozenset({"PUNCT", "SYM", "SPACE", "X"})
# A sentence that ends by forbidding what it names (「…ポイ捨てはやめましょう」「…は法律で禁止されています」)
# warns against the act: it is not read for the families of encouraging one. Discrimination is not
# among them: 「外国の方には貸さないでください」 excludes in the same grammatical form.
_FORBIDS = re.compile(r"(?:やめましょう|やめてください|やめて下さい|しないでください|しないで下さい|"
                      r"しないようにしましょう|しないようお願いします|してはいけません|はいけません|禁止されています|"
                      r"禁止です|許されません|"
                      r"なりません|違反です|罰せられます|処罰されます|ご注意ください|気をつけましょう)[。！!]*$")
NEGATABLE = frozenset({"illegal", "public_order"})
# The heads over all families (see the module docstring); model columns beside the families'.
VIOLATION, BLOCKING = "_violation", "_block"
HEADS = (VIOLATION, BLOCKING)
_CONTENT = frozenset({"NOUN", "PROPN", "VERB", "ADJ", "ADV"})
# Texts and sentences with fewer characters than this outside ASCII (Japanese, in practice) are not
# scored on their own: a few characters are too little evidence (「秋らしい景色です」 is not hearsay).
MIN_SENTENCE = 15
_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?\n]*")
_SPACE = re.compile(r"\s+")
# Latin words, numbers, URLs and addresses: the exact layer reads those (identifiers, credentials,
# links); to this layer they are one placeholder, so that an e-mail address or an English sentence
# does not look like the credentials and stamps among the training violations.
_ASCII = re.compile(r"[a-z0-9][a-z0-9._%+\-@:/?=&#~]*")
_PLACEHOLDERS = re.compile(r"0(?:[\s,.;:()'\"\-]*0)+")  # an English phrase: one placeholder

# What each family's finding tells the author (the model gives no reason, only a likelihood).
ADVICE: Mapping[str, str] = {
    "personal": "個人を特定できる情報（氏名と住所・生年月日・病気・福祉・学校など）を含む可能性があります。"
                "本人の同意と掲載の必要性を確認してください",
    "political": "特定の候補者・政党・政治家の支持または批判に当たる可能性があります。"
                 "選挙管理委員会の周知など中立な内容か確認してください",
    "religious": "特定の宗教・信仰を市が勧める表現の可能性があります。施設の利用案内など中立な内容か確認してください",
    "discrimination": "国籍・民族・属性などで人をひとくくりにする、または排除する表現の可能性があります。"
                      "表現を確認してください",
    "illegal": "法令・ルール違反を勧める、または容認する表現の可能性があります。内容を確認してください",
    "defamation": "特定の個人・企業をおとしめる、または不買を呼びかける表現の可能性があります。"
                  "事実と表現を確認してください",
    "rumour": "伝聞・うわさに基づく、確認されていない情報の可能性があります。出典と事実を確認してください",
    "bias": "特定の事業者や地区を優遇する表現の可能性があります。公平な内容か確認してください",
    "provocation": "市民を挑発・揶揄する表現の可能性があります。表現を確認してください",
    "obscene": "わいせつ・不適切な表現の可能性があります。表現を確認してください",
    "public_order": "暴力や秩序を乱す行為をあおる表現の可能性があります。内容を確認してください",
    "confidential": "公表前・内部限りの情報を含む可能性があります。公表してよい情報か確認してください",
    "accuracy": "呼びかけの意味が逆になっている（誤記の）可能性があります。文意を確認してください",
}
# The clauses a family's finding cites, as the linguistic layer's do.
CLAUSE_KEYS: Mapping[str, tuple[str, ...]] = {
    "political": ("political", "ideology"),
    "religious": ("religious", "ideology"),
    "discrimination": ("discrimination", "harm"),
    "defamation": ("defamation", "harm"),
    "public_order": ("public_order", "illegal"),
    "accuracy": ("accuracy", "rumour"),
}


def normalise(text: str) -> str:
    """The form both training and prediction see: NFKC'd text (the engine's `TextView.norm`),
    lower-case, each run of Latin letters, digits and URL characters as `0`, runs of white space as
    one space."""
    return _SPACE.sub(" ", _PLACEHOLDERS.sub("0", _ASCII.sub("0", text.lower()))).strip()


def ngrams(text: str) -> list[str]:
    """Character n-grams of a normalised text."""
    return [text[i:i + n] for n in NGRAMS for i in range(len(text) - n + 1)]


def lemmas(words: Sequence[Word]) -> list[str]:
    """The words' lemmas (punctuation and symbols left out) and each pair of neighbours, marked so
    that they never meet a character n-gram in the vocabulary."""
    kept = [w.lemma for w in words if w.pos not in _NOT_WORDS]
    return [WORD + lemma for lemma in kept] + [PAIR + a + " " + b for a, b in pairwise(kept)]


def features(text: str, words: Sequence[Word]) -> list[str]:
    """Every sparse feature of a normalised text and its words (training and prediction alike)."""
    return ngrams(text) + lemmas(words)


def mean_vector(lang: language.Language, words: Sequence[Word]) -> np.ndarray:
    """The mean unit vector of the content words (zero when none has a vector)."""
    rows = lang.matrix(w.lemma for w in words if w.pos in _CONTENT)
    if not len(rows):
        return np.zeros(VECTOR_DIM)
    mean: np.ndarray = rows.mean(axis=0).astype(np.float64)
    return mean


def pieces(text: str, words: Sequence[Word]) -> Iterator[tuple[int, int, str, list[Word]]]:
    """Each of the text's `segments` as (start, end, its stripped text, its words with offsets into
    that text)."""
    for start, end in segments(text):
        chunk = text[start:end]
        lead = start + len(chunk) - len(chunk.lstrip())
        yield start, end, chunk.strip(), [w.shifted(-lead) for w in words if w.start >= start and w.end <= end]


def segments(text: str) -> list[tuple[int, int]]:
    """The whole text and, if it has more than one, each sentence: (start, end) in `text`; only those
    with at least MIN_SENTENCE characters outside ASCII."""
    spans = [(m.start(), m.end()) for m in _SENTENCE.finditer(text) if _evidence(m.group()) >= MIN_SENTENCE]
    whole = [(0, len(text))] if _evidence(text) >= MIN_SENTENCE else []
    return whole + spans if len(spans) > 1 else whole


def _evidence(text: str) -> int:
    """Characters outside ASCII: the Japanese text the model can read."""
    return sum(1 for ch in text if ch > "\x7f")


@dataclass(frozen=True)
class Score:
    family: str
    probability: float
    span: tuple[int, int]


class Model:
    def __init__(self, vocab: Mapping[str, int], idf: np.ndarray, coef: np.ndarray, intercept: np.ndarray,
                 families: tuple[str, ...], review: np.ndarray, block: np.ndarray,
                 dense: np.ndarray | None = None) -> None:
        self.vocab = vocab
        self.idf = idf
        self.coef = coef  # (features, families)
        self.intercept = intercept
        self.families = families
        self.review = review  # per family; +inf: never
        self.block = block
        self.dense = dense if dense is not None else np.zeros((VECTOR_DIM, len(families)))  # (vector, families)

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> Model:
        with np.load(path, allow_pickle=False) as data:
            vocab_list = [str(v) for v in data["vocab"]]
            return cls({v: i for i, v in enumerate(vocab_list)}, data["idf"].astype(np.float64),
                       data["coef"].astype(np.float64), data["intercept"].astype(np.float64),
                       tuple(str(f) for f in data["families"]), data["review"].astype(np.float64),
                       data["block"].astype(np.float64), data["dense"].astype(np.float64))

    def decision(self, text: str, words: Sequence[Word] | None = None) -> np.ndarray:
        """Logit per family of one normalised text (its words are read when not given)."""
        lang = language.load()
        words = lang.tokens(text) if words is None else words
        logits: np.ndarray = self.intercept + mean_vector(lang, words) @ self.dense
        counts = Counter(g for g in features(text, words) if g in self.vocab)
        if not counts:
            return logits
        index = np.fromiter((self.vocab[g] for g in counts), dtype=np.int64, count=len(counts))
        tf = np.fromiter((1.0 + math.log(c) for c in counts.values()), dtype=np.float64, count=len(counts))
        weights = tf * self.idf[index]
        weights /= np.sqrt(np.dot(weights, weights))
        total: np.ndarray = logits + weights @ self.coef[index]
        return total

    def probabilities(self, text: str, words: Sequence[Word] | None = None) -> np.ndarray:
        probs: np.ndarray = 1.0 / (1.0 + np.exp(-self.decision(text, words)))
        return probs

    def best(self, text: str, words: Sequence[Word] | None = None) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Highest probability per column over the text and its sentences, and where that was."""
        probs, spans = self.read(text, words)
        top = probs.argmax(axis=0)
        return probs.max(axis=0), [spans[i] for i in top]

    def read(self, text: str, words: Sequence[Word] | None = None) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Probabilities per column (pieces x columns) of the text and of each of its sentences, and
        their spans. A sentence that forbids what it names does not count for the NEGATABLE
        families, nor for the heads when a NEGATABLE family is what it scores highest."""
        parts = list(pieces(text, language.load().tokens(text) if words is None else words))
        if not parts:
            return np.zeros((1, len(self.families))), [(0, len(text))]
        forbids = [_FORBIDS.search(chunk) is not None for _, _, chunk, _ in parts]
        if len(parts) > 1:
            forbids[0] = all(forbids[1:])  # the whole text forbids when each of its sentences does
        negatable = np.array([f in NEGATABLE for f in self.families])
        heads = np.array([f in HEADS for f in self.families])
        named = ~heads
        rows = []
        for (_, _, chunk, own), forbidding in zip(parts, forbids, strict=True):
            probs = self.probabilities(chunk, own)
            if forbidding:
                if negatable[np.flatnonzero(named)[probs[named].argmax()]]:
                    probs = np.where(heads, 0.0, probs)
                probs = np.where(negatable, 0.0, probs)
            rows.append(probs)
        return np.vstack(rows), [(start, end) for start, end, _, _ in parts]

    def scores(self, text: str) -> Iterator[tuple[Score, Severity]]:
        """Families over their thresholds, with the severity their probability earns; a head over its
        threshold adds the family it points at when that family is not already there."""
        norm = normalise(text)
        if not norm:
            return
        probs, spans = self.read(norm)
        best, top = probs.max(axis=0), probs.argmax(axis=0)
        found: dict[str, tuple[Score, Severity]] = {}
        for k, family in enumerate(self.families):
            if family in HEADS:
                continue
            if best[k] >= self.block[k]:
                found[family] = Score(family, float(best[k]), spans[top[k]]), Severity.BLOCK
            elif best[k] >= self.review[k]:
                found[family] = Score(family, float(best[k]), spans[top[k]]), Severity.REVIEW
        for head, severity in ((BLOCKING, Severity.BLOCK), (VIOLATION, Severity.REVIEW)):
            if head not in self.families:
                continue
            k = self.families.index(head)
            threshold = self.block[k] if severity is Severity.BLOCK else self.review[k]
            if best[k] < threshold or any(s is Severity.BLOCK or s is severity for _, s in found.values()):
                continue
            row = probs[top[k]]
            allowed = [j for j, f in enumerate(self.families)
                       if f not in HEADS and (severity is Severity.REVIEW or np.isfinite(self.block[j]))]
            j = max(allowed, key=lambda i: row[i])
            found[self.families[j]] = Score(self.families[j], float(best[k]), spans[top[k]]), severity
        yield from found.values()


class Classifier:
    """The trained layer in the engine; one per engine, the model loaded once per process."""

    def __init__(self, model: Model | None = None) -> None:
        self.model = model or load()

    def findings(self, ctx: Prepared, found: frozenset[str] = frozenset()) -> list[Finding]:
        """Findings for the families no earlier layer found in the message (`found`)."""
        out: list[Finding] = []
        for fld in ctx.fields:
            out.extend(self._field(ctx, fld, found))
        return out

    def _field(self, ctx: Prepared, fld: Field, found: frozenset[str]) -> Iterator[Finding]:
        text = fld.view.norm
        read = normalise(text)  # what the model scored: its spans are into this text
        for score, severity in self.model.scores(text):
            if score.family in found or (severity is Severity.REVIEW and _notice(ctx, score, read)):
                continue
            if score.family == "accuracy" and weekday_dated(read[score.span[0]:score.span[1]]):
                continue  # a date with its weekday: the calendar has judged it (accuracy.weekday) — the model
                # learned the dates its writers used (「12月5日（金）」, right in 2025, reviewed at 0.99)
            if score.family == "political" and severity is Severity.REVIEW and election_notice(read):
                continue  # the commission's call to vote, however much it sounds like a campaign's (a block-
                # level score still stops it: the words around a name may not show a campaign)
            if score.family == "personal" and consented(ctx.body.view.norm):
                continue  # named with their consent; the rules still review health and family matters
            # Spans of the normalised-and-collapsed text approximate those of the view's text;
            # mark the whole field when they may not line up.
            span = score.span if read == text else None
            message = (f"{ADVICE.get(score.family, '内容を確認してください')}"
                       f"（分類モデルの判定、確率 {score.probability:.2f}）。")
            yield ctx.finding(f"{score.family}.model", severity,
                              ctx.clause(*CLAUSE_KEYS.get(score.family, (score.family,))),
                              message, field=fld, span=span)


def _notice(ctx: Prepared, score: Score, text: str) -> bool:
    """Whether the sentence the score came from is one of the city's own neutral notices for its family
    (the lexicon's `notice_context_<family>`: an election commission's 投票所, a shrine as 避難場所 or
    文化財, a 宗教法人's tax): the model's doubt is not enough there; a block-level score still stops."""
    sentence = text[score.span[0]:score.span[1]]
    return any(word in sentence for word in ctx.lexicon.words(f"notice_context_{score.family}"))


@lru_cache(maxsize=1)
def load() -> Model:
    """The committed model, loaded once per process (the check workers' fork server preloads it)."""
    return Model.load()


def write(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write arrays as an .npz whose bytes depend only on the arrays (fixed member timestamps), so that
    retraining on the same data reproduces the committed file exactly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())
