"""Real receivers for notification tests: an SMTP server (aiosmtpd) and an HTTP webhook receiver (aiohttp),
both on 127.0.0.1 in this process."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Mailbox:
    """What the SMTP server received, parsed; `refuse` answers every RCPT with this code."""

    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    refuse: int | None = None

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if self.refuse is not None:
            return f"{self.refuse} mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


class _Auth:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    def __call__(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if isinstance(auth_data, LoginPassword):
            self.box.logins.append((auth_data.login.decode(), auth_data.password.decode()))
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@asynccontextmanager
async def smtp_server(*, with_auth: bool = False) -> AsyncIterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    kwargs: dict[str, Any] = {}
    if with_auth:
        kwargs = {"authenticator": _Auth(box), "auth_require_tls": False}
    controller = Controller(box, hostname="127.0.0.1", port=port, **kwargs)
    await asyncio.to_thread(controller.start)
    try:
        yield box, port
    finally:
        await asyncio.to_thread(controller.stop)


@dataclass
class Hooks:
    """What the webhook receiver took; while `down`, it answers 503 and keeps nothing."""

    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    refused: int = 0
    down: bool = False


@asynccontextmanager
async def webhook_receiver(path: str) -> AsyncIterator[tuple[Hooks, str]]:
    hooks = Hooks()

    async def take(request: web.Request) -> web.Response:
        if hooks.down:
            hooks.refused += 1
            return web.Response(status=503, text="down for maintenance")
        hooks.received.append(json.loads(await request.text()))
        hooks.headers.append(dict(request.headers))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post(path, take)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield hooks, f"http://127.0.0.1:{port}{path}"
    finally:
        await runner.cleanup()
