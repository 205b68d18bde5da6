"""Facebook Pages adapter: Graph API over aiohttp.

Feed posts carry `message` and `link`; a single photo goes to `/{page-id}/photos` with
`alt_text_custom`; several photos are uploaded unpublished and attached to one feed post with
`attached_media`. Graph errors are classified by `error.code`, not by HTTP status (Meta answers
most errors with 400). There is no idempotency key: a request that may have been accepted
raises `UncertainError` so that the reconciler looks at `published_posts` before any retry.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import aiohttp

from gateway.adapters.base import IdempotencyKey, Progress
from gateway.adapters.http import json_object
from gateway.adapters.render import post_urls, share_url, truncate_to
from gateway.credentials import CredentialSource
from gateway.errors import (
    AuthError,
    PermanentError,
    PublishError,
    RateLimited,
    RetryableError,
    UncertainError,
)
from gateway.media import MediaStore
from gateway.models import Limits, Media, MediaKind, Message, Platform, Post, PostPart, Receipt, RemotePost
from gateway.policy import Account
from gateway.settings import OAuthClient, PlatformSettings

logger = logging.getLogger(__name__)

class FacebookSettings(PlatformSettings, OAuthClient):
    """`GATEWAY_FACEBOOK__<KEY>`: where the Graph API of Facebook Pages is and how long to wait for it."""

    base_url: str = "https://graph.facebook.com"
    web_url: str = "https://www.facebook.com"
    api_version: str = "v26.0"
    # Facebook Login's dialog (client_id is the app id, client_secret the app secret).
    authorize_url: str = "https://www.facebook.com/v26.0/dialog/oauth"


RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80001})
# 190 invalid/expired token, 102 session, 10 and 200-299 missing permission: a person must act.
AUTH_CODES = frozenset({102, 190, 10, *range(200, 300)})
TRANSIENT_CODES = frozenset({1, 2})
DUPLICATE_CODE = 506
BLOCKED_CODE = 368
# Used when a rate-limit error carries no X-Business-Use-Case-Usage estimate (app/user limits
# are rolling one-hour windows; a quarter of it is a cautious first pause).
DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=15)
GRAPH_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


@dataclass(frozen=True)
class _Page:
    account: str
    page_id: str
    token: str = field(repr=False)


class FacebookAdapter:
    platform: ClassVar[Platform] = Platform.FACEBOOK
    settings_type: ClassVar[type[PlatformSettings]] = FacebookSettings
    limits: ClassVar[Limits] = Platform.FACEBOOK.spec.limits

    def __init__(
        self,
        settings: FacebookSettings,
        credentials: CredentialSource,
        accounts: Mapping[str, Account],
        *,
        media: MediaStore,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._graph = f"{settings.base_url.rstrip('/')}/{settings.api_version}"
        self._web = settings.web_url.rstrip("/")
        self._credentials = credentials
        self._accounts = accounts
        self._media = media
        self._session = session
        self._owns_session = session is None
        # No total timeout: a large photo may take long to send; a silent server may not.
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=settings.timeout_s, sock_read=settings.timeout_s
        )

    # -- render -------------------------------------------------------------------------------

    def render(self, message: Message, account: Account) -> Post:
        images = tuple(_fit_alt(m) for m in message.media if m.kind is MediaKind.IMAGE)
        images = images[: self.limits.max_media]
        feed_link = _feed_link(message)  # sent as `link` only on a feed post without photos
        text = truncate_to(feed_body(message, images), lambda t: len(t) <= self.limits.max_text)
        return Post(
            platform=self.platform, account=account.id, parts=(PostPart(text=text, media=images),),
            title=message.title, link=feed_link,
        )

    # -- publish ------------------------------------------------------------------------------

    async def publish(self, post: Post, key: IdempotencyKey, *, progress: Progress | None = None) -> Receipt:
        page = self._page(post.account)
        images = tuple(m for part in post.parts for m in part.media if m.kind is MediaKind.IMAGE)
        extra: tuple[str, ...]
        if not images:
            remote_id, extra = await self._feed(page, post.text, post.link), ()
        elif len(images) == 1:
            remote_id, extra = await self._single_photo(page, post.text, images[0])
        else:
            remote_id, extra = await self._multi_photo(page, post.text, images)
        logger.info("facebook published", extra={"account": post.account, "remote_id": remote_id})
        return Receipt(
            platform=self.platform, account=post.account, remote_id=remote_id,
            url=f"{self._web}/{remote_id}", published_at=datetime.now(UTC), extra_ids=extra,
        )

    async def _feed(self, page: _Page, text: str, link: str | None, photo_ids: tuple[str, ...] = ()) -> str:
        data: dict[str, str] = {"message": text}
        if link and not photo_ids:
            data["link"] = link
        for i, photo_id in enumerate(photo_ids):
            data[f"attached_media[{i}]"] = json.dumps({"media_fbid": photo_id})
        body = await self._call("POST", f"{page.page_id}/feed", page, data=data, publishing=True)
        return _created_id(body, "id")

    async def _single_photo(self, page: _Page, text: str, image: Media) -> tuple[str, tuple[str, ...]]:
        form = await self._photo_form(image, {"message": text, "published": "true"})
        body = await self._call("POST", f"{page.page_id}/photos", page, data=form, publishing=True)
        return _created_id(body, "post_id"), (_created_id(body, "id"),)

    async def _multi_photo(
        self, page: _Page, text: str, images: tuple[Media, ...]
    ) -> tuple[str, tuple[str, ...]]:
        photo_ids: list[str] = []
        for image in images:
            # Unpublished photos are invisible until attached, so a lost answer here is not a post.
            form = await self._photo_form(image, {"published": "false", "temporary": "true"})
            body = await self._call("POST", f"{page.page_id}/photos", page, data=form, publishing=False)
            photo_ids.append(_created_id(body, "id"))
        remote_id = await self._feed(page, text, None, tuple(photo_ids))
        return remote_id, tuple(photo_ids)

    async def _photo_form(self, image: Media, fields: Mapping[str, str]) -> aiohttp.FormData:
        content, stored = await self._media.read(image)  # PermanentError, never a read, outside the store
        form = aiohttp.FormData()
        for name, value in fields.items():
            form.add_field(name, value)
        if image.alt_text:
            form.add_field("alt_text_custom", image.alt_text)
        form.add_field("source", content, filename=stored.name, content_type=stored.content_type)
        return form

    # -- delete / recent ----------------------------------------------------------------------

    async def delete(self, receipt: Receipt) -> None:
        page = self._page(receipt.account)
        try:
            await self._call("DELETE", receipt.remote_id, page, publishing=False)
        except PermanentError as exc:
            if exc.code != "not_found":
                raise
            # Already gone (e.g. an earlier delete whose answer was lost): the goal is reached.
            logger.info("facebook delete: already gone", extra={"account": receipt.account})

    async def recent(self, account: Account, since: datetime) -> list[RemotePost]:
        page = self._page(account.id)
        params = {
            "fields": "id,message,created_time,permalink_url",
            "since": str(int(since.timestamp())),
            "limit": "100",
        }
        path = f"{page.page_id}/published_posts"
        body = await self._call("GET", path, page, params=params, publishing=False)
        return [_remote_post(item) for item in body.get("data", []) if isinstance(item, dict)]

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    # -- plumbing -----------------------------------------------------------------------------

    def _page(self, account_id: str) -> _Page:
        fields = self._credentials.get(account_id)
        page_id, token = fields.get("page_id"), fields.get("page_access_token")
        if page_id is None or token is None:
            raise AuthError(
                f"{account_id}: Facebook の認証情報に page_id と page_access_token が必要です",
                code="no_credentials",
            )
        return _Page(account_id, page_id.get_secret_value(), token.get_secret_value())

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _call(
        self,
        method: str,
        path: str,
        page: _Page,
        *,
        publishing: bool,
        data: Mapping[str, str] | aiohttp.FormData | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One Graph request; every failure leaves as an error of gateway.errors."""
        # The token travels in a header, never in the URL, so it cannot leak through error text.
        headers = {"Authorization": f"Bearer {page.token}"}
        try:
            async with self._http().request(
                method, f"{self._graph}/{path}", data=data, params=params, headers=headers,
                timeout=self._timeout,
            ) as resp:
                body = await json_object(resp)
                if resp.status >= 400 or "error" in body:
                    raise graph_error(resp.status, body, resp.headers, page.token)
                return body
        except PublishError:
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _transport_error(exc, publishing) from exc


