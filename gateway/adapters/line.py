"""LINE adapter: line-bot-sdk v3 async Messaging API, broadcast by default.

- Recipients per account (`Account.line_mode`): "broadcast" (every friend), "multicast" to
  `line_recipients` (user ids, split into requests of at most 500), or "narrowcast" (to the
  audience groups whose ids are in `line_recipients`, or every friend when there are none).
- Idempotency: the delivery's `IdempotencyKey` (stored before the first attempt) is sent as
  `X-Line-Retry-Key` in LINE's UUID form; multicast batch n > 0 uses a key derived from it, so
  every retry reuses the same keys. A 409 with `x-line-accepted-request-id` means LINE already
  accepted that request: it counts as success. Hence timeouts and 5xx are simply retryable here.
- Text: at most 5,000 UTF-16 code units per text message and 5 messages per request; `render`
  splits long text into several text messages. An alert's other languages (`Message.translations`:
  やさしい日本語, English ...) follow the Japanese as text messages of their own in the same broadcast.
- Images: LINE fetches them itself, so each needs a public HTTPS URL (`Media.url`). LINE image
  messages have no alt-text field, so image descriptions travel as text: they are appended to the
  body under 「画像の説明」 and sent before the images. Videos are not sent as LINE video
  messages (those need a preview image we do not have); a video with a URL is linked in the text.
- `render` never refuses; `problems(post)` lists what LINE would refuse (more than 5 messages, an
  image without an HTTPS URL) in Japanese for previews, and `publish` raises `PermanentError`
  with the same text before sending anything.
- `recent()` is always empty: LINE has no readable timeline of sent messages, and none is needed
  because the retry key already makes a repeated send harmless.
- `delete()` raises `PermanentError`: LINE cannot unsend a broadcast or multicast message.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    AudienceRecipient,
    BroadcastRequest,
    Configuration,
    ImageMessage,
    MulticastRequest,
    NarrowcastRequest,
    OperatorRecipient,
    TextMessage,
)
from linebot.v3.messaging.exceptions import ApiException
from yarl import URL

from gateway.adapters.base import IdempotencyKey, Progress
from gateway.adapters.render import compose_text, split_to, utf16_len
from gateway.credentials import CredentialSource
from gateway.errors import AuthError, PermanentError, PublishError, RateLimited, RetryableError
from gateway.models import Limits, Media, MediaKind, Message, Platform, Post, PostPart, Receipt, RemotePost
from gateway.policy import Account
from gateway.settings import PlatformSettings

log = logging.getLogger(__name__)

class LineSettings(PlatformSettings):
    """`GATEWAY_LINE__<KEY>`: where the LINE Messaging API is and how long to wait for it."""

    base_url: str = "https://api.line.me"


MAX_TEXT_UNITS = Platform.LINE.spec.limits.max_text
MAX_MESSAGES = Platform.LINE.spec.limits.max_parts
MULTICAST_BATCH = 500
RATE_LIMIT_WAIT = timedelta(minutes=1)  # broadcast allows 60 requests an hour
TOKYO = ZoneInfo("Asia/Tokyo")
KEY_NAMESPACE = uuid.UUID("6f1c6a52-4c1e-4f57-9b47-5b0b8f1f3a10")  # for keys that are not UUIDs


def fits_line(text: str) -> bool:
    return utf16_len(text) <= MAX_TEXT_UNITS


def retry_key(key: str, batch: int = 0) -> str:
    """LINE's retry key for batch `batch` of a delivery: the key itself in UUID form, or derived from it."""
    try:
        base = uuid.UUID(key)
    except ValueError:
        base = uuid.uuid5(KEY_NAMESPACE, key)
    return str(base if batch == 0 else uuid.uuid5(base, f"batch-{batch}"))


def _image_notes(images: Sequence[Media]) -> str:
    alts = [(m.alt_text or "").strip() for m in images]
    described = [(i, alt) for i, alt in enumerate(alts, start=1) if alt]
    if not described:
        return ""
    if len(images) == 1:
        return f"【画像の説明】\n{described[0][1]}"
    return "【画像の説明】\n" + "\n".join(f"{i}枚目: {alt}" for i, alt in described)


def render_line(message: Message, account: Account) -> Post:
    images = [m for m in message.media if m.kind is MediaKind.IMAGE]
    video_urls = [m.url for m in message.media if m.kind is MediaKind.VIDEO and m.url]
    sections = [compose_text(message)]
    sections += [f"動画: {url}" for url in video_urls if url not in sections[0]]
    sections += [n for n in (_image_notes(images),) if n]
    texts = split_to("\n\n".join(sections), fits_line)
    # An alert's other languages go in the same broadcast, one text message each, in the account's order.
    texts += [t for translation in message.translations for t in split_to(translation.text, fits_line)]
    parts = [PostPart(text=t) for t in texts] + [PostPart(text="", media=(m,)) for m in images]
    return Post(platform=Platform.LINE, account=account.id, parts=tuple(parts), title=message.title,
                link=message.link)


