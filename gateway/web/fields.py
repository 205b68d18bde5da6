"""Free-text fields and headers of web input: bounded, with the field named when they are not.

Message fields have their limits on the model (`gateway.models.Message`); these are the rest:
reasons, comments and notes that go into the ledger and the audit log, search terms, and the
Idempotency-Key header (or the console form's hidden field of the same name).
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.errors import FieldProblem, InputError
from gateway.models import shown_key

MAX_TEXT_CHARS = 2000  # a reason, comment or note
MAX_SEARCH_CHARS = 200  # a search term or filter typed into a form
MAX_IDEMPOTENCY_KEY_CHARS = 200
MAX_OVERRIDES = 100  # review findings an approval may override; a message has a handful at most
MAX_RULE_CHARS = 200


def bounded(value: str, field: str, limit: int = MAX_TEXT_CHARS) -> str:
    """`value`, or an InputError naming `field` when it is longer than `limit` characters."""
    if len(value) > limit:
        raise InputError(f"{field} は{limit}文字以内にしてください",
                         [FieldProblem(field, "too_long", f"{limit}文字以内にしてください")], code="too_long")
    return value


def bounded_overrides(overrides: Mapping[str, str], field: str = "overrides", prefix: str = "overrides.") -> None:
    """Override reasons (rule id -> reason): at most MAX_OVERRIDES, each rule id and reason bounded."""
    if len(overrides) > MAX_OVERRIDES:
        raise InputError(f"{field} は{MAX_OVERRIDES}件以内にしてください",
                         [FieldProblem(field, "too_long", f"{MAX_OVERRIDES}件以内にしてください")], code="too_long")
    for rule, reason in overrides.items():
        bounded(rule, field, MAX_RULE_CHARS)
        bounded(reason, prefix + shown_key(rule))


def idempotency_key(value: str | None, field: str = "Idempotency-Key") -> str | None:
    """A key of 1 to 200 printable characters, or None when none was sent.

    A header that was not UTF-8 arrives as lone surrogates, which no database can store; control
    characters have no place in a key either. Both are refused here instead of failing the INSERT.
    """
    if value is None:
        return None
    if not (1 <= len(value) <= MAX_IDEMPOTENCY_KEY_CHARS and value.isprintable()):
        reason = f"制御文字を含まない1〜{MAX_IDEMPOTENCY_KEY_CHARS}文字にしてください"
        raise InputError(f"{field} は{reason}", [FieldProblem(field, "invalid_idempotency_key", reason)])
    return value