def feed_body(message: Message, images: tuple[Media, ...]) -> str:
    """The post's text before any cut (the length check measures it): a photo post has no link field."""
    return _body(message, None if images else _feed_link(message))


def _feed_link(message: Message) -> str | None:
    """The feed post's `link`: the shared page (shown as its preview card, exactly the URL checked), else the link."""
    return share_url(message) or (message.link or "").strip() or None


def _body(message: Message, feed_link: str | None) -> str:
    """Title as a heading line, then the text; URLs that are not the feed post's `link` (all of them on
    a photo post, which has no link field) join the text."""
    text = message.text.strip()
    title = (message.title or "").strip()
    if title and not text.startswith(title):
        text = f"{title}\n\n{text}"
    for url in post_urls(message):
        if url != feed_link and url not in text:
            text = f"{text}\n{url}"
    return text


def _fit_alt(media: Media) -> Media:
    limit = FacebookAdapter.limits.alt_text_max
    if media.alt_text is None or limit is None or len(media.alt_text) <= limit:
        return media
    return media.model_copy(update={"alt_text": truncate_to(media.alt_text, lambda t: len(t) <= limit)})


def _created_id(body: Mapping[str, Any], key: str) -> str:
    """The id of what a 2xx answer created; without it nobody knows what happened."""
    value = body.get(key)
    if not isinstance(value, str | int) or not str(value):
        raise UncertainError(f"Facebook の応答に {key} がありません", code="no_answer")
    return str(value)


