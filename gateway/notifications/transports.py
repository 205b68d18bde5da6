"""How a notification leaves: e-mail through the city's SMTP server, JSON to an incoming webhook.

Errors are translated here into the gateway's tree (`RetryableError`: try again later; `PermanentError`:
this destination will never take it), with messages that name the destination by its label, never by
its URL or password: a library's own error text (which may quote the URL) never leaves this module.
SMTP runs in a thread pool of its own, so a slow mail server holds no thread that others (media checks)
wait for, and never the event loop.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiohttp
from pydantic import SecretStr

from gateway.errors import PermanentError, RetryableError
from gateway.policy_notifications import Smtp

# Statuses a webhook answers when it may take the same request later.
_RETRY_STATUSES = frozenset({408, 425, 429}) | frozenset(range(500, 600))


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    key: str  # the notification's id: the Message-ID's left part, so a resent copy is recognisable


class SmtpSender:
    """One city's mail server."""

    def __init__(self, config: Smtp, password: SecretStr | None, pool: ThreadPoolExecutor) -> None:
        self._config = config
        self._password = password
        self._pool = pool

    def __repr__(self) -> str:
        return f"SmtpSender({self._config.host}:{self._config.port})"

    async def send(self, mail: Mail) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._pool, self._send_blocking, mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise _by_code(codes[0] if codes else 550, "宛先を受け付けませんでした") from None
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, f"メールサーバーが {exc.smtp_code} を返しました") from None
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise RetryableError(f"メールサーバー {self._config.host} に送れませんでした（{type(exc).__name__}）",
                                 code="smtp_unavailable") from None

    def _send_blocking(self, mail: Mail) -> None:
        config = self._config
        message = EmailMessage()
        message["From"] = config.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid(idstring=mail.key, domain=config.sender.rsplit("@", 1)[-1])
        message.set_content(mail.body, charset="utf-8")
        factory = smtplib.SMTP_SSL if config.security == "tls" else smtplib.SMTP
        with factory(config.host, config.port, timeout=config.timeout_s) as client:
            if config.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if config.username and self._password is not None:
                client.login(config.username, self._password.get_secret_value())
            client.send_message(message)


def _by_code(code: int, what: str) -> PermanentError | RetryableError:
    if 400 <= code < 500:
        return RetryableError(f"{what}（一時的なエラー {code}）", code="smtp_temporary")
    return PermanentError(f"{what}（{code}）", code="smtp_refused")


class WebhookSender:
    """POSTs JSON to incoming webhooks; the URL is held as a secret and never shown."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def send(self, label: str, url: SecretStr, payload: Mapping[str, object], *, key: str,
                   timeout_s: float) -> None:
        headers = {"Idempotency-Key": key, "X-Koho-Notification-Id": key}
        try:
            async with self._session.post(url.get_secret_value(), json=payload, headers=headers,
                                          timeout=aiohttp.ClientTimeout(total=timeout_s),
                                          allow_redirects=False) as response:
                status = response.status
                await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            raise RetryableError(f"Webhook「{label}」に接続できませんでした（{type(exc).__name__}）",
                                 code="webhook_unavailable") from None
        if 200 <= status < 300:
            return
        if status in _RETRY_STATUSES:
            raise RetryableError(f"Webhook「{label}」が {status} を返しました", code="webhook_unavailable")
        raise PermanentError(f"Webhook「{label}」が {status} を返しました（URL または設定を確認してください）",
                             code="webhook_refused")
