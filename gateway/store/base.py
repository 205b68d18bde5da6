"""What the pipeline, services, API and CLI may ask of the database, as role protocols.

`DeliveryQueue`, `MessageLedger`, `AccountLedger`, `UserDirectory` and `AuditLog` each name one concern;
`Store` is all of them. One SQLAlchemy implementation (`gateway.store.sql.SqlStore`) serves SQLite and
PostgreSQL. Every state change of a message or delivery writes its row and one audit row in the same
transaction. Methods raise only `gateway.errors` types (`NotFound`, `Conflict`, `StoreError`). The values
they take and give are in `records.py`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from gateway.models import Delivery, DeliveryState, Message, MessageState, Priority, Role, Scope
from gateway.store.listings import AuditQuery, Cursor, DeliveryQuery, MessageQuery
from gateway.store.records import (
    AccountPause,
    AccountState,
    AuditEvent,
    Draft,
    HeldAlert,
    HijackAlert,
    LedgerPost,
    LoginAttempt,
    LoginLimits,
    MessageRecord,
    NewDelivery,
    NewHeldAlert,
    NewMessage,
    Notification,
    Revision,
    StepApproval,
    SuspectPost,
    User,
)


class MessageLedger(Protocol):
    """Messages, their approval steps and the alerts held for an operator."""

    async def add_message(self, new: NewMessage, *, actor: str) -> tuple[MessageRecord, bool]:
        """Insert a message (audit `message.accepted`). With an idempotency key already used by the
        same submitter, return the existing record and False instead."""
        ...

    async def add_planned_message(
        self, new: NewMessage, deliveries: Sequence[NewDelivery] | None, *, actor: str,
    ) -> tuple[MessageRecord, bool, list[Delivery]]:
        """`add_message`, and with `deliveries` the plan too, in one transaction (state `planned`)."""
        ...

    async def get_message(self, message_id: str) -> MessageRecord:
        """Raises NotFound."""
        ...

    async def get_messages(self, message_ids: Collection[str]) -> dict[str, MessageRecord]:
        """id -> message for those of `message_ids` that exist (one query)."""
        ...

    async def list_messages(
        self, *, states: Collection[MessageState] | None = None, municipality: str | None = None,
        limit: int = 100, alert_key_prefix: str | None = None, alert_thread: str | None = None,
    ) -> list[MessageRecord]:
        """Newest first; `alert_thread` finds the messages of one alert thread (`alert_key_prefix` too,
        without an index)."""
        ...

    async def alert_history(
        self, municipality: str, *, thread: str, subject: str, since: datetime,
    ) -> tuple[MessageRecord | None, MessageRecord | None]:
        """In one query: the newest alert message of `municipality` in `thread`, and the newest one
        about `subject` created at or after `since`."""
        ...

    async def transition_message(
        self, message_id: str, *, expected: Collection[MessageState], new: MessageState, actor: str,
        reason: str | None = None, approved_by: str | None = None,
        overrides: Mapping[str, str] | None = None, note: str | None = None,
    ) -> MessageRecord:
        """Compare-and-set the state (audit row); Conflict when the state is not in `expected`."""
        ...

    async def revise_message(
        self, message_id: str, revision: Revision, *, expected: Collection[MessageState], actor: str,
        reason: str,
    ) -> MessageRecord:
        """A new version of the post and its check; approvals cleared, back to `pending_approval`, version + 1,
        audit `message.revised`, in one transaction. Conflict for another state or a concurrent edit."""
        ...

    async def plan_message(
        self, message_id: str, deliveries: Sequence[NewDelivery], *, actor: str, urgent: bool = False,
    ) -> list[Delivery]:
        """Insert the deliveries and move the message approved -> planned in one transaction.
        Conflict if the message is not `approved` (so a message is planned exactly once)."""
        ...

    async def approve_step(self, message_id: str, approval: StepApproval, *, final: bool, actor: str,
                           overrides: Mapping[str, str] | None = None) -> MessageRecord:
        """Record one step's approval (audit `message.step_approved`), and when it is the route's
        last, move the message to approved in the same transaction. Conflict when the step was taken
        meanwhile, the approver already approved a step of it, or it is no longer pending."""
        ...

    async def list_approvals(self, message_id: str) -> list[StepApproval]:
        """The message's approved steps, in route order."""
        ...

    async def add_held_alert(self, new: NewHeldAlert, *, actor: str) -> tuple[HeldAlert, bool]:
        """Record a held or restricted alert (audit `alert.held` / `alert.restricted`). When an entry
        with the same content is still waiting, return it and False instead."""
        ...

    async def get_held_alert(self, held_id: str) -> HeldAlert:
        """Raises NotFound."""
        ...

    async def list_held_alerts(
        self, *, states: Collection[str] | None = None, municipality: str | None = None, limit: int = 100,
    ) -> list[HeldAlert]:
        """Newest first."""
        ...

    async def decide_held_alert(
        self, held_id: str, *, expected: Collection[str], new: str, actor: str, note: str | None,
        messages: Sequence[str] = (),
    ) -> HeldAlert:
        """Move a held alert to `new` (published, dismissed) with an audit row; Conflict when its state
        is not one of `expected` (another operator decided first)."""
        ...

    # -- paginated listings (filters, scope, order and pages in SQL) ---------------------------
    async def page_messages(self, query: MessageQuery, *, limit: int, offset: int = 0,
                            after: Cursor | None = None) -> list[MessageRecord]:
        """One page of messages, newest first (by offset, or after a keyset cursor)."""
        ...

    async def count_messages(self, query: MessageQuery) -> int: ...


