"""What every check receives: the input plus its prepared (normalised, tokenised) fields."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

from gateway.models import Finding, Message, Platform, Severity
from gateway.pipeline.checks.lexicon import Lexicon
from gateway.pipeline.checks.text import TextView
from gateway.policy import Account, Municipality


@dataclass(frozen=True)
class CheckInput:
    message: Message
    municipality: Municipality
    accounts: tuple[Account, ...]  # resolved target accounts
    # An alert post the gateway wrote from a template (JMA, L-Alert, CAP): the linguistic layer is
    # skipped for it, so an alert never waits on the language model.
    generated: bool = False
    # The writer's day in Japan (submission and preview; `gateway check --as-of`): a date written without its
    # year is read as the one nearest to it. None (a labelled corpus, a post of unknown date) leaves such
    # dates to the other date checks.
    today: date | None = None


@dataclass(frozen=True)
class Field:
    """A piece of free text that the content checks read."""

    key: str  # "text", "title", "media[0].alt_text"
    label: str  # what staff call it, used in finding messages
    view: TextView

    @property
    def is_text(self) -> bool:
        return self.key == "text"


@dataclass(frozen=True)
class Prepared:
    inp: CheckInput
    fields: tuple[Field, ...]  # the body first
    lexicon: Lexicon
    alt_text_limits: Mapping[Platform, int | None]
    memo: dict[str, object] = field(default_factory=dict, compare=False, repr=False)  # per-message cache

    @property
    def message(self) -> Message:
        return self.inp.message

    @property
    def municipality(self) -> Municipality:
        return self.inp.municipality

    @cached_property
    def body(self) -> Field:
        return self.fields[0]

    def clause(self, *keys: str) -> str:
        """The first clause the municipality defines among `keys` (else its policy title)."""
        for key in keys:
            text = self.municipality.clauses.get(key)
            if text:
                return text
        return self.municipality.policy_title

    def finding(self, rule: str, severity: Severity, clause: str, message: str, *,
                field: Field | None = None, span: tuple[int, int] | None = None,
                account: str | None = None) -> Finding:
        """A finding; `span` is in `field`'s normalised text and is mapped back to the original.

        Spans are offsets into the message text; findings on other fields have no span and
        name the field in the message instead.
        """
        start = end = None
        if field is not None and field.is_text and span is not None:
            start, end = field.view.span(*span)
        elif field is not None and not field.is_text:
            message = f"{field.label}: {message}"
        return Finding(rule=rule, severity=severity, start=start, end=end, clause=clause,
                       message=message, account=account)

    def findings_in_fields(self, rule: str, severity: Severity, clause: str,
                           find: Callable[[str], Iterable[tuple[tuple[int, int], str]]]) -> list[Finding]:
        """A `rule` finding for each (span, message) that `find` yields on a field's normalised text."""
        return [self.finding(rule, severity, clause, message, field=fld, span=span)
                for fld in self.fields for span, message in find(fld.view.norm)]

    def excerpt(self, field: Field, span: tuple[int, int]) -> str:
        """The original characters of a span, for quoting in a message."""
        start, end = field.view.span(*span)
        return field.view.original[start:end]

    def rule_findings(self, *families: str,
                      allowed: Callable[[str, Field, tuple[int, int]], bool] | None = None) -> list[Finding]:
        """Findings of the lexicon rules of `families` on every free-text field.

        `allowed(rule_id, field, span)` drops a match its family knows to be harmless in context.
        """
        findings: list[Finding] = []
        for rule in self.lexicon.family_rules(*families):
            for fld in self.fields:
                if rule.body_only and not fld.is_text:
                    continue
                for span in rule.find(fld.view):
                    if allowed is not None and allowed(rule.id, fld, span):
                        continue
                    clause = rule.clause_text or self.clause(*rule.clause)
                    findings.append(self.finding(rule.id, rule.severity, clause,
                                                 _quote(rule.message, self.excerpt(fld, span)),
                                                 field=fld, span=span))
        return findings


def _quote(message: str, excerpt: str) -> str:
    """Prefix a rule's message with the words it fired on (shortened), so staff see what to change."""
    excerpt = " ".join(excerpt.split())
    if len(excerpt) > 30:
        excerpt = excerpt[:29] + "…"
    return f"「{excerpt}」: {message}" if excerpt else message
