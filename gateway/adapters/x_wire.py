"""X over the wire: re-basing tweepy, signing like tweepy, v2 media upload, error translation.

tweepy hard-codes `https://api.twitter.com`; `Rebase` is the duck-typed session tweepy accepts
(it only calls `.request()`), which swaps the host for `settings.base_url`. OAuth 1.0a
signatures are still computed over the real host, exactly as tweepy computes them, so a server
that verifies them (the sandbox, or X itself behind a proxy) sees what X would see.

tweepy 4.17 has no v2 media upload, so `MediaUploader` speaks `/2/media/upload` itself with the
same signing. Error mapping (`translate_status`, `translate_transport`) is shared by tweepy calls
and our own requests so that both land in the same place in `gateway.errors`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from oauthlib.oauth1 import Client as OAuthClient  # type: ignore[import-untyped]
from pydantic import SecretStr
from yarl import URL

from gateway.adapters.http import json_object
from gateway.adapters.render import cut_graphemes
from gateway.errors import (
    AuthError,
    PermanentError,
    PublishError,
    RateLimited,
    RetryableError,
    UncertainError,
)
from gateway.models import Media, MediaKind

log = logging.getLogger(__name__)

X_HOST = "https://api.twitter.com"
DEFAULT_RATE_WAIT = timedelta(minutes=15)  # X's rate-limit window when no reset header came back
DUPLICATE_MARKER = "duplicate content"


@dataclass(frozen=True)
class XAuth:
    """One account's way of signing: OAuth 1.0a user context, or an OAuth 2 user token."""

    consumer_key: str | None = None
    consumer_secret: str | None = None
    access_token: str | None = None
    access_token_secret: str | None = None
    bearer_token: str | None = None
    user_id: str | None = None

    def __repr__(self) -> str:  # never show secrets
        return f"XAuth(oauth1={self.oauth1}, user_id={self.user_id!r})"

    @property
    def oauth1(self) -> bool:
        return self.consumer_key is not None

    @classmethod
    def from_credentials(cls, account: str, creds: Mapping[str, SecretStr]) -> XAuth:
        values = {k: v.get_secret_value() for k, v in creds.items()}
        oauth1 = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
        user_id = values.get("user_id")
        if all(values.get(k) for k in oauth1):
            return cls(
                consumer_key=values["consumer_key"], consumer_secret=values["consumer_secret"],
                access_token=values["access_token"], access_token_secret=values["access_token_secret"],
                user_id=user_id,
            )
        if values.get("bearer_token"):
            return cls(bearer_token=values["bearer_token"], user_id=user_id)
        raise AuthError(
            f"{account}: X の認証情報が不足しています"
            "（consumer_key 等4項目、または bearer_token が必要です）",
            code="credentials_incomplete",
        )

    def sign(
        self, method: str, url: str, params: Mapping[str, str] | None = None
    ) -> tuple[str, dict[str, str]]:
        """(signed URL on the real host, headers), as `tweepy.AsyncBaseClient.request` builds them."""
        headers: dict[str, str] = {}
        if not self.oauth1:
            headers["Authorization"] = f"Bearer {self.bearer_token}"
            return str(URL(url).with_query(sorted((params or {}).items()))), headers
        client = OAuthClient(
            self.consumer_key, self.consumer_secret, self.access_token, self.access_token_secret
        )
        unsigned = str(URL(url).with_query(sorted((params or {}).items())))
        signed_url, signed_headers, _ = client.sign(unsigned, method, headers=headers)
        # tweepy percent-encodes colons in the query after signing (aiohttp would not); do the same.
        before, mark, query = signed_url.partition("?")
        return before + mark + query.replace(":", "%3A"), dict(signed_headers)


class Rebase:
    """The `session` tweepy calls: same request, sent to `base_url` instead of the real host."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        # A connect timeout below the total lets "never connected" (safe to retry) be told apart
        # from "sent, then no answer" (uncertain).
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, connect=timeout_s * 0.8)

    def url(self, url: object) -> URL:
        text = str(url)
        if text.startswith(X_HOST):
            text = self.base_url + text[len(X_HOST):]
        return URL(text, encoded=True)

    def request(self, method: str, url: object, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout)
        return self.session.request(method, self.url(url), **kwargs)


# --- error translation ---------------------------------------------------------------------------


def _epoch(headers: Mapping[str, str], name: str) -> datetime | None:
    value = headers.get(name)
    if value is None or not value.strip().isdigit():
        return None
    return datetime.fromtimestamp(int(value), UTC)


def rate_limit_reset(headers: Mapping[str, str], now: datetime | None = None) -> datetime:
    """When the account may post again: the 15-minute reset, or a 24-hour cap's reset when that is used up."""
    resets = [_epoch(headers, "x-rate-limit-reset")]
    for scope in ("user", "app"):
        if headers.get(f"x-{scope}-limit-24hour-remaining", "").strip() == "0":
            resets.append(_epoch(headers, f"x-{scope}-limit-24hour-reset"))
    known = [r for r in resets if r is not None]
    return max(known) if known else (now or datetime.now(UTC)) + DEFAULT_RATE_WAIT


