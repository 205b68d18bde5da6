"""Compose (staff): the form, the as-you-type JSON preview, and submission through Gateway.submit."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

from gateway.errors import Conflict, FieldProblem, InputError, PolicyViolation
from gateway.models import Message, Priority
from gateway.pipeline.validation import parse_message
from gateway.service import Gateway
from gateway.web.console.context import MEDIA_DIR, Viewer, render
from gateway.web.console.labels import JST
from gateway.web.console.preview import preview, segments
from gateway.web.fields import idempotency_key
from gateway.web.jsonio import dumps, loads_body

CORRECTION_PREFIX = "【訂正】"
IMAGE_ROWS = 4
IMAGE_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}
MAX_UPLOAD = 5 * 1024 * 1024
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./-]{1,200}$")


def message_from_fields(fields: dict[str, Any]) -> Message:
    """A Message from the compose form's fields (the same names in the form and the preview JSON)."""
    text = str(fields.get("text", ""))
    if fields.get("correction_of") and not text.startswith(CORRECTION_PREFIX):
        text = CORRECTION_PREFIX + text  # 逗子 3-5(1): a correction must say it is one
    data: dict[str, Any] = {
        "municipality": fields.get("municipality", ""), "category": fields.get("category", ""), "text": text,
        "accounts": list(fields.get("accounts") or []) or None,
        "title": fields.get("title") or None, "link": fields.get("link") or None,
        "priority": fields.get("priority") or Priority.NORMAL.value,
        "media": list(fields.get("media") or []), "correction_of": fields.get("correction_of") or None,
        "not_before": _not_before(str(fields.get("not_before") or "")),
    }
    return parse_message(data)


def _not_before(value: str) -> str | None:
    """datetime-local inputs carry no zone: the console's times are Japan time."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=JST).isoformat()
    except ValueError:
        raise InputError("予約日時の形式が正しくありません",
                         [FieldProblem("not_before", "invalid", "日時を選び直してください")]) from None


def safe_media_path(value: str) -> str:
    if not _SAFE_PATH.match(value) or ".." in value or value.startswith("/"):
        raise InputError("ファイルのパスが正しくありません",
                         [FieldProblem("media", "invalid_path", "var/media/ 以下の相対パスを指定してください")])
    return value


async def compose_page(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    fields: dict[str, Any] = {"municipality": request.query.get("municipality", ""), "text": "",
                              "category": request.query.get("category", ""), "accounts": []}
    original = request.query.get("correction_of")
    if original:
        record = await gw.store.get_message(original)
        fields.update(municipality=record.municipality, category=record.body.category,
                      accounts=list(record.accounts), correction_of=record.id,
                      text=CORRECTION_PREFIX + record.body.text)
    return _form(request, gw, viewer, fields)


def _form(request: web.Request, gw: Gateway, viewer: Viewer, fields: dict[str, Any], status: int = 200,
          error: str | None = None, problems: list[FieldProblem] | None = None,
          findings: Any = None) -> web.Response:
    return render(request, "compose.html", viewer, status=status, fields=fields, error=error,
                  problems=problems or [], findings=findings, municipalities=list(gw.policies),
                  idempotency_key=secrets.token_urlsafe(18), image_rows=range(IMAGE_ROWS))


async def preview_json(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    data = loads_body(await request.read())
    if not isinstance(data, dict):
        raise InputError("形式が正しくありません", [FieldProblem("(本文)", "not_an_object", "JSONオブジェクト")])
    message = message_from_fields(data)
    return web.json_response(preview(gw, message), dumps=_dumps)


async def submit(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    form = await request.post()
    fields = _fields_of(form)
    try:
        fields["media"] = await _media_of(form, request.app[MEDIA_DIR])
        message = message_from_fields(fields)
        key = idempotency_key(str(form.get("idempotency_key") or "") or None, "idempotency_key")
        submitted = await gw.submit(message, viewer.actor, source="console", idempotency_key=key)
    except PolicyViolation as exc:
        findings = {"items": exc.findings, "segments": segments(str(fields.get("text", "")),
                                                                _result_of(exc))}
        return _form(request, gw, viewer, fields, status=422, error=exc.message, findings=findings)
    except InputError as exc:
        status = 409 if isinstance(exc, Conflict) else 400
        return _form(request, gw, viewer, fields, status=status, error=exc.message, problems=list(exc.problems))
    raise web.HTTPSeeOther(f"/console/messages/{submitted.record.id}")


def _result_of(exc: PolicyViolation) -> Any:
    from gateway.models import CheckResult

    return CheckResult.of(list(exc.findings))


def _fields_of(form: Any) -> dict[str, Any]:
    names = ("municipality", "category", "text", "title", "link", "priority", "not_before", "correction_of")
    fields: dict[str, Any] = {name: str(form.get(name) or "") for name in names}
    fields["accounts"] = [str(a) for a in form.getall("accounts", [])]
    fields["video_path"] = str(form.get("video_path") or "")
    return fields


async def _media_of(form: Any, media_dir: Path) -> list[dict[str, Any]]:
    media: list[dict[str, Any]] = []
    for row in range(IMAGE_ROWS):
        path = _image_path(form.get(f"image_file_{row}"), str(form.get(f"image_path_{row}") or ""), media_dir)
        if path:
            media.append({"kind": "image", "path": path, "alt_text": str(form.get(f"image_alt_{row}") or "") or None})
    video = str(form.get("video_path") or "").strip()
    if video:
        media.append({"kind": "video", "path": safe_media_path(video)})
    return media


def _image_path(upload: Any, typed: str, media_dir: Path) -> str | None:
    if isinstance(upload, FileField) and upload.filename:
        return save_upload(upload, media_dir)
    return safe_media_path(typed.strip()) if typed.strip() else None


def save_upload(upload: FileField, media_dir: Path) -> str:
    """Save under a random name chosen here: the client's file name never reaches the file system."""
    suffix = IMAGE_TYPES.get(upload.content_type)
    if suffix is None:
        raise InputError("画像は JPEG・PNG・GIF・WebP のいずれかにしてください",
                         [FieldProblem("media", "unsupported_type", "JPEG・PNG・GIF・WebP のみ")])
    data = upload.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise InputError("画像が大きすぎます（5MB まで）", [FieldProblem("media", "too_large", "5MB まで")])
    media_dir.mkdir(parents=True, exist_ok=True)
    target = media_dir / f"{secrets.token_hex(16)}{suffix}"
    target.write_bytes(data)
    return target.as_posix()


def _dumps(value: Any) -> str:
    return dumps(value)
