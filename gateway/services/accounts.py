"""Account health, stop/resume, credential rotation records and hijack detection.

What operators see per account on the console (木更津 11(7) inactivity, 7(2) credential rotation,
token validity, pauses, 小平 3(7) stops) and the periodic job that compares each account's recent
platform posts with the ledger (逗子 3-5(4), 木更津 11(5)).

Decisions:
- Inactive (木更津 11(7)): flagged at 30 or more days since the last sent post. An account that never
  posted is flagged once its credentials are 30 days old, or when their age is unknown (nothing
  tells us the account is new, and a dormant account is what the clause is about).
- Credential age: the later of the credentials file's `set_at` and the last rotation recorded
  here, so recording a rotation on the console counts also when the file is kept elsewhere.
- Stops are kept in the store (they outlive a restart); `Account.stopped` in the config also stops
  the account, and only the config can lift that.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway import metrics
from gateway.adapters.base import Adapter
from gateway.errors import Conflict, FieldProblem, GatewayError, InputError, NotFound
from gateway.logs import log_failure
from gateway.models import Platform, Priority, RemotePost
from gateway.pipeline.intake.languages import message_in
from gateway.policy import Account, Municipality, Policies
from gateway.services.messages import Gateway
from gateway.store.base import Store
from gateway.store.records import AccountState, HijackAlert, LedgerPost, SuspectPost

__all__ = ["AccountHealth", "AccountService", "HijackAlert"]

log = logging.getLogger("gateway.accounts")

Clock = Callable[[], datetime]
CredentialRows = Callable[[], Mapping[str, Mapping[str, Any]]]

INACTIVE_DAYS = 30  # 木更津 11(7)
HIJACK_SCAN_SECONDS = 900.0  # 木更津 11(5) asks for a daily check; every 15 minutes catches a hijack sooner
FIRST_SCAN_DELAY_S = 60.0
HIJACK_WINDOW = timedelta(days=2)  # how far back each scan looks on the platform
LEDGER_MARGIN = timedelta(days=7)  # the ledger is read further back: clocks and platform times differ
SCAN_ACTOR = "hijack-scan"
AUTH_CODE = "auth"  # error_code of gateway.errors.AuthError


@dataclass(frozen=True)
class AccountHealth:
    account: Account
    municipality: Municipality
    last_sent_at: datetime | None
    days_since_last_post: int | None
    inactive: bool
    credential_set_at: datetime | None
    credential_age_days: int | None
    rotation_due_at: datetime | None
    rotation_overdue: bool
    token_ok: bool | None  # None: unknown (nothing sent or failed yet)
    paused_until: datetime | None
    pause_reason: str | None
    stopped: bool
    stop_reason: str | None
    open_hijack_alerts: tuple[HijackAlert, ...]


@dataclass(frozen=True)
class _Facts:
    """Everything health() reads, fetched once for all accounts."""

    now: datetime
    last_sent: Mapping[str, datetime]
    pauses: Mapping[str, tuple[datetime, str]]
    states: Mapping[str, AccountState]
    failures: Mapping[str, tuple[datetime, str | None]]
    alerts: Mapping[str, tuple[HijackAlert, ...]]
    credentials: Mapping[str, Mapping[str, Any]]


class AccountService:
    def __init__(
        self, *, store: Store, policies: Policies, adapters: Mapping[Platform, Adapter],
        credentials_rows: CredentialRows | None, clock: Clock,
        wake: Callable[[Priority | None], None] | None = None, hijack_window: timedelta = HIJACK_WINDOW,
    ) -> None:
        self.store = store
        self.policies = policies
        self.adapters = adapters
        self.credentials_rows = credentials_rows
        self.clock = clock
        self.wake = wake  # the dispatcher's wake-up, so resumed deliveries go out without a polling delay
        self.hijack_window = hijack_window

    @classmethod
    def over(cls, gateway: Gateway) -> AccountService:
        """One over a gateway's ledger, for an app built without the runtime's (no credential ages)."""
        return cls(store=gateway.store, policies=gateway.policies, adapters=gateway.adapters, credentials_rows=None,
                   clock=gateway.clock, wake=gateway.dispatcher.wake)

    async def hijack_alert(self, alert_id: int) -> HijackAlert:
        return await self.store.get_hijack_alert(alert_id)

    async def list_hijack_alerts(self, *, open_only: bool = False, account: str | None = None,
                                 limit: int = 500) -> list[HijackAlert]:
        return await self.store.list_hijack_alerts(open_only=open_only, account=account, limit=limit)

    # -- health -----------------------------------------------------------------------------
    async def health(self) -> list[AccountHealth]:
        facts = await self._facts()
        return [self._health(municipality, account, facts)
                for municipality in self.policies for account in municipality.accounts]

    async def _facts(self) -> _Facts:
        now = self.clock()
        alerts: dict[str, list[HijackAlert]] = {}
        for alert in await self.store.list_hijack_alerts(open_only=True, limit=5000):
            alerts.setdefault(alert.account, []).append(alert)
        return _Facts(
            now=now, last_sent=await self.store.last_sent(),
            pauses={p.account: (p.until, p.reason) for p in await self.store.account_pauses(now)},
            states={s.account: s for s in await self.store.account_states()},
            failures=await self.store.latest_failures(),
            alerts={account: tuple(found) for account, found in alerts.items()},
            credentials=self._credential_rows(),
        )

    def _credential_rows(self) -> Mapping[str, Mapping[str, Any]]:
        if self.credentials_rows is None:
            return {}
        try:
            return self.credentials_rows()
        except GatewayError as exc:  # an unreadable credentials file must not hide the rest of the page
            log.warning("credentials could not be read for account health: %s", exc.code)
            return {}

    def _health(self, municipality: Municipality, account: Account, facts: _Facts) -> AccountHealth:
        now = facts.now
        sent = facts.last_sent.get(account.id)
        state = facts.states.get(account.id)
        set_at = _latest(_parse_time(facts.credentials.get(account.id, {}).get("set_at")),
                         state.rotated_at if state else None)
        age = max(0, (now - set_at).days) if set_at else None
        due = set_at + timedelta(days=municipality.credentials.rotation_days) if set_at else None
        days = max(0, (now - sent).days) if sent else None
        pause = facts.pauses.get(account.id)
        runtime_stop = state is not None and state.stopped
        return AccountHealth(
            account=account, municipality=municipality, last_sent_at=sent, days_since_last_post=days,
            inactive=_inactive(days, age), credential_set_at=set_at, credential_age_days=age,
            rotation_due_at=due, rotation_overdue=due is not None and now >= due,
            token_ok=_token_ok(sent, facts.failures.get(account.id)),
            paused_until=pause[0] if pause else None, pause_reason=pause[1] if pause else None,
            stopped=runtime_stop or account.stopped,
            stop_reason=_stop_reason(state if runtime_stop else None, account),
            open_hijack_alerts=facts.alerts.get(account.id, ()),
        )

    # -- stop, resume, rotation ---------------------------------------------------------------
    async def stop(self, account_id: str, actor: str, reason: str) -> int:
        """Stop the account (小平 3(7)): every pending delivery is held until it is resumed."""
        self._account(account_id)
        held = await self.store.stop_account(account_id, actor=actor, reason=_required(reason, "reason"))
        log.warning("account stopped", extra={"account": account_id, "held": len(held)})
        return len(held)

    async def resume(self, account_id: str, actor: str, reason: str) -> int:
        _, account = self._account(account_id)
        if account.stopped:
            raise Conflict(f"{account_id} は設定ファイルで停止されています。"
                           "再開するには設定の stopped を外してください")
        released = await self.store.resume_account(account_id, actor=actor, reason=_required(reason, "reason"))
        if self.wake is not None:
            for priority in {d.priority for d in released}:
                self.wake(priority)
        log.info("account resumed", extra={"account": account_id, "released": len(released)})
        return len(released)

    async def record_rotation(self, account_id: str, actor: str, reason: str) -> None:
        """Record a credential change (逗子 3-4(5), 木更津 7(2)); the audit row is `credentials.rotated`."""
        self._account(account_id)
        await self.store.record_rotation(account_id, actor=actor, reason=_required(reason, "reason"))

    def _account(self, account_id: str) -> tuple[Municipality, Account]:
        found = self.policies.account(account_id)
        if found is None:
            raise NotFound(f"アカウントが見つかりません: {account_id}")
        return found

    # -- hijack detection ---------------------------------------------------------------------
    async def hijack_scan_once(self) -> list[HijackAlert]:
        """Compare each account's recent platform posts with the ledger; alert on posts we did not make."""
        since = self.clock() - self.hijack_window
        created: list[HijackAlert] = []
        for municipality in self.policies:
            for account in municipality.accounts:
                created.extend(await self._scan_account(account, since))
        return created

    async def _scan_account(self, account: Account, since: datetime) -> list[HijackAlert]:
        adapter = self.adapters.get(account.platform)
        if adapter is None:
            return []
        try:
            remote = await adapter.recent(account, since)
        except GatewayError as exc:
            log.warning("recent() failed; account not scanned: %s", exc.code, extra={"account": account.id})
            return []
        except Exception:
            log.exception("recent() raised unexpectedly; account not scanned", extra={"account": account.id})
            return []
        if not remote:
            return []
        ledger = await self.store.account_posts(account.id, since - LEDGER_MARGIN)
        suspects = unknown_posts(account, adapter, remote, ledger, since)
        created = await self.store.add_hijack_alerts(suspects, actor=SCAN_ACTOR)
        for alert in created:
            metrics.HIJACK_ALERTS.labels(account.id).inc()
            log.warning("post not made by the gateway found", extra={
                "account": account.id, "remote_id": alert.remote_id, "alert_id": alert.id})
        return created

    async def resolve_hijack(self, alert_id: int, actor: str, note: str) -> HijackAlert:
        return await self.store.resolve_hijack_alert(alert_id, actor=actor, note=_required(note, "note"))

    # -- periodic job -------------------------------------------------------------------------
    async def update_queue_depth(self) -> None:
        for state, count in (await self.store.delivery_state_counts()).items():
            metrics.QUEUE_DEPTH.labels(state).set(count)

    async def run_periodic(self, interval_s: float, *, metrics_interval_s: float = 15.0,
                           beat: Callable[[], None] | None = None) -> None:
        """Scan for hijacks every `interval_s`; refresh the queue-depth gauge more often.

        The first scan waits a minute, so start-up (and its burst of planning) is not slowed by it.
        A round that fails is logged and the loop goes on (`beat` is called after each good round).
        """
        next_scan = time.monotonic() + min(interval_s, FIRST_SCAN_DELAY_S)
        while True:
            try:
                await self.update_queue_depth()
                if time.monotonic() >= next_scan:
                    next_scan = time.monotonic() + interval_s
                    await self.hijack_scan_once()
                if beat is not None:
                    beat()
            except Exception as exc:  # the next round tries again; the supervisor reports a loop without rounds
                log_failure(log, "account job failed", exc)
            await asyncio.sleep(min(interval_s, metrics_interval_s))


