"""Instagram adapter: the Graph API's content publishing, over aiohttp.

A post is made in three steps (developers.facebook.com/docs/instagram-platform/content-publishing):
1. create a container, `POST /{ig-user-id}/media`: one image (`image_url`, `caption`, `alt_text`),
   a carousel (2–10 image containers with `is_carousel_item=true`, then `media_type=CAROUSEL` with
   `children`), or a reel (`media_type=REELS`, `video_url`; reels take no alt text);
2. poll `GET /{container-id}?fields=status_code` until `FINISHED` (`ERROR`/`EXPIRED` fail it);
3. publish, `POST /{ig-user-id}/media_publish` with `creation_id`.

Meta fetches the media itself, so every item needs a public HTTPS `url` (as for LINE); no file is
uploaded. Before creating anything the account's publishing limit is read from the API
(`GET /{ig-user-id}/content_publishing_limit`: 50 posts per rolling 24 hours): a spent quota is a
rate limit, not a failure. Only `media_publish` can make a post, so only a lost answer to it is
uncertain; the reconciler then looks at `GET /{ig-user-id}/media`. Instagram has no text-only
post: a message without an image or video is skipped with a reason. The API cannot delete posts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import aiohttp
from pydantic import Field

from gateway.adapters.base import IdempotencyKey, Progress
from gateway.adapters.facebook import AUTH_CODES, RATE_LIMIT_CODES, regain_at
from gateway.adapters.http import json_object
from gateway.adapters.render import compose_text, cut_graphemes, truncate_to
from gateway.credentials import CredentialSource
from gateway.errors import (
    AuthError,
    PermanentError,
    PublishError,
    RateLimited,
    RetryableError,
    UncertainError,
)
from gateway.models import Limits, Media, MediaKind, Message, Platform, Post, PostPart, Receipt, RemotePost
from gateway.policy import Account
from gateway.settings import PlatformSettings

logger = logging.getLogger(__name__)

class InstagramSettings(PlatformSettings):
    """`GATEWAY_INSTAGRAM__<KEY>`: where Instagram's content publishing (Graph API) is and how long to wait for it."""

    base_url: str = "https://graph.facebook.com"  # Instagram's Graph API with Facebook Login
    api_version: str = "v26.0"
    poll_interval_s: float = Field(default=2.0, gt=0)  # between container status reads
    max_polls: int = Field(default=60, ge=1)  # then the delivery is retried later


MAX_CAPTION = Platform.INSTAGRAM.spec.limits.max_text
MAX_CAROUSEL = Platform.INSTAGRAM.spec.limits.max_media
MAX_ALT_TEXT = Platform.INSTAGRAM.spec.limits.alt_text_max or 0  # declared: 1,000
SKIP_NO_MEDIA = "Instagram は画像か動画のない投稿はできません（文字だけの投稿は送りません）"
QUOTA_RECHECK = timedelta(hours=1)  # the quota is a rolling 24 h: look again in an hour


@dataclass(frozen=True)
class _User:
    account: str
    user_id: str
    token: str = field(repr=False)


def render_instagram(message: Message, account: Account) -> Post:
    """A reel for a video, else one image or a carousel of up to 10; the text as the caption."""
    video = next((m for m in message.media if m.kind is MediaKind.VIDEO), None)
    images = tuple(m for m in message.media if m.kind is MediaKind.IMAGE)[:MAX_CAROUSEL]
    media: tuple[Media, ...] = (video,) if video is not None else tuple(_fit_alt(m) for m in images)
    caption = truncate_to(compose_text(message), lambda t: len(t) <= MAX_CAPTION)
    return Post(platform=Platform.INSTAGRAM, account=account.id, parts=(PostPart(text=caption, media=media),),
                title=message.title, link=message.link, skip_reason=None if media else SKIP_NO_MEDIA)


def _fit_alt(media: Media) -> Media:
    if media.alt_text is None or len(media.alt_text) <= MAX_ALT_TEXT:
        return media
    return media.model_copy(update={"alt_text": cut_graphemes(media.alt_text, MAX_ALT_TEXT)})