def problems(post: Post) -> list[str]:
    """What LINE would refuse in this post, in Japanese for staff; empty when it can be sent."""
    found: list[str] = []
    texts = sum(1 for p in post.parts if not p.media)
    if len(post.parts) > MAX_MESSAGES:
        found.append(
            f"LINE は1回に{MAX_MESSAGES}件までしか送れませんが、この投稿は{len(post.parts)}件"
            f"（本文{texts}件・画像{len(post.parts) - texts}件）です。"
            "本文を短くするか画像を減らしてください。"
        )
    for part in post.parts:
        for media in part.media:
            if not Platform.LINE.spec.fetchable(media):
                found.append(f"画像「{media.label}」に HTTPS の公開URLがありません。"
                             "LINE の画像メッセージには HTTPS のURL（2,000文字以内）が必要です。")
    return found


def _sdk_messages(post: Post) -> list[TextMessage | ImageMessage]:
    messages: list[TextMessage | ImageMessage] = []
    for part in post.parts:
        if part.text:
            messages.append(TextMessage(text=part.text))
        messages += [ImageMessage(original_content_url=m.url, preview_image_url=m.url) for m in part.media]
    return messages


def next_month_start(now: datetime) -> datetime:
    """When LINE's monthly message quota resets: 00:00 on the 1st of next month, Japan time."""
    local = now.astimezone(TOKYO)
    month_later = local.replace(day=1) + timedelta(days=32)
    first = datetime(month_later.year, month_later.month, 1, tzinfo=TOKYO)
    return first.astimezone(UTC)


def translate(exc: ApiException, now: datetime | None = None) -> PublishError:
    """The gateway error for an error answer from LINE."""
    status = int(exc.status or 0)
    message = _error_message(exc.body)
    now = now or datetime.now(UTC)
    if status == 429 and "monthly limit" in message.lower():
        reset = next_month_start(now)
        return RateLimited("LINE の月間メッセージ上限に達しました", retry_after=reset, code="quota")
    if status == 429:
        return RateLimited("LINE のレート制限に達しました", retry_after=now + RATE_LIMIT_WAIT)
    if status == 401:
        return AuthError("LINE のチャネルアクセストークンが無効または期限切れです", code="unauthorized")
    if status == 0 or status >= 500 or status == 409:
        # 409 without an accepted id: the same key is still being processed; ask again shortly.
        return RetryableError(f"LINE: HTTP {status} {message}".strip(), code="server_error")
    return PermanentError(f"LINE が送信を拒否しました（HTTP {status}）: {message}", code=f"http_{status}")


def _error_message(body: Any) -> str:
    try:
        data = json.loads(body) if isinstance(body, str | bytes) else {}
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    details = "; ".join(f"{d.get('property', '')}: {d.get('message', '')}" for d in data.get("details") or [])
    return f"{data.get('message', '')} {details}".strip()[:300]


def _env_proxy(base_url: str) -> tuple[str | None, dict[str, str] | None]:
    """The proxy HTTPS_PROXY/HTTP_PROXY (and NO_PROXY) name for the API, with its credentials."""
    try:
        proxy, auth = get_env_proxy_for_url(URL(base_url))
    except LookupError:
        return None, None
    return str(proxy), ({"Proxy-Authorization": auth.encode()} if auth is not None else None)


