"""Lexicons and allow-lists from `config/lexicons/*.toml`, each entry citing the clause it enforces.

`default.toml` applies to every municipality; `<municipality id>.toml` may add rules, replace a
rule by id, disable rules (`disable = ["rule.id"]`) and extend lists (`[lists.NAME] add = [...]`).

A rule matches `terms` (SudachiPy normalised token sequences: word boundaries and spelling
variants for free, so 秘 never matches inside 秘書) or `regex` (on the NFKC text). `with_*`
requires a second match in the same sentence; `unless_*` drops the match when the sentence
also contains an exception (election-commission wording, warnings about the thing itself).
"""

from __future__ import annotations

import bisect
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.errors import InputError
from gateway.models import Severity
from gateway.pipeline.checks.text import TOKEN_SEP, TextView, Tokenizer, normalise

Span = tuple[int, int]


@dataclass(frozen=True)
class Matcher:
    """Terms (as one token-sequence regex) and/or regexes on the normalised text."""

    token_re: re.Pattern[str] | None = None
    # Kept apart rather than joined by "|": a joined alternation loses the regex engine's literal
    # prefix scan and ran several times slower than the regexes one after another.
    text_res: tuple[re.Pattern[str], ...] = ()
    pos: frozenset[str] = frozenset()  # token matches must start with a token of this part of speech
    # Tokenising costs most of a check, so a token rule runs only when one of its terms could be
    # there: any surface, normalised form or kana variant of a term occurs in the NFKC text.
    gate: re.Pattern[str] | None = None

    def spans(self, view: TextView) -> list[Span]:
        found: list[Span] = []
        for text_re in self.text_res:
            found.extend(m.span() for m in text_re.finditer(view.norm) if m.end() > m.start())
        if self.token_re is not None and view.norm and (self.gate is None or self.gate.search(view.norm)):
            for m in self.token_re.finditer(view.token_string):
                span = view.token_span(*m.span())
                if not self.pos or _pos_at(view, span[0]) in self.pos:
                    found.append(span)
        return found

    def __bool__(self) -> bool:
        return self.token_re is not None or bool(self.text_res)


def _pos_at(view: TextView, start: int) -> str:
    return next((t.pos[0] for t in view.tokens if t.start == start), "")


@dataclass(frozen=True)
class Rule:
    id: str
    clause: tuple[str, ...]  # clause keys of Municipality.clauses, first defined wins
    severity: Severity
    message: str
    match: Matcher
    with_: Matcher = field(default_factory=Matcher)
    unless: Matcher = field(default_factory=Matcher)
    body_only: bool = False
    clause_text: str | None = None  # a literal citation (municipality files), used as it is
    with_in_text: bool = False  # the companion may be anywhere in the field, not only the sentence
    unless_in_text: bool = False
    # Cheap prefilter: the rule can only fire when one of these strings is in the NFKC text.
    requires: re.Pattern[str] | None = None

    @property
    def family(self) -> str:
        return self.id.split(".", 1)[0]

    def find(self, view: TextView) -> list[Span]:
        """Spans (normalised text) where this rule fires, one per sentence at most."""
        if self.requires is not None and not self.requires.search(view.norm):
            return []
        # The companion first: it is usually a cheap regex, and without it the (possibly
        # tokenising) main match need not run at all.
        companions = self.with_.spans(view) if self.with_ else None
        if companions is not None and not companions:
            return []
        hits = self.match.spans(view)
        if not hits:
            return []
        exceptions = _Starts(self.unless.spans(view) if self.unless else [])
        within_companions = _Starts(companions) if companions is not None else None
        result: list[Span] = []
        seen_sentences: set[Span] = set()
        whole = (0, len(view.norm))
        for span in sorted(hits):
            sentence = view.sentence_of(span[0])
            if sentence in seen_sentences:
                continue
            if within_companions is not None and not within_companions.any_in(
                    whole if self.with_in_text else sentence):
                continue
            if exceptions.any_in(whole if self.unless_in_text else sentence):
                continue
            seen_sentences.add(sentence)
            result.append(span)
        return result


