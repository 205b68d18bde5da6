"""Connecting an X account: OAuth 2.0 Authorization Code with PKCE (S256), refresh before expiry.

Consent at `authorize_url` (x.com/i/oauth2/authorize) with `response_type=code`, `client_id`,
`redirect_uri`, `scope`, `state`, `code_challenge`, `code_challenge_method=S256`; tokens from
`POST {base_url}/2/oauth2/token` (form: `grant_type`, `code`, `redirect_uri`, `code_verifier`,
`client_id`; HTTP Basic with the client secret for a confidential client). `offline.access` gives a
refresh token; X rotates it on every refresh. The stored fields are DESIGN.md's OAuth 2 set
(`bearer_token`, `user_id`) plus `refresh_token` and `expires_at`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import ClassVar

from gateway.adapters import oauth
from gateway.adapters.x import XSettings
from gateway.connections import Grant, Pending, pkce_challenge
from gateway.models import Platform
from gateway.policy import Account, Municipality

SCOPES = "tweet.read tweet.write users.read media.write offline.access"
WHAT = "X"


class XConnector(oauth.AppConnector):
    platform: ClassVar[Platform] = Platform.X
    refresh_margin: ClassVar[timedelta] = timedelta(minutes=15)  # X's access tokens live two hours

    def __init__(self, settings: XSettings, clock: Callable[[], datetime]) -> None:
        super().__init__(settings, clock)
        self._token_url = settings.base_url.rstrip("/") + "/2/oauth2/token"

    def authorize_url(self, pending: Pending) -> str:
        return self.consent(pending, {"scope": SCOPES, "code_challenge": pkce_challenge(pending.verifier),
                                      "code_challenge_method": "S256"})

    async def exchange(self, account: Account, city: Municipality, code: str, pending: Pending) -> Grant:
        fields = self._fields(await self._token(self.code_form(code, pending)))
        me = await oauth.call("GET", self._settings.base_url.rstrip("/") + "/2/users/me", what=WHAT,
                              timeout_s=self._settings.timeout_s,
                              headers={"Authorization": f"Bearer {fields['bearer_token']}"})
        data = me.get("data")
        user_id = data.get("id") if isinstance(data, dict) else None
        return Grant({account.id: {**fields, "user_id": oauth.required({"id": user_id}, "id", WHAT)}})

    async def refresh(self, account_id: str, fields: Mapping[str, str]) -> Mapping[str, str] | None:
        if not fields.get("refresh_token"):
            return None
        return self._fields(await self._token({"grant_type": "refresh_token",
                                               "refresh_token": fields["refresh_token"]}))

    async def _token(self, form: dict[str, str]) -> dict[str, object]:
        client_id = self._settings.client_id or ""
        headers = {}
        if self._settings.client_secret is not None:  # a confidential client authenticates with Basic
            pair = f"{client_id}:{self._settings.client_secret.get_secret_value()}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        return await oauth.call("POST", self._token_url, what=WHAT, timeout_s=self._settings.timeout_s,
                                data={**form, "client_id": client_id}, headers=headers)

    def _fields(self, body: Mapping[str, object]) -> dict[str, str]:
        fields = self.token_fields(body, "bearer_token", WHAT)
        if isinstance(body.get("refresh_token"), str):  # X rotates the refresh token on each use
            fields["refresh_token"] = str(body["refresh_token"])
        return fields