class InstagramAdapter:
    platform: ClassVar[Platform] = Platform.INSTAGRAM
    settings_type: ClassVar[type[PlatformSettings]] = InstagramSettings
    limits: ClassVar[Limits] = Platform.INSTAGRAM.spec.limits

    def __init__(
        self,
        settings: InstagramSettings,
        credentials: CredentialSource,
        accounts: Mapping[str, Account],
        *,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._graph = f"{settings.base_url.rstrip('/')}/{settings.api_version}"
        self._settings = settings
        self._credentials = credentials
        self._accounts = accounts
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout_s, connect=settings.timeout_s * 0.8)

    def render(self, message: Message, account: Account) -> Post:
        return render_instagram(message, account)

    async def publish(self, post: Post, key: IdempotencyKey, *, progress: Progress | None = None) -> Receipt:
        if post.skip_reason:
            raise PermanentError(post.skip_reason, code="skipped")
        user = self._user(post.account)
        media = [m for part in post.parts for m in part.media]
        _require_urls(media)
        await self._check_quota(user)
        container = await self._container(user, post.text, media)
        await self._wait_finished(user, container)
        body = await self._call("POST", f"{user.user_id}/media_publish", user, publishing=True,
                                data={"creation_id": container}, what="公開")
        media_id = _created_id(body)
        logger.info("instagram published", extra={"account": post.account, "remote_id": media_id})
        return Receipt(platform=self.platform, account=post.account, remote_id=media_id,
                       published_at=datetime.now(UTC), extra_ids=(container,))

    async def delete(self, receipt: Receipt) -> None:
        raise PermanentError("Instagram の投稿は API では削除できません。Instagram のアプリで削除してください",
                             code="delete_unsupported")

    async def recent(self, account: Account, since: datetime) -> list[RemotePost]:
        user = self._user(account.id)
        params = {"fields": "id,caption,timestamp,permalink", "since": str(int(since.timestamp())), "limit": "100"}
        body = await self._call("GET", f"{user.user_id}/media", user, publishing=False, params=params,
                                what="投稿一覧")
        return [_remote_post(item) for item in body.get("data", []) if isinstance(item, dict)]

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    # -- steps --------------------------------------------------------------------------------

    async def _check_quota(self, user: _User) -> None:
        """Read the publishing limit from the API; a spent quota waits rather than fails."""
        body = await self._call("GET", f"{user.user_id}/content_publishing_limit", user, publishing=False,
                                params={"fields": "quota_usage,config"}, what="投稿上限の確認")
        usage, total = _quota(body)
        if usage is not None and total is not None and usage >= total:
            raise RateLimited(f"Instagram の投稿上限（24時間で{total}件）に達しています（{usage}件）",
                              retry_after=datetime.now(UTC) + QUOTA_RECHECK)

    async def _container(self, user: _User, caption: str, media: Sequence[Media]) -> str:
        if media[0].kind is MediaKind.VIDEO:
            return await self._create(user, {"media_type": "REELS", "video_url": str(media[0].url),
                                             "caption": caption})
        if len(media) == 1:
            return await self._create(user, {**_image_fields(media[0]), "caption": caption})
        children = []
        for item in media:
            child = await self._create(user, {**_image_fields(item), "is_carousel_item": "true"})
            await self._wait_finished(user, child)
            children.append(child)
        return await self._create(user, {"media_type": "CAROUSEL", "children": ",".join(children),
                                         "caption": caption})

    async def _create(self, user: _User, fields: dict[str, str]) -> str:
        body = await self._call("POST", f"{user.user_id}/media", user, publishing=False, data=fields,
                                what="コンテナ作成")
        return _created_id(body)

    async def _wait_finished(self, user: _User, container: str) -> None:
        for _ in range(self._settings.max_polls):
            body = await self._call("GET", container, user, publishing=False, params={"fields": "status_code"},
                                    what="処理状況の確認")
            status = str(body.get("status_code") or "")
            if status == "FINISHED":
                return
            if status in ("ERROR", "EXPIRED", "PUBLISHED"):
                raise PermanentError(f"Instagram がメディアを処理できませんでした（{status}）",
                                     code=f"container_{status.lower()}")
            await asyncio.sleep(self._settings.poll_interval_s)
        raise RetryableError("Instagram のメディア処理が時間内に終わりませんでした", code="container_timeout")

    # -- plumbing -----------------------------------------------------------------------------

    def _user(self, account_id: str) -> _User:
        fields = self._credentials.get(account_id)
        user_id, token = fields.get("ig_user_id"), fields.get("access_token")
        if user_id is None or token is None:
            raise AuthError(f"{account_id}: Instagram の認証情報に ig_user_id と access_token が必要です",
                            code="no_credentials")
        return _User(account_id, user_id.get_secret_value(), token.get_secret_value())

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _call(
        self, method: str, path: str, user: _User, *, publishing: bool, what: str,
        data: Mapping[str, str] | None = None, params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One Graph request; every failure leaves as an error of gateway.errors."""
        headers = {"Authorization": f"Bearer {user.token}"}  # never in the URL, so never in error text
        try:
            async with self._http().request(method, f"{self._graph}/{path}", data=data, params=params,
                                             headers=headers, timeout=self._timeout) as resp:
                body = await json_object(resp)
                if resp.status >= 400 or "error" in body:
                    raise instagram_error(resp.status, body, resp.headers, user.token, what=what)
                return body
        except PublishError:
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _transport_error(exc, publishing, what) from exc


def problems(post: Post) -> list[str]:
    """What Instagram could not fetch in this post, in Japanese for staff; empty when it can be sent."""
    return [f"「{m.label}」に HTTPS の公開URLがありません。Instagram は公開URLから画像・動画を取り込みます。"
            for part in post.parts for m in part.media if not Platform.INSTAGRAM.spec.fetchable(m)]


def _require_urls(media: Sequence[Media]) -> None:
    for item in media:
        if not Platform.INSTAGRAM.spec.fetchable(item):
            raise PermanentError(f"「{item.label}」に HTTPS の公開URL（url）がありません。Instagram は"
                                 "公開URLから画像・動画を取得します", code="no_public_url")


def _image_fields(media: Media) -> dict[str, str]:
    fields = {"image_url": str(media.url)}
    if media.alt_text:
        fields["alt_text"] = media.alt_text
    return fields


def _quota(body: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """(quota_usage, quota_total) from `{"data": [{...}]}` (as Graph answers) or a bare object."""
    data = body.get("data")
    entry = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else body
    config = entry.get("config")
    usage = entry.get("quota_usage")
    total = config.get("quota_total", 50) if isinstance(config, dict) else 50
    return (usage if isinstance(usage, int) else None), (total if isinstance(total, int) else None)


def _created_id(body: Mapping[str, Any]) -> str:
    value = body.get("id")
    if not isinstance(value, str | int) or not str(value):
        raise UncertainError("Instagram の応答に id がありません", code="no_id")
    return str(value)


def _remote_post(item: Mapping[str, Any]) -> RemotePost:
    created = None
    stamp = item.get("timestamp")
    if isinstance(stamp, str):
        try:
            created = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            created = None
    return RemotePost(remote_id=str(item.get("id")), text=str(item.get("caption") or ""), created_at=created,
                      url=str(item["permalink"]) if item.get("permalink") else None)


def _transport_error(exc: BaseException, publishing: bool, what: str) -> PublishError:
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return RetryableError(f"Instagram に接続できませんでした（{what}）", code="connect_failed")
    if publishing:
        return UncertainError(f"Instagram への送信後に応答がありません（{what}）: 公開された可能性があります",
                              code="timeout_after_send")
    return RetryableError(f"Instagram との通信に失敗しました（{what}）: {type(exc).__name__}", code="transport")


def instagram_error(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str], token: str, *, what: str,
) -> PublishError:
    """Classify a Graph error document by `error.code` (as for Facebook Pages)."""
    error = body.get("error")
    err: Mapping[str, Any] = error if isinstance(error, dict) else {}
    code = err.get("code") if isinstance(err.get("code"), int) else None
    detail = str(err.get("message") or f"HTTP {status}")[:300].replace(token, "***") if token else ""
    note = f"(code {code}: {detail})"
    if code in RATE_LIMIT_CODES or status == 429:
        return RateLimited(f"Instagram のレート制限中です（{what}） {note}", retry_after=regain_at(headers))
    if code in AUTH_CODES:
        return AuthError(f"Instagram のトークンまたは権限が無効です。再認証が必要です（{what}） {note}")
    if status >= 500 or err.get("is_transient") is True or code in (1, 2):
        return RetryableError(f"Instagram の一時的なエラーです（{what}） {note}", code="server_error")
    return PermanentError(f"Instagram が拒否しました（{what}） {note}", code=f"graph_{code}" if code else "rejected")
