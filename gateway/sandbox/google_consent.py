"""YouTube sandbox: Google's OAuth 2.0 consent for web server applications.

`GET/POST /o/oauth2/v2/auth` (consent; `access_type=offline` gives a refresh token) and the
authorization-code grant of the token endpoint (`POST /token`: `code`, `client_id`, `client_secret`,
`redirect_uri`, `grant_type`, `code_verifier` when a challenge was sent). The tokens issued are the
account's sandbox tokens, so the rest of the sandbox accepts them and the refresh grant renews them.
Errors are Google's `{"error","error_description"}` documents.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from gateway.models import Platform
from gateway.sandbox.base import SandboxState
from gateway.sandbox.consent import Refused, client_ok, consent_routes
from gateway.sandbox.credentials import sandbox_credentials

PLATFORM = Platform.YOUTUBE
SCOPES = "https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube.readonly"
ERRORS = {
    "bad_client": (401, "invalid_client", "Unauthorized"),
    "bad_code": (400, "invalid_grant", "Malformed auth code."),
    "bad_redirect": (400, "redirect_uri_mismatch", "Bad Request"),
    "bad_verifier": (400, "invalid_grant", "Invalid code verifier."),
    "refused": (400, "invalid_grant", "Token has been expired or revoked."),
}


def install(app: web.Application, state: SandboxState) -> None:
    accounts = lambda: sorted(a for a, p in state.accounts.items() if p is PLATFORM)  # noqa: E731
    show, answer = consent_routes(state.consent, PLATFORM, accounts, pkce=False)
    app.router.add_get("/o/oauth2/v2/auth", show)  # type: ignore[arg-type]
    app.router.add_post("/o/oauth2/v2/auth", answer)  # type: ignore[arg-type]


def app_client_ok(form: Mapping[str, str]) -> bool:
    return client_ok(PLATFORM, form.get("client_id", ""), form.get("client_secret", ""))


def refused(state: SandboxState, account: str) -> bool:
    try:
        state.consent.check_refused(PLATFORM, account)
    except Refused:
        return True
    return False


def code_grant(state: SandboxState, form: Mapping[str, str]) -> web.Response:
    try:
        if not app_client_ok(form):
            raise Refused("bad_client")
        account = state.consent.redeem(PLATFORM, form)
    except Refused as exc:
        status, error, description = ERRORS[exc.reason]
        return web.json_response({"error": error, "error_description": description}, status=status)
    creds = sandbox_credentials(account, PLATFORM)
    return web.json_response({"access_token": creds["access_token"], "expires_in": 3599,
                              "refresh_token": creds["refresh_token"], "scope": SCOPES, "token_type": "Bearer"})
