"""Length (issue 16: no silent cut): a text longer than a target account's platform takes is a blocking
finding that says by how much, measured as the adapter measures it (`gateway.adapters.measure`: X counts
twitter-text's weighted length, CR LF counting two). An account that threads long posts (`x_overflow =
"thread"`) splits instead of cutting, so it has no limit here. Alert posts the gateway writes are fitted
by their templates.

Each language version is measured for the accounts that post it (the engine runs this check once per
version); a post that carries an account's languages together is counted as a whole."""

from __future__ import annotations

import contextlib

from gateway.adapters.measure import Overflow, overflow
from gateway.errors import InputError
from gateway.models import Finding, Message, Severity
from gateway.pipeline.checks.context import Prepared
from gateway.pipeline.intake.languages import language_posts
from gateway.pipeline.intake.validation import as_correction
from gateway.policy import Account


def _over(message: Message, account: Account) -> Overflow | None:
    """How far a field is over the account's platform limit, how that limit is counted, and which field."""
    if account.platform.spec.languages_per_post > 1:
        # The post carrying the account's languages, once: with the Japanese (or, for an account without
        # Japanese, its own) run.
        if message.language != "ja":
            return None
        found = [over for post in language_posts(message, account) if (over := overflow(post.message, account))]
        return max(found, key=lambda over: over[0], default=None)
    if message.language not in account.languages:
        return None  # this account does not post this language
    return overflow(message, account)


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
