"""Facebook Graph API sandbox: Page feed posts, photos with alt text, multi-photo posts, delete.

Paths are the real ones under `/{version}/` (`/v26.0/{page-id}/feed`, ...). The page token must
be the one `gateway.sandbox.credentials` derives for the page's account, sent as
`Authorization: Bearer|OAuth` or `access_token`. Errors are Graph error documents classified by
`error.code`, with the headers Meta sends (`X-Business-Use-Case-Usage`, `X-App-Usage`).
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.models import Platform, ascii_digits
from gateway.sandbox import facebook_login
from gateway.sandbox.base import (
    Fault,
    FaultKind,
    PlatformFailure,
    PublishedPost,
    SandboxState,
    recorded,
    scripted_fault,
)
from gateway.sandbox.credentials import sandbox_credentials, sandbox_user_id

PLATFORM = Platform.FACEBOOK
VERSION = r"{version:v\d+\.\d+}"
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"RIFF")
GRAPH_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S+0000"
NOT_FOUND = (
    "Unsupported {verb} request. Object with ID '{id}' does not exist, cannot be loaded due to missing "
    "permissions, or does not support this operation. Please read the Graph API documentation at "
    "https://developers.facebook.com/docs/graph-api"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class GraphFailure(PlatformFailure):
    """An error answer: a Graph error document with its status and headers."""

    def __init__(self, status: int, error: dict[str, Any], headers: Mapping[str, str] | None = None) -> None:
        super().__init__(error.get("message"))
        error.setdefault("fbtrace_id", secrets.token_urlsafe(9))
        self.status, self.error, self.headers = status, error, dict(headers or {})

    def response(self) -> web.Response:
        return web.json_response({"error": self.error}, status=self.status, headers=self.headers)


def _oauth(message: str, code: int, subcode: int | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {**error, **extra}


def _not_found(verb: str, object_id: str) -> GraphFailure:
    message = NOT_FOUND.format(verb=verb, id=object_id)
    return GraphFailure(400, {"message": message, "type": "GraphMethodException", "code": 100,
                              "error_subcode": 33})


def _invalid(message: str, code: int = 100) -> GraphFailure:
    return GraphFailure(400, _oauth(message, code))


@dataclass
class _Photo:
    id: str
    account: str
    size: int
    content_type: str
    alt_text: str | None
    published: bool
    attached_to: str | None = None

    def as_media(self) -> dict[str, Any]:
        return {"kind": "image", "id": self.id, "bytes": self.size, "content_type": self.content_type,
                "alt_text": self.alt_text}


@dataclass
class _Params:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # name -> (content type, data)


class FacebookSandbox:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.photos: dict[str, _Photo] = {}
        self._known = -1
        self._pages: dict[str, str] = {}  # page id -> account
        self._tokens: dict[str, str] = {}  # page token -> account

    # -- routes -------------------------------------------------------------------------------

    async def feed(self, request: web.Request) -> web.StreamResponse:
        params = await _params(request)
        page_id = request.match_info["page_id"]
        account = self._authorize(request, params, page_id)
        fault = await self._fault(account, page_id)
        message, link = params.fields.get("message", ""), params.fields.get("link")
        photos = self._attached(params, account)
        if not (message or link or photos):
            raise _invalid("(#100) Missing message or attachment")
        if link is not None and not link.startswith(("http://", "https://")):
            raise _invalid("(#100) The parameter link must be a valid URL")
        post = self._publish(account, page_id, message, photos, {"link": link} if link else {})
        await _hang(fault)
        return web.json_response({"id": post.remote_id})

    async def photos_edge(self, request: web.Request) -> web.StreamResponse:
        params = await _params(request)
        page_id = request.match_info["page_id"]
        account = self._authorize(request, params, page_id)
        fault = await self._fault(account, page_id)
        photo = self._photo(params, account)
        if not photo.published:
            await _hang(fault)
            return web.json_response({"id": photo.id})
        text = params.fields.get("message") or params.fields.get("caption") or ""
        post = self._publish(account, page_id, text, [photo], {"photo_id": photo.id})
        await _hang(fault)
        return web.json_response({"id": photo.id, "post_id": post.remote_id})

    async def published_posts(self, request: web.Request) -> web.StreamResponse:
        params = await _params(request)
        page_id = request.match_info["page_id"]
        account = self._authorize(request, params, page_id)
        fault = self.state.faults.take(PLATFORM, account, reading=True)
        if fault is not None:
            raise fault_failure(fault, page_id)
        since = _since(params.fields.get("since"))
        limit = params.fields.get("limit") or "25"
        if not ascii_digits(limit):
            raise _invalid("(#100) The parameter limit must be a number")
        posts = [p for p in self.state.live_posts(PLATFORM, account) if not since or p.created_at >= since]
        posts.sort(key=lambda p: p.created_at, reverse=True)
        data = [_post_fields(p, page_id) for p in posts[: min(int(limit), 100)]]
        return web.json_response({"data": data, "paging": {"cursors": {"before": "", "after": ""}}})

    async def get_object(self, request: web.Request) -> web.StreamResponse:
        params = await _params(request)
        object_id = request.match_info["object_id"]
        account = self._token_owner(request, params)
        if self._page_account(object_id) == account:
            page: dict[str, Any] = {"id": object_id, "name": account}
            linked = facebook_login.linked_instagram(self.state, account)
            if "instagram_business_account" in params.fields.get("fields", "") and linked is not None:
                page["instagram_business_account"] = {"id": sandbox_user_id(linked)}
            return web.json_response(page)
        post = self._own_post(account, object_id)
        if post is None:
            raise _not_found("get", object_id)
        return web.json_response(_post_fields(post, sandbox_user_id(account)))

    async def delete_object(self, request: web.Request) -> web.StreamResponse:
        params = await _params(request)
        object_id = request.match_info["object_id"]
        account = self._token_owner(request, params)
        post = self._own_post(account, object_id)
        photo = self.photos.get(object_id)
        if post is not None:
            post.deleted = True
        elif photo is not None and photo.account == account:
            del self.photos[object_id]
        else:
            raise _not_found("delete", object_id)
        return web.json_response({"success": True})

    # -- auth ---------------------------------------------------------------------------------

    def _refresh(self) -> None:
        if self._known == len(self.state.accounts):
            return
        self._known = len(self.state.accounts)
        fb = [a for a, p in self.state.accounts.items() if p is PLATFORM]
        self._pages = {sandbox_user_id(a): a for a in fb}
        self._tokens = {sandbox_credentials(a, PLATFORM)["page_access_token"]: a for a in fb}

    def _page_account(self, page_id: str) -> str | None:
        self._refresh()
        return self._pages.get(page_id)

    def _token_owner(self, request: web.Request, params: _Params) -> str:
        token = _bearer(request) or params.fields.get("access_token")
        if not token:
            raise _invalid("An active access token must be used to query information about the current user.",
                           2500)
        self._refresh()
        owner = self._tokens.get(token)
        if owner is None:
            raise GraphFailure(400, _oauth("Invalid OAuth access token - Cannot parse access token", 190))
        return owner

    def _authorize(self, request: web.Request, params: _Params, page_id: str) -> str:
        owner = self._token_owner(request, params)
        account = self._page_account(page_id)
        if account is None:
            raise _not_found(request.method.lower(), page_id)
        if account != owner:
            raise GraphFailure(403, _oauth(
                "(#200) If posting to a page, requires both pages_read_engagement and pages_manage_posts "
                "as an admin with sufficient administrative permission", 200))
        return account

    # -- faults -------------------------------------------------------------------------------

    async def _fault(self, account: str, page_id: str) -> Fault | None:
        """Fail as Graph fails; a timeout-after-accept fault is returned for the caller to apply."""
        return await scripted_fault(self.state, PLATFORM, account, lambda fault: fault_failure(fault, page_id))

    # -- content ------------------------------------------------------------------------------

    def _photo(self, params: _Params, account: str) -> _Photo:
        upload = params.files.get("source")
        if upload is None:
            raise _invalid("(#324) Requires upload file", 324)
        content_type, data = upload
        if not data.startswith(IMAGE_MAGIC):
            raise _invalid("(#324) Missing or invalid image file", 324)
        published = params.fields.get("published", "true").lower() not in ("false", "0")
        photo = _Photo(self.state.next_id(), account, len(data), content_type,
                       params.fields.get("alt_text_custom"), published)
        self.photos[photo.id] = photo
        return photo

    def _attached(self, params: _Params, account: str) -> list[_Photo]:
        photos = []
        for index, media_fbid in enumerate(_attached_ids(params)):
            photo = self.photos.get(media_fbid)
            if photo is None or photo.account != account or photo.published or photo.attached_to:
                raise _invalid(f"(#100) param attached_media[{index}] has invalid media_fbid {media_fbid}")
            photos.append(photo)
        return photos

    def _publish(
        self, account: str, page_id: str, text: str, photos: list[_Photo], extra: dict[str, Any]
    ) -> PublishedPost:
        remote_id = f"{page_id}_{self.state.next_id()}"
        for photo in photos:
            photo.attached_to = remote_id
        return self.state.publish(PublishedPost(
            platform=PLATFORM, account=account, remote_id=remote_id, text=text,
            created_at=datetime.now(UTC).replace(microsecond=0),
            media=[p.as_media() for p in photos], extra={"page_id": page_id, **extra},
        ))

    def _own_post(self, account: str, remote_id: str) -> PublishedPost | None:
        return next((p for p in self.state.live_posts(PLATFORM, account) if p.remote_id == remote_id), None)


def fault_failure(fault: Fault, page_id: str) -> GraphFailure:
    """The Graph answer for a scripted fault (timeouts aside)."""
    build = _FAULT_ANSWERS.get(fault.kind, _server_error)
    return build(fault, page_id)


def _rate_limited(fault: Fault, page_id: str) -> GraphFailure:
    usage = {page_id: [{"type": "pages", "call_count": 100, "total_cputime": 40, "total_time": 60,
                        "estimated_time_to_regain_access": math.ceil(fault.reset_s / 60)}]}
    message = ("(#80001) There have been too many calls to this Page account. Wait a bit and try again. "
               "For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.")
    return GraphFailure(fault.status or 400, _oauth(message, 80001, is_transient=True),
                        {"X-Business-Use-Case-Usage": json.dumps(usage)})


def _app_quota(fault: Fault, page_id: str) -> GraphFailure:
    usage = json.dumps({"call_count": 100, "total_cputime": 25, "total_time": 25})
    error = _oauth("(#4) Application request limit reached", 4, is_transient=True)
    return GraphFailure(fault.status or 403, error, {"X-App-Usage": usage})


def _duplicate(fault: Fault, page_id: str) -> GraphFailure:
    error = {"message": "Duplicate status message", "type": "FacebookApiException", "code": 506,
             "error_subcode": 1455006, "is_transient": False}
    return GraphFailure(fault.status or 400, error)


def _expired(fault: Fault, page_id: str) -> GraphFailure:
    message = ("Error validating access token: Session has expired on Saturday, 21-Nov-26 01:00:00 PST. "
               "The current time is Saturday, 21-Nov-26 02:00:00 PST.")
    return GraphFailure(fault.status or 400, _oauth(message, 190, 463))


def _rejected(fault: Fault, page_id: str) -> GraphFailure:
    return GraphFailure(fault.status or 400, _oauth("(#100) Invalid parameter", 100))


def _server_error(fault: Fault, page_id: str) -> GraphFailure:
    """SERVER_ERROR, and what a hung request finally gets."""
    message = "An unexpected error has occurred. Please retry your request later."
    return GraphFailure(fault.status or 503, _oauth(message, 2, is_transient=True))


_FAULT_ANSWERS: dict[FaultKind, Callable[[Fault, str], GraphFailure]] = {
    FaultKind.RATE_LIMIT: _rate_limited, FaultKind.QUOTA: _app_quota, FaultKind.DUPLICATE: _duplicate,
    FaultKind.EXPIRED_TOKEN: _expired, FaultKind.REJECT: _rejected,
}


async def _hang(fault: Fault | None) -> None:
    """Timeout after accept: the post exists, the answer comes too late."""
    if fault is not None and fault.kind is FaultKind.TIMEOUT_AFTER_ACCEPT:
        await asyncio.sleep(fault.hang_s)


async def _params(request: web.Request) -> _Params:
    """Query, form (urlencoded or multipart) and JSON parameters merged, as Graph accepts them all."""
    params = _Params(fields=dict(request.query))
    if request.content_type == "application/json":
        body = await request.json()
        if isinstance(body, dict):
            params.fields.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()})
    elif request.body_exists:
        for name, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                with value.file:
                    params.files[name] = (value.content_type, value.file.read())
            else:
                params.fields[name] = str(value)
    return params


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() in ("bearer", "oauth") else None


def _attached_ids(params: _Params) -> list[str]:
    """`attached_media` as a JSON list, or as `attached_media[i]` JSON objects."""
    items: list[Any] = []
    whole = params.fields.get("attached_media")
    if whole:
        items.extend(_loads(whole) or [])
    indexed = sorted(
        (int(k[len("attached_media["):-1]), v) for k, v in params.fields.items()
        if k.startswith("attached_media[") and k.endswith("]") and ascii_digits(k[len("attached_media["):-1])
    )
    items.extend(_loads(v) for _, v in indexed)
    return [str(item.get("media_fbid")) if isinstance(item, dict) else "" for item in items]


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _invalid("(#100) attached_media must be JSON") from exc


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    if ascii_digits(value):
        return datetime.fromtimestamp(int(value), UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _invalid("(#100) The parameter since must be a unix timestamp or a date") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _post_fields(post: PublishedPost, page_id: str) -> dict[str, Any]:
    story = post.remote_id.partition("_")[2] or post.remote_id
    return {
        "id": post.remote_id, "message": post.text,
        "created_time": post.created_at.astimezone(UTC).strftime(GRAPH_TIME_FORMAT),
        "permalink_url": f"https://www.facebook.com/{page_id}/posts/{story}",
    }


def graph_route(handler: Handler, state: SandboxState, platform: Platform = PLATFORM) -> Handler:
    """Record the request, then turn a GraphFailure into its error document (Facebook and Instagram)."""
    return recorded(handler, state, platform)


def install(app: web.Application, state: SandboxState) -> None:
    """Mount the Graph API routes on `app`."""
    sandbox = FacebookSandbox(state)
    facebook_login.install(app, state, VERSION, lambda handler: graph_route(handler, state))
    routes = [
        ("POST", "/{page_id}/feed", sandbox.feed),
        ("POST", "/{page_id}/photos", sandbox.photos_edge),
        ("GET", "/{page_id}/published_posts", sandbox.published_posts),
        ("GET", "/{object_id}", sandbox.get_object),
        ("DELETE", "/{object_id}", sandbox.delete_object),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, f"/{VERSION}{path}", graph_route(handler, state))
