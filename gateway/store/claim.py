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
for posts in flight on the accounts they hold, and finally lock, mark and audit the chosen rows
in one statement. Locking only the rows actually taken keeps concurrent claimers from starving
each other. The emergency lane, which holds no account back, is a single statement (one round
trip) that skips rows other claimers have locked.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic_core import to_jsonable_python
from sqlalchemy.engine import Connection

from gateway.models import Delivery, DeliveryState, Priority
from gateway.store import rows
from gateway.store.schema import account_pauses, audit_events, deliveries, in_state, workers
from gateway.store.txn import SqlBase, _shielded

CLAIMABLE_STATES = (DeliveryState.QUEUED.value, DeliveryState.RETRY_WAIT.value)
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
    busy = sa.select(in_flight.c.account).where(in_state(in_flight.c.state, DeliveryState.SENDING))
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
        # Per candidate, through (account, state): the few posts in flight are never collected
        # from the whole table.
        in_flight = sa.alias(deliveries, "in_flight")
        base = base.where(~sa.exists().where(in_flight.c.account == c.account,
                                             in_state(in_flight.c.state, DeliveryState.SENDING)))
    # The states as literals, so that their partial indexes are used (schema.in_state).
    queued = base.where(in_state(c.state, DeliveryState.QUEUED)).order_by(c.priority_rank, c.created_at, c.id)
    # Within a priority, the retry that has waited longest goes first.
    waiting = (base.where(in_state(c.state, DeliveryState.RETRY_WAIT), c.retry_at <= _NOW)
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

    Two queries rather than one OR: each walks its partial index in claim order
    (`ix_deliveries_queued`, `ix_deliveries_retry_due`) and stops at its limit. (Returned with
    their parameters bound; the claim itself runs the shared templates.)
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
    """SQLite: ids (-> current state) of up to `limit` deliveries this claimer may take.

    The claimer holds SQLite's write lock (BEGIN IMMEDIATE), so nothing can change under it.
    """
    found = list(conn.execute(_candidates_template(_lane_key(priorities)), _due_params(now, limit, 0)).all())
    if only_emergency(priorities):
        return {row.id: row.state for row in sorted(found, key=lambda r: (r.created_at, r.id))[:limit]}
    return {row.id: row.state for row in _first_per_account(found, limit)}


def take_pg(
    conn: Connection, *, now: datetime, limit: int, priorities: Collection[Priority] | None, worker: str,
    lease_expires: datetime,
) -> list[sa.RowMapping]:
    """PostgreSQL: claim up to `limit` deliveries for `worker` -> sending, with their audit rows.

    The emergency lane is one statement (pick, lock skipping rows others hold, mark, audit): one
    round trip, atomic without a transaction around it. The routine lane reads candidates and
    takes account locks first (see the module docstring), then locks, marks and audits the rows
    in one statement. Rows come with `from_state`, the state they were claimed from.
    """
    params: dict[str, Any] = {"now": now, "worker": worker, "lease_expires": lease_expires,
                              "lease_json": to_jsonable_python(lease_expires)}
    lane = _lane_key(priorities)
    if only_emergency(priorities):
        params.update(_due_params(now, limit, PG_SPARE_CANDIDATES), limit=limit)
        return list(conn.execute(_pg_emergency_claim(lane), params).mappings().all())
    found = conn.execute(_candidates_template(lane), _due_params(now, limit, PG_SPARE_CANDIDATES)).all()
    candidates = _first_per_account(found, None)
    if not candidates:
        return []
    held = _hold_accounts(conn, candidates, limit=limit)
    if not held:
        return []
    params.update(ids=[row.id for row in held], accounts=[row.account for row in held])
    return list(conn.execute(_pg_routine_claim(), params).mappings().all())


def _claimed_and_audited(locked: sa.Select[Any]) -> sa.Select[Any]:
    """`locked` (id, state of rows locked for this claimer) -> sending, one audit row each.

    Whether a row is still claimable is checked here, on the locked row's latest version, and not
    in `locked`: there the planner, with statistics that lag a burst of new rows, would walk the
    state index over the whole queue instead of fetching the few ids by primary key.
    """
    d = deliveries.c
    chosen = locked.cte("chosen")
    claimed = (sa.update(deliveries)
               .where(d.id == chosen.c.id, _claimable(_NOW))
               .values(state=DeliveryState.SENDING.value, attempts=d.attempts + 1,
                       lease_owner=sa.bindparam("worker"),
                       lease_expires=sa.bindparam("lease_expires", type_=d.lease_expires.type), updated_at=_NOW)
               .returning(*deliveries.c, chosen.c.state.label("from_state"))
               .cte("claimed"))
    detail = sa.func.jsonb_build_object("attempt", claimed.c.attempts, "lease_expires",
                                        sa.cast(sa.bindparam("lease_json", type_=sa.String), sa.Text))
    values = {"at": _NOW, "actor": sa.bindparam("worker"), "action": sa.literal("delivery.claimed"),
              "message_id": claimed.c.message_id, "delivery_id": claimed.c.id, "from_state": claimed.c.from_state,
              "to_state": sa.literal(DeliveryState.SENDING.value), "reason": sa.null(), "detail": detail}
    columns = [c.name for c in audit_events.c if c.name != "id"]
    audited = audit_events.insert().from_select(columns, sa.select(*[values[c] for c in columns])).cte("audited")
    return sa.select(claimed).add_cte(audited)


@functools.lru_cache(maxsize=4)
def _pg_emergency_claim(lane: _Lane) -> sa.Select[Any]:
    """The oldest due emergencies, whatever else is in flight, skipping rows another claimer holds.

    The candidate ids are computed once (`= ANY(ARRAY(...))` is an init plan) and the rows
    fetched by primary key, whatever the statistics say.
    """
    candidates = _candidates_template(lane).subquery("candidates")
    c = deliveries.c
    ids = sa.func.array(sa.select(candidates.c.id).scalar_subquery())
    locked = (sa.select(c.id, c.state)
              .where(c.id == sa.any_(ids))
              .order_by(c.created_at, c.id).limit(sa.bindparam("limit", type_=sa.Integer))
              .with_for_update(skip_locked=True, of=deliveries))
    return _claimed_and_audited(locked)


@functools.lru_cache(maxsize=1)
def _pg_routine_claim() -> sa.Select[Any]:
    """Lock the chosen rows whose account has nothing in flight (this statement starts after the
    account locks are held, so under READ COMMITTED it sees every claim committed before them,
    including `sending` rows the candidate read could not), then mark and audit them."""
    c = deliveries.c
    locked = (sa.select(c.id, c.state)
              .where(c.id.in_(_IDS), c.account.not_in(_busy_accounts(False, among=_ACCOUNTS)))
              .with_for_update(skip_locked=True, of=deliveries))
    return _claimed_and_audited(locked)


def _hold_accounts(conn: Connection, candidates: Sequence[sa.Row[Any]], *, limit: int) -> list[sa.Row[Any]]:
    """The first `limit` candidates whose account is idle and this claimer could lock without waiting."""
    namespaces = [_EMERGENCY_LOCKS if row.priority_rank == Priority.EMERGENCY.rank else _ROUTINE_LOCKS
                  for row in candidates]
    params = {"namespaces": namespaces, "accounts": [row.account for row in candidates], "limit": limit,
              "emergency_lane": False}
    held = set((conn.execute(_TRY_ACCOUNT_LOCKS, params)).scalars())
    return [row for i, row in enumerate(candidates, start=1) if i in held]


# The longest lease a claim gives (settings.lease_seconds is bounded by it).
MAX_LEASE = timedelta(days=1)


# Claimed deliveries -> sending (built once: it runs on every claim).
_MARK_SENDING = (sa.update(deliveries)
                 .where(deliveries.c.id.in_(sa.bindparam("ids", expanding=True)),
                        deliveries.c.state.in_(CLAIMABLE_STATES))
                 .values(state=DeliveryState.SENDING.value, attempts=deliveries.c.attempts + 1,
                         lease_owner=sa.bindparam("worker"),
                         lease_expires=sa.bindparam("lease_expires", type_=deliveries.c.lease_expires.type),
                         updated_at=sa.bindparam("now", type_=deliveries.c.updated_at.type))
                 .returning(*deliveries.c))


class ClaimQueries(SqlBase):
    """Claiming due deliveries and the workers that hold leases (`DeliveryQueue`)."""

    @_shielded
    async def claim_due(
        self, *, worker: str, now: datetime, limit: int, lease_seconds: float,
        priorities: Collection[Priority] | None = None,
    ) -> list[Delivery]:
        """Claim queued and due retry_wait deliveries, most urgent first, skipping paused accounts
        and deliveries leased by others: state -> sending, attempts + 1, lease set (audit rows)."""
        if limit <= 0 or (priorities is not None and not priorities):
            return []
        emergency_lane = only_emergency(priorities)
        # Look before taking SQLite's single write slot: an idle routine lane polling must not hold
        # it. The emergency lane goes straight in: its writes are served first anyway.
        if self._sqlite is not None and not emergency_lane and not await self._read(
                lambda conn: choose(conn, now=now, limit=1, priorities=priorities)):
            return []

        lease = timedelta(seconds=lease_seconds)

        def take(conn: Connection) -> list[Delivery]:
            if self._sqlite is None:
                found = take_pg(conn, now=now, limit=limit, priorities=priorities, worker=worker,
                                      lease_expires=now + lease)
                return [rows.to_delivery(row) for row in found]
            due = choose(conn, now=now, limit=limit, priorities=priorities)
            if not due:
                return []
            return self._mark_sending(conn, due, worker=worker, now=now, lease=lease)

        # The emergency lane's claim is one statement on PostgreSQL (see take_pg).
        claimed = await self._write(take, urgent=emergency_lane, atomic=emergency_lane)
        return sorted(claimed, key=lambda d: (d.priority.rank, d.created_at, d.id))

    def _mark_sending(
        self, conn: Connection, due: Mapping[str, str], *, worker: str, now: datetime, lease: timedelta,
    ) -> list[Delivery]:
        params = {"ids": list(due), "worker": worker, "lease_expires": now + lease, "now": now}
        claimed = [rows.to_delivery(r) for r in conn.execute(_MARK_SENDING, params).mappings()]
        self._add_audit(conn, [rows.audit_values(
            at=now, actor=worker, action="delivery.claimed", message_id=d.message_id, delivery_id=d.id,
            from_state=due[d.id], to_state=DeliveryState.SENDING.value,
            detail={"attempt": d.attempts, "lease_expires": d.lease_expires},
        ) for d in claimed])
        return claimed

    @_shielded
    async def heartbeat(self, worker_id: str, *, host: str, pid: int, started_at: datetime) -> None:
        now = self._clock()
        values = {"worker_id": worker_id, "host": host[:255], "pid": pid, "started_at": started_at,
                  "heartbeat_at": now, "stopped_at": None}
        insert = self._dialect_module().insert(workers).values(values)
        upsert = insert.on_conflict_do_update(index_elements=[workers.c.worker_id],
                                              set_={"heartbeat_at": now, "stopped_at": None})
        await self._write(lambda conn: conn.execute(upsert), urgent=True)

    @_shielded
    async def worker_stopped(self, worker_id: str) -> None:
        now = self._clock()
        update = sa.update(workers).where(workers.c.worker_id == worker_id).values(stopped_at=now)
        await self._write(lambda conn: conn.execute(update))

    @_shielded
    async def orphaned_leases(self, stale_before: datetime) -> list[Delivery]:
        gone = sa.or_(workers.c.heartbeat_at < stale_before, workers.c.stopped_at.is_not(None))
        query = (sa.select(deliveries)
                 .join(workers, deliveries.c.lease_owner == workers.c.worker_id)
                 .where(in_state(deliveries.c.state, DeliveryState.SENDING), gone)
                 .order_by(deliveries.c.priority_rank, deliveries.c.id).limit(500))
        return await self._read(lambda conn: [rows.to_delivery(r) for r in conn.execute(query).mappings()])

    @_shielded
    async def expired_leases(self, now: datetime) -> list[Delivery]:
        """Deliveries still `sending` whose lease has expired (their worker died), or whose lease ends
        further ahead than any claim grants (`lease_seconds` is at most a day): such a lease was not
        written by a claim, and waiting for it would strand the delivery for ever."""
        ended = sa.or_(deliveries.c.lease_expires <= now, deliveries.c.lease_expires > now + MAX_LEASE)
        query = (sa.select(deliveries)
                 .where(in_state(deliveries.c.state, DeliveryState.SENDING), ended)
                 .order_by(deliveries.c.lease_expires, deliveries.c.id))
        return await self._read(lambda conn: [rows.to_delivery(r) for r in conn.execute(query).mappings()])
