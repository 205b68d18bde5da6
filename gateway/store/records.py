"""The ledger's values: what the store takes in (`NewMessage`, `NewDelivery`, ...) and gives back (records).

Frozen dataclasses, no behaviour beyond reading themselves; the role protocols that use them are in `base.py`.
"""


from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gateway.models import (
    CheckResult,
    DeliveryState,
    Message,
    MessageState,
    Platform,
    Priority,
    Role,
    Scope,
    message_digest,
)


@dataclass(frozen=True)
class AlertStamp:
    """What an alert post means, whatever its identifiers (see alerts/plan.py and issue 11)."""

    thread: str  # the thread hash (alert_key starts with it)
    subject: str  # what it is about (hash)
    content: str  # what it says (hash)
    issued_at: datetime  # the alert's issue time
    rank: int = 0  # the telegram scheme's rank within one issuance


@dataclass(frozen=True)
class MessageRecord:
    id: str
    municipality: str
    body: Message
    state: MessageState
    priority: Priority
    submitted_by: str
    source: str  # "api", "cli", "console", "alert"
    check: CheckResult
    created_at: datetime
    updated_at: datetime
    idempotency_key: str | None = None
    approved_by: str | None = None
    overrides: Mapping[str, str] = field(default_factory=dict)  # rule id -> reason
    accounts: tuple[str, ...] = ()  # resolved target accounts
    alert_key: str | None = None  # dedupe key of the alert it came from
    note: str | None = None  # approver's comment (send back)
    alert: AlertStamp | None = None
    body_sha256: str | None = None  # message_digest(body) at intake; None on rows from before it was kept
    revision: int = 1  # the version: 1 at intake, +1 with every edit before approval
    revised_by: str | None = None  # who wrote the newest version (never its approver)

    def submitted_as(self, message: Message) -> bool:
        """Whether `message` is the one stored (a row without a digest is taken to match)."""
        return self.body_sha256 is None or self.body_sha256 == message_digest(message)


@dataclass(frozen=True)
class NewMessage:
    municipality: str
    body: Message
    state: MessageState
    priority: Priority
    submitted_by: str
    source: str
    check: CheckResult
    accounts: tuple[str, ...]
    idempotency_key: str | None = None
    approved_by: str | None = None
    alert_key: str | None = None
    alert: AlertStamp | None = None
    audit_detail: Mapping[str, Any] = field(default_factory=dict)  # on the `message.accepted` row
    draft_id: str | None = None  # the draft it was submitted from: deleted in the same transaction


@dataclass(frozen=True)
class Revision:
    """A new version of a post waiting for approval or sent back: its content, checked again."""

    body: Message
    check: CheckResult
    accounts: tuple[str, ...]
    expected_revision: int  # the version edited: a concurrent edit makes this one a Conflict
    audit_detail: Mapping[str, Any] = field(default_factory=dict)  # on the `message.revised` row


@dataclass(frozen=True)
class Draft:
    """A post saved without submitting: seen by its author (and admins) only, never checked nor planned."""

    id: str
    municipality: str
    author: str
    body: Message
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class NewDelivery:
    account: str
    platform: Platform
    state: DeliveryState  # held, queued or skipped
    not_before: datetime | None
    reason: str | None = None  # why held/skipped, for the audit row
    language: str = "ja"  # the post's language (LINE: the first of the account's languages it sends)


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: datetime
    actor: str
    action: str
    message_id: str | None
    delivery_id: str | None
    from_state: str | None
    to_state: str | None
    reason: str | None
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    created_at: datetime
    password_hash: str | None = None
    disabled: bool = False
    session_epoch: int = 0  # signed into console cookies; moved on to end every older session
    scope: Scope = field(default_factory=Scope)  # through a token: the user's, narrowed by the token's
    email: str | None = None  # where notifications reach this person (optional)


@dataclass(frozen=True)
class StepApproval:
    """One step of a message's approval route, approved by one person."""

    step: int  # 0-based position in the route
    step_name: str
    approver: str
    at: datetime
    overrides: Mapping[str, str] = field(default_factory=dict)
    official_view: bool = False  # 美祢 第4-6: the approver decided this is the city's official view


