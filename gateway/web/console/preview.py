"""The compose preview: each target platform's post exactly as its adapter renders it, with counters,
and the check findings with the offending spans cut out of the text for highlighting."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from gateway.adapters import measure
from gateway.adapters.base import Adapter
from gateway.errors import GatewayError
from gateway.media import PUBLIC_PATH
from gateway.models import CheckResult, Finding, Message, Post
from gateway.pipeline.intake.languages import language_posts, missing_reason
from gateway.policy import LANGUAGES, Account
from gateway.services.messages import Gateway

# A file chosen in the form but not sent yet (console.js names it so); it gets its public address at submit.
_PENDING_UPLOAD = re.compile(r"upload-(?:\d{1,2}|video)")


def _pending_addresses(gw: Gateway, message: Message) -> Message:
    """With a public URL, a file still to be uploaded is previewed and checked with the address it will get."""
    links = gw.media.links
    if links is None or not any(m.path and _PENDING_UPLOAD.fullmatch(m.path) for m in message.media):
        return message
    media = tuple(m.model_copy(update={"url": f"{links.base_url}{PUBLIC_PATH}{m.path}"})
                  if m.id is None and m.url is None and m.path and _PENDING_UPLOAD.fullmatch(m.path) else m
                  for m in message.media)
    return message.model_copy(update={"media": media})


async def preview(gw: Gateway, message: Message) -> dict[str, Any]:
    message = _pending_addresses(gw, await gw.with_public_urls(message))
    targets, result = await gw.check(message)
    return {
        "verdict": result.verdict.value,
        "findings": [finding_json(f) for f in result.findings],
        "segments": segments(message.text, result),
        "posts": account_previews(gw, message, targets.accounts),
    }


def account_previews(gw: Gateway, message: Message, accounts: Iterable[Account]) -> list[dict[str, Any]]:
    """Every post the accounts make of the message: one per account and language (LINE: one broadcast
    with its languages), rendered from the message exactly as the dispatcher will send it."""
    out: list[dict[str, Any]] = []
    for account in accounts:
        adapter = gw.adapters.get(account.platform)
        posts = language_posts(message, account)
        if not posts:
            base = {"account": account.id, "platform": account.platform.value, "handle": account.handle}
            out.append({**base, "language": account.languages[0], "languages": [],
                        "error": missing_reason(message, account)})
        for post in posts:
            carried = [post.language, *(t.language for t in post.message.translations)]
            out.append({**platform_preview(adapter, post.message, account), "language": post.language,
                        "languages": [LANGUAGES.get(code, code) for code in carried]})
    return out


def finding_json(finding: Finding) -> dict[str, Any]:
    return {"rule": finding.rule, "severity": finding.severity.value, "start": finding.start, "end": finding.end,
            "clause": finding.clause, "message": finding.message, "account": finding.account,
            "field": finding.field}


def segments(text: str, result: CheckResult) -> list[dict[str, Any]]:
    """The text cut at every finding span: [{"text", "finding": index | None}], in order."""
    spans = sorted((f.start, f.end, i) for i, f in enumerate(result.findings)
                   if f.start is not None and f.end is not None and 0 <= f.start < f.end <= len(text))
    out: list[dict[str, Any]] = []
    cursor = 0
    for start, end, index in spans:
        if start < cursor:  # overlapping spans: the first one marks the shared text
            continue
        if start > cursor:
            out.append({"text": text[cursor:start], "finding": None})
        out.append({"text": text[start:end], "finding": index})
        cursor = end
    if cursor < len(text):
        out.append({"text": text[cursor:], "finding": None})
    return out


def platform_preview(adapter: Adapter | None, message: Message, account: Account) -> dict[str, Any]:
    base: dict[str, Any] = {"account": account.id, "platform": account.platform.value, "handle": account.handle}
    if adapter is None:
        return {**base, "error": "このプラットフォームには送信できません（アダプタ未設定）"}
    try:
        post = adapter.render(message, account)
    except GatewayError as exc:
        return {**base, "error": exc.message}
    return {**base, **post_json(post, titled=adapter.limits.max_title is not None),
            **measure.counters(adapter.limits, post, message, account)}


def post_json(post: Post, *, titled: bool = True) -> dict[str, Any]:
    """The post as the preview shows it; `titled` False for a platform that sends no separate title
    (one that puts it at the head of the text shows it there), whose preview shows none."""
    return {
        "title": post.title if titled else None, "link": post.link, "skip_reason": post.skip_reason,
        "parts": [{"text": p.text, "media": [{"kind": m.kind.value, "path": m.path, "id": m.id, "label": m.label,
                                              "alt_text": m.alt_text} for m in p.media]} for p in post.parts],
    }


