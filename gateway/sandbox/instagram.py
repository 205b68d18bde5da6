"""Instagram content publishing sandbox: the Graph API's container, status, publish and limit routes.

Mounted under `/instagram` on the combined sandbox (its `/v26.0/{id}` paths would collide with
Facebook's); an adapter's base URL is then `http://127.0.0.1:PORT/instagram`. Behaves as the
content publishing reference describes:

- `POST /{ig-user-id}/media`: `image_url` (+ `alt_text`, `caption`, `is_carousel_item`), or
  `media_type=REELS` + `video_url` (no `alt_text`), or `media_type=CAROUSEL` + `children` (2–10
  finished carousel items of the same user). Media URLs must be public HTTPS; captions ≤ 2,200.
  Image containers are `FINISHED` at once; a reel is `IN_PROGRESS` for its first status reads.
- `GET /{container-id}?fields=status_code`.
- `POST /{ig-user-id}/media_publish` with `creation_id`: only a `FINISHED` container, once; at most
  50 per rolling 24 hours (then error code 4 / subcode 2207042). Faults apply here.
- `GET /{ig-user-id}/content_publishing_limit` → `{"data": [{"quota_usage", "config"}]}`.
- `GET /{ig-user-id}/media`: the user's published media, newest first.
Errors are Graph error documents (`{"error": {"message", "type", "code", ...}}`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from gateway.models import Platform, ascii_digits
from gateway.sandbox.base import Fault, PublishedPost, SandboxState, scripted_fault
from gateway.sandbox.credentials import sandbox_credentials, sandbox_user_id
from gateway.sandbox.facebook import VERSION, GraphFailure, fault_failure, graph_route

PLATFORM = Platform.INSTAGRAM
PREFIX = "/instagram"
QUOTA_TOTAL, QUOTA_DURATION_S = 50, 86_400
MAX_CAPTION, MAX_CHILDREN = 2_200, 10
REEL_POLLS_IN_PROGRESS = 2  # status reads a reel spends IN_PROGRESS before FINISHED
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(message: str, code: int = 100, subcode: int | None = None, status: int = 400) -> GraphFailure:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "sandbox"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return GraphFailure(status, error)


@dataclass
class Container:
    id: str
    account: str
    media_type: str  # IMAGE, REELS, CAROUSEL
    url: str | None
    caption: str
    alt_text: str | None
    carousel_item: bool = False
    children: list[str] = field(default_factory=list)
    status: str = "FINISHED"
    polls_left: int = 0

    def as_media(self) -> dict[str, Any]:
        kind = "video" if self.media_type == "REELS" else "image"
        return {"kind": kind, "container_id": self.id, "url": self.url, "alt_text": self.alt_text}


class InstagramSandbox:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.containers: dict[str, Container] = {}
        self.published_at: dict[str, list[datetime]] = {}  # account -> media_publish times

    # -- routes -------------------------------------------------------------------------------

    async def create(self, request: web.Request) -> web.StreamResponse:
        fields = await _fields(request)
        account = self._authorize(request, request.match_info["user_id"])
        container = self._container(account, fields)
        self.containers[container.id] = container
        return web.json_response({"id": container.id})

    async def status(self, request: web.Request) -> web.StreamResponse:
        container = self.containers.get(request.match_info["object_id"])
        owner = self._token_owner(request)
        if container is None or container.account != owner:
            raise _error(f"Unsupported get request. Object with ID '{request.match_info['object_id']}' does not "
                         "exist, cannot be loaded due to missing permissions, or does not support this operation",
                         100, 33)
        if container.status == "IN_PROGRESS":
            container.polls_left -= 1
            if container.polls_left <= 0:
                container.status = "FINISHED"
        return web.json_response({"status_code": container.status, "id": container.id})

    async def publish(self, request: web.Request) -> web.StreamResponse:
        fields = await _fields(request)
        account = self._authorize(request, request.match_info["user_id"])
        fault = await self._fault(account, request.match_info["user_id"])
        container = self.containers.get(fields.get("creation_id", ""))
        if container is None or container.account != account or container.carousel_item:
            raise _error("(#100) The parameter creation_id is invalid", 100)
        if container.status != "FINISHED":
            raise _error("Media ID is not available", 9007, 2207027)
        if self._usage(account) >= QUOTA_TOTAL:
            raise _error("Application request limit reached", 4, 2207042)
        post = self._publish(account, container)
        if fault is not None:  # accepted; the answer comes too late
            await asyncio.sleep(fault.hang_s)
        return web.json_response({"id": post.remote_id})

    async def limit(self, request: web.Request) -> web.StreamResponse:
        account = self._authorize(request, request.match_info["user_id"])
        entry: dict[str, Any] = {"quota_usage": self._usage(account)}
        if "config" in request.query.get("fields", ""):
            entry["config"] = {"quota_total": QUOTA_TOTAL, "quota_duration": QUOTA_DURATION_S}
        return web.json_response({"data": [entry]})

    async def media(self, request: web.Request) -> web.StreamResponse:
        account = self._authorize(request, request.match_info["user_id"])
        posts = sorted(self.state.live_posts(PLATFORM, account), key=lambda p: p.created_at, reverse=True)
        data = [{"id": p.remote_id, "caption": p.text, "timestamp": p.created_at.strftime("%Y-%m-%dT%H:%M:%S+0000"),
                 "permalink": f"https://www.instagram.com/p/{p.remote_id}/"} for p in posts]
        return web.json_response({"data": data, "paging": {"cursors": {"before": "", "after": ""}}})

    # -- content ------------------------------------------------------------------------------

    def _container(self, account: str, fields: dict[str, str]) -> Container:
        media_type = fields.get("media_type", "IMAGE").upper()
        caption = fields.get("caption", "")
        if len(caption) > MAX_CAPTION:
            raise _error(f"(#100) The caption is too long: at most {MAX_CAPTION} characters", 100, 2207010)
        new = Container(self.state.next_id(), account, media_type, None, caption, fields.get("alt_text"),
                        carousel_item=fields.get("is_carousel_item", "").lower() == "true")
        if media_type == "IMAGE":
            new.url = _public_url(fields.get("image_url"), "image_url")
        elif media_type == "REELS":
            if new.alt_text is not None:
                raise _error("(#100) The parameter alt_text is not supported for REELS", 100)
            new.url = _public_url(fields.get("video_url"), "video_url")
            new.status, new.polls_left = "IN_PROGRESS", REEL_POLLS_IN_PROGRESS
        elif media_type == "CAROUSEL":
            new.children = self._children(account, fields.get("children", ""))
        else:
            raise _error(f"(#100) media_type must be one of IMAGE, REELS, CAROUSEL, not {media_type}", 100)
        return new

    def _children(self, account: str, value: str) -> list[str]:
        ids = [i.strip() for i in value.split(",") if i.strip()]
        if not 2 <= len(ids) <= MAX_CHILDREN:
            raise _error(f"(#100) A carousel has 2 to {MAX_CHILDREN} children", 100, 2207004)
        for child_id in ids:
            child = self.containers.get(child_id)
            if child is None or child.account != account or not child.carousel_item or child.status != "FINISHED":
                raise _error(f"(#100) The parameter children has an invalid container {child_id}", 100)
        return ids

    def _publish(self, account: str, container: Container) -> PublishedPost:
        items = [self.containers[c] for c in container.children] or [container]
        container.status = "PUBLISHED"
        self.published_at.setdefault(account, []).append(datetime.now(UTC))
        return self.state.publish(PublishedPost(
            platform=PLATFORM, account=account, remote_id=self.state.next_id(), text=container.caption,
            created_at=datetime.now(UTC).replace(microsecond=0), media=[i.as_media() for i in items],
            extra={"media_type": container.media_type, "creation_id": container.id},
        ))

    def _usage(self, account: str) -> int:
        since = datetime.now(UTC) - timedelta(seconds=QUOTA_DURATION_S)
        return sum(1 for at in self.published_at.get(account, []) if at > since)

    # -- auth and faults ----------------------------------------------------------------------

    def _token_owner(self, request: web.Request) -> str:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip() if scheme.lower() in ("bearer", "oauth") else request.query.get("access_token", "")
        owner = next((a for a, p in self.state.accounts.items()
                      if p is PLATFORM and token in self._tokens_of(a)), None)
        if owner is None:
            raise _error("Invalid OAuth access token - Cannot parse access token", 190)
        return owner

    def _tokens_of(self, account: str) -> tuple[str, str | None]:
        """Its own token, and the token of the Page it is linked to (Facebook Login gives that one)."""
        page = account.rsplit("_", 1)[0] + "_facebook"
        page_token = (sandbox_credentials(page, Platform.FACEBOOK)["page_access_token"]
                      if self.state.accounts.get(page) is Platform.FACEBOOK else None)
        return sandbox_credentials(account, PLATFORM)["access_token"], page_token

    def _authorize(self, request: web.Request, user_id: str) -> str:
        owner = self._token_owner(request)
        if not ascii_digits(user_id) or sandbox_user_id(owner) != user_id:
            raise _error("(#10) The user is not an Instagram Business account or lacks instagram_content_publish",
                         10, status=403)
        return owner

    async def _fault(self, account: str, user_id: str) -> Fault | None:
        return await scripted_fault(self.state, PLATFORM, account, lambda fault: fault_failure(fault, user_id))


def _public_url(value: str | None, name: str) -> str:
    if not value or not value.startswith("https://"):
        raise _error(f"(#9004) The {name} must be a public HTTPS URL Instagram can fetch", 9004, 2207052)
    return value


async def _fields(request: web.Request) -> dict[str, str]:
    fields = dict(request.query)
    if request.body_exists:
        fields.update({k: str(v) for k, v in (await request.post()).items()})
    return fields


def install(app: web.Application, state: SandboxState) -> None:
    """Mount the Instagram Graph routes under `/instagram` on `app`."""
    sandbox = InstagramSandbox(state)
    sub = web.Application()
    routes = [
        ("POST", "/{user_id}/media", sandbox.create),
        ("GET", "/{user_id}/media", sandbox.media),
        ("POST", "/{user_id}/media_publish", sandbox.publish),
        ("GET", "/{user_id}/content_publishing_limit", sandbox.limit),
        ("GET", "/{object_id}", sandbox.status),
    ]
    for method, path, handler in routes:
        sub.router.add_route(method, f"/{VERSION}{path}", graph_route(handler, state, PLATFORM))
    app.add_subapp(PREFIX, sub)
