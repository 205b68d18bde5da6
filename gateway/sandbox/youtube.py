"""YouTube Data API v3 sandbox: resumable `videos.insert`, `videos.delete`, uploads listing, token refresh.

The resumable protocol as google-api-python-client speaks it: `POST /upload/youtube/v3/videos
?uploadType=resumable` with the JSON metadata answers 200 and a `Location` carrying `upload_id`;
each `PUT` of a chunk (`Content-Range: bytes a-b/total`) answers 308 with `Range: bytes=0-n`
until the last, which answers 200 with the video resource. The bearer token must be the one
`gateway.sandbox.credentials` derives; `POST /token` refreshes it (OAuth 2 refresh grant).

Faults are taken when an upload starts. A timeout-after-accept or a duplicate applies when the
last chunk arrives, since only then does a video exist.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.models import Platform, ascii_digits
from gateway.sandbox import google_consent
from gateway.sandbox.base import (
    Fault,
    FaultKind,
    PlatformFailure,
    PublishedPost,
    SandboxState,
    recorded,
    scripted_fault,
)
from gateway.sandbox.credentials import sandbox_credentials

PLATFORM = Platform.YOUTUBE
PRIVACY = ("public", "unlisted", "private")
ACCEPTED_MEDIA = re.compile(r"^(video/[\w.+-]+|application/octet-stream)$")
CONTENT_RANGE = re.compile(r"^bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)$")
SCOPES = "https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube"
DELAYED_FAULTS = frozenset({FaultKind.TIMEOUT_AFTER_ACCEPT, FaultKind.DUPLICATE})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiFailure(PlatformFailure):
    """A Google API error document (`{"error": {"code", "message", "errors": [...], "status"}}`)."""

    def __init__(self, status: int, reason: str, message: str, *, domain: str = "global",
                 rpc_status: str = "INVALID_ARGUMENT", **where: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {
            "code": status, "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason, **where}],
            "status": rpc_status,
        }}

    def response(self) -> web.Response:
        return web.json_response(self.body, status=self.status)


def _unauthenticated() -> ApiFailure:
    return ApiFailure(
        401, "authError",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
        "other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project.",
        rpc_status="UNAUTHENTICATED", location="Authorization", locationType="header",
    )


def _bad_metadata(reason: str, message: str) -> ApiFailure:
    return ApiFailure(400, reason, message, domain="youtube.video")


@dataclass
class _Upload:
    account: str
    metadata: dict[str, Any]
    content_type: str
    total: int | None
    fault: Fault | None
    received: int = 0  # bytes so far; the content itself is not kept
    resumes: int = 0  # 308 answers given


class YoutubeSandbox:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.uploads: dict[str, _Upload] = {}
        self.refused_refresh: set[str] = set()  # accounts whose next refresh fails (expired-token fault)
        self._known = -1
        self._tokens: dict[str, str] = {}  # access token -> account

    # -- resumable upload ---------------------------------------------------------------------

    async def start_upload(self, request: web.Request) -> web.StreamResponse:
        account = self._authorize(request)
        if request.query.get("uploadType") != "resumable":
            raise ApiFailure(400, "badRequest", "This sandbox accepts uploadType=resumable only.")
        fault = await self._fault(account)
        metadata = await _metadata(request)
        content_type = request.headers.get("X-Upload-Content-Type", "application/octet-stream")
        if not ACCEPTED_MEDIA.match(content_type):
            raise ApiFailure(400, "invalidContentType", f"Media type '{content_type}' is not supported.")
        length = request.headers.get("X-Upload-Content-Length")
        upload_id = secrets.token_urlsafe(32)
        self.uploads[upload_id] = _Upload(account, metadata, content_type, int(length) if length else None, fault)
        location = request.url.with_query({**request.query, "upload_id": upload_id})
        return web.Response(status=200, headers={"Location": str(location), "X-GUploader-UploadID": upload_id})

    async def put_chunk(self, request: web.Request) -> web.StreamResponse:
        upload = self.uploads.get(request.query.get("upload_id", ""))
        if upload is None:
            raise ApiFailure(404, "notFound", "The upload session does not exist or has expired.",
                             rpc_status="NOT_FOUND")
        match = CONTENT_RANGE.match(request.headers.get("Content-Range", "bytes */*"))
        if match is None:
            raise ApiFailure(400, "badRequest", "Invalid Content-Range header.")
        data = await request.read()
        start, total = match.group(1), match.group(3)
        if total != "*":
            upload.total = int(total)
        # A chunk that does not continue where we are is ignored; the 308 tells the client where to resume.
        if start is not None and int(start) == upload.received:
            upload.received += len(data)
        if upload.total is None or upload.received < upload.total:
            upload.resumes += 1
            headers = {"Range": f"bytes=0-{upload.received - 1}"} if upload.received else {}
            return web.Response(status=308, headers=headers)
        del self.uploads[request.query["upload_id"]]
        return await self._finish(upload)

    async def _finish(self, upload: _Upload) -> web.StreamResponse:
        resource = self._resource(upload)
        kind = upload.fault.kind if upload.fault else None
        if kind is FaultKind.DUPLICATE:
            # YouTube accepts the bytes, then rejects the video as a duplicate of an earlier upload.
            resource["status"].update(uploadStatus="rejected", rejectionReason="duplicate")
        else:
            self.state.publish(PublishedPost(
                platform=PLATFORM, account=upload.account, remote_id=resource["id"],
                text=resource["snippet"]["description"], created_at=_parse(resource["snippet"]["publishedAt"]),
                media=[{"kind": "video", "bytes": upload.received, "content_type": upload.content_type}],
                extra={"title": resource["snippet"]["title"], "privacyStatus": resource["status"]["privacyStatus"],
                       "resumes": upload.resumes, "resource": resource},
            ))
        if upload.fault is not None and kind is FaultKind.TIMEOUT_AFTER_ACCEPT:
            await asyncio.sleep(upload.fault.hang_s)
        return web.json_response(resource)

    def _resource(self, upload: _Upload) -> dict[str, Any]:
        video_id = _video_id(self.state.next_id())
        snippet, status = upload.metadata.get("snippet", {}), upload.metadata.get("status", {})
        channel_id = _channel_id(upload.account)
        return {
            "kind": "youtube#video", "etag": secrets.token_urlsafe(20), "id": video_id,
            "snippet": {
                "publishedAt": _now(), "channelId": channel_id, "title": snippet["title"],
                "description": snippet.get("description", ""), "channelTitle": upload.account,
                "categoryId": str(snippet.get("categoryId", "22")), "liveBroadcastContent": "none",
                "thumbnails": {"default": {"url": f"https://i.ytimg.com/vi/{video_id}/default.jpg"}},
            },
            "status": {
                "uploadStatus": "uploaded", "privacyStatus": status.get("privacyStatus", "public"),
                "license": "youtube", "embeddable": True, "publicStatsViewable": True,
                "selfDeclaredMadeForKids": bool(status.get("selfDeclaredMadeForKids", False)),
            },
        }

    # -- other calls --------------------------------------------------------------------------

    async def delete_video(self, request: web.Request) -> web.StreamResponse:
        account = self._authorize(request)
        video_id = request.query.get("id", "")
        post = next((p for p in self.state.live_posts(PLATFORM, account) if p.remote_id == video_id), None)
        if post is None:
            raise ApiFailure(
                404, "videoNotFound", "The video identified by the <code>id</code> parameter could not be found.",
                domain="youtube.video", rpc_status="NOT_FOUND", location="id", locationType="parameter",
            )
        post.deleted = True
        return web.Response(status=204)

    async def channels(self, request: web.Request) -> web.StreamResponse:
        account = self._authorize(request)
        if request.query.get("mine") != "true":
            raise ApiFailure(400, "missingRequiredParameter", "This sandbox lists channels with mine=true only.")
        channel_id = _channel_id(account)
        item = {
            "kind": "youtube#channel", "etag": secrets.token_urlsafe(20), "id": channel_id,
            "snippet": {"title": account},
            "contentDetails": {"relatedPlaylists": {"likes": "", "uploads": _uploads_playlist(account)}},
        }
        return web.json_response({"kind": "youtube#channelListResponse", "etag": secrets.token_urlsafe(20),
                                  "pageInfo": {"totalResults": 1, "resultsPerPage": 5}, "items": [item]})

    async def playlist_items(self, request: web.Request) -> web.StreamResponse:
        account = self._authorize(request)
        playlist_id = request.query.get("playlistId", "")
        if playlist_id != _uploads_playlist(account):
            raise ApiFailure(404, "playlistNotFound", "The playlist identified with the request's "
                             "<code>playlistId</code> parameter cannot be found.", domain="youtube.playlistItem",
                             rpc_status="NOT_FOUND", location="playlistId", locationType="parameter")
        posts = sorted(self.state.live_posts(PLATFORM, account), key=lambda p: p.created_at, reverse=True)
        size = min(_count(request.query.get("maxResults", "5"), "maxResults"), 50)
        offset = _count(request.query.get("pageToken") or "0", "pageToken")
        page = posts[offset: offset + size]
        body: dict[str, Any] = {
            "kind": "youtube#playlistItemListResponse", "etag": secrets.token_urlsafe(20),
            "items": [_playlist_item(p, playlist_id, offset + i) for i, p in enumerate(page)],
            "pageInfo": {"totalResults": len(posts), "resultsPerPage": size},
        }
        if offset + size < len(posts):
            body["nextPageToken"] = str(offset + size)
        return web.json_response(body)

    async def token(self, request: web.Request) -> web.StreamResponse:
        """OAuth 2 refresh grant, as Google's token endpoint answers it."""
        form = {k: str(v) for k, v in (await request.post()).items()}
        if form.get("grant_type") == "authorization_code":
            return google_consent.code_grant(self.state, form)
        account = self._refresh_owner(form)
        if account is not None and google_consent.refused(self.state, account):
            self.refused_refresh.add(account)
        if account is None or account in self.refused_refresh:
            self.refused_refresh.discard(account or "")
            return web.json_response(
                {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}, status=400
            )
        token = sandbox_credentials(account, PLATFORM)["access_token"]
        return web.json_response({"access_token": token, "expires_in": 3599, "scope": SCOPES,
                                  "token_type": "Bearer"})

    # -- auth and faults ----------------------------------------------------------------------

    def _authorize(self, request: web.Request) -> str:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if self._known != len(self.state.accounts):
            self._known = len(self.state.accounts)
            self._tokens = {
                sandbox_credentials(a, PLATFORM)["access_token"]: a
                for a, p in self.state.accounts.items() if p is PLATFORM
            }
        account = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if account is None:
            raise _unauthenticated()
        return account

    def _refresh_owner(self, form: Mapping[str, str]) -> str | None:
        if form.get("grant_type") != "refresh_token":
            return None
        for account, platform in self.state.accounts.items():
            if platform is not PLATFORM:
                continue
            creds = sandbox_credentials(account, PLATFORM)
            app_client = google_consent.app_client_ok(form)  # a token from the consent flow: the app's client
            if form.get("refresh_token") == creds["refresh_token"] and (app_client or all(
                    form.get(k) == creds[k] for k in ("client_id", "client_secret"))):
                return account
        return None

    async def _fault(self, account: str) -> Fault | None:
        """Fail as YouTube fails; faults that need a finished upload are handed back."""
        def failure(fault: Fault) -> ApiFailure:
            if fault.kind is FaultKind.EXPIRED_TOKEN:
                # The access token is refused and the refresh that google-auth then tries fails too.
                self.refused_refresh.add(account)
            return fault_failure(fault)

        return await scripted_fault(self.state, PLATFORM, account, failure, handed_back=DELAYED_FAULTS)


