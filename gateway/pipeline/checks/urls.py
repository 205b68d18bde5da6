"""URLs in free text and in the link/share fields, with their hosts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

from gateway.pipeline.checks.context import Field, Prepared

# Scheme URLs, and bare host paths such as bit.ly/abc or www.example.com/x. A bare host starts
# only where a run of host characters starts: started inside a run too, every start scanned the rest
# of it (a text of "1-1-1-..." took seconds).
_URL = re.compile(
    r"(?:(?:https?|ftp|file)://?|www\.)[^\s<>\"'「」『』()（）、。]+|(?:javascript|data|vbscript):\S+"
    r"|(?<![\w@./\-])(?:[A-Za-z0-9\-]+\.)+[A-Za-z]{2,}/[^\s<>\"'「」『』()（）、。]*",
    re.IGNORECASE)


@dataclass(frozen=True)
class Url:
    url: str
    host: str
    scheme: str
    field: Field | None  # None: the link or share field
    label: str
    span: tuple[int, int] | None


def host_of(url: str) -> tuple[str, str]:
    candidate = url if "://" in url or url.lower().startswith(("javascript:", "data:")) else "https://" + url
    parts = urlsplit(candidate)
    return (parts.hostname or "").lower().rstrip("."), parts.scheme.lower()


def urls(ctx: Prepared) -> tuple[Url, ...]:
    """Every URL of the message (computed once per message: two families read them)."""
    cached = ctx.memo.get("urls")
    if cached is None:
        cached = ctx.memo["urls"] = tuple(_urls(ctx))
    return cast(tuple[Url, ...], cached)


def _urls(ctx: Prepared) -> Iterator[Url]:
    for fld in ctx.fields:
        for m in _URL.finditer(fld.view.norm):
            host, scheme = host_of(m.group())
            yield Url(m.group(), host, scheme, fld, fld.label, m.span())
    if ctx.message.link:
        host, scheme = host_of(ctx.message.link.strip())
        yield Url(ctx.message.link.strip(), host, scheme, None, "リンク", None)
    if ctx.message.share:
        host, scheme = host_of(ctx.message.share.url.strip())
        yield Url(ctx.message.share.url.strip(), host, scheme, None, "シェア元URL", None)


def domain_matches(host: str, domains: frozenset[str] | tuple[str, ...]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)
