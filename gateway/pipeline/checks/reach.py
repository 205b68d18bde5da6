"""Reach (issue 16: the preview is the truth): a post its platform would refuse is refused at submit, not
found out at delivery. Platforms that fetch media themselves from an HTTPS address (`PlatformSpec.fetched_media`)
need one for each such attachment; without it the delivery would fail after approval, so here it is a blocking
finding that says what to change (a post of more messages than its platform takes is a `length.` finding). The
address is required of the accounts a post names; a post to the city's default accounts is screened as before
(its preview lists the problem)."""

from __future__ import annotations

from gateway.models import Finding, Message, Severity
from gateway.pipeline.checks.context import Prepared
from gateway.policy import Account


def _url_findings(ctx: Prepared, message: Message, account: Account) -> list[Finding]:
    declared = account.platform.spec
    return [ctx.finding(
        "media.public_url", Severity.BLOCK, ctx.clause("length"),
        f"「{m.label}」に HTTPS の公開URL（url、{declared.max_media_url:,}文字以内）がありません。{declared.label} は"
        "公開URLから画像・動画を取り込みます。公開URLを指定するか、この添付を外してください（管理者がゲートウェイの"
        "公開URL（GATEWAY_PUBLIC_URL、https）を設定すると、アップロードした画像・動画には自動で付きます）。",
        account=account.id,
    ) for m in message.media if declared.unfetchable(m)]


def check(ctx: Prepared) -> list[Finding]:
    if ctx.inp.generated:
        return []
    findings: list[Finding] = []
    named = frozenset(ctx.message.accounts or ())
    for account in ctx.inp.accounts:
        if account.id in named:  # a city's default accounts: the preview shows it, the delivery says why
            findings += _url_findings(ctx, ctx.message, account)
    return findings