def translate_status(
    status: int, headers: Mapping[str, str], messages: list[str], *, what: str
) -> PublishError:
    """The gateway error for an X error response (`messages`: the API's detail/message strings)."""
    detail = "; ".join(m for m in messages if m)[:300]
    text = f"X {what}: HTTP {status} {detail}".strip()
    if status == 429:
        return RateLimited(f"X のレート制限に達しました（{what}）", retry_after=rate_limit_reset(headers))
    if status >= 500:
        return RetryableError(text, code="server_error")
    if status == 401:
        message = f"X の認証に失敗しました（トークンが無効または期限切れ）: {what}"
        return AuthError(message, code="unauthorized")
    if status == 403 and DUPLICATE_MARKER in detail.lower():
        return PermanentError(f"X が重複投稿として拒否しました: {detail}", code="duplicate")
    if status == 403:
        return PermanentError(f"X が投稿を拒否しました（403）: {detail}", code="forbidden")
    return PermanentError(text, code=f"http_{status}")


def translate_transport(exc: BaseException, *, sent_may_publish: bool, what: str) -> PublishError:
    """The gateway error for a transport failure.

    Never-connected failures are safe to retry. Once the request may have been sent, a request
    that creates a post becomes uncertain; anything else (media upload, reads) is just retryable.
    """
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return RetryableError(f"X に接続できません（{what}）: {type(exc).__name__}", code="connect")
    if sent_may_publish:
        return UncertainError(
            f"X への送信後に応答がありません（{what}）: 投稿された可能性があります", code="timeout_after_send"
        )
    return RetryableError(f"X との通信に失敗しました（{what}）: {type(exc).__name__}", code="transport")


TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)


# --- v2 media upload -----------------------------------------------------------------------------


class MediaUploader:
    """`/2/media/upload` (one-shot for images, chunked for video) and `/2/media/metadata` for alt text."""

    chunk_bytes = 4 * 1024 * 1024  # X accepts up to 5 MB per APPEND
    max_polls = 60

    def __init__(self, rebase: Rebase, auth: XAuth) -> None:
        self.rebase = rebase
        self.auth = auth

    async def upload(self, media: Media, data: bytes, content_type: str) -> str:
        """Upload one medium (and its alt text) and return its media id."""
        if media.kind is MediaKind.VIDEO:
            media_id = await self._upload_chunked(data, content_type)
        else:
            media_id = await self._upload_image(data, content_type)
        if media.alt_text:
            await self._call("POST", "/2/media/metadata", what="代替テキスト", json={
                "id": media_id, "metadata": {"alt_text": {"text": cut_graphemes(media.alt_text, 1000)}}})
        return media_id

    async def _upload_image(self, data: bytes, content_type: str) -> str:
        form = aiohttp.FormData()
        form.add_field("media", data, filename="media", content_type=content_type)
        form.add_field("media_category", "tweet_gif" if content_type == "image/gif" else "tweet_image")
        body = await self._call("POST", "/2/media/upload", what="画像アップロード", data=form)
        return str(body["data"]["id"])

    async def _upload_chunked(self, data: bytes, content_type: str) -> str:
        init = await self._call("POST", "/2/media/upload/initialize", what="動画アップロード開始", json={
            "media_type": content_type, "total_bytes": len(data), "media_category": "tweet_video"})
        media_id = str(init["data"]["id"])
        for index, start in enumerate(range(0, len(data), self.chunk_bytes)):
            form = aiohttp.FormData()
            form.add_field("media", data[start:start + self.chunk_bytes], filename="chunk",
                           content_type="application/octet-stream")
            form.add_field("segment_index", str(index))
            await self._call("POST", f"/2/media/upload/{media_id}/append", what="動画アップロード", data=form)
        final = await self._call("POST", f"/2/media/upload/{media_id}/finalize", what="動画アップロード完了")
        await self._wait_processed(media_id, final["data"].get("processing_info"))
        return media_id

    async def _wait_processed(self, media_id: str, info: Mapping[str, Any] | None) -> None:
        for _ in range(self.max_polls):
            state = (info or {}).get("state", "succeeded")
            if state == "succeeded":
                return
            if state == "failed":
                reason = (info or {}).get("error", {}).get("message", "")
                raise PermanentError(f"X が動画を処理できませんでした: {reason}", code="media_failed")
            await asyncio.sleep(min(float((info or {}).get("check_after_secs", 1)), 10.0))
            status = await self._call("GET", "/2/media/upload", what="動画処理状況",
                                      params={"command": "STATUS", "media_id": media_id})
            info = status["data"].get("processing_info")
        raise RetryableError("X の動画処理が時間内に終わりませんでした", code="media_processing")

    async def _call(
        self, method: str, path: str, *, what: str, params: Mapping[str, str] | None = None, **kw: Any
    ) -> dict[str, Any]:
        # JSON and multipart bodies are not part of an OAuth 1.0a signature; only the query is.
        url, headers = self.auth.sign(method, X_HOST + path, params)
        try:
            async with self.rebase.request(method, url, headers=headers, **kw) as response:
                body = await json_object(response)
                if not 200 <= response.status < 300:
                    raise translate_status(response.status, response.headers, _messages(body), what=what)
                return body
        except TRANSPORT_ERRORS as exc:
            raise translate_transport(exc, sent_may_publish=False, what=what) from exc


def _messages(body: Mapping[str, Any]) -> list[str]:
    """The human-readable strings of an X error document (v2 problem or v1.1 `errors`)."""
    found = [str(e.get("message", "")) for e in body.get("errors", []) if isinstance(e, dict)]
    if not any(found) and body.get("detail"):
        found.append(str(body["detail"]))
    return found