class DeliveryQueue(Protocol):
    """Deliveries: listing, releasing, claiming, transitions, and the workers that hold leases."""

    async def get_delivery(self, delivery_id: str) -> Delivery: ...

    async def list_deliveries(
        self, *, states: Collection[DeliveryState] | None = None, account: str | None = None,
        message_id: str | None = None, limit: int = 500, municipalities: Collection[str] | None = None,
    ) -> list[Delivery]: ...

    async def release_held(self, now: datetime) -> list[Delivery]:
        """held deliveries whose not_before has come -> queued (audit rows)."""
        ...

    async def claim_due(
        self, *, worker: str, now: datetime, limit: int, lease_seconds: float,
        priorities: Collection[Priority] | None = None,
    ) -> list[Delivery]:
        """Claim queued and due retry_wait deliveries, most urgent first, skipping paused accounts
        and deliveries leased by others: state -> sending, attempts + 1, lease set (audit rows)."""
        ...

    async def transition_delivery(
        self, delivery_id: str, *, expected: Collection[DeliveryState], new: DeliveryState, actor: str,
        reason: str | None = None, fields: Mapping[str, Any] | None = None,
        detail: Mapping[str, Any] | None = None, urgent: bool = False,
    ) -> Delivery:
        """Compare-and-set a delivery's state and the given columns (retry_at, remote_id, remote_url,
        error_code, error_text, sent_at, lease_owner, lease_expires, not_before, attempts); one audit row.
        Conflict when the state is not in `expected`. `urgent` (emergency deliveries) lets the write
        go ahead of routine writes waiting for SQLite's single writer slot."""
        ...

    async def heartbeat(self, worker_id: str, *, host: str, pid: int, started_at: datetime) -> None:
        """Record that this worker (process) is alive now."""
        ...

    async def worker_stopped(self, worker_id: str) -> None:
        """This worker stops: its deliveries still `sending` may be settled at once."""
        ...

    async def orphaned_leases(self, stale_before: datetime) -> list[Delivery]:
        """Deliveries `sending` under a worker that stopped, or last beat before `stale_before`."""
        ...

    async def expired_leases(self, now: datetime) -> list[Delivery]:
        """Deliveries still `sending` whose lease has expired (their worker died)."""
        ...

    async def next_wakeup(self) -> datetime | None:
        """The earliest not_before of a held delivery or retry_at of a waiting one."""
        ...


    # -- paginated listings ---------------------------------------------------------------
    async def page_deliveries(self, query: DeliveryQuery, *, limit: int, offset: int = 0) -> list[Delivery]:
        """One page of deliveries, emergencies first, then the most recently changed."""
        ...

    async def deliveries_after(self, query: DeliveryQuery, *, limit: int,
                               after: Cursor | None = None) -> list[Delivery]:
        """One keyset page of deliveries, newest first, after the cursor of the page before."""
        ...

    async def count_deliveries(self, query: DeliveryQuery) -> int: ...

    async def deliveries_between(self, query: DeliveryQuery, start: datetime, end: datetime, *,
                                 limit: int) -> list[Delivery]:
        """Deliveries going or gone out in [start, end) (sent, else scheduled, else planned), in time order."""
        ...


