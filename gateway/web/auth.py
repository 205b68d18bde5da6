"""API tokens: opaque bearer tokens, stored only as SHA-256 hashes, each tied to a user and role."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from aiohttp import web

from gateway.errors import Conflict, FieldProblem, Forbidden, GatewayError, InputError
from gateway.models import GLOBAL_ROLES, Actor, Role, Scope
from gateway.store.base import UserDirectory
from gateway.store.records import User

TOKEN_PREFIX = "kgw_"


class Unauthenticated(GatewayError):
    code = "unauthenticated"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(store: UserDirectory, *, user: str, role: Role, ttl_days: int, now: datetime, actor: str,
                       municipalities: Sequence[str] = ()) -> str:
    """A new token (shown once, never stored in clear), creating the user when missing.

    Never changes a user: an existing user of another role is refused (Conflict), and so is a city
    outside the user's scope. No `municipalities` means every city, for admin and alert systems
    only; the token of an existing user then carries the user's whole scope.
    """
    scope = token_scope(role, municipalities)
    existing = await store.get_user(user)
    if existing is None:
        await store.create_user(user, role, scope, actor=actor)
    else:
        _check_existing(existing, role, scope)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await store.add_token(token_hash=hash_token(token), user=user, expires_at=now + timedelta(days=ttl_days),
                          actor=actor, scope=None if not municipalities else scope)
    return token


def token_scope(role: Role, municipalities: Sequence[str]) -> Scope:
    """The scope named on the command line: cities, or every city for the roles that may have it."""
    if municipalities:
        return Scope.of(*municipalities)
    if role in GLOBAL_ROLES:
        return Scope.everywhere()
    problem = FieldProblem("--municipality", "required",
                           f"役割「{role.value}」には担当する自治体の指定が必要です（--municipality ID、複数可）")
    raise InputError(problem.message, [problem], code="municipality_required")


def _check_existing(existing: User, role: Role, scope: Scope) -> None:
    if existing.role is not role:
        raise Conflict(f"利用者 {existing.name} はすでに「{existing.role.value}」として登録されています。"
                       f"トークンの作成で役割は変わりません（変更は gateway user set-role で）", code="role_mismatch")
    outside = sorted(m for m in scope.municipalities or () if not existing.scope.covers(m))
    if outside:
        raise Conflict(f"利用者 {existing.name} の担当範囲にない自治体です: {'、'.join(outside)}"
                       f"（範囲の変更は gateway user set-scope で）", code="out_of_user_scope")


class TokenCache:
    """Remembers valid tokens for at most a second, so that a burst of alerts is not a burst of reads.

    A look-up costs about 0.25 ms on SQLite and 0.5 ms on PostgreSQL, where it also waits its turn
    for a pooled connection behind routine work: little next to an alert's 7 ms, but an alert burst
    under a backlog would pay it on every request. Only successful look-ups are kept, stamped with the
    store's `auth_generation`: a token revoked or a user disabled through this process's store is
    refused at once; through another process (a replica, the CLI), within `ttl_s`, counted from
    before the look-up that filled the entry.
    """

    def __init__(self, ttl_s: float = 1.0, max_entries: int = 1024) -> None:
        self._ttl_s = ttl_s
        self._max = max_entries
        self._entries: dict[str, tuple[float, int, Actor]] = {}

    def get(self, token_hash: str, generation: int) -> Actor | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        expires, stamped, actor = entry
        if expires <= time.monotonic() or stamped != generation:
            self._entries.pop(token_hash, None)
            return None
        return actor

    def put(self, token_hash: str, actor: Actor, *, generation: int, read_from: float) -> None:
        """`read_from`: the monotonic time the look-up started (the answer is as old as that)."""
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[token_hash] = (read_from + self._ttl_s, generation, actor)


async def authenticate(request: web.Request, store: UserDirectory, now: datetime,
                       cache: TokenCache | None = None) -> Actor:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("認証が必要です（Authorization: Bearer <token>）")
    if not _token_shaped(token.strip()):  # e.g. bytes that were not UTF-8, which hash_token cannot encode
        raise Unauthenticated("トークンが無効か期限切れです")
    token_hash = hash_token(token.strip())
    generation, read_from = store.auth_generation, time.monotonic()
    actor = cache.get(token_hash, generation) if cache is not None else None
    if actor is not None:
        return actor
    user = await store.user_for_token(token_hash, now)
    if user is None or user.disabled:
        raise Unauthenticated("トークンが無効か期限切れです")
    actor = Actor(user.name, user.role, user.scope)
    if cache is not None:
        cache.put(token_hash, actor, generation=generation, read_from=read_from)
    return actor


def _token_shaped(token: str) -> bool:
    """Printable ASCII of a sane length: every token this gateway issues is; nothing else is looked up."""
    return len(token) <= 512 and token.isascii() and token.isprintable()


def require_role(actor: Actor, roles: frozenset[Role]) -> None:
    if actor.role is Role.ADMIN or actor.role in roles:
        return
    allowed = "、".join(sorted(r.value for r in roles))
    raise Forbidden(f"この操作の権限がありません（必要なロール: {allowed}）")
