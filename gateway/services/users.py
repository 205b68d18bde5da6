"""People and their accounts: create, change role or scope, set a password, disable, sign out everywhere.

Used by `gateway user ...` and by the admin's console page (/console/users). Nothing here changes a user
implicitly: creating refuses an existing name, and the role and the scope change only through their own
commands. The password is read from a prompt (typed twice) or, when stdin is not a terminal, from its
first line; never from argv, where it would show in `ps` and shell history.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterable, Sequence
from typing import TextIO

from gateway.errors import FieldProblem, InputError, NotFound
from gateway.models import GLOBAL_ROLES, Role, Scope
from gateway.policy import Policies
from gateway.policy_notifications import is_email
from gateway.services.passwords import hash_password
from gateway.store.base import UserDirectory
from gateway.store.records import User


def read_password(stdin: TextIO = sys.stdin) -> str:
    if not stdin.isatty():
        return stdin.readline().rstrip("\r\n")
    first = getpass.getpass("パスワード: ")
    if getpass.getpass("もう一度: ") != first:
        raise _invalid("パスワードが一致しません")
    return first


def _invalid(message: str) -> InputError:
    return InputError(message, [FieldProblem("password", "invalid", message)])


def _hashed(password: str) -> str:
    try:
        return hash_password(password)
    except ValueError as exc:
        raise _invalid(str(exc)) from None


def scope_from(policies: Policies, role: Role, *, municipalities: Sequence[str], accounts: Sequence[str] = (),
               emergency: Sequence[str] = (), field: str = "--municipality") -> Scope:
    """A scope from names staff typed, each checked against the cities' configuration.

    No city means every city, which only admin and alert systems may have.
    """
    known = "、".join(policies.ids())
    problems = [FieldProblem(field, "unknown_municipality", f"自治体「{m}」の設定がありません（{known}）")
                for m in municipalities if m not in policies]
    problems += _account_problems(policies, municipalities, accounts)
    problems += [FieldProblem("--emergency", "outside_scope",
                              f"緊急発信の権限は担当する自治体にだけ付けられます: {e}")
                 for e in emergency if municipalities and e not in municipalities]
    if not municipalities and role not in GLOBAL_ROLES:
        problems.append(FieldProblem(field, "required",
                                     f"役割「{role.value}」には担当する自治体の指定が必要です（{field} ID、複数可）"))
    if problems:
        raise InputError("担当範囲の指定が正しくありません: " + problems[0].message, problems)
    if not municipalities:
        return Scope.everywhere(emergency=frozenset(emergency))
    return Scope.of(*municipalities, accounts=tuple(accounts), emergency=tuple(emergency))


def _account_problems(policies: Policies, municipalities: Iterable[str], accounts: Iterable[str]) -> list[FieldProblem]:
    problems = []
    for account in accounts:
        found = policies.account(account)
        if found is None:
            problems.append(FieldProblem("--account", "unknown_account", f"アカウント「{account}」の設定がありません"))
        elif municipalities and found[0].id not in municipalities:
            problems.append(FieldProblem("--account", "outside_scope",
                                         f"アカウント「{account}」は指定した自治体のものではありません"))
    return problems


async def create_user(store: UserDirectory, *, name: str, role: Role, password: str, actor: str,
                      scope: Scope | None = None) -> User:
    """A new user with a password; an existing name is refused and nothing changes."""
    _check_name(name)
    password_hash = _hashed(password)
    return await store.create_user(name, role, scope if scope is not None else Scope(), actor=actor,
                                   password_hash=password_hash)


def _check_name(name: str) -> None:
    if not name.strip() or len(name) > 128 or not name.isprintable():
        problem = FieldProblem("--user", "invalid", "利用者名は1〜128文字の表示できる文字にしてください")
        raise InputError(problem.message, [problem])


async def set_password(store: UserDirectory, *, name: str, password: str, actor: str) -> None:
    password_hash = _hashed(password)
    if await store.get_user(name) is None:
        raise NotFound(f"利用者が見つかりません: {name}（gateway user create --user {name} --role ROLE で作成）")
    await store.set_password(name, password_hash, actor=actor)


async def set_role(store: UserDirectory, *, name: str, role: Role, actor: str) -> User:
    """A new role; a scoped role needs cities, so a global user must be given a scope first."""
    user = await store.get_user(name)
    if user is None:
        raise NotFound(f"利用者が見つかりません: {name}")
    if role not in GLOBAL_ROLES and user.scope.is_global:
        problem = FieldProblem("--role", "scope_required",
                               f"役割「{role.value}」は全自治体を担当できません。"
                               "先に gateway user set-scope で担当する自治体を指定してください")
        raise InputError(problem.message, [problem])
    return await store.set_role(name, role, actor=actor)


async def set_scope(store: UserDirectory, *, name: str, scope: Scope, actor: str) -> User:
    user = await store.get_user(name)
    if user is None:
        raise NotFound(f"利用者が見つかりません: {name}")
    if scope.is_global and user.role not in GLOBAL_ROLES:
        problem = FieldProblem("--municipality", "required",
                               f"役割「{user.role.value}」には担当する自治体の指定が必要です")
        raise InputError(problem.message, [problem])
    return await store.set_scope(name, scope, actor=actor)


def checked_email(email: str, field: str = "email") -> str | None:
    """An address as typed (spaces around it dropped); empty clears it. Anything else is refused in Japanese."""
    email = email.strip()
    if not email:
        return None
    if not is_email(email):
        problem = FieldProblem(field, "invalid_email",
                               f"メールアドレスの形式が正しくありません: 「{email[:100]}」"
                               "（例: sato@city.kodaira.tokyo.jp。空欄にすると登録を消します）")
        raise InputError(problem.message, [problem])
    return email


async def set_email(store: UserDirectory, *, name: str, email: str, actor: str) -> User:
    """Set (or, when empty, clear) where notifications reach the user."""
    address = checked_email(email)
    if await store.get_user(name) is None:
        raise NotFound(f"利用者が見つかりません: {name}")
    return await store.set_email(name, address, actor=actor)


async def disable(store: UserDirectory, *, name: str, actor: str, disabled: bool = True) -> None:
    """Disable (sessions end, tokens stop working) or enable again."""
    await store.set_user_disabled(name, disabled, actor=actor)


async def sign_out_everywhere(store: UserDirectory, *, name: str, actor: str) -> int:
    """End every console session of the user and revoke every token; how many tokens were revoked."""
    await store.end_sessions(name, actor=actor)
    return await store.revoke_user_tokens(name, actor=actor)