class AccountLedger(Protocol):
    """Accounts: rate-limit pauses, stops, credential rotations, health facts and hijack alerts."""

    async def pause_account(self, account: str, *, until: datetime, reason: str, actor: str) -> None: ...

    async def account_pauses(self, now: datetime) -> list[AccountPause]: ...

    async def last_sent(self) -> dict[str, datetime]:
        """account -> time of its most recent sent delivery."""
        ...

    async def stopped_accounts(self) -> dict[str, str]:
        """account -> reason, for accounts an operator has stopped (小平 3(7)); may be kept for
        a moment, except that this store's own stops and resumes show at once."""
        ...

    def stops_changed(self) -> None:
        """Another replica stopped or resumed an account: the next `stopped_accounts` reads anew."""
        ...

    async def stop_account(self, account: str, *, actor: str, reason: str) -> list[Delivery]:
        """Mark the account stopped (audit `account.stopped`) and hold its queued and retry_wait
        deliveries with no not_before (audit `delivery.held` each), in one transaction; returns them.
        Conflict when it is already stopped."""
        ...

    async def resume_account(self, account: str, *, actor: str, reason: str) -> list[Delivery]:
        """Clear the stop (audit `account.resumed`) and move its held deliveries that have no
        not_before to queued (audit `delivery.queued` each); returns them. Conflict when the account
        is neither stopped nor holding such deliveries (left by a config stop since lifted)."""
        ...

    async def record_rotation(self, account: str, *, actor: str, reason: str) -> datetime:
        """Record that the account's credentials were changed (audit `credentials.rotated`); returns when."""
        ...

    async def account_states(self) -> list[AccountState]: ...

    async def latest_failures(self) -> dict[str, tuple[datetime, str | None]]:
        """account -> (updated_at, error_code) of its most recent failed delivery."""
        ...

    async def delivery_state_counts(self) -> dict[str, int]:
        """state -> number of deliveries in it, for the states that are not final."""
        ...

    async def account_posts(self, account: str, since: datetime) -> list[LedgerPost]:
        """What the gateway published (or may have published) on the account since `since`."""
        ...

    async def add_hijack_alerts(self, found: Sequence[SuspectPost], *, actor: str) -> list[HijackAlert]:
        """Insert the posts not alerted before (audit `account.hijack_suspected` each); returns the new ones."""
        ...

    async def list_hijack_alerts(
        self, *, open_only: bool = False, account: str | None = None, limit: int = 500,
    ) -> list[HijackAlert]:
        """Newest first."""
        ...

    async def get_hijack_alert(self, alert_id: int) -> HijackAlert: ...

    async def resolve_hijack_alert(self, alert_id: int, *, actor: str, note: str) -> HijackAlert:
        """Close an open alert (audit `account.hijack_resolved`); NotFound, or Conflict when already closed."""
        ...


class UserDirectory(Protocol):
    """People and systems: users, roles, scopes, tokens, console passwords and sign-in throttling."""

    async def ensure_user(self, name: str, role: Role, *, actor: str, scope: Scope | None = None) -> User:
        """Create the user if missing (with `scope`; by default every city for admin and alert systems,
        none for the others); an existing user is returned unchanged, and Conflict when its role differs."""
        ...

    async def create_user(self, name: str, role: Role, scope: Scope, *, actor: str,
                          password_hash: str | None = None) -> User:
        """A new user (audit `user.created`); Conflict, changing nothing, when the name exists."""
        ...

    async def set_role(self, name: str, role: Role, *, actor: str) -> User:
        """Change a user's role (audit `user.role_changed`; ends console sessions); NotFound if unknown."""
        ...

    async def set_scope(self, name: str, scope: Scope, *, actor: str) -> User:
        """Change a user's scope (audit `user.scope_changed`; ends console sessions); NotFound if unknown."""
        ...

    async def list_users(self) -> list[User]: ...

    async def set_email(self, name: str, email: str | None, *, actor: str) -> User:
        """Set or clear the user's e-mail address (audited)."""
        ...

    async def get_user(self, name: str) -> User | None: ...

    async def add_token(self, *, token_hash: str, user: str, expires_at: datetime, actor: str,
                        scope: Scope | None = None) -> None: ...

    async def user_for_token(self, token_hash: str, now: datetime) -> User | None:
        """The user a live (unexpired, unrevoked) token belongs to, its scope narrowed by the token's."""
        ...

    async def revoke_user_tokens(self, name: str, *, actor: str) -> int:
        """Revoke every live token of the user (audit `token.revoked`); how many."""
        ...

    async def revoke_token(self, token_hash: str, *, actor: str) -> bool:
        """Revoke a token (audit `token.revoked`); False when it was unknown or already revoked."""
        ...

    @property
    def auth_generation(self) -> int:
        """Moves on whenever this store revokes a token or disables a user: caches of token look-ups
        made before are stale."""
        ...

    async def set_password(self, name: str, password_hash: str, *, actor: str) -> None:
        """Store a user's password hash and end the user's console sessions (audit `user.password_set`);
        NotFound for an unknown user."""
        ...

    async def set_user_disabled(self, name: str, disabled: bool, *, actor: str) -> None:
        """Disable (or enable again) a user; either ends the user's console sessions (audit
        `user.disabled` / `user.enabled`). NotFound for an unknown user."""
        ...

    async def end_sessions(self, name: str, *, actor: str) -> None:
        """End every console session of the user issued so far (sign-out; audit `user.signed_out`)."""
        ...

    async def reserve_login(self, user: str, address: str, limits: LoginLimits) -> LoginAttempt:
        """Count a sign-in attempt as failed before its password is checked, in one transaction with
        the check of `limits`; refused (nothing counted) when the user from this address, or the
        address, has reached them."""
        ...

    async def login_succeeded(self, attempt: LoginAttempt, user: str, address: str) -> None:
        """The attempt was right: uncount it, and clear the user's failures from this address (they
        still count against the address)."""
        ...

    async def unlock_logins(self, *, actor: str, user: str | None = None, address: str | None = None) -> int:
        """Clear a user's failed sign-ins (from every address), or every attempt from an address (audit
        `user.unlocked`); the number of attempts cleared."""
        ...


