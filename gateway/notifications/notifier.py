"""The notifier: sends the outbox's notifications from the worker, with retries and backoff.

It runs as a loop of its own under the worker's supervisor, off every delivery's path: it claims a
few due rows under a lease, works out who is told (per city, `recipients.py`), says it in Japanese
(`texts.py`) and sends (`transports.py`). Each destination told is recorded at once, so a retry or a
crash tells only the others. A destination that fails for a while is tried again with a growing pause
(`retry_seconds`) until `give_up_after`; a refusal (a 4xx, an unknown mailbox) is not retried. A
destination whose secret is not set is skipped (logged once at start-up).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import aiohttp
from pydantic import SecretStr
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from gateway.background import Beat
from gateway.errors import GatewayError, NotFound, PermanentError, RetryableError
from gateway.logs import log_failure, register_secrets
from gateway.notifications.recipients import Destination, destinations
from gateway.notifications.texts import Facts, Text, opening, render, webhook_payload
from gateway.notifications.transports import Mail, SmtpSender, WebhookSender
from gateway.policy import Municipality, Policies, account_label
from gateway.policy_notifications import secret_env
from gateway.store.base import Store
from gateway.store.records import Notification

log = logging.getLogger("gateway.notifications")

Clock = Callable[[], datetime]

# Rows per claim, and how long a claim is held (longer than sending them takes, timeouts included).
BATCH = 10
LEASE_SECONDS = 300.0


@dataclass(frozen=True)
class NoticeRetry:
    """Backoff between rounds for a destination that failed: `first` doubling up to `longest`, for at most
    `give_up_after` after the event. Within a round, a quick second try (tenacity) rides out a blip."""

    first: timedelta = timedelta(seconds=30)
    longest: timedelta = timedelta(minutes=30)
    give_up_after: timedelta = timedelta(hours=48)
    quick_tries: int = 2

    def next_attempt(self, now: datetime, attempts: int) -> datetime:
        return now + min(self.first * (1 << min(max(attempts - 1, 0), 20)), self.longest)


@dataclass
class _Round:
    """One claimed row while it is being sent."""

    notification: Notification
    done: list[str]
    refused: list[str]
    errors: list[str]
    retry: bool = False


class Notifier:
    def __init__(self, *, store: Store, policies: Policies, secrets: Mapping[str, SecretStr], console_url: str,
                 clock: Clock, retry: NoticeRetry | None = None, poll_seconds: float = 2.0) -> None:
        self.store = store
        self.policies = policies
        self._secrets = {name.lower(): value for name, value in secrets.items()}
        self._console_url = console_url.rstrip("/")
        self.clock = clock
        self.retry = retry or NoticeRetry()
        self.poll_seconds = poll_seconds
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="smtp")
        self._session: aiohttp.ClientSession | None = None
        self._mask_secrets()

    # -- lifecycle --------------------------------------------------------------------------------
    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._pool.shutdown(wait=False, cancel_futures=True)

    def configuration_problems(self) -> list[str]:
        """What cannot be sent for want of a secret (each logged as a warning; the rest works)."""
        problems = []
        for city in self.policies:
            config = city.notifications
            for name in config.secret_names:
                if self._secret(name) is None:
                    problems.append(f"{city.id}: 通知の秘密情報「{name}」が未設定のため、その宛先には送りません"
                                    f"（環境変数 {secret_env(name)}）")
            if config.smtp is None and config.recipients:
                problems.append(f"{city.id}: [notifications.smtp] がないため、メールの通知は送りません")
        for problem in problems:
            log.warning("notification destination skipped: %s", problem)
        return problems

    async def run(self, beat: Beat) -> None:
        """The loop the worker's supervisor keeps running."""
        while True:
            try:
                await self.run_once()
                beat()
            except GatewayError as exc:  # the database away for a moment: next round
                log_failure(log, "notification round failed", exc)
            await asyncio.sleep(self.poll_seconds)

    async def run_once(self) -> int:
        """Send what is due; how many rows were worked on."""
        claimed = await self.store.claim_notifications(now=self.clock(), limit=BATCH, lease_seconds=LEASE_SECONDS)
        for notification in claimed:
            try:
                await self._send(notification)
            except GatewayError as exc:  # one row's trouble (a record it names is gone) must not stop the others
                log_failure(log, "notification failed", exc, notification_id=notification.id)
                await self._finish(_Round(notification, list(notification.done), [], [exc.message], retry=True))
        return len(claimed)

    # -- one notification -------------------------------------------------------------------------------
    async def _send(self, notification: Notification) -> None:
        work = _Round(notification, list(notification.done), [], [])
        for city, facts in await self._facts(notification):
            users = await self.store.list_users()
            author = facts.author if notification.event in ("sent_back", "approval_waiting") else None
            text = render(facts)
            for destination in destinations(city.id, city.notifications, notification.event, users, author):
                if destination.key not in work.done and destination.key not in work.refused:
                    await self._deliver(work, city, destination, facts, text)
        await self._finish(work)

    async def _deliver(self, work: _Round, city: Municipality, destination: Destination, facts: Facts,
                       text: Text) -> None:
        try:
            async for attempt in AsyncRetrying(stop=stop_after_attempt(self.retry.quick_tries),
                                               wait=wait_exponential(multiplier=0.5, max=2),
                                               retry=retry_if_exception_type(RetryableError), reraise=True):
                with attempt:
                    sent = await self._transmit(city, destination, facts, text, work.notification.id)
        except RetryableError as exc:
            work.errors.append(exc.message)
            work.retry = True
            return
        except PermanentError as exc:
            work.errors.append(exc.message)
            work.refused.append(destination.key)
            return
        if sent:
            work.done.append(destination.key)
            await self.store.note_notification_progress(work.notification.id, work.done)
            log.info("notification sent", extra={"notification_id": work.notification.id,
                                                 "event": work.notification.event, "destination": destination.label})

    async def _transmit(self, city: Municipality, destination: Destination, facts: Facts, text: Text,
                        key: str) -> bool:
        """Send to one destination; False when its secret is missing (skipped, warned at start-up)."""
        config = city.notifications
        if destination.kind == "mail":
            assert config.smtp is not None
            password = self._secret(config.smtp.password_secret) if config.smtp.password_secret else None
            if config.smtp.password_secret and password is None:
                return False
            sender = SmtpSender(config.smtp, password, self._pool)
            await sender.send(Mail(destination.target, text.subject, text.body, key))
            return True
        hook = next(h for h in config.webhooks if h.id == destination.target)
        url = self._secret(hook.url_secret)
        if url is None:
            return False
        await WebhookSender(self._http()).send(destination.label, url, webhook_payload(facts, text, key), key=key,
                                               timeout_s=hook.timeout_s)
        return True

    async def _finish(self, work: _Round) -> None:
        n, now = work.notification, self.clock()
        attempts = n.attempts + 1
        error = "; ".join(dict.fromkeys(work.errors)) or None
        if not work.retry:
            state = "failed" if work.refused else ("sent" if work.done else "skipped")
        elif now - n.created_at >= self.retry.give_up_after:
            state = "failed"
            log.warning("notification given up", extra={"notification_id": n.id, "event": n.event})
        else:
            state = "pending"
        await self.store.record_notification(n.id, state=state, done=[*work.done], attempts=attempts,
                                             next_attempt_at=self.retry.next_attempt(now, attempts),
                                             last_error=error)

    # -- what is said ---------------------------------------------------------------------------------------
    async def _facts(self, n: Notification) -> list[tuple[Municipality, Facts]]:
        if n.event == "alert_held":
            return await self._held_facts(n)
        if n.event == "hijack":
            return await self._hijack_facts(n)
        if n.event == "account_auth":
            return self._account_facts(n)
        if n.message_id is None:
            return []
        record = await self.store.get_message(n.message_id)
        city = self.policies.get(record.municipality)
        if city is None:
            return []
        accounts = record.accounts
        reason = n.reason
        if n.event == "delivery_failed" and n.delivery_id is not None:
            delivery = await self.store.get_delivery(n.delivery_id)
            accounts, reason = (delivery.account,), n.reason or delivery.error_text
        facts = Facts(event=n.event, city=city.name, link=self.link(city, f"/console/messages/{record.id}"),
                      at=n.created_at, post=opening(record.body.title, record.body.text),
                      accounts=self._labels(city, accounts), author=record.submitted_by, actor=n.actor, reason=reason,
                      note=str(n.detail.get("note") or "") or None,
                      revision=int(n.detail.get("revision") or 1))  # as it was when the event happened
        return [(city, facts)]

    async def _held_facts(self, n: Notification) -> list[tuple[Municipality, Facts]]:
        if n.subject is None:
            return []
        held = await self.store.get_held_alert(n.subject)
        base = Facts(event=n.event, city="", link="", at=n.created_at, alert_title=held.title, reason=held.reason)
        cities = [c for c in (self.policies.get(m) for m in held.municipalities) if c is not None]
        return [(city, replace(base, city=city.name, link=self.link(city, "/console/alerts"))) for city in cities]

    async def _hijack_facts(self, n: Notification) -> list[tuple[Municipality, Facts]]:
        try:
            alert = await self.store.get_hijack_alert(int(n.subject or "0"))
        except (NotFound, ValueError):
            return []
        found = self.policies.account(alert.account)
        if found is None:
            return []
        city, _ = found
        return [(city, Facts(event=n.event, city=city.name, link=self.link(city, "/console/accounts"), at=n.created_at,
                             accounts=self._labels(city, (alert.account,)),
                             suspect_text=opening(None, alert.text) if alert.text else None, suspect_url=alert.url))]

    def _account_facts(self, n: Notification) -> list[tuple[Municipality, Facts]]:
        found = self.policies.account(n.subject or "")
        if found is None:
            return []
        city, _ = found
        return [(city, Facts(event=n.event, city=city.name, link=self.link(city, "/console/accounts"), at=n.created_at,
                             accounts=self._labels(city, (n.subject or "",)), reason=n.reason))]

    def link(self, city: Municipality, path: str) -> str:
        """A console page as a full URL: the city's `console_url`, else the gateway's."""
        return (city.notifications.console_url or self._console_url).rstrip("/") + path

    @staticmethod
    def _labels(city: Municipality, accounts: Sequence[str]) -> tuple[str, ...]:
        found = [city.account(a) for a in accounts]
        return tuple(account_label(city, a) for a in found if a is not None)

    # -- secrets ---------------------------------------------------------------------------------------
    def _secret(self, name: str | None) -> SecretStr | None:
        value = None if name is None else self._secrets.get(name.lower())
        return value if value is not None and value.get_secret_value().strip() else None

    def _mask_secrets(self) -> None:
        """Have the logs mask every secret and the parts of a URL a library might print on its own."""
        for value in self._secrets.values():
            secret = value.get_secret_value()
            rest = secret.split("://", 1)[-1]
            path = rest.partition("/")[2]
            register_secrets([secret, rest, "//" + rest, path, *path.split("/"), *path.split("?")])

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session
