"""No credential reaches a log line, even with the root logger at DEBUG (issue 12).

The real X adapter publishes to the X sandbox over 127.0.0.1 with the sandbox's credentials; every
line written by the gateway's handler and every record any other handler receives is searched for
the credential values.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.adapters.base import IdempotencyKey
from gateway.adapters.x import XAdapter, XSettings
from gateway.credentials import StaticCredentials
from gateway.errors import AuthError
from gateway.logs import CHATTY, configure_logging
from gateway.models import Message, Platform
from gateway.policy import Account
from gateway.sandbox import x as x_sandbox
from gateway.sandbox.base import SandboxState
from gateway.sandbox.credentials import sandbox_credentials
from tests.mediafiles import fixture_store

MAIN = "kodaira_x"
ACCOUNT = Account(id=MAIN, platform=Platform.X, handle="@kodaira_x", manager="広報課", categories=("city_news",),
                  categories_clause="小平市 3(1)", x_overflow="truncate")
CREDENTIALS = sandbox_credentials(MAIN, Platform.X)
SECRETS = {name: value for name, value in CREDENTIALS.items() if name != "user_id"}


class Records(logging.Handler):
    """Whatever a handler other than the gateway's own (an error tracker, say) would receive."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        extras = " ".join(str(v) for k, v in vars(record).items() if k not in vars(logging.makeLogRecord({})))
        self.lines.append(f"{record.name} {record.getMessage()} {record.exc_text or ''} {extras}")


@pytest.fixture
def debug_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Records]:
    """`configure_logging("DEBUG")` as `serve` does (writing to capsys's stderr), plus a second handler;
    put back afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, {name: logging.getLogger(name).level for name in CHATTY})
    configure_logging("DEBUG")
    records = Records()
    root.addHandler(records)
    try:
        yield records
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture
async def sandbox_url() -> AsyncIterator[str]:
    app = web.Application()
    x_sandbox.install(app, SandboxState({MAIN: Platform.X}))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


async def _publish(base_url: str, credentials: dict[str, str], text: str) -> None:
    async with aiohttp.ClientSession() as session:
        adapter = XAdapter(XSettings(base_url=base_url, timeout_s=2), StaticCredentials({MAIN: credentials}),
                           {MAIN: ACCOUNT}, media=fixture_store(), session=session)
        try:
            message = Message(municipality="kodaira", category="city_news", text=text)
            await adapter.publish(adapter.render(message, ACCOUNT), IdempotencyKey("0" * 32))
        finally:
            await adapter.aclose()


def _leaks(lines: list[str]) -> list[str]:
    return [f"{name} in: {line[:200]}" for line in lines for name, value in SECRETS.items() if value in line]


async def _publish_every_way(sandbox_url: str) -> None:
    await _publish(sandbox_url, CREDENTIALS, "OAuth 1.0a で投稿します")
    await _publish(sandbox_url, {"bearer_token": CREDENTIALS["bearer_token"], "user_id": CREDENTIALS["user_id"]},
                   "OAuth 2.0 のトークンで投稿します")
    with pytest.raises(AuthError):  # the sandbox refuses the signature: the error path logs too
        await _publish(sandbox_url, {**CREDENTIALS, "consumer_secret": "not-the-secret-at-all"}, "署名が違います")


async def test_publishing_to_x_at_debug_logs_no_secret(
    sandbox_url: str, debug_logs: Records, capsys: pytest.CaptureFixture[str],
) -> None:
    await _publish_every_way(sandbox_url)
    written = capsys.readouterr().err.splitlines()
    assert written and debug_logs.lines  # DEBUG lines were written and seen
    assert _leaks(written) == []
    assert _leaks(debug_logs.lines) == []


async def test_secrets_are_masked_even_when_the_oauth_library_is_turned_up(
    sandbox_url: str, debug_logs: Records, capsys: pytest.CaptureFixture[str],
) -> None:
    """An operator who sets oauthlib and tweepy back to DEBUG to chase a signature problem sees the
    parameters they print, with every credential masked."""
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.DEBUG)
    await _publish_every_way(sandbox_url)
    written = capsys.readouterr().err.splitlines()
    assert any("oauth_consumer_key" in line for line in debug_logs.lines)  # oauthlib did print its parameters
    assert _leaks(written) == []
    assert _leaks(debug_logs.lines) == []
