"""message_digest: the fingerprint an idempotency key is tied to."""

from __future__ import annotations

from gateway.models import Message, message_digest

BASE = {"municipality": "kodaira", "category": "event", "text": "市民まつり"}


def test_the_same_message_however_written_has_one_digest() -> None:
    digest = message_digest(Message.model_validate(BASE))
    assert len(digest) == 64
    spelled_out = {"priority": "normal", "media": [], "drill": False, **dict(reversed(BASE.items()))}
    assert message_digest(Message.model_validate(spelled_out)) == digest


def test_any_change_changes_the_digest() -> None:
    digest = message_digest(Message.model_validate(BASE))
    for change in ({"text": "市民まつり（中止）"}, {"accounts": ["kodaira_x"]}, {"priority": "high"},
                   {"not_before": "2026-11-24T09:00:00+09:00"}):
        assert message_digest(Message.model_validate({**BASE, **change})) != digest, change