def fault_failure(fault: Fault) -> ApiFailure:
    """The Google error document for a scripted fault (timeouts aside)."""
    kind = fault.kind
    if kind is FaultKind.RATE_LIMIT:
        return ApiFailure(fault.status or 403, "rateLimitExceeded", "The request cannot be completed because "
                          "you have exceeded your rate limit.", domain="usageLimits", rpc_status="PERMISSION_DENIED")
    if kind is FaultKind.QUOTA:
        return ApiFailure(fault.status or 403, "quotaExceeded", "The request cannot be completed because you "
                          "have exceeded your <a href=\"/youtube/v3/getting-started#quota\">quota</a>.",
                          domain="youtube.quota", rpc_status="PERMISSION_DENIED")
    if kind is FaultKind.EXPIRED_TOKEN:
        return _unauthenticated()
    if kind is FaultKind.REJECT:
        return ApiFailure(fault.status or 400, "invalidTitle", "The request metadata specifies an invalid or "
                          "empty video title.", domain="youtube.video")
    return ApiFailure(fault.status or 503, "backendError", "The service is currently unavailable.",
                      rpc_status="UNAVAILABLE")


async def _metadata(request: web.Request) -> dict[str, Any]:
    """The video resource sent with the upload, checked as YouTube checks it."""
    try:
        body = await request.json() if request.body_exists else {}
    except ValueError as exc:
        raise ApiFailure(400, "parseError", "Parse Error") from exc
    snippet = body.get("snippet") if isinstance(body, dict) else None
    if not isinstance(snippet, dict):
        raise _bad_metadata("invalidVideoMetadata", "The request metadata is invalid.")
    title, description = str(snippet.get("title") or ""), str(snippet.get("description") or "")
    if not title.strip() or len(title) > 100 or "<" in title or ">" in title:
        raise _bad_metadata("invalidTitle", "The request metadata specifies an invalid or empty video title.")
    if len(description.encode()) > 5000 or "<" in description or ">" in description:
        raise _bad_metadata("invalidDescription", "The request metadata specifies an invalid video description.")
    privacy = (body.get("status") or {}).get("privacyStatus", "public")
    if privacy not in PRIVACY:
        raise _bad_metadata("invalidVideoMetadata", "The request metadata specifies an invalid privacy status.")
    return body


