"""Facebook sandbox: Facebook Login's manual flow, as Graph serves it.

`GET/POST /{version}/dialog/oauth` (consent), `GET /{version}/oauth/access_token` (`client_id`,
`redirect_uri`, `client_secret`, `code` → a user token; `grant_type=fb_exchange_token` with
`fb_exchange_token` → a long-lived one, 60 days), `GET /{version}/me/accounts` (the Pages the user
manages, each with its Page access token: the sandbox's page token, which the rest of the sandbox
accepts). Errors are Graph error documents (`OAuthException`, code 100 / subcode 36009 for a used
code, 190 for a bad token, 101 for a bad client).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from gateway.models import Platform
from gateway.sandbox.base import SandboxState
from gateway.sandbox.consent import Refused, client_ok, consent_routes
from gateway.sandbox.credentials import sandbox_credentials, sandbox_user_id

PLATFORM = Platform.FACEBOOK
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ERRORS: Mapping[str, tuple[str, int, int | None]] = {
    "bad_code": ("This authorization code has been used.", 100, 36009),
    "bad_redirect": ("Error validating verification code. Please make sure your redirect_uri is identical to the "
                     "one you used in the OAuth dialog request", 100, 36008),
    "bad_client": ("Error validating client secret.", 1, None),
    "bad_verifier": ("Invalid code verifier.", 100, None),
    "refused": ("Error validating access token: The session has been invalidated because the user changed "
                "their password or Facebook has changed the session for security reasons.", 190, 460),
}


def install(app: web.Application, state: SandboxState, version: str, wrap: Callable[[Handler], Handler]) -> None:
    accounts = lambda: sorted(a for a, p in state.accounts.items() if p is PLATFORM)  # noqa: E731
    show, answer = consent_routes(state.consent, PLATFORM, accounts, pkce=False)
    app.router.add_get(f"/{version}/dialog/oauth", show)  # type: ignore[arg-type]
    app.router.add_post(f"/{version}/dialog/oauth", answer)  # type: ignore[arg-type]
    app.router.add_get(f"/{version}/oauth/access_token", wrap(_access_token(state)))
    app.router.add_get(f"/{version}/me/accounts", wrap(_me_accounts(state)))


def _graph_error(reason: str) -> web.Response:
    message, code, subcode = ERRORS.get(reason, ERRORS["bad_code"])
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "sandbox"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return web.json_response({"error": error}, status=400)


def _access_token(state: SandboxState) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        if not client_ok(PLATFORM, query.get("client_id", ""), query.get("client_secret", "")):
            return _graph_error("bad_client")
        try:
            if query.get("grant_type") == "fb_exchange_token":
                account = state.consent.token_owner(PLATFORM, query.get("fb_exchange_token", ""))
                if account is None:
                    raise Refused("refused")
                expires = 5_184_000
            else:
                account, expires = state.consent.redeem(PLATFORM, query), 5_400
        except Refused as exc:
            return _graph_error(exc.reason)
        return web.json_response({"access_token": state.consent.issue_token(PLATFORM, account, "EAAU"),
                                  "token_type": "bearer", "expires_in": expires})

    return handler


def _me_accounts(state: SandboxState) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
        token = bearer.strip() if scheme.lower() in ("bearer", "oauth") else request.query.get("access_token", "")
        account = state.consent.token_owner(PLATFORM, token)
        if account is None:
            return _graph_error("refused")
        page = {"id": sandbox_user_id(account), "name": account, "category": "Government organization",
                "access_token": sandbox_credentials(account, PLATFORM)["page_access_token"],
                "tasks": ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE"]}
        return web.json_response({"data": [page], "paging": {"cursors": {"before": "QVFI", "after": "QVFI"}}})

    return handler


def linked_instagram(state: SandboxState, page_account: str) -> str | None:
    """The Instagram business account behind a Page: the same city's Instagram account, if the sandbox has one."""
    candidate = page_account.rsplit("_", 1)[0] + "_instagram"
    return candidate if state.accounts.get(candidate) is Platform.INSTAGRAM else None
