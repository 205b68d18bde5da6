"""Statements of the user directory: people and systems, their roles and scopes, and their tokens.

Every change writes its audit row in the same transaction and moves the user's session epoch on, so
that a console session signed in under the old role or scope ends at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.errors import Conflict, NotFound
from gateway.models import GLOBAL_ROLES, Role, Scope
from gateway.store import logins, rows
from gateway.store.records import LoginAttempt, LoginLimits, StepApproval, User
from gateway.store.schema import tokens, users
from gateway.store.txn import SqlBase, _shielded

AddAudit = Callable[[Connection, Sequence[Mapping[str, Any]]], None]


def default_scope(role: Role) -> Scope:
    """What `ensure_user` gives a new user when told nothing: every city for admin and alert systems, else none."""
    return Scope.everywhere() if role in GLOBAL_ROLES else Scope()


def create(conn: Connection, add_audit: AddAudit, *, name: str, role: Role, scope: Scope, password_hash: str | None,
           now: datetime, actor: str) -> User:
    if conn.execute(sa.select(users.c.name).where(users.c.name == name)).first() is not None:
        raise Conflict(f"利用者 {name} はすでに登録されています（何も変更していません）。役割は gateway user set-role、"
                       f"範囲は gateway user set-scope、パスワードは gateway user set-password で変更してください",
                       code="user_exists")
    conn.execute(users.insert().values(name=name, role=role.value, created_at=now, disabled=False,
                                       password_hash=password_hash, scope=scope.to_json()))
    add_audit(conn, [rows.audit_values(at=now, actor=actor, action="user.created",
                                       detail={"user": name, "role": role.value, "scope": scope.to_json()})])
    return User(name=name, role=role, created_at=now, password_hash=password_hash, scope=scope)


def change(conn: Connection, add_audit: AddAudit, *, name: str, values: Mapping[str, Any], now: datetime, actor: str,
           action: str) -> User:
    """Update the user's row (moving the session epoch on), with the old and new values in the audit row."""
    before = conn.execute(sa.select(users).where(users.c.name == name).with_for_update()).mappings().first()
    if before is None:
        raise NotFound(f"利用者が見つかりません: {name}")
    after = conn.execute(sa.update(users).where(users.c.name == name)
                         .values(**values, session_epoch=users.c.session_epoch + 1)
                         .returning(*users.c)).mappings().one()
    detail = {"user": name, **{f"{k}_before": before[k] for k in values}, **{k: after[k] for k in values}}
    add_audit(conn, [rows.audit_values(at=now, actor=actor, action=action, detail=detail)])
    return rows.to_user(after)


def revoke_all(conn: Connection, add_audit: AddAudit, *, name: str, now: datetime, actor: str) -> int:
    if conn.execute(sa.select(users.c.name).where(users.c.name == name)).first() is None:
        raise NotFound(f"利用者が見つかりません: {name}")
    live = (sa.update(tokens).where(tokens.c.user == name, tokens.c.revoked.is_(False))
            .values(revoked=True).returning(tokens.c.token_hash))
    revoked = conn.execute(live).scalars().all()
    add_audit(conn, [rows.audit_values(at=now, actor=actor, action="token.revoked",
                                       detail={"user": name, "token": h[:8]}) for h in revoked])
    return len(revoked)


def to_approval(row: rows.RowLike) -> StepApproval:
    return StepApproval(step=int(row["step"]), step_name=row["step_name"], approver=row["approver"], at=row["at"],
                        overrides=dict(row["overrides"] or {}), official_view=bool(row["official_view"]))


