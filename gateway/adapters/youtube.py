"""YouTube adapter: google-api-python-client (httplib2) in worker threads.

The client is built from the bundled static discovery document with `rootUrl` replaced by the
configured base URL: `client_options.api_endpoint` would leave the upload URL on https
(platforms.md §4). Every call runs in `asyncio.to_thread` with its own `AuthorizedHttp`
because httplib2 is not thread-safe. Uploads use the resumable protocol in chunks.

Only the last chunk of an upload can create a video, so a lost answer to that chunk is
`UncertainError`; a lost answer earlier is a plain retry (the half-finished session is dropped).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import google.auth.exceptions
import google_auth_httplib2
import httplib2
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaIoBaseUpload, build_http

from gateway.adapters.base import IdempotencyKey, Progress
from gateway.adapters.render import (
    YOUTUBE_MAX_DESCRIPTION_BYTES,
    YOUTUBE_MAX_TITLE,
    truncate_to,
    utf8_len,
    youtube_description,
    youtube_title,
)
from gateway.credentials import AccountCredentials, CredentialSource
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

class YoutubeSettings(PlatformSettings, OAuthClient):
    """`GATEWAY_YOUTUBE__<KEY>`: where the YouTube Data API v3 is and how long to wait for it."""

    base_url: str = "https://youtube.googleapis.com"
    # Google's consent page and token endpoint (OAuth 2.0 for web server applications).
    authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    token_url: str = "https://oauth2.googleapis.com/token"
    web_url: str = "https://www.youtube.com"


CHUNK_UNIT = 256 * 1024  # resumable chunks must be multiples of 256 KiB
DEFAULT_CHUNK_SIZE = 32 * CHUNK_UNIT  # 8 MiB
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
PACIFIC = ZoneInfo("America/Los_Angeles")  # YouTube quotas reset at midnight Pacific Time
RATE_LIMIT_WAIT = timedelta(minutes=1)  # per-minute limits; Google sends no reset time
QUOTA_REASONS = frozenset({"quotaExceeded", "uploadLimitExceeded", "dailyLimitExceeded"})
RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
CATEGORY_NEWS_AND_POLITICS = "25"
FALLBACK_TITLE = "お知らせ"
SKIP_NO_VIDEO = "動画が添付されていないため、YouTube には投稿しません"
MAX_RECENT_PAGES = 4


class YoutubeAdapter:
    platform: ClassVar[Platform] = Platform.YOUTUBE
    settings_type: ClassVar[type[PlatformSettings]] = YoutubeSettings
    limits: ClassVar[Limits] = Platform.YOUTUBE.spec.limits

    def __init__(
        self,
        settings: YoutubeSettings,
        credentials: CredentialSource,
        accounts: Mapping[str, Account],
        *,
        media: MediaStore,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        if chunk_size <= 0 or chunk_size % CHUNK_UNIT:
            raise ValueError("chunk_size must be a positive multiple of 256 KiB")
        self._base = settings.base_url.rstrip("/")
        self._web = settings.web_url.rstrip("/")
        self._timeout = settings.timeout_s
        self._credentials = credentials
        self._accounts = accounts
        self._media = media
        self._chunk_size = chunk_size
        self._doc = _discovery_doc(self._base)
        # Refreshed access tokens live here so that each call does not refresh again.
        self._google: dict[str, tuple[str, Credentials]] = {}

    # -- render -------------------------------------------------------------------------------

    def render(self, message: Message, account: Account) -> Post:
        video = next((m for m in message.media if m.kind is MediaKind.VIDEO), None)
        description = fit_description(message.text, message.link)
        media: tuple[Media, ...] = (video,) if video is not None else ()
        return Post(
            platform=self.platform, account=account.id, parts=(PostPart(text=description, media=media),),
            title=fit_title(message.title or first_line(message.text)), link=message.link,
            skip_reason=None if video is not None else SKIP_NO_VIDEO,
        )

    # -- publish ------------------------------------------------------------------------------

    async def publish(self, post: Post, key: IdempotencyKey, *, progress: Progress | None = None) -> Receipt:
        if post.skip_reason:
            raise PermanentError(post.skip_reason, code="skipped")
        video = next((m for p in post.parts for m in p.media if m.kind is MediaKind.VIDEO), None)
        if video is None:
            raise PermanentError(SKIP_NO_VIDEO, code="skipped")
        body = {
            "snippet": {
                "title": post.title or FALLBACK_TITLE, "description": post.text,
                "categoryId": CATEGORY_NEWS_AND_POLITICS,
            },
            "status": {"privacyStatus": self._privacy(post.account), "selfDeclaredMadeForKids": False},
        }
        google = self._google_credentials(post.account)
        resource = await asyncio.to_thread(self._insert, google, body, video)
        _check_upload_status(resource)
        video_id = resource.get("id")
        if not isinstance(video_id, str) or not video_id:
            raise UncertainError("YouTube の応答に動画 ID がありません", code="no_answer")
        logger.info("youtube published", extra={"account": post.account, "remote_id": video_id})
        return Receipt(
            platform=self.platform, account=post.account, remote_id=video_id,
            url=f"{self._web}/watch?v={video_id}",
            published_at=_parse_time(resource.get("snippet", {}).get("publishedAt")) or datetime.now(UTC),
        )

    def _insert(self, google: Credentials, body: dict[str, Any], video: Media) -> dict[str, Any]:
        """The resumable upload, in a worker thread."""
        handle, stored = self._media.open(video)  # PermanentError, never a read, outside the store
        http = self._http(google)
        try:
            media = MediaIoBaseUpload(handle, mimetype=stored.content_type, chunksize=self._chunk_size,
                                      resumable=True)
            request = self._service(http).videos().insert(part="snippet,status", body=body, media_body=media)
            response: dict[str, Any] | None = None
            while response is None:
                last_chunk = request.resumable_progress + self._chunk_size >= media.size()
                try:
                    _, response = request.next_chunk(http=http)
                except Exception as exc:
                    raise translate(exc, may_have_published=last_chunk) from exc
            return response
        finally:
            handle.close()
            _close(http)

    # -- delete / recent ----------------------------------------------------------------------

    async def delete(self, receipt: Receipt) -> None:
        google = self._google_credentials(receipt.account)
        try:
            await asyncio.to_thread(
                self._execute, google, lambda yt: yt.videos().delete(id=receipt.remote_id)
            )
        except PermanentError as exc:
            if exc.code != "not_found":
                raise
            logger.info("youtube delete: already gone", extra={"account": receipt.account})

    async def recent(self, account: Account, since: datetime) -> list[RemotePost]:
        """Videos of the channel's uploads playlist added since `since`, newest first."""
        google = self._google_credentials(account.id)
        return await asyncio.to_thread(self._recent, google, since)

    def _recent(self, google: Credentials, since: datetime) -> list[RemotePost]:
        channels = self._execute(google, lambda yt: yt.channels().list(part="contentDetails", mine=True))
        items = channels.get("items") or []
        if not items:
            return []
        uploads = items[0]["contentDetails"]["relatedPlaylists"]["uploads"]
        found: list[RemotePost] = []
        page_token: str | None = None
        for _ in range(MAX_RECENT_PAGES):
            page = self._execute(google, functools.partial(_playlist_page, uploads, page_token))
            posts = [_remote_post(item) for item in page.get("items", [])]
            found.extend(p for p in posts if p.created_at is None or p.created_at >= since)
            page_token = page.get("nextPageToken")
            oldest = min((p.created_at for p in posts if p.created_at), default=None)
            if not page_token or (oldest is not None and oldest < since):
                break
        return found

    async def aclose(self) -> None:
        """Nothing is kept open: every call builds and drops its own Http."""

    # -- plumbing -----------------------------------------------------------------------------

    def _privacy(self, account_id: str) -> str:
        account = self._accounts.get(account_id)
        if account is None:
            raise PermanentError(f"{account_id}: アカウント設定がありません", code="unknown_account")
        return account.visibility  # YouTube's privacyStatus

    def _google_credentials(self, account_id: str) -> Credentials:
        fields = self._credentials.get(account_id)
        fingerprint = _fingerprint(fields)
        cached = self._google.get(account_id)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        google = self._build_credentials(account_id, fields)
        self._google[account_id] = (fingerprint, google)
        return google

    def _build_credentials(self, account_id: str, fields: AccountCredentials) -> Credentials:
        plain = {name: value.get_secret_value() for name, value in fields.items()}
        if not plain.get("access_token") and not plain.get("refresh_token"):
            raise AuthError(f"{account_id}: YouTube の認証情報がありません", code="no_credentials")
        can_refresh = all(plain.get(k) for k in ("refresh_token", "client_id", "client_secret"))
        if not can_refresh:
            return Credentials(token=plain.get("access_token"))  # type: ignore[no-untyped-call]
        return Credentials(  # type: ignore[no-untyped-call]
            token=plain.get("access_token") or None, refresh_token=plain["refresh_token"],
            client_id=plain["client_id"], client_secret=plain["client_secret"],
            token_uri=plain.get("token_uri") or _token_uri(self._base),
        )

    def _http(self, google: Credentials) -> google_auth_httplib2.AuthorizedHttp:
        http = build_http()  # drops 308 from httplib2's redirect codes
        http.timeout = self._timeout
        return google_auth_httplib2.AuthorizedHttp(google, http=http)

    def _service(self, http: google_auth_httplib2.AuthorizedHttp) -> Any:
        return build_from_document(self._doc, http=http)

    def _execute(self, google: Credentials, make: Callable[[Any], Any]) -> dict[str, Any]:
        """Build a request with `make(service)` and run it, in the calling (worker) thread."""
        http = self._http(google)
        try:
            result = make(self._service(http)).execute(http=http)
        except Exception as exc:
            raise translate(exc, may_have_published=False) from exc
        finally:
            _close(http)
        return result if isinstance(result, dict) else {}


