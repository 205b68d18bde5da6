"""Who must approve a message before it goes out, and the four-eyes rule for approving it.

Default is four-eyes: an approver other than the submitter. Exceptions come from the seed
policies: 逗子 3-2(1)ウ pre-authorised kinds, 美祢 第4-6 (routine posts need no approval, the
city's official view does), and alerts from an alert system (DESIGN.md: the emergency lane has no
human approval). A `review` finding always needs an approver, who must give a reason to override it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.errors import Conflict, FieldProblem, Forbidden, InputError
from gateway.models import CheckResult, Message, Priority, Role, Severity, Verdict
from gateway.policy import Municipality

APPROVER_ROLES = frozenset({Role.APPROVER, Role.ADMIN})


@dataclass(frozen=True)
class ApprovalRule:
    needed: bool
    reason: str  # which rule decided, in Japanese, citing the clause


def approval_rule(
    message: Message, municipality: Municipality, check: CheckResult, *, submitter_role: Role,
) -> ApprovalRule:
    """Decide whether this message waits for an approver."""
    approval = municipality.approval
    if check.verdict is Verdict.REVIEW:
        return ApprovalRule(True, "確認が必要な指摘があるため承認者の判断が必要です")
    if submitter_role is Role.ALERT_SYSTEM and message.priority is Priority.EMERGENCY:
        return ApprovalRule(False, "防災情報システムからの緊急情報（承認不要）")
    if message.share is not None and approval.shares_need_approval:
        return ApprovalRule(True, f"シェア・引用は承認が必要です（{approval.shares_clause or approval.clause}）")
    if message.preauthorized is not None and message.preauthorized in approval.preauthorized:
        return ApprovalRule(False, f"事前に許可された種類の投稿です（{approval.preauthorized_clause}）")
    if approval.mode == "official_view_only":
        if message.official_view:
            return ApprovalRule(True, f"市の公式見解は所属長の承認が必要です（{approval.clause}）")
        return ApprovalRule(False, f"通常の投稿は承認不要です（{approval.clause}）")
    return ApprovalRule(True, f"運用責任者の承認が必要です（{approval.clause}）")


def check_can_approve(
    *, approver: str, approver_role: Role, submitted_by: str, check: CheckResult,
    overrides: Mapping[str, str],
) -> dict[str, str]:
    """Enforce four-eyes and the override rules; returns the overrides to record."""
    if approver_role not in APPROVER_ROLES:
        raise Forbidden("承認する権限がありません（承認者または管理者のみ）")
    if approver == submitted_by:
        raise Forbidden("自分が提出した投稿は承認できません（別の承認者が必要です）")
    return _overrides_for(check, overrides)


def _overrides_for(check: CheckResult, overrides: Mapping[str, str]) -> dict[str, str]:
    review_rules = {f.rule for f in check.findings if f.severity is Severity.REVIEW}
    block_rules = {f.rule for f in check.findings if f.severity is Severity.BLOCK}
    problems: list[FieldProblem] = []
    for rule, reason in overrides.items():
        if rule in block_rules:
            problems.append(FieldProblem(f"overrides.{rule}", "block_not_overridable",
                                         "禁止（block）の指摘は承認で上書きできません。本文を修正してください"))
        elif rule not in review_rules:
            problems.append(FieldProblem(f"overrides.{rule}", "unknown_finding", "この投稿にない指摘です"))
        elif not reason.strip():
            problems.append(FieldProblem(f"overrides.{rule}", "reason_required", "上書きの理由を記入してください"))
    for rule in sorted(review_rules - set(overrides)):
        problems.append(FieldProblem(f"overrides.{rule}", "override_required",
                                     "確認が必要な指摘です。問題がない理由を記入して上書きしてください"))
    if problems:
        raise InputError("承認できません: 指摘への対応が必要です", problems)
    if block_rules:
        raise Conflict("禁止（block）の指摘がある投稿は承認できません")
    return {rule: reason.strip() for rule, reason in overrides.items()}
