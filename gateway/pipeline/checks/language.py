"""The linguistic layer's reading of a text: GiNZA (spaCy) sentences, tokens, entities and word vectors.

Loading the model costs about 2 s and is done once per process (`load()`), before a check worker
says it is ready. Reading a 300-character post with the whole pipeline costs about 90 ms on one
core, so a post is first tokenised only (SudachiPy inside GiNZA, about 2 ms: lemmas, parts of
speech, word vectors); the parser and named-entity recogniser run on a sentence only when a rule
asks for its entities, and on at most `PARSE_BUDGET_CHARS` characters of a message.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger("gateway.checks")

MODEL = "ja_ginza"
PARSE_BUDGET_CHARS = 240  # parser + NER: about 30 ms per 100 characters on one core
_SENTENCE_END = re.compile(r"[。!?！？\n]")

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Word:
    surface: str
    lemma: str
    pos: str  # Universal Dependencies part of speech
    tag: str  # SudachiPy part of speech, "名詞-固有名詞-人名-姓"
    start: int  # offsets into the analysed text
    end: int

    def shifted(self, by: int) -> Word:
        """The same word with its offsets moved by `by` (into a slice of the analysed text)."""
        return Word(self.surface, self.lemma, self.pos, self.tag, self.start + by, self.end + by)

    @property
    def is_name(self) -> bool:
        return "人名" in self.tag

    @property
    def is_country(self) -> bool:
        return self.tag.endswith("地名-国")

    @property
    def is_place(self) -> bool:
        return "地名" in self.tag


@dataclass(frozen=True, slots=True)
class Entity:
    text: str
    label: str  # GiNZA's extended named-entity label: Person, Company, Nationality, Political_Party ...
    start: int
    end: int


class Language:
    """GiNZA loaded once: `read(text)` gives a Reading of the text."""

    def __init__(self, nlp: Any) -> None:
        self._nlp = nlp
        self._vectors = nlp.vocab.vectors
        self._vector_cache: dict[str, Vector | None] = {}

    def read(self, text: str) -> Reading:
        return Reading(self, text)

    def tokens(self, text: str) -> list[Word]:
        doc = self._nlp.make_doc(text)
        return [Word(t.text, t.lemma_, t.pos_, t.tag_, t.idx, t.idx + len(t.text)) for t in doc]

    def entities(self, text: str) -> list[Entity]:
        doc = self._nlp(text)
        return [Entity(e.text, e.label_, e.start_char, e.end_char) for e in doc.ents]

    def vector(self, word: str) -> Vector | None:
        """The unit word vector of `word` (None when the model has none)."""
        if word in self._vector_cache:
            return self._vector_cache[word]
        key = self._nlp.vocab.strings[word]
        found: Vector | None = None
        if key in self._vectors:
            raw = np.asarray(self._vectors[key], dtype=np.float32)
            # Correctly rounded (fsum), not BLAS: a BLAS norm's last bit depends on the CPU's kernel, and the
            # trained layer must come out the same from the same data on any machine.
            norm = math.sqrt(math.fsum(float(x) * float(x) for x in raw.tolist()))
            found = raw / norm if norm else None
        if len(self._vector_cache) < 200_000:
            self._vector_cache[word] = found
        return found

    def matrix(self, words: Iterable[str]) -> Vector:
        rows = [v for v in (self.vector(w) for w in words) if v is not None]
        return np.vstack(rows) if rows else np.zeros((0, 300), dtype=np.float32)


@dataclass
class Sentence:
    language: Language
    text: str
    start: int  # offset of the sentence in the field's normalised text
    words: list[Word]
    _entities: list[Entity] | None = field(default=None, repr=False)

    @cached_property
    def lemmas(self) -> frozenset[str]:
        return frozenset(w.lemma for w in self.words)

    def entities(self, reading: Reading) -> list[Entity]:
        """Named entities, parsed on first use while the message's parse budget lasts."""
        if self._entities is None:
            if reading.parse_budget >= len(self.text):
                reading.parse_budget -= len(self.text)
                self._entities = self.language.entities(self.text)
            else:
                self._entities = []
        return self._entities


class Reading:
    """One field's text split into sentences of tokens; entities are parsed lazily per sentence."""

    def __init__(self, language: Language, text: str) -> None:
        self.language = language
        self.text = text
        self.parse_budget = PARSE_BUDGET_CHARS
        words = language.tokens(text) if text.strip() else []
        self.sentences = _split(language, text, words)
        self._index = {id(sentence): i for i, sentence in enumerate(self.sentences)}

    def previous(self, sentence: Sentence) -> Sentence | None:
        index = self._index.get(id(sentence), 0)
        return self.sentences[index - 1] if index > 0 else None

    def next(self, sentence: Sentence) -> Sentence | None:
        index = self._index.get(id(sentence))
        return self.sentences[index + 1] if index is not None and index + 1 < len(self.sentences) else None


def _split(language: Language, text: str, words: list[Word]) -> list[Sentence]:
    sentences: list[Sentence] = []
    begin, index = 0, 0
    bounds = [m.end() for m in _SENTENCE_END.finditer(text)]
    if not bounds or bounds[-1] < len(text):
        bounds.append(len(text))
    for end in bounds:
        own: list[Word] = []
        while index < len(words) and words[index].start < end:
            word = words[index]
            own.append(word.shifted(-begin))
            index += 1
        chunk = text[begin:end]
        if chunk.strip():
            sentences.append(Sentence(language, chunk, begin, own))
        begin = end
    return sentences


@lru_cache(maxsize=1)
def load() -> Language:
    """GiNZA without the components the rules do not read (compound splitting, bunsetu)."""
    import spacy

    nlp = spacy.load(MODEL, exclude=["compound_splitter", "bunsetu_recognizer"])
    nlp("起動時の確認です。")  # first-call set-up of the parser and recogniser, now rather than on a post
    log.info("linguistic model loaded", extra={"model": MODEL})
    return Language(nlp)