def _close(http: google_auth_httplib2.AuthorizedHttp) -> None:
    """Close the call's sockets now rather than whenever the Http is collected."""
    for connection in list(http.http.connections.values()):
        connection.close()


# -- render helpers ---------------------------------------------------------------------------


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def fit_title(source: str) -> str:
    """≤ 100 characters on one line, without `<` and `>` (YouTube rejects them)."""
    title = truncate_to(youtube_title(source), lambda t: len(t) <= YOUTUBE_MAX_TITLE)
    return title or FALLBACK_TITLE


def fit_description(text: str, link: str | None) -> str:
    """≤ 5,000 UTF-8 bytes, cut on a character boundary; the link kept whole at the end."""
    body, tail = youtube_description(text, link)
    return truncate_to(body, lambda t: utf8_len(t) <= YOUTUBE_MAX_DESCRIPTION_BYTES, tail=tail)


# -- wire helpers -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _discovery_doc(base_url: str) -> str:
    """The bundled youtube/v3 discovery document with its root pointed at `base_url`.

    Kept as text because `build_from_document` edits the dict it is given.
    """
    raw = get_static_doc("youtube", "v3")
    if raw is None:
        raise RuntimeError("google-api-python-client has no static youtube v3 discovery document")
    doc = json.loads(raw)
    doc["rootUrl"] = doc["mtlsRootUrl"] = f"{base_url}/"
    return json.dumps(doc)


