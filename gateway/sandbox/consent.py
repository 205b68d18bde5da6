"""The sandbox's authorisation server, shared by the platforms: consent page, codes, issued tokens.

Each platform mounts the consent page at its real path (X `/i/oauth2/authorize`, Facebook
`/{version}/dialog/oauth`, Google `/o/oauth2/v2/auth`) and redeems codes at its real token endpoint,
answering errors in its own shape. The page lets the person pick which sandbox account signs in
(the platform's login), then 許可 sends the browser back to `redirect_uri` with `code` and `state`
(キャンセル with `error=access_denied`). Codes are single-use, ten minutes, bound to the client,
the redirect URI and, when given, the PKCE S256 challenge.

Tests script a refused refresh with `refuse(platform, account)`: the next token request for that
account fails as the platform fails (`invalid_grant` or the like).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

import jinja2
from aiohttp import web

from gateway.models import Platform
from gateway.sandbox.credentials import sandbox_app_client

CODE_TTL_S = 600
_templates = jinja2.Environment(loader=jinja2.PackageLoader("gateway.sandbox", "templates"), autoescape=True)
LABELS = {Platform.X: "X", Platform.FACEBOOK: "Facebook", Platform.YOUTUBE: "Google（YouTube）"}


class Refused(Exception):
    """A token request the platform refuses; `reason` picks the platform's error document."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # bad_code, bad_client, bad_verifier, bad_redirect, refused


@dataclass
class _Code:
    platform: Platform
    account: str
    client_id: str
    redirect_uri: str
    challenge: str | None
    issued_at: float


class ConsentDesk:
    def __init__(self) -> None:
        self._codes: dict[str, _Code] = {}
        self._tokens: dict[tuple[Platform, str], str] = {}  # (platform, issued token) -> account
        self._refused: set[tuple[Platform, str]] = set()

    # -- scripting ------------------------------------------------------------------------------
    def refuse(self, platform: Platform, account: str) -> None:
        """The next token request (refresh or issue) for this account is refused."""
        self._refused.add((platform, account))

    def check_refused(self, platform: Platform, account: str) -> None:
        if (platform, account) in self._refused:
            self._refused.discard((platform, account))
            raise Refused("refused")

    # -- codes ----------------------------------------------------------------------------------
    def new_code(self, platform: Platform, account: str, query: Mapping[str, str]) -> str:
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Code(platform, account, query.get("client_id", ""), query.get("redirect_uri", ""),
                                  query.get("code_challenge"), time.time())
        return code

    def redeem(self, platform: Platform, form: Mapping[str, str]) -> str:
        """The account a code was given for; the code is used up whatever the outcome (as platforms do)."""
        found = self._codes.pop(form.get("code", ""), None)
        if found is None or found.platform is not platform or time.time() - found.issued_at > CODE_TTL_S:
            raise Refused("bad_code")
        if found.client_id != form.get("client_id"):
            raise Refused("bad_client")
        if found.redirect_uri != form.get("redirect_uri"):
            raise Refused("bad_redirect")
        if found.challenge is not None and not _verifier_matches(found.challenge, form.get("code_verifier", "")):
            raise Refused("bad_verifier")
        self.check_refused(platform, found.account)
        return found.account

    # -- tokens the sandbox made up (user tokens that the platform's API has no static form of) -----
    def issue_token(self, platform: Platform, account: str, prefix: str = "") -> str:
        token = prefix + secrets.token_urlsafe(32)
        self._tokens[(platform, token)] = account
        return token

    def token_owner(self, platform: Platform, token: str) -> str | None:
        return self._tokens.get((platform, token))

    def forget_token(self, platform: Platform, token: str) -> None:
        self._tokens.pop((platform, token), None)


def _verifier_matches(challenge: str, verifier: str) -> bool:
    if not 43 <= len(verifier) <= 128:
        return False
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return hmac.compare_digest(computed, challenge)


def client_ok(platform: Platform, client_id: str, client_secret: str | None) -> bool:
    """The sandbox app registration; `client_secret` None when the platform does not ask for it here."""
    expected_id, expected_secret = sandbox_app_client(platform)
    return hmac.compare_digest(client_id, expected_id) and (
        client_secret is None or hmac.compare_digest(client_secret, expected_secret))


def consent_routes(
    desk: ConsentDesk, platform: Platform, accounts: Callable[[], list[str]], *, pkce: bool,
) -> tuple[Callable[[web.Request], object], Callable[[web.Request], object]]:
    """GET shows the consent page; POST answers 許可 or キャンセル with a redirect to the client."""

    async def show(request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        problem = _request_problem(platform, query, pkce=pkce)
        if problem:
            return _page(platform, query, [], problem, status=400)
        return _page(platform, query, accounts(), None)

    async def answer(request: web.Request) -> web.StreamResponse:
        form = {k: str(v) for k, v in (await request.post()).items()}
        query = {k[2:]: v for k, v in form.items() if k.startswith("q_")}
        if _request_problem(platform, query, pkce=pkce) or form.get("account") not in accounts():
            return _page(platform, query, [], "要求が正しくありません", status=400)
        if form.get("decision") != "allow":
            back = {"error": "access_denied", "state": query.get("state", "")}
            if platform is Platform.FACEBOOK:
                back.update(error_reason="user_denied", error_description="Permissions error")
            raise web.HTTPFound(_back(query["redirect_uri"], back))
        code = desk.new_code(platform, form["account"], query)
        raise web.HTTPFound(_back(query["redirect_uri"], {"code": code, "state": query.get("state", "")}))

    return show, answer


def _request_problem(platform: Platform, query: Mapping[str, str], *, pkce: bool) -> str | None:
    if not client_ok(platform, query.get("client_id", ""), None):
        return "client_id が登録されたアプリのものではありません"
    if not query.get("redirect_uri", "").startswith(("http://", "https://")):
        return "redirect_uri がありません"
    if query.get("response_type", "code") != "code":
        return "response_type は code です"
    if pkce and (query.get("code_challenge_method") != "S256" or not query.get("code_challenge")):
        return "PKCE（code_challenge と code_challenge_method=S256）が必要です"
    return None


def _page(platform: Platform, query: Mapping[str, str], accounts: list[str], problem: str | None,
          status: int = 200) -> web.Response:
    html = _templates.get_template("consent.html").render(
        label=LABELS.get(platform, platform.value), query=query, accounts=accounts, problem=problem,
        scopes=query.get("scope", "").replace(",", " ").split())
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def _back(redirect_uri: str, params: Mapping[str, str]) -> str:
    return redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(params)
