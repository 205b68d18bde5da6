"""The console's sign-in throttle in the database, shared by every replica and the CLI.

An attempt is a row written before the password is checked, in the same transaction that checks the
limits, so that concurrent guesses are counted one after another and cannot pass them: on SQLite the
write lock serialises that transaction, on PostgreSQL transaction-scoped advisory locks per address and
per user name do. Failures of one user name (from any address) and from one address (any names) are
counted; past the free ones each further attempt waits a delay that doubles (`LoginLimits.delay`), so a
guesser slows down to a few tries an hour while colleagues behind the same address barely notice. A
right password deletes its row and marks the user's earlier failures `cleared`: they stop counting
against that user, never against the address. Rows older than the window are deleted as attempts come in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.store.records import LoginAttempt, LoginLimits
from gateway.store.schema import login_attempts

# Advisory-lock namespace (PostgreSQL int4 key) for sign-ins from one address.
_ADDRESS_LOCKS = 0x6B6F_0A01
_USER_LOCKS = 0x6B6F_0A02
# Failures read past the free ones: the delay stops growing long before (it doubles each time).
_COUNTED_PAST_FREE = 16
_T = login_attempts


def reserve(conn: Connection, *, user: str, address: str, now: datetime, limits: LoginLimits) -> LoginAttempt:
    """Count the attempt unless the user from `address`, or `address`, is at its limit."""
    if conn.dialect.name == "postgresql":  # in one order (address, then user), so two attempts cannot deadlock
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_ADDRESS_LOCKS, sa.func.hashtext(address))))
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_USER_LOCKS, sa.func.hashtext(user))))
    since = now - limits.window
    conn.execute(sa.delete(_T).where(_T.c.at <= since))
    recent = sa.select(_T.c.at).where(_T.c.at > since).order_by(_T.c.at.desc())
    by_user = conn.execute(recent.where(_T.c.user_name == user, _T.c.cleared.is_(False))
                           .limit(limits.per_user + _COUNTED_PAST_FREE)).scalars().all()
    by_address = conn.execute(recent.where(_T.c.address == address)
                              .limit(limits.per_address + _COUNTED_PAST_FREE)).scalars().all()
    waits = [_waits_until(by_user, limits, now, by_address=False),
             _waits_until(by_address, limits, now, by_address=True)]
    retry_at = max((at for at in waits if at is not None), default=None)
    if retry_at is not None:
        return LoginAttempt(id=None, retry_at=retry_at, retry_after=retry_at - now)
    inserted = conn.execute(_T.insert().values(address=address, user_name=user, at=now, cleared=False)
                            .returning(_T.c.id)).scalar_one()
    return LoginAttempt(id=int(inserted))


def _waits_until(newest_first: Sequence[datetime], limits: LoginLimits, now: datetime, *,
                 by_address: bool) -> datetime | None:
    """Until when the next attempt must wait after these failures; None when it may go now."""
    delay = limits.delay(len(newest_first), by_address=by_address)
    if not newest_first or not delay:
        return None
    until = newest_first[0] + delay
    return until if until > now else None


def succeeded(conn: Connection, *, attempt_id: int, user: str, address: str) -> None:
    """The right password: the user's failures (from every address) stop counting against the user."""
    conn.execute(sa.delete(_T).where(_T.c.id == attempt_id))
    conn.execute(sa.update(_T).where(_T.c.user_name == user, _T.c.cleared.is_(False)).values(cleared=True))


def unlock(conn: Connection, *, user: str | None, address: str | None) -> int:
    """Clear the user's failures (they still count against their addresses), or drop an address's attempts."""
    if address is not None:
        query = sa.delete(_T).where(_T.c.address == address)
        if user is not None:
            query = query.where(_T.c.user_name == user)
        return int(conn.execute(query).rowcount or 0)
    if user is None:
        raise ValueError("unlock needs a user or an address")
    cleared = sa.update(_T).where(_T.c.user_name == user, _T.c.cleared.is_(False)).values(cleared=True)
    return int(conn.execute(cleared).rowcount or 0)
