"""X sandbox: OAuth 2.0 Authorization Code with PKCE, as X serves it.

`GET/POST /i/oauth2/authorize` (consent; PKCE S256 required), `POST /2/oauth2/token` (form:
`grant_type=authorization_code` with `code`, `redirect_uri`, `code_verifier`, `client_id`, or
`grant_type=refresh_token` with `refresh_token`; the app's secret in HTTP Basic), `GET /2/users/me`.
Answers `{"token_type":"bearer","expires_in":7200,"access_token","scope","refresh_token"}`; the
access token is the account's sandbox OAuth 2 user token, so the rest of the sandbox accepts it, and
the refresh token rotates on every use. Errors are X's `{"error","error_description"}` documents.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.models import Platform
from gateway.sandbox.base import SandboxState
from gateway.sandbox.consent import Refused, client_ok, consent_routes
from gateway.sandbox.credentials import sandbox_credentials, sandbox_user_id

PLATFORM = Platform.X
SCOPE = "tweet.read tweet.write users.read media.write offline.access"
ERRORS = {
    "bad_code": (400, "invalid_request", "Value passed for the authorization code was invalid."),
    "bad_redirect": (400, "invalid_request", "Value passed for the redirect uri did not match the uri of the "
                     "authorization code."),
    "bad_verifier": (400, "invalid_request", "Value passed for the code verifier did not match the code challenge."),
    "bad_client": (401, "unauthorized_client", "Missing valid authorization header"),
    "bad_refresh": (400, "invalid_request", "Value passed for the token was invalid."),
    "refused": (400, "invalid_request", "Value passed for the token was invalid."),
    "bad_grant": (400, "unsupported_grant_type", "Grant type is not supported."),
}


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def install(app: web.Application, state: SandboxState, route: Callable[..., Handler]) -> None:
    accounts = lambda: sorted(a for a, p in state.accounts.items() if p is PLATFORM)  # noqa: E731
    show, answer = consent_routes(state.consent, PLATFORM, accounts, pkce=True)
    app.router.add_get("/i/oauth2/authorize", show)  # type: ignore[arg-type]
    app.router.add_post("/i/oauth2/authorize", answer)  # type: ignore[arg-type]
    app.router.add_post("/2/oauth2/token", _token_endpoint(state))
    app.router.add_get("/2/users/me", route(_me))


async def _me(request: web.Request, account: str) -> web.StreamResponse:
    return web.json_response({"data": {"id": sandbox_user_id(account), "name": account, "username": account}})


def _token_endpoint(state: SandboxState) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def token(request: web.Request) -> web.StreamResponse:
        await state.arrive(PLATFORM, request.method, request.path)
        form = {k: str(v) for k, v in (await request.post()).items()}
        try:
            _check_client(request, form)
            account = _grant(state, form)
        except Refused as exc:
            status, error, description = ERRORS[exc.reason]
            return web.json_response({"error": error, "error_description": description}, status=status)
        return web.json_response({
            "token_type": "bearer", "expires_in": 7200, "scope": SCOPE,
            "access_token": sandbox_credentials(account, PLATFORM)["bearer_token"],
            "refresh_token": state.consent.issue_token(PLATFORM, account, "rt-")})

    return token


def _check_client(request: web.Request, form: dict[str, str]) -> None:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Basic":
        raise Refused("bad_client")
    try:
        client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
    except ValueError:
        raise Refused("bad_client") from None
    if not client_ok(PLATFORM, client_id, secret) or form.get("client_id", client_id) != client_id:
        raise Refused("bad_client")


def _grant(state: SandboxState, form: dict[str, str]) -> str:
    desk = state.consent
    if form.get("grant_type") == "authorization_code":
        return desk.redeem(PLATFORM, form)
    if form.get("grant_type") == "refresh_token":
        account = desk.token_owner(PLATFORM, form.get("refresh_token", ""))
        if account is None:
            raise Refused("bad_refresh")
        desk.forget_token(PLATFORM, form["refresh_token"])  # X rotates refresh tokens
        desk.check_refused(PLATFORM, account)
        return account
    raise Refused("bad_grant")
