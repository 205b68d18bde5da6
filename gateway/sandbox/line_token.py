"""LINE sandbox: issuing short-lived channel access tokens from the channel id and secret.

`POST /v2/oauth/accessToken` (form `grant_type=client_credentials`, `client_id`, `client_secret`)
answers `{"access_token","expires_in":2592000,"token_type":"Bearer"}`: the account's sandbox channel
access token, which the rest of the sandbox accepts. Errors are LINE's
`{"error","error_description"}` documents with 400.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.models import Platform
from gateway.sandbox.base import SandboxState
from gateway.sandbox.consent import Refused
from gateway.sandbox.credentials import sandbox_credentials

PLATFORM = Platform.LINE
EXPIRES_IN = 30 * 24 * 3600


def install(app: web.Application, state: SandboxState) -> None:
    app.router.add_post("/v2/oauth/accessToken", _issue(state))


def _issue(state: SandboxState) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        await state.arrive(PLATFORM, request.method, request.path)
        form = {k: str(v) for k, v in (await request.post()).items()}
        if form.get("grant_type") != "client_credentials":
            return _error("unsupported_grant_type", "unsupported grant_type")
        account = _channel_owner(state, form.get("client_id", ""))
        if account is None:
            return _error("invalid_client", "invalid client_id")
        secret = sandbox_credentials(account, PLATFORM)["channel_secret"]
        if not hmac.compare_digest(secret, form.get("client_secret", "")):
            return _error("invalid_client", "invalid client_secret")
        try:
            state.consent.check_refused(PLATFORM, account)
        except Refused:
            return _error("invalid_client", "invalid client_secret")
        return web.json_response({"access_token": sandbox_credentials(account, PLATFORM)["channel_access_token"],
                                  "expires_in": EXPIRES_IN, "token_type": "Bearer"})

    return handler


def _channel_owner(state: SandboxState, channel_id: str) -> str | None:
    return next((a for a, p in state.accounts.items()
                 if p is PLATFORM and sandbox_credentials(a, PLATFORM)["channel_id"] == channel_id), None)


def _error(error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=400)
