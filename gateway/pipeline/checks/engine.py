"""The check engine: prepares a message once and runs every family's check over it.

The list `CHECKS` is the one place where families are composed. Each check is a pure function
`(Prepared) -> list[Finding]`; the engine does the only slow set-up (SudachiPy dictionary,
lexicons) once, at construction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from gateway.models import PLATFORM_SPECS, CheckResult, Finding, Platform
from gateway.pipeline.checks import (
    accessibility,
    alert_wording,
    categories,
    classifier,
    confidential,
    consistency,
    dates,
    easy_japanese,
    forbidden,
    language,
    length,
    personal,
    political,
    reach,
    secrets,
    shares,
)
from gateway.pipeline.checks.context import CheckInput, Field, Prepared
from gateway.pipeline.checks.lexicon import LexiconStore
from gateway.pipeline.checks.screening import Screen
from gateway.pipeline.checks.text import SudachiTokenizer, Tokenizer, view
from gateway.policy import LANGUAGES

Check = Callable[[Prepared], list[Finding]]

CHECKS: tuple[Check, ...] = (
    confidential.check,
    personal.check,
    political.check,
    forbidden.check,
    alert_wording.check,
    accessibility.check,
    categories.check,
    shares.check,
    easy_japanese.check,
    length.check,
    reach.check,
    dates.check,
    consistency.check,
)

# A version in another language (`Message.translations`, written by staff) is checked again with the checks
# that read the text; the others read the category, share, media and title, which it shares with the Japanese.
VERSION_CHECKS: tuple[Check, ...] = (
    confidential.check,
    personal.check,
    political.check,
    forbidden.check,
    alert_wording.check,
    easy_japanese.check,
)

# Alt-text limits per platform when none are passed in: what each platform declares (models.PLATFORM_SPECS).
DEFAULT_ALT_TEXT_LIMITS: Mapping[Platform, int | None] = {
    platform: declared.limits.alt_text_max for platform, declared in PLATFORM_SPECS.items()}

DEFAULT_LEXICON_DIR = Path(__file__).resolve().parents[3] / "config" / "lexicons"


class CheckEngine:
    """The exact layer (identifiers, stamps, secrets, lexicons) and, unless `linguistic=False`, the
    linguistic layer (GiNZA: screening.py) and the trained layer (classifier.py), which adds findings
    only for families the other layers did not find. Alert posts the gateway writes from templates
    (`CheckInput.generated`) skip both: they must never wait on them."""

    def __init__(self, lexicon_dir: Path | None = None, *,
                 alt_text_limits: Mapping[Platform, int | None] | None = None,
                 tokenizer: Tokenizer | None = None, linguistic: bool = True,
                 trained: bool | None = None) -> None:
        self._screen = Screen(language.load()) if linguistic else None
        self._classifier = classifier.Classifier() if (linguistic if trained is None else trained) else None
        self._tokenizer = tokenizer or SudachiTokenizer()
        self._lexicons = LexiconStore(lexicon_dir or DEFAULT_LEXICON_DIR, self._tokenizer)
        self._alt_limits = {**DEFAULT_ALT_TEXT_LIMITS, **(alt_text_limits or {})}
        secrets.load()  # detect-secrets' plugins: import now, not on the first message

    def check(self, inp: CheckInput) -> CheckResult:
        findings = self._findings(self.prepare(inp), CHECKS)
        if not inp.generated:  # an alert's other languages come from templates, tested for every meaning
            for index in range(len(inp.message.translations)):
                findings.extend(self._version_findings(inp, index))
        return CheckResult.of(_ordered(findings))

    def _findings(self, ctx: Prepared, checks: tuple[Check, ...]) -> list[Finding]:
        findings: list[Finding] = []
        for check in checks:
            findings.extend(check(ctx))
        if self._screen is not None and not ctx.inp.generated:
            findings.extend(self._screen.findings(ctx))
        if self._classifier is not None and not ctx.inp.generated:
            found = frozenset(f.rule.split(".", 1)[0] for f in findings)
            findings.extend(self._classifier.findings(ctx, found))
        return findings

    def _version_findings(self, inp: CheckInput, index: int) -> list[Finding]:
        """The findings on translations[index]: its text through VERSION_CHECKS, and the posts it makes
        (text with the shared link, share and media) through the length check, each naming the version."""
        version = inp.message.translations[index]
        whole = inp.message.model_copy(update={"text": version.text, "language": version.language,
                                               "translations": ()})
        bare = whole.model_copy(update={"title": None, "link": None, "media": (), "share": None})
        text = self.prepare(replace(inp, message=bare))
        findings = self._findings(text, VERSION_CHECKS)
        findings += length.check(replace(text, inp=replace(inp, message=whole), memo={}))
        return [_about(finding, index, version.language) for finding in findings]

    @property
    def linguistic(self) -> bool:
        return self._screen is not None

    def prepare(self, inp: CheckInput) -> Prepared:
        return Prepared(
            inp=inp,
            fields=self._fields(inp),
            lexicon=self._lexicons.for_municipality(inp.municipality.id),
            alt_text_limits=self._alt_limits,
        )

    def _fields(self, inp: CheckInput) -> tuple[Field, ...]:
        message = inp.message
        fields = [Field("text", "本文", view(message.text, self._tokenizer))]
        if message.title:
            fields.append(Field("title", "タイトル", view(message.title, self._tokenizer)))
        for index, media in enumerate(message.media):
            if media.alt_text and media.alt_text.strip():
                fields.append(Field(f"media[{index}].alt_text", f"画像{index + 1}の代替テキスト",
                                    view(media.alt_text, self._tokenizer)))
        return tuple(fields)


def _about(finding: Finding, index: int, language: str) -> Finding:
    """A version's finding as staff read it: which version, and no span (spans are offsets into `text`)."""
    where = f"translations[{index}].text"
    return finding.model_copy(update={
        "start": None, "end": None, "field": where,
        "message": f"{LANGUAGES.get(language, language)}版（{where}）: {finding.message}"})


def _ordered(findings: list[Finding]) -> list[Finding]:
    """Drop exact duplicates; body findings in text order, then field-level ones."""
    unique = list(dict.fromkeys(findings))
    return sorted(unique, key=lambda f: (f.start is None, f.start or 0, f.end or 0, f.rule))


@lru_cache(maxsize=1)
def default_engine() -> CheckEngine:
    """The shared engine with the repository's `config/lexicons` and default alt-text limits."""
    return CheckEngine()