# -- matching -----------------------------------------------------------------------------------

def unknown_posts(
    account: Account, adapter: Adapter, remote: Iterable[RemotePost], ledger: Sequence[LedgerPost],
    since: datetime,
) -> list[SuspectPost]:
    """Remote posts whose id the ledger does not know and whose text matches nothing the gateway sent.

    The text comparison catches posts whose receipt was lost (uncertain, or sent by a worker that
    died before recording it). Posts older than the window are left alone: platforms list pinned
    posts first whatever their age.
    """
    known_ids = {i for post in ledger for i in (post.remote_id, *post.extra_ids) if i}
    exact, contained = _ledger_texts(account, adapter, ledger)
    suspects = []
    for post in remote:
        if post.remote_id in known_ids or (post.created_at is not None and post.created_at < since):
            continue
        text = _normal(post.text)
        if text in exact or any(t in text for t in contained):
            continue
        suspects.append(SuspectPost(account=account.id, remote_id=post.remote_id, text=post.text, url=post.url,
                                    posted_at=post.created_at))
    return suspects


def _ledger_texts(account: Account, adapter: Adapter, ledger: Sequence[LedgerPost]) -> tuple[set[str], set[str]]:
    """Rendered texts (exact match) and the bare message texts (found inside a platform-altered post)."""
    exact: set[str] = set()
    contained: set[str] = set()
    for post in ledger:
        message = message_in(post.message, account, post.language)
        bare = _normal(message.text)
        if bare:
            contained.add(bare)
        try:
            rendered = adapter.render(message, account)
        except GatewayError:
            continue
        exact.update(_normal(part.text) for part in rendered.parts)
    return exact, contained


def _normal(text: str) -> str:
    return " ".join(text.split())


# -- health helpers -------------------------------------------------------------------------------

def _inactive(days_since_post: int | None, credential_age_days: int | None) -> bool:
    if days_since_post is not None:
        return days_since_post >= INACTIVE_DAYS
    return credential_age_days is None or credential_age_days >= INACTIVE_DAYS


def _token_ok(last_sent: datetime | None, failure: tuple[datetime, str | None] | None) -> bool | None:
    if failure is not None and failure[1] == AUTH_CODE and (last_sent is None or last_sent < failure[0]):
        return False
    return True if last_sent is not None else None


def _stop_reason(state: AccountState | None, account: Account) -> str | None:
    if state is not None:
        return state.stop_reason
    return "設定ファイルで停止中" if account.stopped else None


def _latest(*times: datetime | None) -> datetime | None:
    found = [t for t in times if t is not None]
    return max(found) if found else None


def _parse_time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _required(value: str, name: str) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        label = "理由" if name == "reason" else "対応内容"
        raise InputError(f"{label}を入力してください", [FieldProblem(name, "missing", "必須項目です")])
    return text
