"""Connecting a YouTube channel: Google's OAuth 2.0 for web server applications, offline access.

Consent at `authorize_url` (accounts.google.com/o/oauth2/v2/auth: `client_id`, `redirect_uri`,
`response_type=code`, `scope`, `access_type=offline`, `prompt=consent`, `state`, and PKCE S256,
which Google accepts for web clients too); `POST token_url` (oauth2.googleapis.com/token, form
`code`, `client_id`, `client_secret`, `redirect_uri`, `grant_type`) gives an access token and a
refresh token; `grant_type=refresh_token` renews the access token before it expires. The channel
id comes from `GET /youtube/v3/channels?part=id&mine=true`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import ClassVar

from gateway.adapters import oauth
from gateway.adapters.youtube import YoutubeSettings
from gateway.connections import Grant, Pending, pkce_challenge
from gateway.errors import AuthError
from gateway.models import Platform
from gateway.policy import Account, Municipality

SCOPES = "https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube.readonly"
WHAT = "Google"


class YoutubeConnector(oauth.AppConnector):
    platform: ClassVar[Platform] = Platform.YOUTUBE
    refresh_margin: ClassVar[timedelta] = timedelta(minutes=10)  # Google's access tokens live an hour

    def __init__(self, settings: YoutubeSettings, clock: Callable[[], datetime]) -> None:
        super().__init__(settings, clock)
        self._token_url = settings.token_url

    def authorize_url(self, pending: Pending) -> str:
        return self.consent(pending, {
            "scope": SCOPES, "access_type": "offline", "prompt": "consent", "include_granted_scopes": "true",
            "code_challenge": pkce_challenge(pending.verifier), "code_challenge_method": "S256"})

    async def exchange(self, account: Account, city: Municipality, code: str, pending: Pending) -> Grant:
        body = await self._token(self.code_form(code, pending))
        fields = {**self.token_fields(body, "access_token", WHAT),
                  "refresh_token": oauth.required(body, "refresh_token", WHAT), **self.client(),
                  "token_uri": self._token_url}
        channels = await oauth.call("GET", self._settings.base_url.rstrip("/") + "/youtube/v3/channels",
                                    what=WHAT, timeout_s=self._settings.timeout_s,
                                    params={"part": "id", "mine": "true"},
                                    headers={"Authorization": f"Bearer {fields['access_token']}"})
        items = channels.get("items") or []
        if not items or not isinstance(items[0], dict) or not items[0].get("id"):
            raise AuthError("Google: このアカウントには YouTube チャンネルがありません", code="connect_no_channel")
        return Grant({account.id: {**fields, "channel_id": str(items[0]["id"])}})

    async def refresh(self, account_id: str, fields: Mapping[str, str]) -> Mapping[str, str] | None:
        if not fields.get("refresh_token"):
            return None
        client = {k: fields[k] for k in ("client_id", "client_secret") if fields.get(k)} or self.client()
        body = await self._token({"grant_type": "refresh_token", "refresh_token": fields["refresh_token"]},
                                 client)
        return self.token_fields(body, "access_token", WHAT)

    async def _token(self, form: dict[str, str], client: Mapping[str, str] | None = None) -> dict[str, object]:
        return await oauth.call("POST", self._token_url, what=WHAT, timeout_s=self._settings.timeout_s,
                                data={**form, **(client or self.client())})
