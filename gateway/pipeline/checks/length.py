"""Length (issue 16: no silent cut): a text longer than a target account's platform takes is a blocking
finding that says by how much, measured as the adapter measures it (X: twitter-text's weighted length,
`x_length`, CR LF counting two). An X account that threads long posts (`x_overflow = "thread"`) splits
instead of cutting, so it has no limit here. Alert posts the gateway writes are fitted by their templates."""

from __future__ import annotations

from gateway.adapters.facebook import FacebookAdapter, feed_body
from gateway.adapters.instagram import MAX_CAPTION
from gateway.adapters.render import X_MAX_WEIGHTED, compose_text, fits_x, quoted_post_id, x_clean, x_length
from gateway.models import Finding, MediaKind, Message, Platform, Severity
from gateway.pipeline.checks.context import Prepared
from gateway.policy import Account

FACEBOOK_MAX = FacebookAdapter.limits.max_text


def _x_over(message: Message) -> int:
    text = compose_text(message, with_share=quoted_post_id(message) is None)
    return 0 if fits_x(text) else x_length(x_clean(text)).weighted_length - X_MAX_WEIGHTED


def _facebook_over(message: Message) -> int:
    images = tuple(m for m in message.media if m.kind is MediaKind.IMAGE)
    return len(feed_body(message, images)) - FACEBOOK_MAX


def _instagram_over(message: Message) -> int:
    return len(compose_text(message)) - MAX_CAPTION


def _over(message: Message, account: Account) -> tuple[int, str] | None:
    """How far the text is over the account's platform limit, and how that limit is counted."""
    if account.platform is Platform.X and account.x_overflow != "thread":
        over, unit = _x_over(message), f"X の上限 {X_MAX_WEIGHTED}（全角は2、URLは23と数えます）"
    elif account.platform is Platform.FACEBOOK:
        over, unit = _facebook_over(message), f"Facebook の上限 {FACEBOOK_MAX:,} 文字"
    elif account.platform is Platform.INSTAGRAM:
        over, unit = _instagram_over(message), f"Instagram のキャプションの上限 {MAX_CAPTION:,} 文字"
    else:
        return None
    return (over, unit) if over > 0 else None


def check(ctx: Prepared) -> list[Finding]:
    if ctx.inp.generated:
        return []
    findings = []
    for account in ctx.inp.accounts:
        found = _over(ctx.message, account)
        if found is None:
            continue
        over, limit = found
        findings.append(ctx.finding(
            f"length.{account.platform.value}", Severity.BLOCK, ctx.clause("length"),
            f"本文（リンクを含む）が {limit}を {over:,} 超えています。"
            f"{over:,} 以上短くしてください（途中で切って送ることはしません）。",
            account=account.id,
        ))
    return findings