def _token_uri(base_url: str) -> str:
    host = urlsplit(base_url).hostname or ""
    return GOOGLE_TOKEN_URI if host.endswith("googleapis.com") else f"{base_url}/token"


def _fingerprint(fields: AccountCredentials) -> str:
    joined = "\0".join(f"{k}={v.get_secret_value()}" for k, v in sorted(fields.items()))
    return hashlib.sha256(joined.encode()).hexdigest()


def _playlist_page(playlist_id: str, page_token: str | None, yt: Any) -> Any:
    return yt.playlistItems().list(
        part="snippet,contentDetails", playlistId=playlist_id, maxResults=50, pageToken=page_token
    )


def _remote_post(item: Mapping[str, Any]) -> RemotePost:
    snippet, details = item.get("snippet", {}), item.get("contentDetails", {})
    video_id = str(details.get("videoId") or snippet.get("resourceId", {}).get("videoId", ""))
    return RemotePost(
        remote_id=video_id, text=str(snippet.get("description", "")),
        created_at=_parse_time(details.get("videoPublishedAt") or snippet.get("publishedAt")),
        url=f"https://www.youtube.com/watch?v={video_id}",
    )


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _check_upload_status(resource: Mapping[str, Any]) -> None:
    """An upload can finish yet be refused (`uploadStatus` rejected/failed): that is no post."""
    status = resource.get("status", {})
    upload_status = status.get("uploadStatus")
    if upload_status == "rejected":
        reason = str(status.get("rejectionReason") or "rejected")
        raise PermanentError(f"YouTube が動画を拒否しました ({reason})", code=reason)
    if upload_status == "failed":
        reason = str(status.get("failureReason") or "failed")
        raise PermanentError(f"YouTube で動画の処理に失敗しました ({reason})", code=reason)