def _remote_post(item: Mapping[str, Any]) -> RemotePost:
    created = item.get("created_time")
    created_at = datetime.strptime(created, GRAPH_TIME_FORMAT) if isinstance(created, str) else None
    return RemotePost(
        remote_id=str(item.get("id", "")), text=str(item.get("message", "")),
        created_at=created_at, url=item.get("permalink_url"),
    )


def _transport_error(exc: BaseException, publishing: bool) -> PublishError:
    # A refused or timed-out connection never carried the request; anything later might have.
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return RetryableError("Facebook に接続できませんでした", code="connect_failed")
    after_send = TimeoutError | aiohttp.ClientConnectionError | aiohttp.ClientPayloadError
    if publishing and isinstance(exc, after_send):
        return UncertainError("Facebook の応答がありません。投稿された可能性があります", code="no_answer")
    return RetryableError(f"Facebook との通信に失敗しました ({type(exc).__name__})", code="transport")


def graph_error(status: int, body: Mapping[str, Any], headers: Mapping[str, str], token: str) -> PublishError:
    """Classify a Graph error document by `error.code` (Meta's HTTP status is mostly 400)."""
    error = body.get("error")
    err: Mapping[str, Any] = error if isinstance(error, dict) else {}
    code, subcode = _int(err.get("code")), _int(err.get("error_subcode"))
    detail = str(err.get("message") or f"HTTP {status}")[:300]
    if token:
        detail = detail.replace(token, "***")
    note = f"(code {code}: {detail})"
    if code in RATE_LIMIT_CODES or status == 429:
        return RateLimited(f"Facebook のレート制限中です {note}", retry_after=regain_at(headers))
    if code in AUTH_CODES:
        return AuthError(f"Facebook のトークンまたは権限が無効です。再認証が必要です {note}")
    if code == DUPLICATE_CODE:
        return PermanentError(f"Facebook が重複投稿として拒否しました {note}", code="duplicate")
    if code == BLOCKED_CODE:
        return PermanentError(f"Facebook がポリシーにより一時的に投稿を制限しています {note}", code="blocked")
    if code == 100 and subcode == 33:
        return PermanentError(f"Facebook に対象が見つかりません {note}", code="not_found")
    if code in TRANSIENT_CODES or status >= 500 or err.get("is_transient") is True:
        return RetryableError(f"Facebook の一時的なエラーです {note}", code="server_error")
    reason = f"graph_{code}" if code else "rejected"
    return PermanentError(f"Facebook が投稿を拒否しました {note}", code=reason)


def regain_at(headers: Mapping[str, str]) -> datetime:
    """When access returns: the largest `estimated_time_to_regain_access` (minutes) in the BUC header."""
    minutes = 0
    try:
        usage = json.loads(headers.get("X-Business-Use-Case-Usage") or "{}")
    except ValueError:
        usage = {}
    if isinstance(usage, dict):
        for entries in usage.values():
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict):
                    minutes = max(minutes, _int(entry.get("estimated_time_to_regain_access")) or 0)
    wait = timedelta(minutes=minutes) if minutes > 0 else DEFAULT_RATE_LIMIT_WAIT
    return datetime.now(UTC) + wait


def _int(value: object) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None
