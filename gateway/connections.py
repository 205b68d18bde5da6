"""Connecting accounts from the console: a city admin authorises the gateway on the platform.

The flow, whatever the platform (each platform's `Connector` lives in `gateway/adapters/`):
`begin` makes a one-time `state` and a PKCE verifier bound to the admin's console session and sends
the browser to the platform's consent page; `complete` takes the platform's answer on the callback
(the state must be known, unused, young, and started by the same session), exchanges the code, and
stores the tokens in the encrypted credentials file. Platforms without a consent page (channel
credentials) `issue` tokens from a form. `refresh_due` renews every connected token before it
expires; a failure is logged, audited (`credentials.refresh_failed`) and shown on the accounts page.

Token values never leave this module except into the credentials file: audit rows, logs and
errors carry account ids, field names, expiry times and the platform's error code only.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

from gateway.errors import FieldProblem, Forbidden, GatewayError, InputError
from gateway.logs import log_failure
from gateway.models import Platform, Role
from gateway.policy import Account, Municipality, Policies
from gateway.store.base import Store

log = logging.getLogger("gateway.connections")

PENDING_TTL = timedelta(minutes=10)
MAX_PENDING = 1000
CALLBACK_PATH = "/console/connect/callback"
EXPIRES_AT = "expires_at"  # credential field: when the access token stops working (ISO 8601, UTC)
REFRESH_ACTOR = "token-refresh"
CONNECTED, REFRESHED, REFRESH_FAILED = "credentials.connected", "credentials.refreshed", "credentials.refresh_failed"

Clock = Callable[[], datetime]


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).decode().rstrip("=")


@dataclass(frozen=True)
class Pending:
    """One consent in progress: what the callback must match, and what it may carry on to a choice."""

    account_id: str
    state: str
    verifier: str
    redirect_uri: str
    session_key: str
    actor: str
    created_at: datetime
    carried: Mapping[str, str] = field(default_factory=dict)  # e.g. a user token while a page is chosen
    options: tuple[tuple[str, str], ...] = ()  # (value, label) the admin chooses from

    def __repr__(self) -> str:  # never show the verifier or carried tokens
        return f"Pending(account_id={self.account_id!r}, actor={self.actor!r})"


@dataclass(frozen=True)
class Grant:
    """Credential fields to store, per account (one consent can connect two: a page and the account behind it)."""

    by_account: Mapping[str, Mapping[str, str]]

    def __repr__(self) -> str:
        return f"Grant(accounts={sorted(self.by_account)})"


@dataclass(frozen=True)
class Choice:
    """The consent gave several candidates (pages); the admin picks one, then `finish` makes the grant."""

    options: tuple[tuple[str, str], ...]
    carried: Mapping[str, str]

    def __repr__(self) -> str:
        return f"Choice(options={len(self.options)})"


class Connector:
    """One platform's way of connecting an account. Subclasses override what their platform has."""

    platform: ClassVar[Platform]
    uses_consent: ClassVar[bool] = True  # False: tokens are issued from a form (`form_fields`)
    form_fields: ClassVar[tuple[tuple[str, str], ...]] = ()  # (name, Japanese label)
    refresh_margin: ClassVar[timedelta] = timedelta(minutes=15)

    def authorize_url(self, pending: Pending) -> str:
        raise InputError("このプラットフォームは同意画面での接続に対応していません", code="connect_unsupported")

    def consent_origin(self) -> str | None:
        """Where the consent page lives (the console's forms must be allowed to go there)."""
        return None

    async def exchange(self, account: Account, city: Municipality, code: str, pending: Pending) -> Grant | Choice:
        raise InputError("このプラットフォームは同意画面での接続に対応していません", code="connect_unsupported")

    async def finish(self, account: Account, city: Municipality, value: str, carried: Mapping[str, str]) -> Grant:
        raise InputError("選択の必要な接続ではありません", code="connect_unsupported")

    async def issue(self, account: Account, form: Mapping[str, str]) -> Grant:
        raise InputError("このプラットフォームはフォームでの接続に対応していません", code="connect_unsupported")

    async def refresh(self, account_id: str, fields: Mapping[str, str]) -> Mapping[str, str] | None:
        """New fields for an expiring token, or None when this platform's tokens are not renewed."""
        return None


