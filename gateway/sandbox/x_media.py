"""X sandbox media: v2 one-shot and chunked upload, processing status, alt-text metadata."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gateway.models import ascii_digits
from gateway.sandbox.x_problems import invalid, problem

PROCESSING_S = 1  # a video is "in_progress" this long after FINALIZE (X sends whole seconds)
EXPIRES_S = 86_400
MAX_ALT_TEXT = 1000
MAX_CHUNK = 5 * 1024 * 1024


@dataclass
class Medium:
    id: str
    account: str
    media_type: str
    category: str
    total_bytes: int
    segments: dict[int, int] = field(default_factory=dict)  # index -> size
    finalized_at: float | None = None
    alt_text: str | None = None
    used: bool = False

    @property
    def kind(self) -> str:
        return "video" if self.category == "tweet_video" or self.media_type.startswith("video/") else "image"

    @property
    def media_key(self) -> str:
        return f"{7 if self.kind == 'video' else 3}_{self.id}"

    def state(self) -> str:
        if self.finalized_at is None:
            return "pending"
        return "succeeded" if time.time() - self.finalized_at >= PROCESSING_S else "in_progress"

    def processing_info(self) -> dict[str, Any]:
        state = self.state()
        if state == "succeeded":
            return {"state": "succeeded", "progress_percent": 100}
        return {"state": state, "check_after_secs": PROCESSING_S, "progress_percent": 50}


class MediaStore:
    """Uploaded media by id, per account."""

    def __init__(self) -> None:
        self._media: dict[str, Medium] = {}
        self._ids = itertools.count(1_900_000_000_000_000_000)

    def _new(self, account: str, media_type: str, category: str, total: int) -> Medium:
        medium = Medium(str(next(self._ids)), account, media_type, category, total)
        self._media[medium.id] = medium
        return medium

    def get(self, account: str, media_id: str) -> Medium:
        medium = self._media.get(media_id)
        if medium is None or medium.account != account:
            raise problem(400, "Invalid Request", f"The media_id {media_id} was not found.")
        return medium

    async def upload(self, request: web.Request, account: str) -> dict[str, Any]:
        """One-shot multipart upload (images, GIFs)."""
        form = await request.post()
        part = form.get("media")
        if not isinstance(part, web.FileField):
            raise invalid("media", None, "The media field is required and must be a file.")
        data = part.file.read()
        category = str(form.get("media_category", "tweet_image"))
        medium = self._new(account, part.content_type, category, len(data))
        medium.segments[0] = len(data)
        medium.finalized_at = time.time() - PROCESSING_S  # images are ready at once
        return {"id": medium.id, "media_key": medium.media_key, "size": len(data),
                "expires_after_secs": EXPIRES_S, "image": {"image_type": medium.media_type, "w": 0, "h": 0}}

    def initialize(self, account: str, body: dict[str, Any]) -> dict[str, Any]:
        total = body.get("total_bytes")
        if not isinstance(total, int) or total <= 0 or not body.get("media_type"):
            raise invalid("total_bytes", total, "media_type and a positive total_bytes are required.")
        medium = self._new(account, str(body["media_type"]), str(body.get("media_category", "")), total)
        return {"id": medium.id, "media_key": medium.media_key, "expires_after_secs": EXPIRES_S}

    async def append(self, request: web.Request, account: str, media_id: str) -> dict[str, Any]:
        medium = self.get(account, media_id)
        form = await request.post()
        part, index = form.get("media"), str(form.get("segment_index", ""))
        if not isinstance(part, web.FileField) or not ascii_digits(index) or int(index) > 999:
            raise invalid("segment_index", index, "media (file) and segment_index 0-999 are required.")
        size = len(part.file.read())
        if size > MAX_CHUNK:
            raise invalid("media", size, "A segment must not exceed 5 MB.")
        medium.segments[int(index)] = size
        return {"expires_at": int(time.time()) + EXPIRES_S}

    def finalize(self, account: str, media_id: str) -> dict[str, Any]:
        medium = self.get(account, media_id)
        if sum(medium.segments.values()) != medium.total_bytes:
            message = "Segments do not add up to provided total file size."
            raise invalid("total_bytes", medium.total_bytes, message)
        medium.finalized_at = time.time()
        return {"id": medium.id, "media_key": medium.media_key, "size": medium.total_bytes,
                "expires_after_secs": EXPIRES_S, "processing_info": medium.processing_info()}

    def status(self, account: str, media_id: str) -> dict[str, Any]:
        medium = self.get(account, media_id)
        return {"id": medium.id, "media_key": medium.media_key, "processing_info": medium.processing_info()}

    def metadata(self, account: str, body: dict[str, Any]) -> dict[str, Any]:
        medium = self.get(account, str(body.get("id", "")))
        text = ((body.get("metadata") or {}).get("alt_text") or {}).get("text")
        if not isinstance(text, str) or not 0 < len(text) <= MAX_ALT_TEXT:
            raise invalid("metadata.alt_text.text", text, "Alt text must be 1 to 1000 characters.")
        medium.alt_text = text
        return {"id": medium.id, "associated_metadata": {"alt_text": {"text": text}}}

    def attach(self, account: str, media_ids: list[str]) -> list[dict[str, Any]]:
        """Validate the media of a new post; return what the published post records about them."""
        media = [self.get(account, media_id) for media_id in media_ids]
        videos = [m for m in media if m.kind == "video"]
        if len(media) > 4 or (videos and len(media) > 1):
            raise invalid("media.media_ids", media_ids, "A Tweet may have up to 4 images or 1 video.")
        if any(m.state() != "succeeded" for m in media):
            raise invalid("media.media_ids", media_ids, "Your media IDs are invalid.")
        for medium in media:
            medium.used = True
        return [{"media_id": m.id, "kind": m.kind, "media_type": m.media_type, "size": m.total_bytes,
                 "alt_text": m.alt_text} for m in media]
