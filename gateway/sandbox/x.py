"""X API v2 sandbox: `/2/tweets`, v2 media upload and metadata, user timelines, at the real paths.

Answers with X's JSON documents (problem documents on errors, always `application/json`,
which tweepy needs) and rate-limit headers. Authentication is verified for real (see
`x_auth`). Faults apply to `POST /2/tweets`, the publishing request:

| FaultKind | answer |
|---|---|
| RATE_LIMIT | 429, `x-rate-limit-remaining: 0`, `x-rate-limit-reset` = now + reset_s |
| QUOTA | 429, 15-minute window not exhausted, `x-user-limit-24hour-remaining: 0`, its reset = now + reset_s |
| SERVER_ERROR | `status` (503) Service Unavailable |
| TIMEOUT_AFTER_ACCEPT | the post is created, then the answer waits `hang_s` |
| TIMEOUT_BEFORE | waits `hang_s`, creates nothing, then 503 |
| DUPLICATE | 403 "You are not allowed to create a Tweet with duplicate content." |
| EXPIRED_TOKEN | 401 Unauthorized |
| REJECT | 400 invalid request |
| READ_ERROR | the timeline read (`GET /2/users/{id}/tweets`) answers 503; publishing is untouched |

Exact duplicate text of a live post of the same account is refused with the same 403, as X does.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.adapters.render import X_MAX_WEIGHTED, x_length
from gateway.models import Platform, ascii_digits
from gateway.sandbox import x_oauth
from gateway.sandbox.base import Fault, FaultKind, PublishedPost, SandboxState
from gateway.sandbox.credentials import sandbox_user_id
from gateway.sandbox.x_auth import AuthFailed, XAuthenticator
from gateway.sandbox.x_media import MediaStore
from gateway.sandbox.x_problems import (
    DUPLICATE,
    UNAUTHORIZED,
    Problem,
    invalid,
    problem,
    problem_response,
)

WINDOW_S = 900
TWEET_LIMIT = 100
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class XSandbox:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.auth = XAuthenticator(state)
        self.media = MediaStore()
        self._windows: dict[tuple[str, str], list[float]] = {}

    def route(self, handler: Callable[[web.Request, str], Awaitable[web.StreamResponse]]) -> Handler:
        """Record arrival, authenticate, and turn `Problem` into its answer."""

        async def wrapped(request: web.Request) -> web.StreamResponse:
            await self.state.arrive(Platform.X, request.method, request.path)
            try:
                account = await self.auth.account(request)
            except AuthFailed:
                return problem_response(401, UNAUTHORIZED)
            try:
                return await handler(request, account)
            except Problem as exc:
                return exc.response

        return wrapped

    # --- rate-limit headers ---------------------------------------------------------------------

    def rate_headers(self, account: str, endpoint: str, limit: int = TWEET_LIMIT) -> dict[str, str]:
        now = time.time()
        window = [t for t in self._windows.get((account, endpoint), []) if now - t < WINDOW_S] + [now]
        self._windows[(account, endpoint)] = window
        return {"x-rate-limit-limit": str(limit), "x-rate-limit-remaining": str(max(0, limit - len(window))),
                "x-rate-limit-reset": str(int(window[0] + WINDOW_S))}

    # --- POST /2/tweets -------------------------------------------------------------------------

    async def create_tweet(self, request: web.Request, account: str) -> web.StreamResponse:
        body = await _json_body(request)
        fault = self.state.faults.take(Platform.X, account)
        if fault is not None and fault.kind is not FaultKind.TIMEOUT_AFTER_ACCEPT:
            return await self._fail(fault, account)
        post = self._publish(account, body)
        headers = self.rate_headers(account, "tweets")
        if fault is not None:  # accepted; the answer comes too late for the client
            await asyncio.sleep(fault.hang_s)
        data = {"id": post.remote_id, "text": post.text, "edit_history_tweet_ids": [post.remote_id]}
        return web.json_response({"data": data}, status=201, headers=headers)

    def _publish(self, account: str, body: dict[str, Any]) -> PublishedPost:
        text = str(body.get("text") or "")
        media_ids = [str(m) for m in (body.get("media") or {}).get("media_ids", [])]
        if not text and not media_ids:
            raise invalid("text", text, "Tweet text or media is required.")
        if x_length(text).weighted_length > X_MAX_WEIGHTED:
            raise problem(403, "Forbidden", "Your Tweet text is too long. For more information on how X "
                          "determines text length see https://github.com/twitter/twitter-text.")
        media = self.media.attach(account, media_ids)
        reply_to = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        self._check_reply(reply_to)
        quote = self._quote(body.get("quote_tweet_id"))
        if text and any(p.text == text for p in self.state.live_posts(Platform.X, account)):
            raise Problem(403, DUPLICATE)
        return self.state.publish(PublishedPost(
            platform=Platform.X, account=account, remote_id=self.state.next_id(), text=text,
            created_at=datetime.now(UTC), media=media, reply_to=str(reply_to) if reply_to else None,
            extra={"quote_tweet_id": quote} if quote else {},
        ))

    def _quote(self, quote: Any) -> str | None:
        """A quoted post is any post id (most belong to other accounts, which the sandbox does not
        hold); one of its own that was deleted is refused, as X refuses it."""
        if quote is None:
            return None
        if not isinstance(quote, str) or not ascii_digits(quote) or len(quote) > 19:
            raise invalid("quote_tweet_id", quote, f"The `quote_tweet_id` query parameter value [{quote}] "
                          "does not match ^[0-9]{1,19}$")
        own = next((p for p in self.state.posts if p.platform is Platform.X and p.remote_id == quote), None)
        if own is not None and own.deleted:
            raise problem(403, "Forbidden", "You attempted to quote a Tweet that is deleted or not visible to you.")
        return quote

    def _check_reply(self, reply_to: Any) -> None:
        if reply_to is None:
            return
        if self.state.live_post(Platform.X, str(reply_to)) is None:
            raise problem(403, "Forbidden", "You attempted to reply to a Tweet that is deleted or not "
                          "visible to you.")

    async def _fail(self, fault: Fault, account: str) -> web.StreamResponse:
        now = int(time.time())
        kind = fault.kind
        if kind is FaultKind.RATE_LIMIT:
            headers = {"x-rate-limit-limit": str(TWEET_LIMIT), "x-rate-limit-remaining": "0",
                       "x-rate-limit-reset": str(now + fault.reset_s),
                       **_daily(limit=17, remaining=10, reset=now + 86_400)}
            return _too_many(headers)
        if kind is FaultKind.QUOTA:
            window = self.rate_headers(account, "tweets")
            return _too_many({**window, **_daily(limit=17, remaining=0, reset=now + fault.reset_s)})
        if kind in (FaultKind.SERVER_ERROR, FaultKind.TIMEOUT_BEFORE, FaultKind.READ_ERROR):
            if kind is FaultKind.TIMEOUT_BEFORE:
                await asyncio.sleep(fault.hang_s)
            return problem_response(fault.status or 503, {
                "title": "Service Unavailable", "detail": "Service Unavailable", "type": "about:blank",
                "status": fault.status or 503})
        if kind is FaultKind.DUPLICATE:
            return problem_response(403, DUPLICATE)
        if kind is FaultKind.EXPIRED_TOKEN:
            return problem_response(401, UNAUTHORIZED)
        return invalid("text", "", "The text of your Tweet was rejected.").response

    # --- DELETE /2/tweets/{id} ------------------------------------------------------------------

    async def delete_tweet(self, request: web.Request, account: str) -> web.StreamResponse:
        tweet_id = request.match_info["id"]
        post = self.state.live_post(Platform.X, tweet_id)
        if post is None:
            raise problem(404, "Not Found Error", f"Could not find tweet with id: [{tweet_id}].",
                          "https://api.twitter.com/2/problems/resource-not-found")
        if post.account != account:
            raise problem(403, "Forbidden", "You are not allowed to delete this Tweet.")
        post.deleted = True
        headers = self.rate_headers(account, "delete", 50)
        return web.json_response({"data": {"deleted": True}}, headers=headers)

    # --- GET /2/users/{id}/tweets ---------------------------------------------------------------

    async def user_tweets(self, request: web.Request, account: str) -> web.StreamResponse:
        user_id = request.match_info["id"]
        owner = next((a for a, p in self.state.accounts.items()
                      if p is Platform.X and sandbox_user_id(a) == user_id), None)
        if owner is None:
            return web.json_response({"errors": [{
                "value": user_id, "detail": f"Could not find user with id: [{user_id}].",
                "title": "Not Found Error", "resource_type": "user", "parameter": "id",
                "resource_id": user_id, "type": "https://api.twitter.com/2/problems/resource-not-found"}]})
        fault = self.state.faults.take(Platform.X, owner, reading=True)
        if fault is not None:
            return await self._fail(fault, owner)
        query = request.rel_url.query
        posts = _timeline(self.state.live_posts(Platform.X, owner), query.get("start_time"),
                          query.get("end_time"))
        page, next_token = _page(posts, query.get("max_results", "10"), query.get("pagination_token"))
        fields = set(query.get("tweet.fields", "").split(","))
        return web.json_response(_timeline_body(page, next_token, fields),
                                 headers=self.rate_headers(account, "timeline", 900))

    # --- media ----------------------------------------------------------------------------------

    async def media_upload(self, request: web.Request, account: str) -> web.StreamResponse:
        return web.json_response({"data": await self.media.upload(request, account)})

    async def media_status(self, request: web.Request, account: str) -> web.StreamResponse:
        query = request.rel_url.query
        if query.get("command") != "STATUS":
            raise invalid("command", query.get("command"), "The command parameter must be STATUS.")
        return web.json_response({"data": self.media.status(account, query.get("media_id", ""))})

    async def media_initialize(self, request: web.Request, account: str) -> web.StreamResponse:
        return web.json_response({"data": self.media.initialize(account, await _json_body(request))})

    async def media_append(self, request: web.Request, account: str) -> web.StreamResponse:
        data = await self.media.append(request, account, request.match_info["id"])
        return web.json_response({"data": data})

    async def media_finalize(self, request: web.Request, account: str) -> web.StreamResponse:
        return web.json_response({"data": self.media.finalize(account, request.match_info["id"])})

    async def media_metadata(self, request: web.Request, account: str) -> web.StreamResponse:
        return web.json_response({"data": self.media.metadata(account, await _json_body(request))})


def _daily(*, limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {"x-user-limit-24hour-limit": str(limit), "x-user-limit-24hour-remaining": str(remaining),
            "x-user-limit-24hour-reset": str(reset), "x-app-limit-24hour-limit": "10000",
            "x-app-limit-24hour-remaining": "9000",
            "x-app-limit-24hour-reset": str(int(time.time()) + 86_400)}


def _too_many(headers: dict[str, str]) -> web.Response:
    body = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}
    return problem_response(429, body, headers)


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise problem(400, "Invalid Request", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise problem(400, "Invalid Request", "The request body must be a JSON object.")
    return body


def _parse_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        message = f"Invalid '{name}':'{value}'. '{name}' must be an RFC 3339 time."
        raise invalid(name, value, message) from None


def _timeline(posts: list[PublishedPost], start: str | None, end: str | None) -> list[PublishedPost]:
    since, until = _parse_time(start, "start_time"), _parse_time(end, "end_time")
    chosen = [p for p in posts if (since is None or p.created_at >= since)
              and (until is None or p.created_at <= until)]
    return sorted(chosen, key=lambda p: int(p.remote_id), reverse=True)


def _page(
    posts: list[PublishedPost], max_results: str, token: str | None
) -> tuple[list[PublishedPost], str | None]:
    if not ascii_digits(max_results) or not 5 <= int(max_results) <= 100:
        raise invalid("max_results", max_results, "The `max_results` query parameter value "
                      f"[{max_results}] is not between 5 and 100")
    start = int(token) if token and ascii_digits(token) else 0
    end = start + int(max_results)
    return posts[start:end], (str(end) if end < len(posts) else None)


def _timeline_body(page: list[PublishedPost], next_token: str | None, fields: set[str]) -> dict[str, Any]:
    if not page:
        return {"meta": {"result_count": 0}}
    data = []
    for post in page:
        item: dict[str, Any] = {"id": post.remote_id, "text": post.text,
                                "edit_history_tweet_ids": [post.remote_id]}
        if "created_at" in fields:
            item["created_at"] = post.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        if "referenced_tweets" in fields and post.extra.get("quote_tweet_id"):
            item["referenced_tweets"] = [{"type": "quoted", "id": post.extra["quote_tweet_id"]}]
        data.append(item)
    meta: dict[str, Any] = {"result_count": len(page), "newest_id": page[0].remote_id,
                            "oldest_id": page[-1].remote_id}
    if next_token:
        meta["next_token"] = next_token
    return {"data": data, "meta": meta}


def install(app: web.Application, state: SandboxState) -> None:
    """Add the X routes to `app` at the real API paths."""
    sandbox = XSandbox(state)
    route = sandbox.route
    x_oauth.install(app, state, route)
    app.router.add_post("/2/tweets", route(sandbox.create_tweet))
    app.router.add_delete("/2/tweets/{id}", route(sandbox.delete_tweet))
    app.router.add_get("/2/users/{id}/tweets", route(sandbox.user_tweets))
    app.router.add_post("/2/media/upload", route(sandbox.media_upload))
    app.router.add_get("/2/media/upload", route(sandbox.media_status))
    app.router.add_post("/2/media/upload/initialize", route(sandbox.media_initialize))
    app.router.add_post("/2/media/upload/{id}/append", route(sandbox.media_append))
    app.router.add_post("/2/media/upload/{id}/finalize", route(sandbox.media_finalize))
    app.router.add_post("/2/media/metadata", route(sandbox.media_metadata))
