"""`SqlStore`: the Store protocol on SQLAlchemy Core, for SQLite and PostgreSQL.

It is composed of one part per concern: `txn.py` (the engine and the transaction runners every part
uses), `messages.py`, `deliveries.py`, `claim.py`, `accounts.py`, `users.py`, `audit.py` and
`warmup.py`; each serves one of the role protocols in `base.py`.

Every state change runs in one write transaction that updates the row (compare-and-set on
its current state) and inserts one audit row, so the ledger and its history never disagree.
On SQLite write transactions start with BEGIN IMMEDIATE (one writer at a time, waiting on
the busy timeout); on PostgreSQL rows are locked with SELECT ... FOR UPDATE. How claimers
share the queue is in `claim.py`. Calls run shielded from their caller's cancellation.

Each transaction is one synchronous function of a `Connection`. On PostgreSQL it runs through
the async engine (`run_sync`, asyncpg). On SQLite it runs on a pysqlite connection right on the
event loop: an embedded SQLite transaction takes well under a millisecond of work, while handing
it to a thread costs a thread hop per statement (aiosqlite) or, under load, waits on the GIL. When
another process holds SQLite's write lock the transaction does not block the loop: it fails fast
(busy_timeout 0) and is retried after a short sleep. Writes queue at a gate, urgent ones first.

Audit actions: `message.accepted`, `message.<new state>`, `delivery.created`,
`delivery.released`, `delivery.claimed`, `delivery.<new state>`, `account.paused`,
`user.created`, `user.role_changed`, `user.password_set`, `user.disabled`, `user.enabled`,
`user.signed_out`, `user.unlocked`, `token.created`, `token.revoked`, `account.stopped`,
`account.resumed`, `credentials.rotated`, `account.hijack_suspected`, `account.hijack_resolved`,
`user.email_set`, `message.revised`, `draft.saved`, `draft.deleted`,
plus whatever callers pass to `audit()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.store.accounts import AccountQueries
from gateway.store.audit import AuditQueries
from gateway.store.base import Store
from gateway.store.claim import ClaimQueries
from gateway.store.deliveries import DeliveryQueries
from gateway.store.drafts import DraftQueries
from gateway.store.messages import MessageQueries
from gateway.store.outbox import OutboxQueries
from gateway.store.users import UserQueries
from gateway.store.warmup import WarmUp


class SqlStore(WarmUp, MessageQueries, DeliveryQueries, ClaimQueries, AccountQueries, UserQueries, AuditQueries,
               OutboxQueries, DraftQueries):
    """The ledger on one database; safe to share between tasks, and between processes (SQLite: on one host)."""


if TYPE_CHECKING:
    def _satisfies_protocol(store: SqlStore) -> Store:
        return store  # mypy proves here that SqlStore implements every Store method
