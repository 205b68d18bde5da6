"""Which language versions of a message each account posts, and the message as one post carries them.

A message carries its text (Japanese, or for an alert template's post the language it says) and any
`translations`. An account posts the versions in its `languages` only, grouped by `language_groups`:
LINE all of them in one broadcast, other platforms one post (one delivery) per language. The planner,
the dispatcher, the reconciler, the previews and the checks all read the posts from here, so that what
is checked and previewed is what is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.models import Message, Translation
from gateway.policy import LANGUAGES, Account


@dataclass(frozen=True)
class LanguagePost:
    """One post of an account: its first language (the delivery's) and the message as it is sent."""

    language: str
    message: Message


def versions(message: Message) -> dict[str, str]:
    """language -> text, the message's own language first."""
    return {message.language: message.text, **{t.language: t.text for t in message.translations}}


def language_posts(message: Message, account: Account) -> list[LanguagePost]:
    """The posts `account` makes of `message`, in its order of languages; none when it carries none of them."""
    texts = versions(message)
    return [LanguagePost(group[0], _as_sent(message, group, texts)) for group in account.posts_in(texts)]


def message_in(message: Message, account: Account, language: str) -> Message:
    """The message as the account's post in `language` carries it (a delivery's `language`)."""
    for post in language_posts(message, account):
        if post.language == language:
            return post.message
    return message  # a delivery planned before languages were kept: the message as it was


def missing_reason(message: Message, account: Account) -> str:
    """Why an account posts nothing of this message (Japanese, for the skipped delivery)."""
    wanted = "・".join(LANGUAGES.get(code, code) for code in account.languages)
    return f"このアカウントは{wanted}で発信します。この投稿にはその言語の版がないため送りません"


def _as_sent(message: Message, group: tuple[str, ...], texts: dict[str, str]) -> Message:
    first, rest = group[0], group[1:]
    translations = tuple(Translation(language=code, text=texts[code]) for code in rest)
    if first == message.language and translations == message.translations:
        return message  # the common case (a Japanese-only message, an alert's own bundle): no copy
    return message.model_copy(update={"text": texts[first], "language": first, "translations": translations})
