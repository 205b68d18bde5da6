"""X sandbox authentication: OAuth 1.0a HMAC-SHA1 verification (RFC 5849) and OAuth 2 bearer tokens.

Written from the RFC, independently of oauthlib (which the adapter signs with), so that a test
passing here shows the adapter's signatures are real. As on X, the base string URI is the real
host `https://api.twitter.com` plus the path, whatever host the request actually reached; query
parameters are signed, JSON and multipart bodies are not, form-urlencoded bodies are.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import time
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, unquote

from aiohttp import web

from gateway.models import Platform, ascii_digits
from gateway.sandbox.base import SandboxState
from gateway.sandbox.credentials import sandbox_credentials

REAL_HOST = "https://api.twitter.com"
TIMESTAMP_SKEW_S = 300  # X rejects timestamps further than this from its clock
FORM = "application/x-www-form-urlencoded"


class AuthFailed(Exception):
    """The request does not authenticate; answered with X's 401 document."""


def _enc(value: str) -> str:
    return quote(value, safe="-._~")


def parse_oauth_header(header: str) -> dict[str, str]:
    if not header.startswith("OAuth "):
        raise AuthFailed("not an OAuth header")
    params: dict[str, str] = {}
    for item in header[len("OAuth "):].split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise AuthFailed("malformed OAuth header")
        params[unquote(key)] = unquote(value.strip('"'))
    return params


def signature_base_string(method: str, path: str, params: Iterable[tuple[str, str]]) -> str:
    pairs = sorted((_enc(k), _enc(v)) for k, v in params)
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    return "&".join((method.upper(), _enc(REAL_HOST + path), _enc(normalized)))


def hmac_sha1(base: str, consumer_secret: str, token_secret: str) -> str:
    key = f"{_enc(consumer_secret)}&{_enc(token_secret)}".encode()
    return base64.b64encode(hmac.new(key, base.encode(), hashlib.sha1).digest()).decode()


class XAuthenticator:
    """Maps a request to the sandbox account it authenticates as, or raises AuthFailed."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self._seen_nonces: dict[str, float] = {}
        self._index: tuple[int, dict[tuple[str, str], str]] = (-1, {})

    def _x_accounts(self) -> dict[str, dict[str, str]]:
        return {
            account: sandbox_credentials(account, Platform.X)
            for account, platform in self.state.accounts.items() if platform is Platform.X
        }

    def _by_keys(self) -> dict[tuple[str, str], str]:
        """(consumer key, access token) -> account, rebuilt only when the accounts change."""
        if self._index[0] != len(self.state.accounts):
            index = {(c["consumer_key"], c["access_token"]): a for a, c in self._x_accounts().items()}
            self._index = (len(self.state.accounts), index)
        return self._index[1]

    async def account(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return self._bearer(header[len("Bearer "):].strip())
        return await self._oauth1(request, parse_oauth_header(header))

    def _bearer(self, token: str) -> str:
        for account, creds in self._x_accounts().items():
            if hmac.compare_digest(creds["bearer_token"], token):
                return account
        raise AuthFailed("unknown bearer token")

    async def _oauth1(self, request: web.Request, oauth: dict[str, str]) -> str:
        if oauth.get("oauth_signature_method") != "HMAC-SHA1" or oauth.get("oauth_version", "1.0") != "1.0":
            raise AuthFailed("unsupported signature method")
        account, creds = self._find(oauth.get("oauth_consumer_key", ""), oauth.get("oauth_token", ""))
        self._check_freshness(oauth)
        params = [(k, v) for k, v in oauth.items() if k not in ("oauth_signature", "realm")]
        params += parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True)
        if request.content_type == FORM:
            params += parse_qsl(await request.text(), keep_blank_values=True)
        base = signature_base_string(request.method, request.rel_url.raw_path, params)
        expected = hmac_sha1(base, creds["consumer_secret"], creds["access_token_secret"])
        if not hmac.compare_digest(expected, oauth.get("oauth_signature", "")):
            raise AuthFailed("bad signature")
        self._seen_nonces[oauth["oauth_nonce"]] = time.time()
        return account

    def _find(self, consumer_key: str, token: str) -> tuple[str, dict[str, str]]:
        account = self._by_keys().get((consumer_key, token))
        if account is None:
            raise AuthFailed("unknown consumer key or token")
        return account, sandbox_credentials(account, Platform.X)

    def _check_freshness(self, oauth: dict[str, str]) -> None:
        now = time.time()
        stamp = oauth.get("oauth_timestamp", "")
        if not ascii_digits(stamp) or abs(now - int(stamp)) > TIMESTAMP_SKEW_S:
            raise AuthFailed("timestamp out of range")
        nonce = oauth.get("oauth_nonce", "")
        if not nonce or nonce in self._seen_nonces:
            raise AuthFailed("nonce missing or reused")
        # Oldest first (insertion order): drop the expired ones from the front, stop at the first
        # still fresh, so each request costs only what has expired.
        for old, seen_at in list(itertools.islice(self._seen_nonces.items(), 64)):
            if now - seen_at <= TIMESTAMP_SKEW_S:
                break
            del self._seen_nonces[old]
