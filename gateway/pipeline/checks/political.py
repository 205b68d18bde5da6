"""Political, religious and biased content (逗子 3-1(2)ア(カ)(キ), 美祢 第4-4(4)イ・オ).

All knowledge is in the lexicon: a stance (support, opposition, invitation) must be tied to a
party, candidate, ballot measure, faith or contested issue in the same sentence, and neutral
election-commission and tax wording is listed as an exception, so 投票に行きましょう,
期日前投票, 宗教法人の固定資産税, 神社の境内が避難場所 pass.
"""

from __future__ import annotations

from gateway.models import Finding
from gateway.pipeline.checks.context import Prepared

FAMILIES = ("political", "religious", "bias")


def check(ctx: Prepared) -> list[Finding]:
    return ctx.rule_findings(*FAMILIES)