class CredentialWriter(Protocol):
    """What the service needs of the encrypted credentials file (gateway.credentials.EncryptedCredentialFile)."""

    def get(self, account_id: str) -> Mapping[str, Any]: ...
    def set_many(self, by_account: Mapping[str, Mapping[str, str]], *, actor: str, reason: str) -> None: ...
    def list_masked(self) -> list[dict[str, object]]: ...


@dataclass(frozen=True)
class ConnectionStatus:
    """What the accounts page shows: connected from the console, token expiry, the last refresh failure."""

    connected_at: datetime | None = None
    connected_by: str | None = None
    expires_at: datetime | None = None
    refreshed_at: datetime | None = None
    failed_at: datetime | None = None
    failure: str | None = None

    @property
    def failing(self) -> bool:
        """The last renewal failed and nothing has worked since: neither a renewal nor connecting again."""
        worked = [at for at in (self.refreshed_at, self.connected_at) if at is not None]
        return self.failed_at is not None and (not worked or max(worked) < self.failed_at)


class ConnectionService:
    def __init__(self, *, store: Store, policies: Policies, credentials: CredentialWriter | None,
                 connectors: Mapping[Platform, Connector], clock: Clock, public_url: str | None = None) -> None:
        self.store = store
        self.policies = policies
        self.credentials = credentials
        self.connectors = connectors
        self.clock = clock
        self.public_url = public_url.rstrip("/") if public_url else None
        self._pending: dict[str, Pending] = {}

    # -- who may ---------------------------------------------------------------------------------
    def require_admin(self, actor_name: str, role: Role, covers: Callable[[str, str], bool],
                      account_id: str) -> tuple[Municipality, Account]:
        found = self.policies.account(account_id)
        if found is None:
            raise InputError(f"アカウントが見つかりません: {account_id}", code="not_found")
        city, account = found
        if role is not Role.ADMIN or not covers(city.id, account.id):
            raise Forbidden(f"アカウントの接続は、{city.name}の管理者だけができます")
        return city, account

    def connector(self, account: Account) -> Connector:
        found = self.connectors.get(account.platform)
        if found is None:
            raise InputError(f"{account.id}: このプラットフォームはコンソールから接続できません",
                             code="connect_unsupported")
        return found

    def consent_origins(self) -> list[str]:
        return sorted({origin for c in self.connectors.values() if (origin := c.consent_origin())})

    def _writer(self) -> CredentialWriter:
        if self.credentials is None:
            raise InputError("認証情報の暗号鍵が設定されていないため、アカウントを接続できません。"
                             "GATEWAY_CREDENTIALS_KEY または GATEWAY_CREDENTIALS_KEY_FILE を設定してください",
                             code="credentials_no_key")
        return self.credentials

    # -- consent flow ----------------------------------------------------------------------------
    def begin(self, account: Account, *, actor: str, session_key: str, origin: str) -> str:
        """The consent page URL to send the admin's browser to."""
        self._writer()
        connector = self.connector(account)
        now = self.clock()
        self._expire(now)
        pending = Pending(account.id, secrets.token_urlsafe(32), secrets.token_urlsafe(64),
                          (self.public_url or origin.rstrip("/")) + CALLBACK_PATH, session_key, actor, now)
        self._pending[pending.state] = pending
        log.info("account connection started", extra={"account": account.id, "actor": actor})
        return connector.authorize_url(pending)

    def take(self, state: str, *, session_key: str) -> Pending:
        """The pending consent for this callback, used up; a clear refusal for anything else."""
        self._expire(self.clock())
        pending = self._pending.pop(state, None) if state else None
        if pending is None:
            raise InputError("この認証の応答は無効です。期限切れ（10分）か、すでに使われた応答です。"
                             "アカウント画面からもう一度「接続する」を押してください", code="connect_state_invalid")
        if not secrets.compare_digest(pending.session_key, session_key):
            raise InputError("この認証の応答は、別のログインで始められた接続のものです。"
                             "接続を始めた画面からもう一度やり直してください", code="connect_session_mismatch")
        return pending

    async def complete(self, pending: Pending, *, code: str, error: str) -> Pending | None:
        """Exchange the code and store the tokens; a Pending with options when the admin must choose."""
        city, account = self._found(pending.account_id)
        if error or not code:
            raise InputError(f"{account.id}: プラットフォームで許可されませんでした"
                             f"（{_short(error) or 'コードがありません'}）。もう一度接続してください",
                             code="connect_denied")
        result = await self.connector(account).exchange(account, city, code, pending)
        if isinstance(result, Choice):
            chosen = replace(pending, carried=dict(result.carried), options=result.options)
            self._pending[pending.state] = chosen
            return chosen
        await self._save(result, actor=pending.actor)
        return None

    async def choose(self, pending: Pending, value: str) -> None:
        city, account = self._found(pending.account_id)
        if value not in {v for v, _ in pending.options}:
            raise InputError("選択肢にない値です。もう一度接続してください", code="connect_choice_invalid")
        grant = await self.connector(account).finish(account, city, value, pending.carried)
        await self._save(grant, actor=pending.actor)

    async def issue(self, account: Account, form: Mapping[str, str], *, actor: str) -> None:
        """Tokens issued from credentials the admin typed in (no consent page)."""
        self._writer()
        connector = self.connector(account)
        missing = [name for name, _ in connector.form_fields if not form.get(name, "").strip()]
        if missing:
            raise InputError("必要な項目が入力されていません",
                             [FieldProblem(name, "missing", "必須項目です") for name in missing])
        await self._save(await connector.issue(account, {k: v.strip() for k, v in form.items()}), actor=actor)

    def pending_choice(self, state: str, *, session_key: str) -> Pending:
        """A consent waiting for the admin's choice, left in place (the form posts it back)."""
        found = self._pending.get(state)
        if found is None or not found.options or not secrets.compare_digest(found.session_key, session_key):
            raise InputError("この選択は無効です。期限切れか、すでに完了しています。もう一度接続してください",
                             code="connect_state_invalid")
        return found

    # -- storing and refreshing -------------------------------------------------------------------
    async def _save(self, grant: Grant, *, actor: str, action: str = CONNECTED) -> None:
        self._writer().set_many(grant.by_account, actor=actor,
                                reason="トークンの更新" if action == REFRESHED else "コンソールから接続")
        for account_id, fields in grant.by_account.items():
            await self.store.audit(actor=actor, action=action, detail={
                "account": account_id, "fields": sorted(fields), EXPIRES_AT: fields.get(EXPIRES_AT)})
            log.info("account credentials stored", extra={"account": account_id, "action": action})

    async def refresh_due(self) -> list[str]:
        """Renew every connected token that expires within its platform's margin; the accounts renewed."""
        if self.credentials is None:
            return []
        renewed = []
        for row in self.credentials.list_masked():
            account_id = str(row["account"])
            if await self._refresh_one(account_id):
                renewed.append(account_id)
        return renewed

    async def run_periodic(self, interval_s: float, *, beat: Callable[[], None] | None = None) -> None:
        """Renew expiring tokens every `interval_s`; a round that fails is logged and the loop goes on."""
        while True:
            try:
                await self.refresh_due()
                if beat is not None:
                    beat()
            except Exception as exc:  # the next round tries again; the supervisor reports a loop without rounds
                log_failure(log, "token refresh round failed", exc)
            await asyncio.sleep(interval_s)

    async def _refresh_one(self, account_id: str) -> bool:
        found = self.policies.account(account_id)
        connector = self.connectors.get(found[1].platform) if found else None
        if connector is None or self.credentials is None:
            return False
        fields = {k: _plain(v) for k, v in self.credentials.get(account_id).items()}
        expires = _time(fields.get(EXPIRES_AT))
        if expires is None or expires - self.clock() > connector.refresh_margin:
            return False
        try:
            renewed = await connector.refresh(account_id, fields)
        except GatewayError as exc:
            await self._refresh_failed(account_id, exc)
            return False
        if renewed is None:
            return False
        await self._save(Grant({account_id: {**fields, **renewed}}), actor=REFRESH_ACTOR, action=REFRESHED)
        return True

    async def _refresh_failed(self, account_id: str, exc: GatewayError) -> None:
        log.warning("token refresh failed: %s", exc.code, extra={"account": account_id})
        before = (await self.statuses()).get(account_id)
        first = before is None or not before.failing  # people are told once, not at every round that fails again
        await self.store.audit(actor=REFRESH_ACTOR, action=REFRESH_FAILED, reason=exc.message,
                               detail={"account": account_id, "error": exc.code, "first": first})

    async def statuses(self) -> dict[str, ConnectionStatus]:
        """Per account, from the audit log (who connected, refreshes and failures) and the stored expiry."""
        found: dict[str, ConnectionStatus] = {}
        for action in (CONNECTED, REFRESHED, REFRESH_FAILED):
            for event in await self.store.list_audit(action=action, limit=2000):
                account_id = str(event.detail.get("account", ""))
                found[account_id] = _with_event(found.get(account_id, ConnectionStatus()), event.action,
                                                event.at, event.actor, event.reason, event.detail)
        for account_id, status in found.items():  # the stored token's own expiry, whichever event set it
            found[account_id] = replace(status, expires_at=self._stored_expiry(account_id) or status.expires_at)
        return found

    def _stored_expiry(self, account_id: str) -> datetime | None:
        if self.credentials is None:
            return None
        try:
            return _time(_plain(self.credentials.get(account_id).get(EXPIRES_AT, "")))
        except GatewayError:  # not stored (any more), or the file is unreadable: the page shows the rest
            return None

    def _found(self, account_id: str) -> tuple[Municipality, Account]:
        found = self.policies.account(account_id)
        if found is None:
            raise InputError(f"アカウントが見つかりません: {account_id}", code="not_found")
        return found

    def _expire(self, now: datetime) -> None:
        for state in [s for s, p in self._pending.items() if now - p.created_at > PENDING_TTL]:
            del self._pending[state]
        while len(self._pending) >= MAX_PENDING:
            self._pending.pop(next(iter(self._pending)))


def _with_event(status: ConnectionStatus, action: str, at: datetime, actor: str, reason: str | None,
                detail: Mapping[str, object]) -> ConnectionStatus:
    expires = _time(detail.get(EXPIRES_AT))
    if action == CONNECTED and (status.connected_at is None or at >= status.connected_at):
        return replace(status, connected_at=at, connected_by=actor, expires_at=expires or status.expires_at)
    if action == REFRESHED and (status.refreshed_at is None or at >= status.refreshed_at):
        return replace(status, refreshed_at=at, expires_at=expires or status.expires_at)
    if action == REFRESH_FAILED and (status.failed_at is None or at >= status.failed_at):
        return replace(status, failed_at=at, failure=reason)
    return status


def _plain(value: object) -> str:
    secret = getattr(value, "get_secret_value", None)
    return str(secret() if callable(secret) else value)


def _time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _short(text: str) -> str:
    """A platform's error code as shown to people: short, printable."""
    return "".join(c for c in text if c.isalnum() or c in "_-. ")[:80]
