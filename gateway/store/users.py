"""Statements of the user directory: people and systems, their roles and scopes, and their tokens.

Every change writes its audit row in the same transaction and moves the user's session epoch on, so
that a console session signed in under the old role or scope ends at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.errors import Conflict, NotFound
from gateway.models import GLOBAL_ROLES, Role, Scope
from gateway.store import rows
from gateway.store.records import StepApproval, User
from gateway.store.schema import tokens, users

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
