"""Which deliveries a claimer takes: most urgent first, one routine post in flight per account.

Routine posts of an account go out one at a time, in order, so that a rate limit stops the next
one. Emergency posts are not held back by anything: the emergency lane takes them as they come,
several per account at once if alerts arrive faster than a platform answers (a follow-up that
replies to an earlier post waits for that post in dispatch).

The candidate queries walk an index in claim order and stop early, so a deep routine backlog
is neither scanned nor sorted when emergencies are claimed (see `due_queries`).

On SQLite the claimer already holds the single write lock (BEGIN IMMEDIATE), so it simply takes
the first candidate of each account. On PostgreSQL claimers in several processes run at once:
they read candidates without locking them, take a transaction-scoped advisory lock per account
(without waiting; a held one means another claimer is on that account right now), look again
for posts in flight on the accounts they hold, and finally lock the chosen rows. Locking only
the rows actually taken keeps concurrent claimers from starving each other.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.models import DeliveryState, Priority
from gateway.store.schema import account_pauses, deliveries

CANDIDATES_PER_SLOT = 4  # rows read per claimable slot, so that one busy account does not starve a batch
# PostgreSQL claimers read further (without locking): concurrent claimers see the same first rows,
# and each needs accounts the others have not taken.
PG_SPARE_CANDIDATES = 64
# Advisory-lock namespaces (PostgreSQL int4 keys) for claimers working on an account: an emergency
# and a routine post of one account may be in flight together, two of the same kind may not.
_EMERGENCY_LOCKS = 0x6B6F_0E01
_ROUTINE_LOCKS = 0x6B6F_0E02
# Lazily evaluated under LIMIT: stops once `limit` accounts are held, in candidate order. Accounts
# already busy by this statement's snapshot are passed over without being locked (CASE fixes the
# order of evaluation); the claim re-checks after locking, as commits can land in between.
_TRY_ACCOUNT_LOCKS = sa.text(
    "SELECT k.i FROM unnest(CAST(:namespaces AS int[]), CAST(:accounts AS text[])) WITH ORDINALITY"
    " AS k(ns, account, i)"
    " WHERE CASE WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.state = 'sending'"
    " AND d.account = k.account AND (NOT :emergency_lane OR d.priority_rank = 0)) THEN false"
    " ELSE pg_try_advisory_xact_lock(k.ns, hashtext(k.account)) END"
    " LIMIT :limit"
)


def only_emergency(priorities: Collection[Priority] | None) -> bool:
    return priorities is not None and set(priorities) == {Priority.EMERGENCY}


def _rank_filter(priorities: Collection[Priority] | None) -> sa.ColumnElement[bool]:
    # Always a single value or a range where possible: the planner then walks the claim indexes in
    # order instead of sorting (an IN list would make SQLite sort).
    ranks = sorted({Priority(p).rank for p in (list(Priority) if priorities is None else priorities)})
    if len(ranks) == 1:
        return deliveries.c.priority_rank == ranks[0]
    if ranks == list(range(ranks[0], ranks[-1] + 1)):
        return deliveries.c.priority_rank.between(ranks[0], ranks[-1])
    return deliveries.c.priority_rank.in_(ranks)


def _busy_accounts(emergency_lane: bool, among: sa.BindParameter[Any] | None = None) -> sa.Select[Any]:
    """Accounts with a post in flight; the emergency lane only waits for the account's emergencies."""
    in_flight = sa.alias(deliveries, "in_flight")
    busy = sa.select(in_flight.c.account).where(in_flight.c.state == DeliveryState.SENDING.value)
    if emergency_lane:
        busy = busy.where(in_flight.c.priority_rank == Priority.EMERGENCY.rank)
    if among is not None:
        busy = busy.where(in_flight.c.account.in_(among))
    return busy


