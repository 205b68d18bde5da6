"""Files staff upload in the console: the compose form read as a stream into the media store, and
stored files served back by id (thumbnails for approvers).

The compose form is `multipart/form-data`. It is read part by part, so that a video is never held
in memory nor bounded by the app's body limit (meant for JSON and small forms): the CSRF token must
come before any file (the form's first field; or the X-CSRF-Token header), text fields share the
app's body limit, and each file goes into the media store with its type taken from its content.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from aiohttp import BodyPartReader, MultipartReader, web
from multidict import MultiDict

from gateway.errors import FieldProblem, InputError, NotFound
from gateway.media import MEDIA_ID, MediaRefused, MediaStore, StoredMedia, id_of_name
from gateway.models import Media
from gateway.services.messages import Gateway
from gateway.web.console.context import CsrfRefused, Viewer, gateway_of
from gateway.web.console.session import csrf_ok
from gateway.web.media_api import MALFORMED, multipart_of, next_part, save_part, unreadable
from gateway.web.security import apply_security_headers

SERVE_CHUNK = 256 * 1024
CSRF_REFUSED = ("フォームの有効期限が切れたか、不正な送信です（CSRFトークンが一致しません）。"
                "画面を開き直してからもう一度送信してください")


@dataclass
class UploadForm:
    fields: MultiDict[str]
    uploads: dict[str, StoredMedia] = field(default_factory=dict)  # form field name -> stored file
    problems: list[FieldProblem] = field(default_factory=list)  # refused files, named for staff


async def read_form(request: web.Request, media: MediaStore, viewer: Viewer,
                    file_fields: dict[str, str]) -> UploadForm:
    """The form's text fields and its files (`file_fields`: field name -> label for staff), stored."""
    if request.content_type != "multipart/form-data":  # a form without files: the page wrapper checked CSRF
        posted = await request.post()
        return UploadForm(MultiDict((k, v) for k, v in posted.items() if isinstance(v, str)))
    reader = await multipart_of(request)
    form = UploadForm(MultiDict())
    header_ok = csrf_ok(viewer.session, request.headers.get("X-CSRF-Token"))
    try:
        verified = await _read_parts(reader, request.client_max_size, media, viewer, file_fields, form,
                                     verified=header_ok)
    except MALFORMED as exc:
        raise unreadable() from exc
    if not verified:
        raise CsrfRefused(CSRF_REFUSED)
    return form


async def _read_parts(reader: MultipartReader, budget: int, media: MediaStore, viewer: Viewer,
                      file_fields: dict[str, str], form: UploadForm, *, verified: bool) -> bool:
    """Read every part into `form`; True when the CSRF token was presented (before any file)."""
    while (part := await next_part(reader)) is not None:
        if part.filename is None:
            value, budget = await _text(part, budget)
            verified = verified or (part.name == "csrf" and csrf_ok(viewer.session, value))
            form.fields.add(part.name or "", value)
        elif not verified:
            raise CsrfRefused(CSRF_REFUSED)
        else:
            await _file(part, media, file_fields, form)
    return verified


async def _text(part: BodyPartReader, budget: int) -> tuple[str, int]:
    data = bytearray()
    while chunk := await part.read_chunk(8192):
        data += chunk
        if len(data) > budget:
            problem = FieldProblem(part.name or "(本文)", "too_large", "入力が長すぎます")
            raise InputError("入力が長すぎます", [problem], code="too_large")
    try:
        return data.decode(part.get_charset("utf-8")), budget - len(data)
    except (UnicodeDecodeError, LookupError) as exc:
        reason = "文字コードを読めません（UTF-8 にしてください）"
        problem = FieldProblem(part.name or "(本文)", "invalid_encoding", reason)
        raise InputError(problem.message, [problem]) from exc


async def _file(part: BodyPartReader, media: MediaStore, file_fields: dict[str, str], form: UploadForm) -> None:
    label = file_fields.get(part.name or "")
    if label is None or not part.filename:  # not a file input of the form, or one left empty
        await part.release()
        return
    try:
        form.uploads[part.name or ""] = await save_part(media, part, label)
    except InputError as exc:
        form.problems.extend(exc.problems)
        await part.release()


def media_views(media: Sequence[Media]) -> list[dict[str, Any]]:
    """A message's files as the console shows them; `src` (served by id) when one names an uploaded file.

    Decided from the message alone, without opening a file: the served route checks the store.
    """
    views = []
    for item in media:
        media_id = item.id or (id_of_name(item.path) if item.path and "/" not in item.path else None)
        views.append({"kind": item.kind.value, "label": item.label, "alt_text": item.alt_text,
                      "src": f"/console/media/{media_id}" if media_id else None})
    return views


async def serve(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    """A stored file by id only (never a path), with the content type read from its content."""
    media_id = request.match_info["id"]
    if not MEDIA_ID.fullmatch(media_id):
        raise NotFound("ファイルがありません")
    try:
        handle, stored = await asyncio.to_thread(gw.media.open_id, media_id)
    except MediaRefused:
        raise NotFound("ファイルがありません") from None
    with handle:
        return await _stream(request, handle, stored)


async def serve_public(request: web.Request) -> web.StreamResponse:
    """An uploaded file at its signed public address (`PublicLinks`), for the platforms that fetch files
    themselves (`PlatformSpec.fetched_media`): no sign-in, nothing but the signed id, 404 for anything else."""
    gw = gateway_of(request)
    links = gw.media.links
    media_id = links.media_id(request.match_info["token"]) if links is not None else None
    if media_id is None:
        raise web.HTTPNotFound(text="ファイルがありません")
    try:
        handle, stored = await asyncio.to_thread(gw.media.open_id, media_id)
    except MediaRefused:
        raise web.HTTPNotFound(text="ファイルがありません") from None
    with handle:
        return await _stream(request, handle, stored, cache="public, max-age=86400")


async def _stream(request: web.Request, handle: BinaryIO, stored: StoredMedia,
                  cache: str = "private, max-age=3600") -> web.StreamResponse:
    response = web.StreamResponse(headers={
        "Content-Type": stored.content_type, "Content-Disposition": f'inline; filename="{stored.name}"',
        "Cache-Control": cache,  # an id's content never changes
    })
    response.content_length = stored.size
    apply_security_headers(request, response)  # nosniff above all; the middleware cannot, once prepared
    await response.prepare(request)
    while chunk := await asyncio.to_thread(handle.read, SERVE_CHUNK):
        await response.write(chunk)
    await response.write_eof()
    return response