# -- errors -----------------------------------------------------------------------------------


def translate(exc: BaseException, *, may_have_published: bool) -> PublishError:
    """Map googleapiclient / google-auth / httplib2 / socket errors onto gateway.errors."""
    if isinstance(exc, PublishError):
        return exc
    if isinstance(exc, HttpError):
        return http_error(exc)
    if isinstance(exc, google.auth.exceptions.RefreshError):
        return AuthError("YouTube のトークンを更新できません。再認証が必要です", code="auth")
    if isinstance(exc, google.auth.exceptions.TransportError):
        return RetryableError("YouTube の認証サーバーに接続できませんでした", code="transport")
    if isinstance(exc, ConnectionRefusedError | httplib2.ServerNotFoundError):
        return RetryableError("YouTube に接続できませんでした", code="connect_failed")
    if may_have_published and isinstance(exc, TimeoutError | ConnectionError):
        return UncertainError("YouTube の応答がありません。投稿された可能性があります", code="no_answer")
    if isinstance(exc, TimeoutError | ConnectionError | httplib2.HttpLib2Error | OSError):
        return RetryableError(f"YouTube との通信に失敗しました ({type(exc).__name__})", code="transport")
    return RetryableError(f"YouTube クライアントのエラーです ({type(exc).__name__})", code="client_error")


def http_error(exc: HttpError) -> PublishError:
    status = int(exc.status_code)
    reasons = error_reasons(exc.content)
    note = f"(HTTP {status} {', '.join(sorted(reasons)) or exc.reason})"[:300]
    if reasons & QUOTA_REASONS:
        return RateLimited(f"YouTube の割り当て上限に達しました {note}", retry_after=next_pacific_midnight(),
                           code="quota")
    if reasons & RATE_REASONS or status == 429:
        retry_after = datetime.now(UTC) + RATE_LIMIT_WAIT
        return RateLimited(f"YouTube のレート制限中です {note}", retry_after=retry_after)
    if status == 401:
        return AuthError(f"YouTube の認証が無効です。再認証が必要です {note}")
    if status >= 500 or status < 400:  # < 400: e.g. a resumable session opened without a Location
        return RetryableError(f"YouTube の一時的なエラーです {note}", code="server_error")
    if status == 404:
        return PermanentError(f"YouTube に対象が見つかりません {note}", code="not_found")
    first = min(reasons) if reasons else "rejected"
    return PermanentError(f"YouTube がリクエストを拒否しました {note}", code=first)


def error_reasons(content: bytes) -> set[str]:
    """`error.errors[].reason` of a Google error document."""
    try:
        doc = json.loads(content)
    except ValueError:
        return set()
    error = doc.get("error") if isinstance(doc, dict) else None
    errors = error.get("errors") if isinstance(error, dict) else None
    return {str(e["reason"]) for e in errors or [] if isinstance(e, dict) and e.get("reason")}


def next_pacific_midnight(now: datetime | None = None) -> datetime:
    """When YouTube's daily quotas reset, in UTC."""
    local = (now or datetime.now(UTC)).astimezone(PACIFIC)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=PACIFIC)
    return midnight.astimezone(UTC)