class LineAdapter:
    platform: ClassVar[Platform] = Platform.LINE
    settings_type: ClassVar[type[PlatformSettings]] = LineSettings
    limits: ClassVar[Limits] = Platform.LINE.spec.limits

    def __init__(
        self,
        settings: LineSettings,
        credentials: CredentialSource,
        accounts: Mapping[str, Account],
        *,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._settings = settings
        self._credentials = credentials
        self._accounts = accounts
        self._session = session
        self._client: AsyncApiClient | None = None

    def render(self, message: Message, account: Account) -> Post:
        return render_line(message, account)

    async def publish(self, post: Post, key: IdempotencyKey, *, progress: Progress | None = None) -> Receipt:
        account = self._account(post.account)
        refused = problems(post)
        if refused:
            raise PermanentError(" ".join(refused), code="line_invalid")
        auth = self._auth(post.account)
        messages = _sdk_messages(post)
        request_ids = [
            await self._send(self._request(account, messages, batch), auth, retry_key(key, i))
            for i, batch in enumerate(self._batches(account))
        ]
        log.info("line published", extra={"account": post.account, "remote_id": request_ids[0],
                                           "mode": account.line_mode, "requests": len(request_ids)})
        return Receipt(platform=Platform.LINE, account=post.account, remote_id=request_ids[0],
                       published_at=datetime.now(UTC), extra_ids=tuple(request_ids[1:]))

    async def delete(self, receipt: Receipt) -> None:
        raise PermanentError(
            "LINE では配信済みのメッセージを取り消せません"
            "（一斉配信・マルチキャストの送信取消APIはありません）。"
            "訂正が必要な場合は訂正のメッセージを配信してください。",
            code="unsupported",
        )

    async def recent(self, account: Account, since: datetime) -> list[RemotePost]:
        return []  # no timeline to read; the retry key makes a repeated send harmless instead

    async def aclose(self) -> None:
        if self._client is not None:
            if self._session is None:
                await self._client.close()
            self._client = None

    # --- steps ---------------------------------------------------------------------------------

    def _account(self, account_id: str) -> Account:
        try:
            return self._accounts[account_id]
        except KeyError:
            message = f"{account_id}: LINE のアカウント設定がありません"
            raise PermanentError(message, code="unknown_account") from None

    def _auth(self, account_id: str) -> dict[str, str]:
        token = self._credentials.get(account_id).get("channel_access_token")
        if token is None or not token.get_secret_value():
            message = f"{account_id}: LINE のチャネルアクセストークンがありません"
            raise AuthError(message, code="no_credentials")
        return {"type": "bearer", "in": "header", "key": "Authorization",
                "value": "Bearer " + token.get_secret_value()}

    async def _api(self) -> AsyncMessagingApi:
        if self._client is None:
            # The token is given per request (`_request_auth`); the configured one is a placeholder.
            base_url = self._settings.base_url.rstrip("/")
            configuration = Configuration(host=base_url, access_token="")
            configuration.proxy, configuration.proxy_headers = _env_proxy(base_url)
            client = AsyncApiClient(configuration)
            self._client = client  # before any await, so concurrent first calls share one client
            # The SDK's own session trusts the environment, which costs two thread hops per request
            # (proxy and .netrc lookups); the proxy is read from the environment once, above.
            own = client.rest_client.pool_manager
            client.rest_client.pool_manager = self._session or aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=own.connector.limit if own.connector else 100))
            await own.close()
        return AsyncMessagingApi(self._client)

    async def warm_up(self) -> None:
        """Build the SDK client and serialise one request (nothing is sent): the SDK's first call
        otherwise spends tens of milliseconds on set-up, which the first alert would wait for."""
        api = await self._api()
        request = BroadcastRequest(messages=[TextMessage(text="warm-up")], notification_disabled=False)
        api.api_client.sanitize_for_serialization(request.to_dict())

    def _batches(self, account: Account) -> list[list[str]]:
        if account.line_mode != "multicast":
            return [list(account.line_recipients)]
        if not account.line_recipients:
            message = f"{account.id}: マルチキャストの配信先（line_recipients）が設定されていません"
            raise PermanentError(message, code="no_recipients")
        to = list(account.line_recipients)
        return [to[i:i + MULTICAST_BATCH] for i in range(0, len(to), MULTICAST_BATCH)]

    @staticmethod
    def _request(account: Account, messages: list[Any], to: list[str]) -> Any:
        if account.line_mode == "multicast":
            return MulticastRequest(to=to, messages=messages, notification_disabled=False)
        if account.line_mode == "narrowcast":
            return NarrowcastRequest(messages=messages, recipient=_audiences(account, to),
                                     notification_disabled=False)
        return BroadcastRequest(messages=messages, notification_disabled=False)

    async def _send(self, request: Any, auth: dict[str, str], key: str) -> str:
        api = await self._api()
        send = {
            MulticastRequest: api.multicast_with_http_info,
            NarrowcastRequest: api.narrowcast_with_http_info,
            BroadcastRequest: api.broadcast_with_http_info,
        }[type(request)]
        timeout = aiohttp.ClientTimeout(total=self._settings.timeout_s)
        try:
            response = await send(request, x_line_retry_key=key, _request_timeout=timeout, _request_auth=auth)
        except ApiException as exc:
            accepted = (exc.headers or {}).get("x-line-accepted-request-id")
            if exc.status == 409 and accepted:
                return str(accepted)  # an earlier attempt with this key went through
            raise translate(exc) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            # Safe to retry whether or not LINE got it: the retry key turns a repeat into a 409.
            message = f"LINE との通信に失敗しました: {type(exc).__name__}"
            raise RetryableError(message, code="transport") from exc
        return str((response.headers or {}).get("x-line-request-id", key))


def _audiences(account: Account, ids: list[str]) -> Any:
    if not ids:
        return None  # every friend
    if not all(i.isdigit() for i in ids):
        raise PermanentError(f"{account.id}: ナローキャストの配信先はオーディエンスIDで指定してください",
                             code="bad_recipients")
    groups = [AudienceRecipient(audience_group_id=int(i)) for i in ids]
    return groups[0] if len(groups) == 1 else OperatorRecipient(var_or=groups)