def _claimable(now: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    c = deliveries.c
    return sa.or_(c.state == DeliveryState.QUEUED.value,
                  sa.and_(c.state == DeliveryState.RETRY_WAIT.value, c.retry_at <= now))


# The claim's statements are built once per lane and reused with parameters (`now`, `candidates`,
# id lists): building a statement and its cache key costs more than running it on the hot path.
_NOW = sa.bindparam("now", type_=deliveries.c.created_at.type)
_IDS: sa.BindParameter[Any] = sa.bindparam("ids", expanding=True)
_ACCOUNTS: sa.BindParameter[Any] = sa.bindparam("accounts", expanding=True)
_Lane = frozenset[int] | None  # priority ranks; None for every priority


def _lane_key(priorities: Collection[Priority] | None) -> _Lane:
    return None if priorities is None else frozenset(Priority(p).rank for p in priorities)


@functools.lru_cache(maxsize=16)
def _due_templates(lane: _Lane) -> tuple[sa.Select[Any], sa.Select[Any]]:
    priorities = None if lane is None else [p for p in Priority if p.rank in lane]
    c = deliveries.c
    paused = sa.select(account_pauses.c.account).where(account_pauses.c.until > _NOW)
    base = (sa.select(c.id, c.state, c.priority_rank, c.created_at, c.account)
            .where(_rank_filter(priorities), c.account.not_in(paused))
            .limit(sa.bindparam("candidates", type_=sa.Integer)))
    if not only_emergency(priorities):
        base = base.where(c.account.not_in(_busy_accounts(False)))
    queued = base.where(c.state == DeliveryState.QUEUED.value).order_by(c.priority_rank, c.created_at, c.id)
    # Within a priority, the retry that has waited longest goes first.
    waiting = (base.where(c.state == DeliveryState.RETRY_WAIT.value, c.retry_at <= _NOW)
               .order_by(c.priority_rank, c.retry_at, c.id))
    return queued, waiting


@functools.lru_cache(maxsize=16)
def _candidates_template(lane: _Lane) -> sa.CompoundSelect[Any]:
    queued, waiting = _due_templates(lane)
    return sa.union_all(queued.subquery().select(), waiting.subquery().select())


def _due_params(now: datetime, limit: int, spare: int) -> dict[str, Any]:
    return {"now": now, "candidates": limit * CANDIDATES_PER_SLOT + spare}


def due_queries(
    *, now: datetime, limit: int, priorities: Collection[Priority] | None, spare: int = 0,
) -> tuple[sa.Select[Any], sa.Select[Any]]:
    """The candidate queries: queued deliveries, and retry_wait ones whose retry_at has come.

    Two queries rather than one OR: each walks its index in claim order (`ix_deliveries_claim`,
    `ix_deliveries_retry`) and stops at its limit. (Returned with their parameters bound; the
    claim itself runs the shared templates.)
    """
    params = _due_params(now, limit, spare)
    queued, waiting = _due_templates(_lane_key(priorities))
    return queued.params(params), waiting.params(params)


def candidates_query(
    *, now: datetime, limit: int, priorities: Collection[Priority] | None, spare: int = 0,
) -> sa.CompoundSelect[Any]:
    """Both candidate queries in one round trip; each keeps its own index walk and limit."""
    return _candidates_template(_lane_key(priorities)).params(_due_params(now, limit, spare))


def _first_per_account(found: Sequence[sa.Row[Any]], limit: int | None) -> list[sa.Row[Any]]:
    """The most urgent, oldest candidate of each account, in claim order."""
    chosen: list[sa.Row[Any]] = []
    accounts: set[str] = set()
    for row in sorted(found, key=lambda r: (r.priority_rank, r.created_at, r.id)):
        if row.account not in accounts and (limit is None or len(chosen) < limit):
            accounts.add(row.account)
            chosen.append(row)
    return chosen


def choose(
    conn: Connection, *, now: datetime, limit: int, priorities: Collection[Priority] | None,
) -> dict[str, str]:
    """Ids (-> current state) of up to `limit` deliveries this claimer may take, locked for it."""
    postgres = conn.dialect.name == "postgresql"
    spare = PG_SPARE_CANDIDATES if postgres else 0
    found = list(conn.execute(_candidates_template(_lane_key(priorities)), _due_params(now, limit, spare)).all())
    if only_emergency(priorities):
        return _emergencies(conn, found, limit=limit, now=now, postgres=postgres)
    if not postgres:
        return {row.id: row.state for row in _first_per_account(found, limit)}
    candidates = _first_per_account(found, None)
    if not candidates:
        return {}
    emergency_lane = only_emergency(priorities)
    held = _hold_accounts(conn, candidates, limit=limit, emergency_lane=emergency_lane)
    return _lock_rows(conn, held, now=now, emergency_lane=emergency_lane)


def _emergencies(
    conn: Connection, found: Sequence[sa.Row[Any]], *, limit: int, now: datetime, postgres: bool,
) -> dict[str, str]:
    """The oldest due emergencies, whatever else is in flight; on PostgreSQL locked, skipping rows
    another claimer holds."""
    ordered = sorted(found, key=lambda r: (r.created_at, r.id))
    if not postgres:
        return {row.id: row.state for row in ordered[:limit]}
    if not ordered:
        return {}
    params = {"ids": [row.id for row in ordered], "now": now, "limit": limit}
    return {row.id: row.state for row in conn.execute(_LOCK_EMERGENCIES, params).all()}


_LOCK_EMERGENCIES = (sa.select(deliveries.c.id, deliveries.c.state)
                     .where(deliveries.c.id.in_(_IDS), _claimable(_NOW))
                     .order_by(deliveries.c.created_at, deliveries.c.id)
                     .limit(sa.bindparam("limit", type_=sa.Integer))
                     .with_for_update(skip_locked=True, of=deliveries))


def _hold_accounts(
    conn: Connection, candidates: Sequence[sa.Row[Any]], *, limit: int, emergency_lane: bool,
) -> list[sa.Row[Any]]:
    """The first `limit` candidates whose account is idle and this claimer could lock without waiting."""
    namespaces = [_EMERGENCY_LOCKS if row.priority_rank == Priority.EMERGENCY.rank else _ROUTINE_LOCKS
                  for row in candidates]
    params = {"namespaces": namespaces, "accounts": [row.account for row in candidates], "limit": limit,
              "emergency_lane": emergency_lane}
    held = set((conn.execute(_TRY_ACCOUNT_LOCKS, params)).scalars())
    return [row for i, row in enumerate(candidates, start=1) if i in held]


def _lock_rows(
    conn: Connection, held: Sequence[sa.Row[Any]], *, now: datetime, emergency_lane: bool,
) -> dict[str, str]:
    """Lock the chosen rows that are still claimable and whose account has nothing in flight.

    This statement starts after the account locks are held, so (READ COMMITTED) it sees every
    claim committed before them, including `sending` rows that the candidate read could not.
    """
    if not held:
        return {}
    params = {"ids": [row.id for row in held], "accounts": [row.account for row in held], "now": now}
    return {row.id: row.state for row in conn.execute(_lock_rows_statement(emergency_lane), params).all()}


@functools.lru_cache(maxsize=2)
def _lock_rows_statement(emergency_lane: bool) -> sa.Select[Any]:
    c = deliveries.c
    return (sa.select(c.id, c.state)
            .where(c.id.in_(_IDS), _claimable(_NOW), c.account.not_in(_busy_accounts(emergency_lane, among=_ACCOUNTS)))
            .with_for_update(skip_locked=True, of=deliveries))
