"""Connecting a LINE official account: channel access tokens issued from the channel id and secret.

`POST {base_url}/v2/oauth/accessToken` (form `grant_type=client_credentials`, `client_id` = channel
id, `client_secret` = channel secret) issues a short-lived channel access token valid 30 days
(`expires_in` 2592000). Such a token cannot be refreshed: the gateway issues a new one a week before
the old one expires, from the stored channel id and secret.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import ClassVar

from gateway.adapters import oauth
from gateway.adapters.line import LineSettings
from gateway.connections import EXPIRES_AT, Connector, Grant
from gateway.models import Platform
from gateway.policy import Account

WHAT = "LINE"


class LineConnector(Connector):
    platform: ClassVar[Platform] = Platform.LINE
    uses_consent: ClassVar[bool] = False
    form_fields: ClassVar[tuple[tuple[str, str], ...]] = (("channel_id", "チャネルID"),
                                                          ("channel_secret", "チャネルシークレット"))
    refresh_margin: ClassVar[timedelta] = timedelta(days=7)

    def __init__(self, settings: LineSettings, clock: Callable[[], datetime]) -> None:
        self._settings = settings
        self._clock = clock

    async def issue(self, account: Account, form: Mapping[str, str]) -> Grant:
        channel = {"channel_id": form["channel_id"], "channel_secret": form["channel_secret"]}
        return Grant({account.id: {**channel, **await self._issue(channel)}})

    async def refresh(self, account_id: str, fields: Mapping[str, str]) -> Mapping[str, str] | None:
        if not (fields.get("channel_id") and fields.get("channel_secret")):
            return None
        return await self._issue(fields)

    async def _issue(self, channel: Mapping[str, str]) -> dict[str, str]:
        body = await oauth.call("POST", self._settings.base_url.rstrip("/") + "/v2/oauth/accessToken", what=WHAT,
                                timeout_s=self._settings.timeout_s, data={
                                    "grant_type": "client_credentials", "client_id": channel["channel_id"],
                                    "client_secret": channel["channel_secret"]})
        fields = {"channel_access_token": oauth.required(body, "access_token", WHAT)}
        expiry = oauth.expires_at(self._clock(), body)
        if expiry:
            fields[EXPIRES_AT] = expiry
        return fields
