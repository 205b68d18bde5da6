"""Who must approve a message before it goes out, along which route, and the four-eyes rule.

Default is four-eyes: an approver other than the submitter. Exceptions come from the seed
policies: 逗子 3-2(1)ウ pre-authorised kinds (verified: a kind from the city's list and a link to the
city's own site), 美祢 第4-6 (routine posts need no approval; a post sent for the department head's
decision waits, and only the approver marks it the city's official view), and alerts from an alert
system (DESIGN.md: the emergency lane has no human approval). A `review` finding always needs an
approver, who must give a reason to override it.

A city's route (`[[approval.steps]]`, SHIRASAGI's 承認ルート) has one or more steps, each naming a
role, users or the accounts' 運用責任者; with no steps it is one step of any approver. Four eyes hold
across the whole route: nobody approves their own post, nobody approves two steps of one post.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.errors import Conflict, FieldProblem, Forbidden, InputError
from gateway.models import CheckResult, Message, Priority, Role, Severity, Verdict
from gateway.policy import Account, ApprovalStep, Municipality

APPROVER_ROLES = frozenset({Role.APPROVER, Role.ADMIN})
DEFAULT_STEP = ApprovalStep(name="承認者", roles=("approver", "admin"))
MANAGER_STEP_NAME = "運用責任者"


@dataclass(frozen=True)
class ApprovalRule:
    needed: bool
    reason: str  # which rule decided, in Japanese, citing the clause
    exemption: str | None = None  # the exemption used, when one let the post skip approval


@dataclass(frozen=True)
class RouteStep:
    """A step of one message's route, with the people its `manager` step resolves to."""

    name: str
    roles: frozenset[Role]
    users: frozenset[str]

    def admits(self, name: str, role: Role) -> bool:
        return role in APPROVER_ROLES and (role in self.roles or name in self.users)

    def who(self) -> str:
        parts = [{"approver": "承認者", "admin": "管理者"}.get(r.value, r.value) for r in sorted(self.roles)]
        parts += sorted(self.users)
        return "、".join(parts)


def route_for(municipality: Municipality, accounts: Sequence[Account]) -> list[RouteStep]:
    """The steps a message of `municipality` to `accounts` goes through, in order."""
    approval = municipality.approval
    steps = [_resolved(step, accounts) for step in approval.steps or (DEFAULT_STEP,)]
    if approval.manager_last and not (steps and approval.steps and approval.steps[-1].manager):
        steps.append(_resolved(ApprovalStep(name=MANAGER_STEP_NAME, manager=True), accounts))
    return steps


def _resolved(step: ApprovalStep, accounts: Sequence[Account]) -> RouteStep:
    users = set(step.users)
    if step.manager:
        users |= {u for a in accounts for u in a.manager_users}
    return RouteStep(step.name, frozenset(Role(r) for r in step.roles), frozenset(users))


def check_exemptions(message: Message, municipality: Municipality) -> None:
    """Refuse a self-declared exemption the city does not grant (nothing is stored)."""
    if message.preauthorized is None:
        return
    approval = municipality.approval
    if message.preauthorized not in approval.preauthorized:
        allowed = ("、".join(k.value for k in approval.preauthorized)
                   or "なし（この自治体には事前許可の種類がありません）")
        problem = FieldProblem("preauthorized", "not_preauthorized",
                               f"{municipality.name}で事前許可された種類ではありません（指定できる値: {allowed}）")
        raise InputError(f"preauthorized の値が正しくありません: {problem.message}", [problem])
    if not _on_own_site(message.link, municipality.links.own_domains):
        sites = "、".join(municipality.links.own_domains)
        problem = FieldProblem("link", "own_site_link_required",
                               f"事前許可の種類で送るには、市のサイト（{sites}）の該当ページのリンクが必要です"
                               f"（{approval.preauthorized_clause}）")
        raise InputError(f"link が必要です: {problem.message}", [problem])


def _on_own_site(link: str | None, domains: Sequence[str]) -> bool:
    if not link:
        return False
    try:
        parts = urlsplit(link.strip())
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return False
    if parts.scheme not in ("https", "http") or not host:
        return False
    return any(host == d or host.endswith("." + d) for d in domains)


def approval_rule(
    message: Message, municipality: Municipality, check: CheckResult, *, submitter_role: Role,
) -> ApprovalRule:
    """Decide whether this message waits for an approver."""
    approval = municipality.approval
    if check.verdict is Verdict.REVIEW:
        return ApprovalRule(True, "確認が必要な指摘があるため承認者の判断が必要です")
    if submitter_role is Role.ALERT_SYSTEM and message.priority is Priority.EMERGENCY:
        return ApprovalRule(False, "防災情報システムからの緊急情報（承認不要）", exemption="alert_system")
    if message.share is not None and approval.shares_need_approval:
        return ApprovalRule(True, f"シェア・引用は承認が必要です（{approval.shares_clause or approval.clause}）")
    if message.preauthorized is not None and message.preauthorized in approval.preauthorized:
        return ApprovalRule(False, f"事前に許可された種類の投稿です（{message.preauthorized.value}、"
                                   f"リンク {message.link}、{approval.preauthorized_clause}）",
                            exemption=f"preauthorized:{message.preauthorized.value}")
    if approval.mode == "official_view_only":
        if message.official_view:
            return ApprovalRule(True, f"所属長の決裁を求める投稿です。市の公式見解とするかは承認者が決めます"
                                      f"（{approval.clause}）")
        return ApprovalRule(False, f"通常の投稿は承認不要です（{approval.clause}）", exemption="routine_no_approval")
    return ApprovalRule(True, f"運用責任者の承認が必要です（{approval.clause}）")


def check_can_approve(
    *, approver: str, approver_role: Role, submitted_by: str, check: CheckResult,
    overrides: Mapping[str, str], step: RouteStep | None = None, approved_by: Sequence[str] = (),
) -> dict[str, str]:
    """Enforce four-eyes across the route and the override rules; returns the overrides to record."""
    check_can_decide(approver=approver, approver_role=approver_role, submitted_by=submitted_by, step=step,
                     approved_by=approved_by)
    return _overrides_for(check, overrides)


def check_can_decide(
    *, approver: str, approver_role: Role, submitted_by: str, step: RouteStep | None = None,
    approved_by: Sequence[str] = (),
) -> None:
    """Whether `approver` may approve or send back at `step` (four eyes; the step names them)."""
    if approver_role not in APPROVER_ROLES:
        raise Forbidden("承認する権限がありません（承認者または管理者のみ）")
    if approver == submitted_by:
        raise Forbidden("自分が提出した投稿は承認できません（別の承認者が必要です）")
    if approver in approved_by:
        raise Forbidden("この投稿の別の段階をすでに承認しています"
                        "（同じ投稿の2つの段階を1人で承認することはできません）")
    if step is not None and not step.admits(approver, approver_role):
        raise Forbidden(f"この段階（{step.name}）を承認できるのは {step.who() or '（設定なし）'} です")


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
