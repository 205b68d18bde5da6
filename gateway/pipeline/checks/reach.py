"""Reach (issue 16: the preview is the truth): a post its platform would refuse is refused at submit, not
found out at delivery. LINE sends at most five messages per broadcast (a long text is split into several,
each image is one more) and fetches images from an HTTPS address; Instagram fetches images and videos
from an HTTPS address too. Without such an address, or beyond five messages, the delivery would fail
after approval; here it is a blocking finding that says what to change. The address is required of the accounts a post
names; a post to the city's default accounts is screened as before (its preview lists the problem)."""

from __future__ import annotations

from gateway.adapters.line import MAX_MESSAGES, MAX_URL, render_line
from gateway.models import Finding, Media, MediaKind, Message, Platform, Severity
from gateway.pipeline.checks.context import Prepared
from gateway.policy import Account

_FETCHED = {Platform.LINE: frozenset({MediaKind.IMAGE}),
            Platform.INSTAGRAM: frozenset({MediaKind.IMAGE, MediaKind.VIDEO})}
_NAME = {Platform.LINE: "LINE", Platform.INSTAGRAM: "Instagram"}


def _unfetchable(media: Media) -> bool:
    url = media.url or ""
    return not url.startswith("https://") or len(url) > MAX_URL


def _url_findings(ctx: Prepared, message: Message, account: Account) -> list[Finding]:
    kinds = _FETCHED.get(account.platform, frozenset())
    return [ctx.finding(
        "media.public_url", Severity.BLOCK, ctx.clause("length"),
        f"「{m.label}」に HTTPS の公開URL（url、{MAX_URL:,}文字以内）がありません。{_NAME[account.platform]} は"
        "公開URLから画像・動画を取り込みます。公開URLを指定するか、この添付を外してください。",
        account=account.id,
    ) for m in message.media if m.kind in kinds and _unfetchable(m)]


def _line_count(ctx: Prepared, message: Message, account: Account) -> list[Finding]:
    parts = render_line(message, account).parts
    if len(parts) <= MAX_MESSAGES:
        return []
    texts = sum(1 for p in parts if not p.media)
    return [ctx.finding(
        "length.line", Severity.BLOCK, ctx.clause("length"),
        f"LINE は1回に{MAX_MESSAGES}通までしか送れませんが、この投稿は{len(parts)}通（本文{texts}通・画像"
        f"{len(parts) - texts}通）になります。{len(parts) - MAX_MESSAGES}通分、本文を短くするか画像を減らしてください"
        "（途中で切って送ることはしません）。",
        account=account.id,
    )]


def check(ctx: Prepared) -> list[Finding]:
    if ctx.inp.generated:
        return []
    findings: list[Finding] = []
    named = frozenset(ctx.message.accounts or ())
    for account in ctx.inp.accounts:
        if account.id in named:  # a city's default accounts: the preview shows it, the delivery says why
            findings += _url_findings(ctx, ctx.message, account)
        if account.platform is Platform.LINE:
            findings += _line_count(ctx, ctx.message, account)
    return findings