class _Starts:
    """Where spans start, sorted, to ask "does any start inside this range?" by bisection (asked once
    per hit, a scan of every span made a text with thousands of both quadratic)."""

    def __init__(self, spans: Iterable[Span]) -> None:
        self._starts = sorted(start for start, _ in spans)

    def any_in(self, range_: Span) -> bool:
        index = bisect.bisect_left(self._starts, range_[0])
        return index < len(self._starts) and self._starts[index] < range_[1]


@dataclass(frozen=True)
class Lexicon:
    rules: tuple[Rule, ...]
    lists: Mapping[str, frozenset[str]]
    list_clauses: Mapping[str, str]
    _by_families: dict[tuple[str, ...], tuple[Rule, ...]] = field(default_factory=dict, compare=False, repr=False)

    def family_rules(self, *families: str) -> tuple[Rule, ...]:
        cached = self._by_families.get(families)
        if cached is None:
            cached = self._by_families[families] = tuple(r for r in self.rules if r.family in families)
        return cached

    def words(self, name: str) -> frozenset[str]:
        return self.lists.get(name, frozenset())


class LexiconStore:
    """Loads `default.toml` once and each municipality's override on first use."""

    def __init__(self, directory: Path, tokenizer: Tokenizer) -> None:
        self._dir = directory
        self._tok = tokenizer
        self._default_raw = _read(directory / "default.toml")
        self._cache: dict[str, Lexicon] = {}
        self._lists: dict[str, list[str]] = {}
        self.default = self._build(self._default_raw, None)

    def for_municipality(self, municipality_id: str) -> Lexicon:
        lexicon = self._cache.get(municipality_id)
        if lexicon is None:
            path = self._dir / f"{municipality_id}.toml"
            override = _read(path) if path.is_file() else None
            lexicon = self.default if override is None else self._build(self._default_raw, override)
            self._cache[municipality_id] = lexicon
        return lexicon

    def _build(self, base: Mapping[str, Any], override: Mapping[str, Any] | None) -> Lexicon:
        raw_rules = {r["id"]: r for r in base.get("rule", [])}
        lists = {k: dict(v) for k, v in base.get("lists", {}).items()}
        if override is not None:
            raw_rules.update({r["id"]: r for r in override.get("rule", [])})
            for rule_id in override.get("disable", []):
                raw_rules.pop(rule_id, None)
            for name, entry in override.get("lists", {}).items():
                merged = lists.setdefault(name, {"clause": entry.get("clause", ""), "values": []})
                merged["values"] = [*merged.get("values", []), *entry.get("add", entry.get("values", []))]
        self._lists = {k: [str(w) for w in v.get("values", [])] for k, v in lists.items()}
        rules = tuple(self._rule(r) for r in raw_rules.values())
        return Lexicon(
            rules=rules,
            lists={k: frozenset(_norm_word(w) for w in v.get("values", [])) for k, v in lists.items()},
            list_clauses={k: str(v.get("clause", "")) for k, v in lists.items()},
        )

    def _rule(self, raw: Mapping[str, Any]) -> Rule:
        try:
            clause = raw["clause"]
            return Rule(
                id=raw["id"],
                clause=tuple(clause) if isinstance(clause, list) else (clause,),
                clause_text=raw.get("clause_text"),
                severity=Severity(raw.get("severity", "review")),
                message=raw["message"],
                match=self._matcher(raw.get("terms", ()), raw.get("regex", ()), raw.get("spaced", ()),
                                    frozenset(raw.get("pos", ())), raw.get("gate")),
                with_=self._matcher(raw.get("with_terms", ()), raw.get("with_regex", ())),
                unless=self._matcher(raw.get("unless_terms", ()), raw.get("unless_regex", ())),
                body_only=bool(raw.get("body_only", False)),
                with_in_text=raw.get("with_scope", "sentence") == "text",
                unless_in_text=raw.get("unless_scope", "sentence") == "text",
                requires=self._requires(raw.get("requires", ())),
            )
        except (KeyError, ValueError, re.error) as exc:
            raise InputError(f"{self._dir}: lexicon rule {raw.get('id')!r}: {exc}", code="config_invalid") from exc

    def _matcher(self, terms: Sequence[str], regexes: Sequence[str], spaced: Sequence[str] = (),
                 pos: frozenset[str] = frozenset(), gate_regex: str | None = None) -> Matcher:
        regexes = [*(self._expand(r) for r in regexes), *(_spaced(s) for s in spaced)]
        token_re = gate = None
        if terms:
            forms = sorted({self._token_form(t) for t in terms}, key=len, reverse=True)
            sep = re.escape(TOKEN_SEP)
            token_re = re.compile(f"(?<={sep})(?:{'|'.join(re.escape(f) for f in forms)})(?={sep})")
            gate = re.compile(gate_regex) if gate_regex else _gate(terms, forms)
        return Matcher(token_re, tuple(re.compile(r) for r in regexes), pos, gate)

    def _requires(self, words: Sequence[str]) -> re.Pattern[str] | None:
        """Words for the prefilter; `{list:NAME}` stands for every word of a list."""
        expanded: list[str] = []
        for word in words:
            m = re.fullmatch(r"\{list:(\w+)\}", word)
            if m and m.group(1) not in self._lists:
                raise ValueError(f"unknown list {m.group(1)!r}")
            expanded.extend(self._lists[m.group(1)] if m else [word])
        if not expanded:
            return None
        # One alternation: the regex engine scans for all words at once, far faster than `in` per word.
        unique = sorted({normalise(w)[0] for w in expanded}, key=len, reverse=True)
        return re.compile("|".join(re.escape(w) for w in unique))

    def _expand(self, regex: str) -> str:
        """Replace `{list:NAME}` by an alternation of that list's words (`{spaced:NAME}`: also spaced out)."""
        def alternation(m: re.Match[str]) -> str:
            words = self._lists.get(m.group(2))
            if words is None:
                raise ValueError(f"unknown list {m.group(2)!r}")
            quote = _spaced if m.group(1) == "spaced" else lambda w: re.escape(normalise(w)[0])
            return "(?:" + "|".join(quote(w) for w in sorted(words, key=len, reverse=True)) + ")"

        return re.sub(r"\{(list|spaced):(\w+)\}", alternation, regex)

    def _token_form(self, term: str) -> str:
        return TOKEN_SEP.join(t.norm for t in self._tok.tokenize(normalise(term)[0]))


def _gate(terms: Sequence[str], forms: Sequence[str]) -> re.Pattern[str]:
    variants: set[str] = set()
    for word in [*terms, *(f.replace(TOKEN_SEP, "") for f in forms)]:
        norm = normalise(word)[0]
        variants.update({norm, norm.lower(), norm.upper(), _to_katakana(norm), _to_hiragana(norm)})
    # Case variants are listed instead of IGNORECASE, which would lose the fast literal scan.
    return re.compile("|".join(re.escape(v) for v in sorted(variants, key=len, reverse=True) if v))


def _to_katakana(text: str) -> str:
    return "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in text)


def _to_hiragana(text: str) -> str:
    return "".join(chr(ord(c) - 0x60) if "\u30a1" <= c <= "\u30f6" else c for c in text)


def _spaced(term: str) -> str:
    """A regex for `term` that also matches it split by spaces or dots ("極 秘", "取・扱・注・意")."""
    return r"[\s・･.]*".join(re.escape(ch) for ch in normalise(term)[0])


def _norm_word(word: str) -> str:
    return normalise(word)[0].lower()


def _read(path: Path) -> Mapping[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{path}: 辞書ファイルを読み込めません: {exc}", code="config_invalid") from exc
