"""OAuth token requests shared by the platforms' connectors: one HTTP call, errors translated here.

A platform's refusal is an `AuthError` naming the platform's error code (`invalid_grant`, Graph's
`190`...), never the request's secrets nor the platform's whole answer; a network failure is a
`RetryableError`. Token values are registered with the logs' masking as soon as they arrive.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import aiohttp
from pydantic import SecretStr

from gateway.adapters.http import json_object
from gateway.connections import EXPIRES_AT, Connector, Pending
from gateway.errors import AuthError, RetryableError
from gateway.logs import register_secrets

TOKEN_FIELDS = ("access_token", "refresh_token")


class AppSettings(Protocol):
    """A platform's settings as a connector reads them (XSettings, FacebookSettings, YoutubeSettings)."""

    base_url: str
    timeout_s: float
    authorize_url: str
    client_id: str | None
    client_secret: SecretStr | None


async def call(
    method: str, url: str, *, what: str, timeout_s: float, data: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The JSON answer of one token-endpoint or Graph call; AuthError/RetryableError otherwise."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session, \
                session.request(method, url, data=data, params=params, headers=headers) as response:
            body = await json_object(response)
            status = response.status
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise RetryableError(f"{what}: プラットフォームに接続できませんでした（{type(exc).__name__}）",
                             code="connect_unreachable") from None
    register_secrets(str(body[name]) for name in TOKEN_FIELDS if isinstance(body.get(name), str))
    if status >= 400:
        raise AuthError(f"{what}: プラットフォームが拒否しました（HTTP {status}、{error_code(body)}）",
                        code="connect_refused")
    return body


def error_code(body: Mapping[str, Any]) -> str:
    """`error` of RFC 6749 answers, or Graph's `error.code`: short and free of secrets."""
    error = body.get("error")
    if isinstance(error, Mapping):
        return f"code {error.get('code', '?')}"
    text = str(error or body.get("message") or "不明なエラー")
    return "".join(c for c in text if c.isalnum() or c in "_-. ")[:60]


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def with_query(url: str, params: Mapping[str, str]) -> str:
    return f"{url}?{urlencode(params)}"


def expires_at(now: datetime, body: Mapping[str, Any]) -> str | None:
    """`expires_in` seconds from now as the stored ISO time; None when the token does not expire."""
    seconds = body.get("expires_in")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0:
        return None
    return (now + timedelta(seconds=float(seconds))).isoformat()


def required(body: Mapping[str, Any], name: str, what: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise AuthError(f"{what}: プラットフォームの応答に {name} がありません", code="connect_bad_answer")
    return value


class AppConnector(Connector):
    """A connector that sends the admin to a consent page with the gateway's app registration."""

    def __init__(self, settings: AppSettings, clock: Callable[[], datetime]) -> None:
        self._settings = settings
        self._clock = clock

    def consent_origin(self) -> str | None:
        return origin(self._settings.authorize_url)

    def client(self) -> dict[str, str]:
        """`client_id` and `client_secret` form fields (empty when not configured: the platform says no)."""
        secret = self._settings.client_secret
        return {"client_id": self._settings.client_id or "",
                "client_secret": secret.get_secret_value() if secret is not None else ""}

    def token_fields(self, body: Mapping[str, Any], name: str, what: str) -> dict[str, str]:
        """The access token of a token response stored as credential field `name`, and its expiry."""
        fields = {name: required(body, "access_token", what)}
        expiry = expires_at(self._clock(), body)
        if expiry:
            fields[EXPIRES_AT] = expiry
        return fields

    @staticmethod
    def code_form(code: str, pending: Pending) -> dict[str, str]:
        """The authorization-code grant with PKCE (RFC 6749 4.1.3, RFC 7636 4.5)."""
        return {"grant_type": "authorization_code", "code": code, "redirect_uri": pending.redirect_uri,
                "code_verifier": pending.verifier}

    def consent(self, pending: Pending, params: Mapping[str, str]) -> str:
        """The consent URL: the app, the callback and the state, plus the platform's own `params`."""
        return with_query(self._settings.authorize_url, {
            "client_id": self._settings.client_id or "", "redirect_uri": pending.redirect_uri,
            "state": pending.state, "response_type": "code", **params})