def _playlist_item(post: PublishedPost, playlist_id: str, position: int) -> dict[str, Any]:
    published = post.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "kind": "youtube#playlistItem", "etag": secrets.token_urlsafe(20), "id": _video_id(f"pl{post.remote_id}"),
        "snippet": {
            "publishedAt": published, "channelId": _channel_id(post.account),
            "title": post.extra.get("title", ""), "description": post.text, "playlistId": playlist_id,
            "position": position, "resourceId": {"kind": "youtube#video", "videoId": post.remote_id},
        },
        "contentDetails": {"videoId": post.remote_id, "videoPublishedAt": published},
    }


def _count(value: str, name: str) -> int:
    if not ascii_digits(value):
        raise ApiFailure(400, "invalidParameter", f"Invalid value for parameter {name}.")
    return int(value)


def _video_id(seed: str) -> str:
    """Eleven URL-safe characters, like a real video id."""
    return base64.urlsafe_b64encode(hashlib.sha256(seed.encode()).digest()).decode()[:11]


def _channel_id(account: str) -> str:
    return sandbox_credentials(account, PLATFORM)["channel_id"]


def _uploads_playlist(account: str) -> str:
    return "UU" + _channel_id(account)[2:]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _api(handler: Handler, state: SandboxState) -> Handler:
    """Record the request, then turn an ApiFailure into its error document."""
    return recorded(handler, state, PLATFORM)


def install(app: web.Application, state: SandboxState) -> None:
    """Mount the YouTube Data API v3 routes (and the OAuth token endpoint) on `app`."""
    sandbox = YoutubeSandbox(state)
    routes = [
        ("POST", "/token", sandbox.token),
        ("POST", "/upload/youtube/v3/videos", sandbox.start_upload),
        ("PUT", "/upload/youtube/v3/videos", sandbox.put_chunk),
        ("DELETE", "/youtube/v3/videos", sandbox.delete_video),
        ("GET", "/youtube/v3/channels", sandbox.channels),
        ("GET", "/youtube/v3/playlistItems", sandbox.playlist_items),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, _api(handler, state))
    google_consent.install(app, state)
