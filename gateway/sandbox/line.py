"""LINE Messaging API sandbox: broadcast, multicast, narrowcast, push, quota, narrowcast progress.

Checks the channel access token (Bearer), validates bodies as LINE does (1–5 messages, text
≤ 5,000 UTF-16 units, HTTPS image URLs, 1–500 multicast recipients), answers every request with
`x-line-request-id`, and keeps `X-Line-Retry-Key`s for 24 hours: a replay of an accepted key gets
409 `{"message":"The retry key is already accepted"}` with `x-line-accepted-request-id`.

Faults apply to the sending endpoints:

| FaultKind | answer |
|---|---|
| RATE_LIMIT | 429 `{"message":"The API rate limit has been exceeded. Try again later."}` |
| QUOTA | 429 `{"message":"You have reached your monthly limit."}` |
| SERVER_ERROR | `status` (500) |
| TIMEOUT_AFTER_ACCEPT | accepted (sent, key kept), then the answer waits `hang_s` |
| TIMEOUT_BEFORE | waits `hang_s`, sends nothing, then 500 |
| DUPLICATE | accepted, answered with the 409 of a replayed retry key (see below) |
| EXPIRED_TOKEN | 401 (wording of the expired-token message unverified) |
| REJECT | 400 with `details` |

LINE has no duplicate-content rejection; its only "duplicate" is a replayed retry key. So
DUPLICATE accepts the request, as an earlier attempt would have, and answers with that 409.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.models import Platform
from gateway.sandbox import line_token
from gateway.sandbox.base import Fault, FaultKind, PublishedPost, SandboxState
from gateway.sandbox.credentials import sandbox_credentials

RETRY_KEY_TTL_S = 24 * 3600
FOLLOWERS = 100  # what one broadcast costs in the sandbox's monthly quota
MONTHLY_QUOTA = 200_000
AUTH_FAILED = "Authentication failed. Confirm that the access token in the authorization header is valid."
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class LineError(Exception):
    def __init__(self, status: int, message: str, details: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        body: dict[str, Any] = {"message": message}
        if details:
            body["details"] = details
        self.status, self.body, self.headers = status, body, headers or {}


def _invalid(problems: list[tuple[str, str]]) -> LineError:
    details = [{"message": m, "property": p} for p, m in problems]
    return LineError(400, f"The request body has {len(details)} error(s)", details)


class LineSandbox:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self._by_token: dict[bytes, str] = {}  # sha256(channel access token) -> account
        self._indexed = -1
        self.retry_keys: dict[tuple[str, str], tuple[str, float, PublishedPost]] = {}
        self.usage: dict[str, int] = {}
        self.narrowcasts: dict[str, tuple[str, int, datetime]] = {}  # request id -> account, count, at

    def route(self, handler: Callable[[web.Request, str, str], Awaitable[web.StreamResponse]]) -> Handler:
        """Record arrival, authenticate, stamp `x-line-request-id`, answer `LineError`s."""

        async def wrapped(request: web.Request) -> web.StreamResponse:
            await self.state.arrive(Platform.LINE, request.method, request.path)
            request_id = str(uuid.uuid4())
            try:
                account = self._account(request.headers.get("Authorization", ""))
                response = await handler(request, account, request_id)
            except LineError as exc:
                response = web.json_response(exc.body, status=exc.status, headers=exc.headers)
            response.headers["x-line-request-id"] = request_id
            return response

        return wrapped

    def _account(self, header: str) -> str:
        """The account whose channel access token this is (looked up by the token's digest, not by
        trying every account: a sandbox may hold every municipality's LINE account)."""
        token = header[len("Bearer "):] if header.startswith("Bearer ") else ""
        if self._indexed != len(self.state.accounts):  # accounts added since: index them too
            self._by_token = {
                hashlib.sha256(sandbox_credentials(a, Platform.LINE)["channel_access_token"].encode()).digest(): a
                for a, platform in self.state.accounts.items() if platform is Platform.LINE}
            self._indexed = len(self.state.accounts)
        account = self._by_token.get(hashlib.sha256(token.encode()).digest()) if token else None
        if account is None:
            raise LineError(401, AUTH_FAILED)
        return account

    # --- sending --------------------------------------------------------------------------------

    def sender(self, endpoint: str) -> Callable[[web.Request, str, str], Awaitable[web.StreamResponse]]:
        async def send(request: web.Request, account: str, request_id: str) -> web.StreamResponse:
            key = self._retry_key(request)
            self._replay(account, key, endpoint)
            body = await _json_body(request)
            fault = self.state.faults.take(Platform.LINE, account)
            if fault is not None and fault.kind is not FaultKind.TIMEOUT_AFTER_ACCEPT:
                return await self._fail(fault, account, key, endpoint, body, request_id)
            post = self._accept(account, key, endpoint, body, request_id)
            if fault is not None:
                await asyncio.sleep(fault.hang_s)
            return _sent(endpoint, post)

        return send

    def _retry_key(self, request: web.Request) -> str | None:
        key = request.headers.get("X-Line-Retry-Key")
        if key is None:
            return None
        try:
            parsed = uuid.UUID(key)
        except ValueError:
            raise LineError(400, "The retry key must be a UUID in hexadecimal format") from None
        if str(parsed) != key.lower():
            raise LineError(400, "The retry key must be a UUID in hexadecimal format")
        return str(parsed)

    def _replay(self, account: str, key: str | None, endpoint: str) -> None:
        if key is None:
            return
        now = time.time()
        # Oldest first (insertion order): drop expired keys from the front only.
        for stale, (_, at, _) in list(itertools.islice(self.retry_keys.items(), 64)):
            if now - at <= RETRY_KEY_TTL_S:
                break
            del self.retry_keys[stale]
        accepted = self.retry_keys.get((account, key))
        if accepted is not None:
            raise self._conflict(endpoint, accepted[0], accepted[2])

    @staticmethod
    def _conflict(endpoint: str, accepted_id: str, post: PublishedPost) -> LineError:
        error = LineError(409, "The retry key is already accepted",
                          headers={"x-line-accepted-request-id": accepted_id})
        if endpoint == "push":
            error.body["sentMessages"] = post.extra["sentMessages"]
        return error

    def _accept(
        self, account: str, key: str | None, endpoint: str, body: dict[str, Any], request_id: str
    ) -> PublishedPost:
        messages, recipients = _validate(endpoint, body)
        texts = [m["text"] for m in messages if m.get("type") == "text"]
        images = [m for m in messages if m.get("type") == "image"]
        extra: dict[str, Any] = {"endpoint": endpoint, "messages": messages, "to": recipients,
                                 "retry_key": key, "request_id": request_id}
        if endpoint == "push":
            extra["sentMessages"] = [{"id": self.state.next_id(), "quoteToken": uuid.uuid4().hex}
                                     for _ in messages]
        post = self.state.publish(PublishedPost(
            platform=Platform.LINE, account=account, remote_id=request_id, text="\n\n".join(texts),
            created_at=datetime.now(UTC), media=images, extra=extra))
        if key is not None:
            self.retry_keys[(account, key)] = (request_id, time.time(), post)
        count = len(recipients) if recipients else FOLLOWERS
        self.usage[account] = self.usage.get(account, 0) + count
        if endpoint == "narrowcast":
            self.narrowcasts[request_id] = (account, count, post.created_at)
        return post

    async def _fail(
        self, fault: Fault, account: str, key: str | None, endpoint: str, body: dict[str, Any],
        request_id: str,
    ) -> web.StreamResponse:
        kind = fault.kind
        if kind is FaultKind.RATE_LIMIT:
            raise LineError(429, "The API rate limit has been exceeded. Try again later.")
        if kind is FaultKind.QUOTA:
            raise LineError(429, "You have reached your monthly limit.")
        if kind is FaultKind.TIMEOUT_BEFORE:
            await asyncio.sleep(fault.hang_s)
        if kind in (FaultKind.SERVER_ERROR, FaultKind.TIMEOUT_BEFORE):
            raise LineError(fault.status or 500, "Internal server error")
        if kind is FaultKind.DUPLICATE:
            post = self._accept(account, key, endpoint, body, request_id)
            raise self._conflict(endpoint, request_id, post)
        if kind is FaultKind.EXPIRED_TOKEN:
            raise LineError(401, "Authentication failed due to the expired access token")
        raise _invalid([("messages[0]", "The message was rejected")])

    # --- reading --------------------------------------------------------------------------------

    async def quota(self, request: web.Request, account: str, request_id: str) -> web.StreamResponse:
        return web.json_response({"type": "limited", "value": MONTHLY_QUOTA})

    async def consumption(self, request: web.Request, account: str, request_id: str) -> web.StreamResponse:
        return web.json_response({"totalUsage": self.usage.get(account, 0)})

    async def progress(self, request: web.Request, account: str, request_id: str) -> web.StreamResponse:
        wanted = request.rel_url.query.get("requestId", "")
        found = self.narrowcasts.get(wanted)
        if found is None or found[0] != account:
            raise LineError(404, "Not found")
        _, count, at = found
        stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return web.json_response({"phase": "succeeded", "successCount": count, "failureCount": 0,
                                  "targetCount": count, "acceptedTime": stamp, "completedTime": stamp})


def _validate(endpoint: str, body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    messages = body.get("messages")
    problems: list[tuple[str, str]] = []
    if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
        raise _invalid([("messages", "Size must be between 1 and 5")])
    for i, message in enumerate(messages):
        problems += _message_problems(i, message)
    recipients = body.get("to") or []
    if endpoint == "push":
        recipients = [recipients] if isinstance(recipients, str) and recipients else []
        if not recipients:
            problems.append(("to", "Must not be empty"))
    if endpoint == "multicast" and not (isinstance(recipients, list) and 1 <= len(recipients) <= 500):
        problems.append(("to", "Size must be between 1 and 500"))
    if problems:
        raise _invalid(problems)
    return messages, [str(r) for r in recipients]


def _message_problems(index: int, message: Any) -> list[tuple[str, str]]:
    where = f"messages[{index}]"
    if not isinstance(message, dict) or message.get("type") not in ("text", "image"):
        return [(f"{where}.type", "Must be one of the following values: [text, image]")]
    if message["type"] == "text":
        text = message.get("text")
        if not isinstance(text, str) or not 1 <= len(text.encode("utf-16-le")) // 2 <= 5000:
            return [(f"{where}.text", "Length must be between 1 and 5000")]
        return []
    problems = []
    for name in ("originalContentUrl", "previewImageUrl"):
        url = message.get(name)
        if not isinstance(url, str) or not url.startswith("https://") or len(url) > 2000:
            problems.append((f"{where}.{name}", "Must be a valid HTTPS URL (max 2000 characters)"))
    return problems


def _sent(endpoint: str, post: PublishedPost) -> web.Response:
    if endpoint == "push":
        return web.json_response({"sentMessages": post.extra["sentMessages"]})
    return web.json_response({}, status=202 if endpoint == "narrowcast" else 200)


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise LineError(400, "The request body has 1 error(s)",
                        [{"message": "Invalid JSON", "property": ""}]) from None
    if not isinstance(body, dict):
        raise _invalid([("", "Must be a JSON object")])
    return body


def install(app: web.Application, state: SandboxState) -> None:
    """Add the LINE routes to `app` at the real API paths."""
    sandbox = LineSandbox(state)
    route = sandbox.route
    for endpoint in ("broadcast", "multicast", "narrowcast", "push"):
        app.router.add_post(f"/v2/bot/message/{endpoint}", route(sandbox.sender(endpoint)))
    line_token.install(app, state)
    app.router.add_get("/v2/bot/message/quota", route(sandbox.quota))
    app.router.add_get("/v2/bot/message/quota/consumption", route(sandbox.consumption))
    app.router.add_get("/v2/bot/message/progress/narrowcast", route(sandbox.progress))