class UserQueries(SqlBase):
    """Users, tokens, console passwords and sign-in throttling (`UserDirectory`)."""

    @_shielded
    async def ensure_user(self, name: str, role: Role, *, actor: str, scope: Scope | None = None) -> User:
        """Create the user if missing; an existing user is never changed (Conflict when its role differs)."""
        existing = await self.get_user(name)
        if existing is None:
            try:
                return await self.create_user(name, role, scope or default_scope(role), actor=actor)
            except Conflict:  # created meanwhile by a concurrent call
                existing = await self.get_user(name)
                if existing is None:
                    raise
        if existing.role is not role:
            raise Conflict(f"利用者 {name} はすでに「{existing.role.value}」として登録されています。"
                           f"役割は gateway user set-role で変更してください", code="user_exists")
        return existing

    @_shielded
    async def create_user(self, name: str, role: Role, scope: Scope, *, actor: str,
                          password_hash: str | None = None) -> User:
        now = self._clock()
        return await self._write(lambda conn: create(
            conn, self._add_audit, name=name, role=role, scope=scope, password_hash=password_hash, now=now,
            actor=actor))

    @_shielded
    async def set_role(self, name: str, role: Role, *, actor: str) -> User:
        now = self._clock()
        try:
            return await self._write(lambda conn: change(
                conn, self._add_audit, name=name, values={"role": role.value}, now=now, actor=actor,
                action="user.role_changed"))
        finally:
            self._auth_generation += 1

    @_shielded
    async def set_scope(self, name: str, scope: Scope, *, actor: str) -> User:
        now = self._clock()
        try:
            return await self._write(lambda conn: change(
                conn, self._add_audit, name=name, values={"scope": scope.to_json()}, now=now, actor=actor,
                action="user.scope_changed"))
        finally:
            self._auth_generation += 1

    @_shielded
    async def list_users(self) -> list[User]:
        query = sa.select(users).order_by(users.c.name)
        return await self._read(lambda conn: [rows.to_user(r) for r in conn.execute(query).mappings()])

    @_shielded
    async def revoke_user_tokens(self, name: str, *, actor: str) -> int:
        now = self._clock()
        try:
            return await self._write(lambda conn: revoke_all(conn, self._add_audit, name=name, now=now,
                                                                         actor=actor))
        finally:
            self._auth_generation += 1

    @_shielded
    async def get_user(self, name: str) -> User | None:
        query = sa.select(users).where(users.c.name == name)
        row = await self._read(lambda conn: conn.execute(query).mappings().first())
        return None if row is None else rows.to_user(row)

    @_shielded
    async def add_token(self, *, token_hash: str, user: str, expires_at: datetime, actor: str,
                        scope: Scope | None = None) -> None:
        now = self._clock()

        def add(conn: Connection) -> None:
            if conn.execute(sa.select(users.c.name).where(users.c.name == user)).first() is None:
                raise NotFound(f"利用者が見つかりません: {user}")
            conn.execute(tokens.insert().values(
                token_hash=token_hash, user=user, created_at=now, expires_at=expires_at, revoked=False,
                scope=None if scope is None else scope.to_json()))
            self._add_audit(conn, [rows.audit_values(
                at=now, actor=actor, action="token.created",
                detail={"user": user, "token": token_hash[:8], "expires_at": expires_at,
                        "scope": None if scope is None else scope.to_json()},
            )])

        await self._write(add)

    @_shielded
    async def user_for_token(self, token_hash: str, now: datetime) -> User | None:
        """The user a live (unexpired, unrevoked) token belongs to, its scope narrowed by the token's;
        None for disabled users."""
        query = (sa.select(users, tokens.c.scope.label("token_scope")).join(tokens, tokens.c.user == users.c.name)
                 .where(tokens.c.token_hash == token_hash, tokens.c.expires_at > now,
                        tokens.c.revoked.is_(False), users.c.disabled.is_(False)))
        row = await self._read(lambda conn: conn.execute(query).mappings().first())
        if row is None:
            return None
        user = rows.to_user(row)
        token_scope = None if row["token_scope"] is None else Scope.from_json(row["token_scope"])
        return dataclasses.replace(user, scope=user.scope.narrowed(token_scope))

    @_shielded
    async def revoke_token(self, token_hash: str, *, actor: str) -> bool:
        """Revoke a token; False when it was unknown or already revoked."""
        now = self._clock()
        query = (sa.update(tokens).where(tokens.c.token_hash == token_hash, tokens.c.revoked.is_(False))
                 .values(revoked=True).returning(tokens.c.user))

        def revoke(conn: Connection) -> bool:
            user = conn.execute(query).scalar_one_or_none()
            if user is None:
                return False
            self._add_audit(conn, [rows.audit_values(
                at=now, actor=actor, action="token.revoked", detail={"user": user, "token": token_hash[:8]},
            )])
            return True

        try:
            return await self._write(revoke)
        finally:
            self._auth_generation += 1  # even on an error: it may have committed

    @property
    def auth_generation(self) -> int:
        """Moves on when this store revokes a token or disables a user (see `web.auth.TokenCache`)."""
        return self._auth_generation

    @_shielded
    async def set_password(self, name: str, password_hash: str, *, actor: str) -> None:
        await self._update_user(name, {"password_hash": password_hash}, actor=actor, action="user.password_set")

    @_shielded
    async def set_user_disabled(self, name: str, disabled: bool, *, actor: str) -> None:
        action = "user.disabled" if disabled else "user.enabled"
        try:
            await self._update_user(name, {"disabled": disabled}, actor=actor, action=action)
        finally:
            self._auth_generation += 1

    @_shielded
    async def end_sessions(self, name: str, *, actor: str) -> None:
        await self._update_user(name, {}, actor=actor, action="user.signed_out")

    @_shielded
    async def set_email(self, name: str, email: str | None, *, actor: str) -> User:
        """Set or clear the user's e-mail address (audited); sessions go on (nothing they may do changed)."""
        now = self._clock()

        def store(conn: Connection) -> User:
            before = conn.execute(sa.select(users.c.email).where(users.c.name == name).with_for_update()).first()
            if before is None:
                raise NotFound(f"利用者が見つかりません: {name}")
            row = conn.execute(sa.update(users).where(users.c.name == name).values(email=email)
                               .returning(*users.c)).mappings().one()
            self._add_audit(conn, [rows.audit_values(at=now, actor=actor, action="user.email_set",
                                                     detail={"user": name, "email_before": before[0],
                                                             "email": email})])
            return rows.to_user(row)

        return await self._write(store)

    async def _update_user(self, name: str, values: Mapping[str, Any], *, actor: str, action: str) -> None:
        """Change the user's row, moving its session epoch on (every console session so far ends)."""
        now = self._clock()
        query = (sa.update(users).where(users.c.name == name)
                 .values(**values, session_epoch=users.c.session_epoch + 1))

        def store(conn: Connection) -> None:
            if conn.execute(query).rowcount == 0:
                raise NotFound(f"利用者が見つかりません: {name}")
            self._add_audit(conn, [rows.audit_values(at=now, actor=actor, action=action, detail={"user": name})])

        await self._write(store)

    @_shielded
    async def reserve_login(self, user: str, address: str, limits: LoginLimits) -> LoginAttempt:
        now = self._clock()
        return await self._write(lambda conn: logins.reserve(conn, user=user, address=address, now=now,
                                                             limits=limits))

    @_shielded
    async def login_succeeded(self, attempt: LoginAttempt, user: str, address: str) -> None:
        if attempt.id is None:
            raise ValueError("a refused attempt cannot succeed")
        attempt_id = attempt.id
        await self._write(lambda conn: logins.succeeded(conn, attempt_id=attempt_id, user=user, address=address))

    @_shielded
    async def unlock_logins(self, *, actor: str, user: str | None = None, address: str | None = None) -> int:
        now = self._clock()

        def unlock(conn: Connection) -> int:
            cleared = logins.unlock(conn, user=user, address=address)
            self._add_audit(conn, [rows.audit_values(at=now, actor=actor, action="user.unlocked",
                                                     detail={"user": user, "address": address, "cleared": cleared})])
            return cleared

        return await self._write(unlock)
