"""Who may act for which city: the scope checks shared by the API, the console, the CLI and the streams.

A refusal is `OutOfScope` (403, `out_of_scope`) or `EmergencyNotPermitted` (403,
`emergency_not_permitted`); the web layer and the CLI write an `access.denied` audit row for every 403.
Nothing here reads the database: callers pass what they loaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from gateway.errors import FieldProblem, Forbidden, InputError
from gateway.models import Actor, Message, Priority, Role

if TYPE_CHECKING:
    from gateway.policy import Policies


class OutOfScope(Forbidden):
    code = "out_of_scope"


class EmergencyNotPermitted(Forbidden):
    code = "emergency_not_permitted"


def require_city(actor: Actor, municipality: str, what: str = "この操作") -> None:
    if not actor.scope.covers(municipality):
        raise OutOfScope(f"{what}の権限がありません（自治体「{municipality}」はあなたの担当範囲外です。"
                         f"担当範囲: {actor.scope.label()}）")


def require_any_city(actor: Actor, municipalities: Iterable[str], what: str = "この操作") -> None:
    """Every one of `municipalities` must be in scope (a held alert for two cities needs both)."""
    cities = sorted(set(municipalities))
    outside = [m for m in cities if not actor.scope.covers(m)]
    if outside or (not cities and not actor.scope.is_global):
        shown = "、".join(outside) or "（自治体なし）"
        raise OutOfScope(f"{what}の権限がありません（{shown} はあなたの担当範囲外です。"
                         f"担当範囲: {actor.scope.label()}）")


def require_accounts(actor: Actor, municipality: str, accounts: Iterable[str], what: str = "この操作") -> None:
    require_city(actor, municipality, what)
    outside = sorted(a for a in set(accounts) if not actor.scope.covers_account(municipality, a))
    if outside:
        raise OutOfScope(f"{what}の権限がありません（アカウント {'、'.join(outside)} はあなたの担当範囲外です。"
                         f"担当範囲: {actor.scope.label()}）")


def require_account_id(actor: Actor, policies: Policies, account_id: str, what: str = "このアカウントの操作") -> None:
    """An account named by id: its city (and the account) in scope. An unknown id is left to the caller (404):
    the accounts are the cities' published configuration, no secret."""
    found = policies.account(account_id)
    if found is not None:
        require_accounts(actor, found[0].id, [account_id], what)


def account_visible(actor: Actor, policies: Policies, account_id: str) -> bool:
    found = policies.account(account_id)
    return actor.scope.is_global if found is None else actor.scope.covers_account(found[0].id, account_id)


def cities_in_scope(actor: Actor) -> frozenset[str] | None:
    """The cities a listing is narrowed to (None: every city)."""
    return actor.scope.municipalities


def may_see(actor: Actor, municipality: str, account: str | None = None) -> bool:
    if account is None:
        return actor.scope.covers(municipality)
    return actor.scope.covers_account(municipality, account)


def may_send_emergency(actor: Actor, municipality: str) -> bool:
    """Alert systems for the cities of their scope; people only with the city's emergency permission."""
    if actor.role is Role.ALERT_SYSTEM:
        return actor.scope.covers(municipality)
    return actor.scope.may_send_emergency(municipality)


def require_emergency_permission(actor: Actor, message: Message) -> None:
    """`priority: "emergency"` skips office hours: only the alert system and holders of the city's
    emergency permission (e.g. 危機管理課) may set it, and a person must say why."""
    if message.priority is not Priority.EMERGENCY:
        return
    if not may_send_emergency(actor, message.municipality):
        raise EmergencyNotPermitted(
            f"緊急（priority: \"emergency\"）で送る権限がありません。緊急で送れるのは防災情報システムと、"
            f"{message.municipality} の緊急発信の権限を持つ利用者（危機管理課など）だけです。"
            f"通常の投稿は priority を \"normal\" にしてください")
    if actor.role is not Role.ALERT_SYSTEM and not (message.emergency_reason or "").strip():
        problem = FieldProblem("emergency_reason", "missing", "緊急で送る理由を入力してください（記録されます）")
        raise InputError("緊急で送るには理由（emergency_reason）が必要です", [problem])
