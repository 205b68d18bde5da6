"""SQLAlchemy Core tables of the ledger, shared by SQLite and PostgreSQL.

The Alembic migrations under `migrations/versions/` create exactly these tables; a test compares
the migrated database with this metadata so the two cannot drift apart.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

metadata = sa.MetaData()


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes on both databases.

    PostgreSQL keeps the zone (timestamptz); SQLite stores text without one, so values go in as
    naive UTC and come back tagged UTC. Naive input is refused: it hides a local-time bug.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_type() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class _IdSource:
    """Time-sortable ids: 12 hex digits of the millisecond clock + 10 hex digits.

    Within one millisecond the low part counts up from a random start, so ids made by one
    process sort in creation order (like a monotonic ULID); across processes they stay unique
    by the random start.
    """

    _RANDOM_BITS = 40

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._last_low = 0

    def next(self) -> str:
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms <= self._last_ms:
                ms, low = self._last_ms, self._last_low + 1
                if low >= 1 << self._RANDOM_BITS:
                    ms, low = ms + 1, secrets.randbits(self._RANDOM_BITS - 1)
            else:
                # Start in the lower half so bursts in one millisecond do not overflow.
                low = secrets.randbits(self._RANDOM_BITS - 1)
            self._last_ms, self._last_low = ms, low
        return f"{ms:012x}{low:010x}"


_ids = _IdSource()


def new_id(prefix: str) -> str:
    """A new id such as `m_0193f2a1b2c3d4e5f6a7b8c9` (prefix `m` messages, `d` deliveries)."""
    return f"{prefix}_{_ids.next()}"


messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("municipality", sa.String(64), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("priority_rank", sa.Integer, nullable=False),
    sa.Column("submitted_by", sa.String(128), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("body", json_type(), nullable=False),
    sa.Column("check", json_type(), nullable=False),
    sa.Column("accounts", json_type(), nullable=False),
    sa.Column("idempotency_key", sa.String(255)),
    sa.Column("approved_by", sa.String(128)),
    sa.Column("overrides", json_type(), nullable=False),
    sa.Column("alert_key", sa.String(255)),
    sa.Column("note", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # An alert post's meaning, whatever the document's identifiers (alerts/plan.py): its thread (the
    # hash that starts alert_key, indexed for equality), what it is about, what it says, when the
    # alert was issued and how rich its telegram scheme is.
    sa.Column("alert_thread", sa.String(32)),
    sa.Column("alert_subject", sa.String(64)),
    sa.Column("alert_content", sa.String(64)),
    sa.Column("alert_issued", UTCDateTime),
    sa.Column("alert_rank", sa.Integer),
    # message_digest(body): a reused idempotency key must come with the same message (NULL on older rows).
    sa.Column("body_sha256", sa.String(64)),
    # Edits before approval (issue 16): the version number (1 at intake) and who wrote the newest version.
    sa.Column("revision", sa.Integer, nullable=False, server_default="1"),
    sa.Column("revised_by", sa.String(128)),
    sa.UniqueConstraint("submitted_by", "idempotency_key", name="uq_messages_submitter_idempotency_key"),
    sa.UniqueConstraint("municipality", "alert_key", name="uq_messages_municipality_alert_key"),
    sa.Index("ix_messages_state_created", "state", "created_at"),
    sa.Index("ix_messages_municipality_created", "municipality", "created_at"),
    sa.Index("ix_messages_alert_subject", "municipality", "alert_subject", "created_at",
             postgresql_where=sa.text("alert_subject IS NOT NULL"), sqlite_where=sa.text("alert_subject IS NOT NULL")),
    sa.Index("ix_messages_alert_thread", "alert_thread", "created_at",
             postgresql_where=sa.text("alert_thread IS NOT NULL"), sqlite_where=sa.text("alert_thread IS NOT NULL")),
)

# Deliveries are mostly history (sent, failed ...); the states the gateway works on are each
# indexed by a partial index holding only the rows in that state. Every state change rewrites
# every full index of the row, so the full ones are few. A query reaches a partial index only
# when it names the state literally (`in_state`), not as a bound parameter: PostgreSQL's generic
# plans and SQLite cannot prove the index's predicate from a parameter.
PARTIAL_INDEXES = {"queued": "ix_deliveries_queued", "retry_wait": "ix_deliveries_retry_due",
                   "held": "ix_deliveries_held", "sending": "ix_deliveries_sending",
                   "uncertain": "ix_deliveries_uncertain"}
PARTIAL_STATES = tuple(PARTIAL_INDEXES)


def only(state: str) -> sa.TextClause:
    """The predicate of the partial index of deliveries in `state`."""
    if state not in PARTIAL_STATES:
        raise ValueError(f"no partial index for state {state!r}")
    return sa.text(f"state = '{state}'")


def in_state(column: sa.ColumnElement[Any], state: Any) -> sa.ColumnElement[bool]:
    """`column = '<state>'` with the state as a literal, so that its partial index can be used."""
    value = str(getattr(state, "value", state))
    if value not in PARTIAL_STATES:
        raise ValueError(f"no partial index for state {value!r}")
    return column == sa.literal_column(f"'{value}'")


def _partial(state: str, *columns: str) -> sa.Index:
    return sa.Index(PARTIAL_INDEXES[state], *columns, postgresql_where=only(state), sqlite_where=only(state))


deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("message_id", sa.String(40), sa.ForeignKey("messages.id"), nullable=False),
    sa.Column("municipality", sa.String(64), nullable=False),
    sa.Column("account", sa.String(128), nullable=False),
    sa.Column("platform", sa.String(16), nullable=False),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("priority_rank", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("not_before", UTCDateTime),
    sa.Column("retry_at", UTCDateTime),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("idempotency_key", sa.String(64), nullable=False),
    sa.Column("lease_owner", sa.String(128)),
    sa.Column("lease_expires", UTCDateTime),
    sa.Column("remote_id", sa.String(255)),
    sa.Column("remote_url", sa.String(2000)),
    sa.Column("error_code", sa.String(64)),
    sa.Column("error_text", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("language", sa.String(16), nullable=False, server_default="ja"),
    sa.UniqueConstraint("idempotency_key", name="uq_deliveries_idempotency_key"),
    # The claim queues: claim_due walks them in order and stops after `limit` rows.
    _partial("queued", "priority_rank", "created_at", "id"),
    _partial("retry_wait", "priority_rank", "retry_at", "id"),
    # Release of held posts, expired leases (and posts in flight per account), the reconciler.
    _partial("held", "not_before"),
    _partial("sending", "lease_expires"),
    _partial("uncertain", "created_at", "id"),
    sa.Index("ix_deliveries_account_state", "account", "state"),
    sa.Index("ix_deliveries_account_sent", "account", "sent_at"),
    sa.Index("ix_deliveries_message", "message_id"),
    sa.Index("ix_deliveries_created", "created_at"),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("message_id", sa.String(40)),
    sa.Column("delivery_id", sa.String(40)),
    sa.Column("from_state", sa.String(32)),
    sa.Column("to_state", sa.String(32)),
    sa.Column("reason", sa.Text),
    sa.Column("detail", json_type(), nullable=False),
    sa.Index("ix_audit_message", "message_id"),
    sa.Index("ix_audit_delivery", "delivery_id"),
    sa.Index("ix_audit_actor", "actor"),
    sa.Index("ix_audit_action", "action"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("password_hash", sa.String(255)),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # Signed into each console session cookie: moving it on ends every session issued before.
    sa.Column("session_epoch", sa.Integer, nullable=False, server_default="0"),
    # models.Scope as JSON: the cities (null: every city), accounts and emergency cities the user acts for.
    sa.Column("scope", json_type()),
    # Where the gateway writes to this person (a send-back of their post, the events of their role); optional.
    sa.Column("email", sa.String(254)),
)

# Console sign-in attempts inside the throttle's window (store/logins.py). A row is written before the
# password is checked and deleted when it was right; `cleared` failures count against the address only.
login_attempts = sa.Table(
    "login_attempts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("address", sa.String(64), nullable=False),
    sa.Column("user_name", sa.String(128), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("cleared", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_login_attempts_address_at", "address", "at"),
    sa.Index("ix_login_attempts_user_name", "user_name"),
    sa.Index("ix_login_attempts_at", "at"),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("token_hash", sa.String(128), primary_key=True),
    sa.Column("user", sa.String(128), sa.ForeignKey("users.name"), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
    # models.Scope narrowing the user's (null: the user's whole scope).
    sa.Column("scope", json_type()),
    sa.Index("ix_tokens_user", "user"),
)

# One row per step of an approval route a person approved. The unique keys are the four-eyes rule in
# the database: one approval per step, and nobody approves two steps of the same message.
message_approvals = sa.Table(
    "message_approvals",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(40), sa.ForeignKey("messages.id"), nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("step_name", sa.String(200), nullable=False),
    sa.Column("approver", sa.String(128), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("overrides", json_type(), nullable=False),
    sa.Column("official_view", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("message_id", "step", name="uq_message_approvals_step"),
    sa.UniqueConstraint("message_id", "approver", name="uq_message_approvals_approver"),
)

account_pauses = sa.Table(
    "account_pauses",
    metadata,
    sa.Column("account", sa.String(128), primary_key=True),
    sa.Column("until", UTCDateTime, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)


# -- account states and hijack alerts -------------------------------------------------------------

# Runtime state of an account that outlives a restart: stopped by an operator (小平 3(7)) and the last
# recorded credential rotation (逗子 3-4(5)). One row per account that ever had either.
account_states = sa.Table(
    "account_states",
    metadata,
    sa.Column("account", sa.String(128), primary_key=True),
    sa.Column("stopped", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("stop_reason", sa.Text),
    sa.Column("stopped_by", sa.String(128)),
    sa.Column("stopped_at", UTCDateTime),
    sa.Column("rotated_at", UTCDateTime),
    sa.Column("rotated_by", sa.String(128)),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# A post found on an account that the gateway did not make (逗子 3-5(4)), kept as evidence.
hijack_alerts = sa.Table(
    "hijack_alerts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("account", sa.String(128), nullable=False),
    sa.Column("remote_id", sa.String(255), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("url", sa.String(2000)),
    sa.Column("posted_at", UTCDateTime),
    sa.Column("detected_at", UTCDateTime, nullable=False),
    sa.Column("resolved_at", UTCDateTime),
    sa.Column("resolved_by", sa.String(128)),
    sa.Column("note", sa.Text),
    # Never alert twice for the same post.
    sa.UniqueConstraint("account", "remote_id", name="uq_hijack_alerts_account_remote_id"),
    sa.Index("ix_hijack_alerts_resolved", "resolved_at"),
)


# -- alerts held for an operator ------------------------------------------------------------------

# An alert the gateway received but must not post by itself: too old, past its expiry, dated in the
# future (state `held`: an operator publishes or dismisses it), or addressed to restricted or private
# recipients (state `restricted`: shown, never posted). The raw document is kept so that publishing
# plans it exactly as it arrived.
held_alerts = sa.Table(
    "held_alerts",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("received_by", sa.String(128), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("hold_code", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("format", sa.String(8), nullable=False),
    sa.Column("alert_key", sa.String(512), nullable=False),
    sa.Column("kind", sa.String(32)),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("sender", sa.Text, nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=False),
    sa.Column("drill", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("municipalities", json_type(), nullable=False),
    sa.Column("forced", sa.String(64)),
    sa.Column("content", sa.String(64), nullable=False),
    sa.Column("raw", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("posts", json_type(), nullable=False),
    sa.Column("decided_by", sa.String(128)),
    sa.Column("decided_at", UTCDateTime),
    sa.Column("note", sa.Text),
    sa.Column("messages", json_type(), nullable=False),
    sa.Index("ix_held_alerts_state_received", "state", "received_at"),
    sa.Index("ix_held_alerts_content", "content"),
)


# -- the running processes ------------------------------------------------------------------------

# Every gateway process beats here each second. A `sending` delivery whose worker stopped beating
# (killed, crashed, its host gone) is recovered within seconds, not when its lease runs out: the
# lease (minutes) stays as the last resort for a worker that never registered.
workers = sa.Table(
    "workers",
    metadata,
    sa.Column("worker_id", sa.String(128), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("heartbeat_at", UTCDateTime, nullable=False),
    sa.Column("stopped_at", UTCDateTime),
    sa.Index("ix_workers_heartbeat", "heartbeat_at"),
)


# -- notifications (the outbox) ---------------------------------------------------------------------

# One row per event someone must hear of (a post waiting for approval, a send-back, a failed delivery, a
# held alert, a suspected hijack), written in the event's own transaction; the notifier sends it from the
# worker. `done` lists the destinations already told (never told twice); `state`: pending, sent, failed
# (given up after retries) or skipped (nobody to tell). No secret is ever stored here.
notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("message_id", sa.String(40)),
    sa.Column("delivery_id", sa.String(40)),
    sa.Column("subject", sa.String(128)),  # a held alert's id, a hijack alert's number
    sa.Column("actor", sa.String(128)),
    sa.Column("reason", sa.Text),
    sa.Column("detail", json_type(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("lease_until", UTCDateTime),
    sa.Column("done", json_type(), nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("finished_at", UTCDateTime),
    sa.Index("ix_notifications_state_next", "state", "next_attempt_at"),
)

# Posts saved before submission (issue 16): seen by their author (and admins) only, never checked,
# planned or queued for approval; submitting one inserts the message and deletes the draft together.
drafts = sa.Table(
    "drafts",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("municipality", sa.String(64), nullable=False),
    sa.Column("author", sa.String(128), nullable=False),
    sa.Column("body", json_type(), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_drafts_author_updated", "author", "updated_at"),
)
