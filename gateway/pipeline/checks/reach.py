"""Reach (issue 16: the preview is the truth): a post its platform would refuse is refused at submit, not
found out at delivery. LINE fetches images from an HTTPS address, Instagram images and videos; without
one the delivery would fail after approval, so here it is a blocking finding that says what to change
(a broadcast over LINE's five messages is `length.line`, in length.py). The address is required of the accounts a post
names; a post to the city's default accounts is screened as before (its preview lists the problem)."""

from __future__ import annotations

from gateway.adapters.line import MAX_URL
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
        "公開URLから画像・動画を取り込みます。公開URLを指定するか、この添付を外してください（管理者がゲートウェイの"
        "公開URL（GATEWAY_PUBLIC_URL、https）を設定すると、アップロードした画像・動画には自動で付きます）。",
        account=account.id,
    ) for m in message.media if m.kind in kinds and _unfetchable(m)]


def check(ctx: Prepared) -> list[Finding]:
    if ctx.inp.generated:
        return []
    findings: list[Finding] = []
    named = frozenset(ctx.message.accounts or ())
    for account in ctx.inp.accounts:
        if account.id in named:  # a city's default accounts: the preview shows it, the delivery says why
            findings += _url_findings(ctx, ctx.message, account)
    return findings