@dataclass(frozen=True)
class LoginLimits:
    """Failed sign-ins the console accepts within `window` before each further attempt must wait.

    Past `per_user` failures of one user name (from any address) the next attempt waits `user_delay`,
    doubling with every further failure up to `user_max_delay`; past `per_address` failures from one
    address (whatever the names) it waits `address_delay`, doubling up to `address_max_delay`, kept
    short because a city office signs in from one address. Never a lockout of the whole office.
    """

    per_user: int = 5
    per_address: int = 30
    window: timedelta = timedelta(hours=1)
    user_delay: timedelta = timedelta(seconds=30)
    user_max_delay: timedelta = timedelta(minutes=15)
    address_delay: timedelta = timedelta(seconds=2)
    address_max_delay: timedelta = timedelta(seconds=60)

    def delay(self, failures: int, *, by_address: bool) -> timedelta:
        """How long after the newest of `failures` failures the next attempt waits (0 while under the limit)."""
        free, base, cap = ((self.per_address, self.address_delay, self.address_max_delay) if by_address
                           else (self.per_user, self.user_delay, self.user_max_delay))
        if failures < free:
            return timedelta(0)
        doubled: timedelta = base * (1 << min(failures - free, 20))
        return min(cap, doubled)


@dataclass(frozen=True)
class LoginAttempt:
    """A sign-in attempt, counted as failed until `login_succeeded`; or, refused, when to retry."""

    id: int | None  # None: refused, nothing counted
    retry_at: datetime | None = None
    retry_after: timedelta = timedelta(0)

    @property
    def allowed(self) -> bool:
        return self.id is not None


@dataclass(frozen=True)
class AccountPause:
    account: str
    until: datetime
    reason: str


# -- alerts held for an operator ---------------------------------------------------------------------

HELD_STATES = ("held", "restricted", "published", "dismissed")


@dataclass(frozen=True)
class NewHeldAlert:
    hold_code: str  # stale, expired, future, restricted, private
    reason: str
    format: str
    alert_key: str
    kind: str | None
    title: str
    sender: str
    sent_at: datetime
    drill: bool
    municipalities: tuple[str, ...]
    forced: str | None
    content: str  # what the held posts say (hash): the same content held twice is one entry
    raw: str
    sha256: str
    posts: tuple[Mapping[str, str], ...] = ()  # what publishing would post: municipality, account, text
    restricted: bool = False  # shown to operators, never published


@dataclass(frozen=True)
class HeldAlert:
    id: str
    received_at: datetime
    received_by: str
    state: str  # held, restricted, published, dismissed
    hold_code: str
    reason: str
    format: str
    alert_key: str
    kind: str | None
    title: str
    sender: str
    sent_at: datetime
    drill: bool
    municipalities: tuple[str, ...]
    forced: str | None
    content: str
    raw: str
    sha256: str
    posts: tuple[Mapping[str, str], ...] = ()
    decided_by: str | None = None
    decided_at: datetime | None = None
    note: str | None = None
    messages: tuple[str, ...] = ()


# -- account states and hijack alerts ---------------------------------------------------------------

@dataclass(frozen=True)
class AccountState:
    account: str
    stopped: bool
    stop_reason: str | None
    stopped_by: str | None
    stopped_at: datetime | None
    rotated_at: datetime | None  # last rotation recorded in the store (逗子 3-4(5))
    rotated_by: str | None


@dataclass(frozen=True)
class LedgerPost:
    """A delivery of one account as the hijack scan sees it: the ids and the message it carried."""

    delivery_id: str
    state: DeliveryState
    remote_id: str | None
    extra_ids: tuple[str, ...]  # further platform ids of a threaded post
    message: Message  # the message as submitted; `language` says which of its versions this post was
    language: str = "ja"


@dataclass(frozen=True)
class SuspectPost:
    account: str
    remote_id: str
    text: str
    url: str | None
    posted_at: datetime | None


@dataclass(frozen=True)
class HijackAlert:
    """A post on an account that the gateway did not make (逗子 3-5(4), 木更津 11(5)), kept as evidence."""

    id: int
    account: str
    remote_id: str
    text: str
    url: str | None
    posted_at: datetime | None
    detected_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    note: str | None


@dataclass(frozen=True)
class Notification:
    """An outbox row: an event someone must be told of (store/events.py), and how far its sending got."""

    id: str
    event: str
    created_at: datetime
    message_id: str | None = None
    delivery_id: str | None = None
    subject: str | None = None  # a held alert's id, a hijack alert's number
    actor: str | None = None
    reason: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    state: str = "pending"  # pending, sent, failed (given up), skipped (nobody to tell)
    attempts: int = 0
    next_attempt_at: datetime | None = None
    done: tuple[str, ...] = ()  # destinations already told
    last_error: str | None = None
    finished_at: datetime | None = None
