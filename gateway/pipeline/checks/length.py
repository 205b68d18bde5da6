"""Length (issue 16: no silent cut): a text longer than a target account's platform takes is a blocking
finding that says by how much, measured as the adapter measures it (X: twitter-text's weighted length,
`x_length`, CR LF counting two). An X account that threads long posts (`x_overflow = "thread"`) splits
instead of cutting, so it has no limit here. Alert posts the gateway writes are fitted by their templates.

Each language version is measured for the accounts that post it (the engine runs this check once per
version); a LINE broadcast, which carries the account's languages together, is counted as a whole: LINE
takes at most 5 messages in one request."""

from __future__ import annotations

import contextlib

from gateway.adapters.facebook import FacebookAdapter, feed_body
from gateway.adapters.instagram import MAX_CAPTION
from gateway.adapters.line import MAX_MESSAGES, render_line
from gateway.adapters.render import (
    X_MAX_WEIGHTED,
    YOUTUBE_MAX_DESCRIPTION_BYTES,
    YOUTUBE_MAX_TITLE,
    compose_text,
    fits_x,
    quoted_post_id,
    utf8_len,
    x_clean,
    x_length,
    youtube_description,
    youtube_title,
)
from gateway.errors import InputError
from gateway.models import Finding, MediaKind, Message, Platform, Severity
from gateway.pipeline.checks.context import Prepared
from gateway.pipeline.intake.languages import language_posts
from gateway.pipeline.intake.validation import as_correction
from gateway.policy import Account

FACEBOOK_MAX = FacebookAdapter.limits.max_text
BODY = "本文（リンクを含む）"


def _x_over(message: Message) -> int:
    text = compose_text(message, with_share=quoted_post_id(message) is None)
    return 0 if fits_x(text) else x_length(x_clean(text)).weighted_length - X_MAX_WEIGHTED


def _facebook_over(message: Message) -> int:
    images = tuple(m for m in message.media if m.kind is MediaKind.IMAGE)
    return len(feed_body(message, images)) - FACEBOOK_MAX


def _instagram_over(message: Message) -> int:
    return len(compose_text(message)) - MAX_CAPTION


def _youtube_over(message: Message) -> tuple[int, str, str] | None:
    """A video's description (bytes) or its own title (characters) too long; a post without a video is not
    sent to YouTube at all, and a title taken from the text's first line is a heading, cut by design."""
    if not any(m.kind is MediaKind.VIDEO for m in message.media):
        return None
    body, tail = youtube_description(message.text, message.link)
    over = utf8_len(body + tail) - YOUTUBE_MAX_DESCRIPTION_BYTES
    if over > 0:
        return over, f"YouTube の説明欄の上限 {YOUTUBE_MAX_DESCRIPTION_BYTES:,} バイト（全角1文字は3バイト）", BODY
    over = len(youtube_title(message.title or "")) - YOUTUBE_MAX_TITLE
    if over > 0:
        return over, f"YouTube のタイトルの上限 {YOUTUBE_MAX_TITLE} 文字", "タイトル"
    return None


def _line_over(message: Message, account: Account) -> tuple[int, str, str] | None:
    """A LINE broadcast of more than 5 messages (its languages' texts, split at 5,000, and its images)."""
    over = max((len(render_line(post.message, account).parts) - MAX_MESSAGES
                for post in language_posts(message, account)), default=0)
    if over <= 0:
        return None
    return over, f"LINE の1回の上限 {MAX_MESSAGES} 通（言語ごとの本文・長文の分割・画像を合わせて）", "メッセージ数"


def _over(message: Message, account: Account) -> tuple[int, str, str] | None:
    """How far a field is over the account's platform limit, how that limit is counted, and which field."""
    if account.platform is Platform.LINE:
        # The whole broadcast, once: with the Japanese (or, for an account without Japanese, its own) run.
        return _line_over(message, account) if message.language == "ja" else None
    if message.language not in account.languages:
        return None  # this account does not post this language
    if account.platform is Platform.X and account.x_overflow != "thread":
        over, unit = _x_over(message), f"X の上限 {X_MAX_WEIGHTED}（全角は2、URLは23と数えます）"
    elif account.platform is Platform.FACEBOOK:
        over, unit = _facebook_over(message), f"Facebook の上限 {FACEBOOK_MAX:,} 文字"
    elif account.platform is Platform.INSTAGRAM:
        over, unit = _instagram_over(message), f"Instagram のキャプションの上限 {MAX_CAPTION:,} 文字"
    elif account.platform is Platform.YOUTUBE:
        return _youtube_over(message)
    else:
        return None
    return (over, unit, BODY) if over > 0 else None


def as_sent(message: Message) -> Message:
    """A correction as intake will store it: led by its language's mark, so that `gateway check` measures
    the length that will be sent (the other checks read the text as given, so their spans stay where they are)."""
    if not message.correction_of:
        return message
    from gateway.alerts.multilingual import correction_prefixes  # only for corrections: start-up stays light

    with contextlib.suppress(InputError):  # no room for the mark: intake refuses it, naming the field
        return as_correction(message, correction_prefixes())
    return message


def check(ctx: Prepared) -> list[Finding]:
    if ctx.inp.generated:
        return []
    findings = []
    message = as_sent(ctx.message)
    for account in ctx.inp.accounts:
        found = _over(message, account)
        if found is None:
            continue
        over, limit, what = found
        findings.append(ctx.finding(
            f"length.{account.platform.value}", Severity.BLOCK, ctx.clause("length"),
            f"{what}が {limit}を {over:,} 超えています。"
            f"{over:,} 以上短くしてください（途中で切って送ることはしません）。",
            account=account.id,
        ))
    return findings
