"""Connecting a Facebook Page (and the Instagram business account behind it) with Facebook Login.

Consent at `authorize_url` (www.facebook.com/{version}/dialog/oauth: `client_id`, `redirect_uri`,
`state`, `scope`, `response_type=code`); `GET {graph}/oauth/access_token` with `client_id`,
`redirect_uri`, `client_secret`, `code` gives a user token, exchanged for a long-lived one
(`grant_type=fb_exchange_token`), so that the Page token read from `GET /me/accounts` does not
expire. The Page's `instagram_business_account` is stored for the city's Instagram account
(`ig_user_id`, `access_token`: the Page token, which Instagram's Graph API accepts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from gateway.adapters import oauth
from gateway.adapters.facebook import FacebookSettings
from gateway.connections import Choice, Grant, Pending
from gateway.errors import AuthError, InputError
from gateway.models import Platform
from gateway.policy import Account, Municipality

SCOPES = ("pages_show_list,pages_read_engagement,pages_manage_posts,"
          "instagram_basic,instagram_content_publish,business_management")
WHAT = "Facebook"
USER_TOKEN = "user_token"


class FacebookConnector(oauth.AppConnector):
    platform: ClassVar[Platform] = Platform.FACEBOOK

    def __init__(self, settings: FacebookSettings, clock: Callable[[], datetime]) -> None:
        super().__init__(settings, clock)
        self._graph = f"{settings.base_url.rstrip('/')}/{settings.api_version}"

    def authorize_url(self, pending: Pending) -> str:
        return self.consent(pending, {"scope": SCOPES})

    async def exchange(self, account: Account, city: Municipality, code: str, pending: Pending) -> Grant | Choice:
        short = await self._get("/oauth/access_token", {**self.client(), "redirect_uri": pending.redirect_uri,
                                                         "code": code})
        long_lived = await self._get("/oauth/access_token", {
            **self.client(), "grant_type": "fb_exchange_token",
            "fb_exchange_token": oauth.required(short, "access_token", WHAT)})
        user_token = oauth.required(long_lived, "access_token", WHAT)
        pages = await self._pages(user_token)
        if len(pages) == 1:
            return await self._grant(account, city, pages[0])
        options = tuple((str(p["id"]), f"{p.get('name', '')}（{p['id']}）") for p in pages)
        return Choice(options, {USER_TOKEN: user_token})

    async def finish(self, account: Account, city: Municipality, value: str, carried: Mapping[str, str]) -> Grant:
        pages = [p for p in await self._pages(carried.get(USER_TOKEN, "")) if str(p["id"]) == value]
        if not pages:
            raise InputError("選んだページを管理する権限がありません", code="connect_choice_invalid")
        return await self._grant(account, city, pages[0])

    async def _pages(self, user_token: str) -> list[dict[str, Any]]:
        body = await self._get("/me/accounts", {"fields": "id,name,access_token,tasks", "access_token": user_token})
        pages = [p for p in body.get("data") or [] if isinstance(p, dict) and p.get("id") and p.get("access_token")]
        if not pages:
            raise AuthError("Facebook: 管理しているページがありません（ページの管理者として許可してください）",
                            code="connect_no_pages")
        return pages

    async def _grant(self, account: Account, city: Municipality, page: Mapping[str, Any]) -> Grant:
        page_id, token = str(page["id"]), str(page["access_token"])
        by_account = {account.id: {"page_id": page_id, "page_access_token": token}}
        instagram = [a for a in city.accounts if a.platform is Platform.INSTAGRAM]
        if account.platform is Platform.INSTAGRAM:
            by_account, instagram = {}, [account]
        ig_user = await self._instagram_user(page_id, token) if instagram else None
        if ig_user is not None:
            by_account.update({a.id: {"ig_user_id": ig_user, "access_token": token} for a in instagram[:1]})
        if not by_account:
            raise AuthError("Facebook: このページには Instagram ビジネスアカウントがつながっていません",
                            code="connect_no_instagram")
        return Grant(by_account)

    async def _instagram_user(self, page_id: str, token: str) -> str | None:
        body = await self._get(f"/{page_id}", {"fields": "instagram_business_account", "access_token": token})
        linked = body.get("instagram_business_account")
        return str(linked["id"]) if isinstance(linked, dict) and linked.get("id") else None

    async def _get(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        return await oauth.call("GET", self._graph + path, what=WHAT, timeout_s=self._settings.timeout_s,
                                params=params)


class InstagramConnector(FacebookConnector):
    """Instagram accounts connect through Facebook Login: the Page's linked business account."""

    platform: ClassVar[Platform] = Platform.INSTAGRAM
