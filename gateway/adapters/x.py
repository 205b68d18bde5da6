"""X (Twitter) adapter: tweepy `AsyncClient` for posts, our own v2 media upload, twitter-text fitting.

- Length is twitter-text v3 weighted length (kana/kanji count 2, every URL 23), limit 280.
- Overflow per account (`Account.x_overflow`): "truncate" cuts the text with "…" and keeps the
  link on its own line; "thread" splits into numbered parts sent as a reply chain
  (`Receipt.remote_id` = the first post, `extra_ids` = the rest).
- Shares: a shared X post (any x.com / twitter.com status URL) is quoted (`quote_tweet_id`, on
  the first part of a thread); any other shared URL is posted after the text, like the link, and
  kept whole when the text is cut.
- Media: up to 4 images or 1 video per post. Alt text is set with `/2/media/metadata` before
  the post is created. With a video, images are left out; in thread mode further groups of
  images ride on further parts, in truncate mode only the first group is sent.
- X has no idempotency key. A `POST /2/tweets` that may have reached X (timeout or dropped
  connection after sending) raises `UncertainError`; the reconciler then looks at `recent()`.
  A thread that fails for certain half-way deletes the parts already posted, so that a retry
  starts clean; one that becomes uncertain half-way keeps them (the reconciler finds the head).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import aiohttp
import tweepy
from tweepy.asynchronous import AsyncClient

from gateway.adapters.base import IdempotencyKey, Progress
from gateway.adapters.render import (
    compose_text,
    fits_x,
    post_urls,
    quoted_post_id,
    split_to,
    truncate_to,
    x_clean,
)
from gateway.adapters.x_wire import (
    TRANSPORT_ERRORS,
    MediaUploader,
    Rebase,
    XAuth,
    translate_status,
    translate_transport,
)
from gateway.credentials import CredentialSource
from gateway.errors import PermanentError, PublishError, UncertainError
from gateway.media import MediaStore
from gateway.models import Limits, Media, MediaKind, Message, Platform, Post, PostPart, Receipt, RemotePost
from gateway.policy import Account
from gateway.settings import OAuthClient, PlatformSettings

log = logging.getLogger(__name__)


class XSettings(PlatformSettings, OAuthClient):
    """`GATEWAY_X__<KEY>`: where X API v2 (and v1.1 media upload) is and how long to wait for it."""

    base_url: str = "https://api.twitter.com"
    # OAuth 2.0 with PKCE: the consent page (x.com); the token endpoint is base_url + /2/oauth2/token.
    authorize_url: str = "https://x.com/i/oauth2/authorize"
    web_url: str = "https://x.com"  # where people open a post ("投稿を開く"); the sandbox's own in sandbox mode


def _no_request_dumps(record: logging.LogRecord) -> bool:
    """tweepy logs each request's headers at DEBUG, a Bearer token included: never let those through."""
    return not str(record.msg).startswith("Making API request")


logging.getLogger("tweepy.asynchronous.client").addFilter(_no_request_dumps)

MAX_IMAGES = Platform.X.spec.limits.max_media


def _thread_marker(index: int, total: int) -> str:
    return f" ({index}/{total})"


def _media_groups(media: Sequence[Media]) -> list[tuple[Media, ...]]:
    """What each post can carry: one video, or images four at a time."""
    videos = [m for m in media if m.kind is MediaKind.VIDEO]
    if videos:
        return [(videos[0],)]
    images = [m for m in media if m.kind is MediaKind.IMAGE]
    return [tuple(images[i:i + MAX_IMAGES]) for i in range(0, len(images), MAX_IMAGES)]


def _truncated(message: Message, *, with_share: bool) -> str:
    text = message.text.strip()
    urls = post_urls(message, with_share=with_share)
    composed = compose_text(message, with_share=with_share)
    if not urls or fits_x(composed):
        return composed if urls else truncate_to(text, fits_x)
    # The URLs are what readers follow for the rest (and a shared URL goes out exactly as checked):
    # keep them whole after the cut.
    body = text
    for url in urls:
        body = body.replace(url, "").strip()
    return truncate_to(body, fits_x, tail="".join(f"\n{url}" for url in urls))


