"""Token formats from detect-secrets' maintained regex plugins.

The plugins' `denylist` regexes are used directly on the whole text: `analyze_string` yields
only a capture group (e.g. "ghp" of a GitHub token), and a finding must cover the whole value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

# Plugins whose regexes describe a token format. KeywordDetector, the entropy detectors and
# IPPublicDetector are left out: they are tuned for source code and flag ordinary URLs.
_PLUGINS = (
    "AWSKeyDetector", "ArtifactoryDetector", "AzureStorageKeyDetector", "BasicAuthDetector",
    "DiscordBotTokenDetector", "GitHubTokenDetector", "GitLabTokenDetector", "JwtTokenDetector",
    "MailchimpDetector", "NpmDetector", "OpenAIDetector", "PrivateKeyDetector", "PypiTokenDetector",
    "SendGridDetector", "SlackDetector", "SquareOAuthDetector", "StripeDetector",
    "TelegramBotTokenDetector", "TwilioKeyDetector",
)


@lru_cache(maxsize=1)
def _patterns() -> tuple[re.Pattern[str], ...]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    plugins: list[Any] = list(get_mapping_from_secret_type_to_class().values())
    by_name: dict[str, Any] = {plugin.__name__: plugin for plugin in plugins}
    patterns: list[re.Pattern[str]] = []
    for name in _PLUGINS:
        if name in by_name:
            patterns.extend(by_name[name]().denylist)
    return tuple(patterns)


def load() -> None:
    """Import the plugins now (engine start-up) rather than on the first check."""
    _patterns()


def token_spans(text: str) -> Iterator[tuple[int, int]]:
    """Spans of known token formats in `text`."""
    for pattern in _patterns():
        for m in pattern.finditer(text):
            yield m.span()
