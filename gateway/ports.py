"""Listening on a port: a port another program holds is one clear line for the person starting the gateway."""

from __future__ import annotations

import errno
from collections.abc import Awaitable, Callable

from gateway.errors import InputError


async def listen(start: Callable[[], Awaitable[None]], *, port: int, what: str, change: str) -> None:
    """Run `start` (a site's start); EADDRINUSE becomes an InputError naming the port and how to change it."""
    try:
        await start()
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise InputError(f"{what}のポート {port} はほかのプログラムが使用中です。{change}"
                         f"（port {port} is already in use; {change_en(change)}）", code="port_in_use") from None


def change_en(change: str) -> str:
    return {SERVE_CHANGE: "choose another with --port N or GATEWAY_PORT",
            SANDBOX_CHANGE: "choose another with GATEWAY_SANDBOX_PORT (0: any free port)"}.get(change, "choose another")


SERVE_CHANGE = "--port N か環境変数 GATEWAY_PORT で別のポートを指定してください"
SANDBOX_CHANGE = "環境変数 GATEWAY_SANDBOX_PORT で別のポートを指定してください（0 なら空いているポート）"
