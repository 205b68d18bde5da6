"""`POST /api/v1/media`: a multipart upload streamed into the media store, answered with its id.

The body is read part by part (`request.multipart()`), so the app's small body limit
(`max_body_bytes`, for JSON) does not apply here; the media store's per-kind limits do, and a
file over its limit is cut off as soon as it passes it. The console's compose form stores its
uploads through `save_part` too.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from gateway.errors import FieldProblem, InputError, TooLarge
from gateway.media import MediaRefused, MediaStore, StoredMedia
from gateway.models import Actor
from gateway.services.messages import Gateway

UPLOAD_FIELD = "file"
CHUNK_BYTES = 256 * 1024
# What aiohttp raises for a body that is not well-formed multipart (bad boundary, headers, encoding).
MALFORMED = (ValueError, AssertionError, RuntimeError, HttpProcessingError)


def media_json(stored: StoredMedia) -> dict[str, Any]:
    return {"id": stored.id, "kind": stored.kind.value, "content_type": stored.content_type, "size": stored.size,
            "sha256": stored.sha256}


async def post_media(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    part = await _file_part(await multipart_of(request))
    stored = await save_part(gw.media, part, UPLOAD_FIELD)
    await gw.audit(actor=actor.name, action="media.uploaded",
                         reason=f"{stored.content_type} {stored.size} バイト", detail=media_json(stored))
    return web.json_response(media_json(stored), status=201, dumps=lambda v: json.dumps(v, ensure_ascii=False))


async def multipart_of(request: web.Request) -> MultipartReader:
    if request.content_type != "multipart/form-data":
        problem = FieldProblem("Content-Type", "unsupported_media_type", "multipart/form-data を指定してください")
        raise InputError("Content-Type は multipart/form-data にしてください", [problem])
    try:
        return await request.multipart()
    except MALFORMED as exc:  # no or bad boundary
        raise unreadable() from exc


async def next_part(reader: MultipartReader) -> BodyPartReader | None:
    """The next part, None at the end; a body that is not well-formed multipart is an InputError."""
    try:
        part = await reader.next()
    except MALFORMED as exc:
        raise unreadable() from exc
    if part is not None and not isinstance(part, BodyPartReader):
        raise InputError("入れ子の multipart には対応していません",
                         [FieldProblem("(本文)", "nested_multipart", "入れ子の multipart には対応していません")])
    return part


async def save_part(media: MediaStore, part: BodyPartReader, field: str) -> StoredMedia:
    """Stream one file part into the store; a refusal names `field`, too large as HTTP 413."""
    try:
        return await media.save(_chunks(part))
    except MediaRefused as exc:
        problem = FieldProblem(field, exc.code, exc.reason)
        error = TooLarge if exc.code == "too_large" else InputError
        raise error(f"{field}: {exc.reason}", [problem], code=exc.code) from exc
    except MALFORMED as exc:
        raise unreadable() from exc


async def _file_part(reader: MultipartReader) -> BodyPartReader:
    part = await next_part(reader)
    if part is None:
        raise InputError("ファイルがありません",
                         [FieldProblem(UPLOAD_FIELD, "missing", "ファイルを file という名前の項目で送ってください")])
    if part.name != UPLOAD_FIELD:
        name = part.name or "(名前なし)"
        raise InputError(f"不明な項目です: {name}",
                         [FieldProblem(name, "extra_forbidden", "ファイルは file という名前の項目で送ってください")])
    return part


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK_BYTES):
        yield chunk


def unreadable() -> InputError:
    problem = FieldProblem("(本文)", "invalid_multipart", "multipart/form-data として読めません")
    return InputError(problem.message, [problem], code="invalid_multipart")
