"""`gateway user create|set-password`: console users with argon2-hashed passwords.

The password is read from a prompt (typed twice) or, when stdin is not a terminal, from its first
line; never from argv, where it would show in `ps` and shell history.
"""

from __future__ import annotations

import getpass
import sys
from typing import TextIO

from gateway.errors import FieldProblem, InputError, NotFound
from gateway.models import Role
from gateway.store.base import Store
from gateway.web.console.passwords import hash_password


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


async def create_user(store: Store, *, name: str, role: Role, password: str, actor: str) -> None:
    password_hash = _hashed(password)
    await store.ensure_user(name, role, actor=actor)
    await store.set_password(name, password_hash, actor=actor)


async def set_password(store: Store, *, name: str, password: str, actor: str) -> None:
    password_hash = _hashed(password)
    if await store.get_user(name) is None:
        raise NotFound(f"利用者が見つかりません: {name}（gateway user create --user {name} --role ROLE で作成）")
    await store.set_password(name, password_hash, actor=actor)
