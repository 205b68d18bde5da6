"""API tokens: opaque bearer tokens, stored only as SHA-256 hashes, each tied to a user and role."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from aiohttp import web

from gateway.errors import Forbidden, GatewayError
from gateway.models import Role
from gateway.service import Actor
from gateway.store.base import Store

TOKEN_PREFIX = "kgw_"


class Unauthenticated(GatewayError):
    code = "unauthenticated"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(store: Store, *, user: str, role: Role, ttl_days: int, now: datetime, actor: str) -> str:
    """Create the user if needed and return a new token (shown once, never stored in clear)."""
    await store.ensure_user(user, role, actor=actor)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await store.add_token(token_hash=hash_token(token), user=user, expires_at=now + timedelta(days=ttl_days),
                          actor=actor)
    return token


async def authenticate(request: web.Request, store: Store, now: datetime) -> Actor:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("認証が必要です（Authorization: Bearer <token>）")
    user = await store.user_for_token(hash_token(token.strip()), now)
    if user is None or user.disabled:
        raise Unauthenticated("トークンが無効か期限切れです")
    return Actor(user.name, user.role)


def require_role(actor: Actor, roles: frozenset[Role]) -> None:
    if actor.role is Role.ADMIN or actor.role in roles:
        return
    allowed = "、".join(sorted(r.value for r in roles))
    raise Forbidden(f"この操作の権限がありません（必要なロール: {allowed}）")
