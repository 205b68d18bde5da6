"""Categories (厚木 5, 小平 3(4)・5(4), 美祢 第4-2(2)): every target account allows the category."""

from __future__ import annotations

from gateway.models import Finding, Severity
from gateway.pipeline.checks.context import Prepared
from gateway.policy import CATEGORIES


def check(ctx: Prepared) -> list[Finding]:
    category = ctx.message.category
    label = CATEGORIES.get(category, category)
    findings = []
    if not ctx.inp.accounts:
        findings.append(ctx.finding(
            "categories.no_account", Severity.BLOCK, ctx.clause("categories"),
            f"「{label}」({category}) を発信できるアカウントがありません。区分を見直してください。"))
    for account in ctx.inp.accounts:
        if account.allows(category):
            continue
        allowed = "、".join(CATEGORIES.get(c, c) for c in account.categories)
        findings.append(ctx.finding(
            "categories.not_allowed", Severity.BLOCK, account.categories_clause,
            f"アカウント {account.id} では「{label}」({category}) を発信できません。"
            f"このアカウントで発信できる区分: {allowed}。区分を見直すか、対象アカウントから外してください。",
            account=account.id,
        ))
    return findings