class AuditLog(Protocol):
    """The audit trail: one row per state change, and what callers record themselves."""

    async def audit(
        self, *, actor: str, action: str, message_id: str | None = None, delivery_id: str | None = None,
        reason: str | None = None, detail: Mapping[str, Any] | None = None,
    ) -> None: ...

    async def list_audit(
        self, *, message_id: str | None = None, delivery_id: str | None = None, actor: str | None = None,
        action: str | None = None, limit: int = 500,
    ) -> list[AuditEvent]: ...

    async def page_audit(self, query: AuditQuery, *, limit: int, offset: int = 0,
                         before_id: int | None = None) -> list[AuditEvent]:
        """One page of audit events, newest first (by offset, or below `before_id` for a full export)."""
        ...

    async def count_audit(self, query: AuditQuery) -> int: ...


class Outbox(Protocol):
    """Notifications waiting to be sent (written by the events' own transactions, store/events.py)."""

    async def claim_notifications(self, *, now: datetime, limit: int, lease_seconds: float) -> list[Notification]:
        """Lease up to `limit` due pending rows, oldest first."""
        ...

    async def record_notification(
        self, notification_id: str, *, state: str, done: Sequence[str], attempts: int,
        next_attempt_at: datetime, last_error: str | None,
    ) -> None:
        """Record how far a claimed row got (and end its lease)."""
        ...

    async def note_notification_progress(self, notification_id: str, done: Sequence[str]) -> None:
        """The destinations told so far, keeping the lease."""
        ...

    async def list_notifications(
        self, *, states: Collection[str] | None = None, event: str | None = None, limit: int = 500,
    ) -> list[Notification]: ...


class DraftBook(Protocol):
    """Posts saved without submitting (audit `draft.saved`, `draft.deleted`); a `NewMessage` naming a draft
    deletes it in the transaction that inserts the message."""

    async def add_draft(self, body: Message, *, author: str) -> Draft: ...

    async def update_draft(self, draft_id: str, body: Message, *, actor: str) -> Draft:
        """Raises NotFound."""
        ...

    async def get_draft(self, draft_id: str) -> Draft:
        """Raises NotFound."""
        ...

    async def list_drafts(self, *, author: str | None, municipalities: Collection[str] | None = None,
                          limit: int = 200) -> list[Draft]:
        """Newest first; `author` None: everyone's."""
        ...

    async def delete_draft(self, draft_id: str, *, actor: str) -> None:
        """Raises NotFound."""
        ...


class Store(MessageLedger, DraftBook, DeliveryQueue, AccountLedger, UserDirectory, AuditLog, Outbox, Protocol):
    """Every role on one database (`SqlStore`); a caller that needs less may name the role it uses."""

    async def aclose(self) -> None: ...

    async def checkpoint(self) -> None:
        """Routine database upkeep off the hot path (SQLite: a passive WAL checkpoint)."""
        ...

    async def warm_up(self) -> None:
        """Exercise the hot path's statements once (rolled back) so the first alert is not slower."""
        ...