def render_x(message: Message, account: Account) -> Post:
    """Text (cut or threaded), media groups, and a share as a quote of the X post it names."""
    groups = _media_groups(message.media)
    quote = quoted_post_id(message)
    if account.x_overflow == "thread":
        texts = split_to(compose_text(message, with_share=quote is None), fits_x, marker=_thread_marker)
        texts += [""] * (len(groups) - len(texts))  # media-only parts for further image groups
    else:
        texts = [_truncated(message, with_share=quote is None)]
    texts = [x_clean(text) for text in texts]  # fits_x measured them without these already
    parts = tuple(
        PostPart(text=text, media=groups[i] if i < len(groups) else ()) for i, text in enumerate(texts)
    )
    return Post(platform=Platform.X, account=account.id, parts=parts, title=message.title, link=message.link,
                quote_of=quote)


class XAdapter:
    platform: ClassVar[Platform] = Platform.X
    settings_type: ClassVar[type[PlatformSettings]] = XSettings
    limits: ClassVar[Limits] = Platform.X.spec.limits
    recent_pages: ClassVar[int] = 5
    recent_page_size: ClassVar[int] = 100  # X allows 5–100 per page

    def __init__(
        self,
        settings: XSettings,
        credentials: CredentialSource,
        accounts: Mapping[str, Account],
        *,
        media: MediaStore,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._settings = settings
        self._credentials = credentials
        self._accounts = accounts
        self._media = media
        self._session = session
        self._owns_session = session is None
        self.media_chunk_bytes = MediaUploader.chunk_bytes

    def render(self, message: Message, account: Account) -> Post:
        return render_x(message, account)

    async def publish(self, post: Post, key: IdempotencyKey, *, progress: Progress | None = None) -> Receipt:
        """Post every part (resuming after `progress.done`), recording each as soon as it is out."""
        progress = progress or Progress()
        account = self._account(post.account)
        auth = self._auth(post.account)
        client = self._client(auth)
        posted: list[str] = list(progress.done[:len(post.parts)])
        reply_to = posted[-1] if posted else post.reply_to
        for index, part in enumerate(post.parts[len(posted):], start=len(posted)):
            try:
                media_ids = await self._upload_all(auth, part.media)
                quote = post.quote_of if index == 0 else None
                tweet_id = await self._create(client, auth, part.text, media_ids, reply_to, quote)
            except PublishError as exc:
                if await self._undo(client, auth, posted, exc):
                    await progress.withdrawn()
                raise
            posted.append(tweet_id)
            reply_to = tweet_id
            await progress.record(index, tweet_id)
        log.info("x published", extra={"account": post.account, "remote_id": posted[0], "parts": len(posted)})
        return Receipt(
            platform=Platform.X, account=post.account, remote_id=posted[0], url=self._url(account, posted[0]),
            published_at=datetime.now(UTC), extra_ids=tuple(posted[1:]),
        )

    async def delete(self, receipt: Receipt) -> None:
        auth = self._auth(receipt.account)
        client = self._client(auth)
        for tweet_id in reversed((receipt.remote_id, *receipt.extra_ids)):
            await self._delete_one(client, auth, tweet_id)

    async def recent(self, account: Account, since: datetime) -> list[RemotePost]:
        auth = self._auth(account.id)
        if not auth.user_id:
            raise PermanentError(f"{account.id}: X の user_id が認証情報にありません", code="no_user_id")
        client = self._client(auth)
        found: list[RemotePost] = []
        token: str | None = None
        for _ in range(self.recent_pages):
            response = await self._read_timeline(client, auth, since, token)
            found += [self._remote(account, tweet) for tweet in response.data or []]
            token = (response.meta or {}).get("next_token")
            if not token:
                break
        return found

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    # --- steps ---------------------------------------------------------------------------------

    def _account(self, account_id: str) -> Account:
        try:
            return self._accounts[account_id]
        except KeyError:
            message = f"{account_id}: X のアカウント設定がありません"
            raise PermanentError(message, code="unknown_account") from None

    def _auth(self, account_id: str) -> XAuth:
        return XAuth.from_credentials(account_id, self._credentials.get(account_id))

    def _rebase(self) -> Rebase:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return Rebase(self._settings.base_url, self._session, self._settings.timeout_s)

    def _client(self, auth: XAuth) -> AsyncClient:
        client = AsyncClient(
            bearer_token=auth.bearer_token, consumer_key=auth.consumer_key,
            consumer_secret=auth.consumer_secret, access_token=auth.access_token,
            access_token_secret=auth.access_token_secret, wait_on_rate_limit=False,
        )
        client.session = self._rebase()
        return client

    async def _upload_all(self, auth: XAuth, media: Sequence[Media]) -> list[str]:
        uploader = MediaUploader(self._rebase(), auth)
        uploader.chunk_bytes = self.media_chunk_bytes
        ids = []
        for item in media:
            data, stored = await self._media.read(item)  # PermanentError, never a read, outside the store
            ids.append(await uploader.upload(item, data, stored.content_type))
        return ids

    async def _create(
        self, client: AsyncClient, auth: XAuth, text: str, media_ids: list[str], reply_to: str | None,
        quote: str | None,
    ) -> str:
        response = await _call(
            client.create_tweet(text=text or None, media_ids=media_ids or None, in_reply_to_tweet_id=reply_to,
                                quote_tweet_id=quote, user_auth=auth.oauth1),
            what="投稿", sent_may_publish=True,
        )
        return str(response.data["id"])

    async def _delete_one(self, client: AsyncClient, auth: XAuth, tweet_id: str) -> None:
        try:
            request = client.delete_tweet(tweet_id, user_auth=auth.oauth1)
            await _call(request, what="削除", sent_may_publish=False)
        except PermanentError as exc:
            if exc.code != "http_404":  # already gone is what we wanted
                raise

    async def _undo(self, client: AsyncClient, auth: XAuth, posted: list[str], exc: PublishError) -> bool:
        """Remove the parts of a thread already posted, unless the failure left it uncertain."""
        if not posted or isinstance(exc, UncertainError):
            return False
        for tweet_id in reversed(posted):
            try:
                await self._delete_one(client, auth, tweet_id)
            except PublishError:
                log.warning("x thread rollback failed", extra={"remote_id": tweet_id})
        return True

    async def _read_timeline(
        self, client: AsyncClient, auth: XAuth, since: datetime, token: str | None
    ) -> Any:
        return await _call(
            client.get_users_tweets(
                auth.user_id, start_time=since.astimezone(UTC), max_results=self.recent_page_size,
                tweet_fields=["created_at"], pagination_token=token, user_auth=auth.oauth1,
            ),
            what="タイムライン取得", sent_may_publish=False,
        )

    def _remote(self, account: Account, tweet: Any) -> RemotePost:
        created = tweet.created_at if isinstance(tweet.created_at, datetime) else None
        return RemotePost(remote_id=str(tweet.id), text=tweet.text, created_at=created,
                          url=self._url(account, str(tweet.id)))

    def _url(self, account: Account, tweet_id: str) -> str:
        return f"{self._settings.web_url}/{account.handle.lstrip('@')}/status/{tweet_id}"


async def _call(request: Any, *, what: str, sent_may_publish: bool) -> Any:
    """Await a tweepy call, translating everything it can raise into gateway errors."""
    try:
        return await request
    except tweepy.HTTPException as exc:
        response = exc.response
        raise translate_status(response.status, response.headers, exc.api_messages, what=what) from exc
    except aiohttp.ContentTypeError as exc:  # an error page that is not JSON (a proxy's 502, say)
        raise translate_status(exc.status, exc.headers or {}, [], what=what) from exc
    except TRANSPORT_ERRORS as exc:
        raise translate_transport(exc, sent_may_publish=sent_may_publish, what=what) from exc
    except tweepy.TweepyException as exc:  # raised before any request was made
        raise PermanentError(f"X {what}: {type(exc).__name__}", code="client_error") from exc

