"""Compose (staff): the form, the as-you-type JSON preview, and submission through Gateway.submit."""

from __future__ import annotations

import contextlib
import secrets
from datetime import datetime
from typing import Any

from aiohttp import web

from gateway.access import may_send_emergency
from gateway.alerts.multilingual import correction_prefixes
from gateway.errors import Busy, Conflict, FieldProblem, InputError, PolicyViolation
from gateway.models import Message, Priority
from gateway.pipeline.intake.validation import as_correction, parse_message
from gateway.policy import LANGUAGES
from gateway.services.drafts import Drafts
from gateway.services.messages import Gateway
from gateway.web.console.context import Viewer, render
from gateway.web.console.labels import JST, post_words
from gateway.web.console.preview import preview, segments
from gateway.web.console.uploads import UploadForm, read_form
from gateway.web.fields import idempotency_key
from gateway.web.jsonio import dumps, loads_body

IMAGE_ROWS = 4
# The versions in other languages the form offers (the API takes every language of LANGUAGES but ja).
COMPOSE_LANGUAGES = {code: LANGUAGES[code] for code in ("ja-easy", "en")}
# The form's file inputs and how staff see them named in a refusal.
FILE_FIELDS = {**{f"image_file_{row}": f"画像{row + 1}" for row in range(IMAGE_ROWS)}, "video_file": "動画"}


def message_from_fields(fields: dict[str, Any]) -> Message:
    """A Message from the compose form's fields (the same names in the form and the preview JSON)."""
    # A browser submits a textarea's line breaks as CR LF but gives them to the page's script as LF: the
    # preview and the submitted post must be the same text (X counts CR LF as two characters).
    text = str(fields.get("text", "")).replace("\r\n", "\n")
    data: dict[str, Any] = {
        "municipality": fields.get("municipality", ""), "category": fields.get("category", ""), "text": text,
        "accounts": list(fields.get("accounts") or []) or None,
        "title": fields.get("title") or None, "link": fields.get("link") or None,
        "priority": fields.get("priority") or Priority.NORMAL.value,
        "media": list(fields.get("media") or []), "correction_of": fields.get("correction_of") or None,
        "not_before": _not_before(str(fields.get("not_before") or "")),
        "emergency_reason": fields.get("emergency_reason") or None,
        "preauthorized": fields.get("preauthorized") or None,
        "official_view": fields.get("official_view") in (True, "1", "true", "on"),
        "translations": _translations(fields),
    }
    # 逗子 3-5(1): a correction says it is one in every language; the preview shows the marks it is sent with.
    return as_correction(parse_message(data), correction_prefixes())


def _translations(fields: dict[str, Any]) -> list[dict[str, str]]:
    """The form's versions in other languages that staff filled in (`text_ja-easy`, `text_en`)."""
    found = []
    for code in COMPOSE_LANGUAGES:
        text = str(fields.get(f"text_{code}") or "").replace("\r\n", "\n")
        if text.strip():
            found.append({"language": code, "text": text})
    return found


def _not_before(value: str) -> str | None:
    """datetime-local inputs carry no zone: the console's times are Japan time."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=JST).isoformat()
    except ValueError:
        raise InputError("予約日時の形式が正しくありません",
                         [FieldProblem("not_before", "invalid", "日時を選び直してください")]) from None


def fields_of_message(message: Message) -> dict[str, Any]:
    """The compose form's fields filled in with a stored post (a draft, or a version being edited)."""
    _require_formable(message)
    images = [{"id": m.id or "", "alt_text": m.alt_text or ""} for m in message.media if m.kind.value == "image"]
    videos = [m.id or "" for m in message.media if m.kind.value == "video"]
    fields: dict[str, Any] = {
        "municipality": message.municipality, "category": message.category, "text": message.text,
        "accounts": list(message.accounts or []), "title": message.title or "", "link": message.link or "",
        "priority": message.priority.value, "correction_of": message.correction_of or "",
        "emergency_reason": message.emergency_reason or "",
        "preauthorized": message.preauthorized.value if message.preauthorized else "",
        "official_view": message.official_view, "images": images, "video_id": videos[0] if videos else "",
        "not_before": message.not_before.astimezone(JST).strftime("%Y-%m-%dT%H:%M") if message.not_before else "",
    }
    fields.update({f"text_{t.language}": t.text for t in message.translations})
    return fields


def _require_formable(message: Message) -> None:
    """What the form cannot show would be lost on saving it: such a post is edited through the API."""
    lost = [name for name, there in (
        ("シェア元", message.share is not None),
        ("保存先のパスで指定した画像・動画", any(m.id is None for m in message.media)),
        ("この画面にない言語の版", any(t.language not in COMPOSE_LANGUAGES for t in message.translations)),
        ("2本目以降の動画", sum(m.kind.value == "video" for m in message.media) > 1),
        ("5枚目以降の画像", sum(m.kind.value == "image" for m in message.media) > IMAGE_ROWS),
    ) if there]
    if lost:
        raise Conflict(f"この投稿には画面で編集できない内容（{'、'.join(lost)}）があります。"
                       "API（PUT /api/v1/messages/{id}）で編集してください", code="not_editable_here")


async def compose_page(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    draft_id = request.query.get("draft")
    if draft_id:
        draft = await Drafts(gw).read(draft_id, viewer.actor, editing=True)
        return _form(request, gw, viewer, {**fields_of_message(draft.body), "draft_id": draft.id},
                     notice=request.query.get("notice"))
    fields: dict[str, Any] = {"municipality": request.query.get("municipality", ""), "text": "",
                              "category": request.query.get("category", ""), "accounts": [], "images": []}
    original = request.query.get("correction_of")
    if original:
        record = await gw.read_message(original, viewer.actor)
        city = gw.policies.get(record.municipality)
        fields.update(municipality=record.municipality, category=record.body.category,
                      accounts=list(record.accounts), correction_of=record.id,
                      **_correction_texts(record.body, record.id),
                      # what staff recognise the post by, and the clause of its own city (none cited if it has none)
                      correction_summary=post_words(record.body),
                      correction_clause=city.clauses.get("correction") if city is not None else None)
    return _form(request, gw, viewer, fields)


def _correction_texts(original: Message, original_id: str) -> dict[str, str]:
    """The form's texts for a correction of `original`: its own, each led by its language's mark."""
    message = original.model_copy(update={"correction_of": original_id})
    with contextlib.suppress(InputError):  # no room left for a mark: submitting says so, naming the field
        message = as_correction(message, correction_prefixes())
    versions = {f"text_{v.language}": v.text for v in message.translations if v.language in COMPOSE_LANGUAGES}
    return {"text": message.text, **versions}


async def edit_page(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    """編集する: the compose form filled in with the post's current version; sending it makes the next version."""
    record = await gw.read_message(request.match_info["id"], viewer.actor)
    gw.require_editable(record, viewer.actor)
    fields = {**fields_of_message(record.body), "revise_of": record.id, "revision": str(record.revision)}
    return _form(request, gw, viewer, fields)


def _form(request: web.Request, gw: Gateway, viewer: Viewer, fields: dict[str, Any], status: int = 200,
          error: str | None = None, problems: list[FieldProblem] | None = None,
          findings: Any = None, notice: str | None = None) -> web.Response:
    cities = [m for m in gw.policies if viewer.actor.scope.covers(m.id)]
    return render(request, "compose.html", viewer, status=status, fields=fields, error=error, notice=notice,
                  problems=problems or [], findings=findings, municipalities=cities,
                  own_accounts={a.id for m in cities for a in m.accounts
                                if viewer.actor.scope.covers_account(m.id, a.id)},
                  # 緊急 is offered only for the cities where the viewer holds the emergency permission.
                  emergency_cities=[m for m in cities if may_send_emergency(viewer.actor, m.id)],
                  idempotency_key=secrets.token_urlsafe(18), image_rows=range(IMAGE_ROWS),
                  compose_languages=COMPOSE_LANGUAGES)


async def preview_json(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    data = loads_body(await request.read())
    if not isinstance(data, dict):
        raise InputError("形式が正しくありません", [FieldProblem("(本文)", "not_an_object", "JSONオブジェクト")])
    message = message_from_fields(data)
    return web.json_response(await preview(gw, message), dumps=_dumps)


async def submit(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    form = await read_form(request, gw.media, viewer, FILE_FIELDS)
    fields = _fields_of(form)
    try:
        if form.problems:
            raise InputError("添付ファイルを受け付けられません", form.problems)
        message = message_from_fields(fields)
        key = idempotency_key(str(form.fields.get("idempotency_key") or "") or None, "idempotency_key")
        target = await _store(gw, viewer, fields, message, key, draft=form.fields.get("action") == "draft")
    except PolicyViolation as exc:
        findings = {"entries": exc.findings, "segments": segments(str(fields.get("text", "")),
                                                                _result_of(exc))}
        return _form(request, gw, viewer, fields, status=422, error=exc.message, findings=findings)
    except InputError as exc:
        status = 409 if isinstance(exc, Conflict) else 400
        return _form(request, gw, viewer, fields, status=status, error=exc.message, problems=list(exc.problems))
    except Busy as exc:  # nothing stored: the same form, filled in, to send again
        return _form(request, gw, viewer, fields, status=503, error=exc.message)
    raise web.HTTPSeeOther(target)


async def _store(gw: Gateway, viewer: Viewer, fields: dict[str, Any], message: Message, key: str | None, *,
                 draft: bool) -> str:
    """Save a draft, store a new version of a post, or submit (a draft, or a new post); the page to go to."""
    draft_id = str(fields.get("draft_id") or "") or None
    revise_of = str(fields.get("revise_of") or "")
    if revise_of:
        revision = str(fields.get("revision") or "")
        record = await gw.revise(revise_of, message, viewer.actor,
                                 expected_revision=int(revision) if revision.isascii() and revision.isdigit() else None)
        return f"/console/messages/{record.id}?notice=revised"
    if draft:
        saved = await Drafts(gw).save(message, viewer.actor, draft_id)
        return f"/console/compose?draft={saved.id}&notice=draft_saved"
    if draft_id is not None:
        submitted = await Drafts(gw).submit(draft_id, viewer.actor, message, source="console", idempotency_key=key)
    else:
        submitted = await gw.submit(message, viewer.actor, source="console", idempotency_key=key)
    return f"/console/messages/{submitted.record.id}"


def _result_of(exc: PolicyViolation) -> Any:
    from gateway.models import CheckResult

    return CheckResult.of(list(exc.findings))


def _fields_of(form: UploadForm) -> dict[str, Any]:
    names = ("municipality", "category", "text", "title", "link", "priority", "not_before", "correction_of",
             "emergency_reason", "preauthorized", "official_view", "draft_id", "revise_of", "revision",
             *(f"text_{code}" for code in COMPOSE_LANGUAGES))
    fields: dict[str, Any] = {name: str(form.fields.get(name) or "") for name in names}
    fields["accounts"] = [str(a) for a in form.fields.getall("accounts", [])]
    fields["images"] = [_image_row(form, row) for row in range(IMAGE_ROWS)]
    fields["video_id"] = _kept_or_uploaded(form, "video_file", "video_id", "video_drop")
    fields["media"] = [{"kind": "image", "id": image["id"], "alt_text": image["alt_text"] or None}
                       for image in fields["images"] if image["id"]]
    if fields["video_id"]:
        fields["media"].append({"kind": "video", "id": fields["video_id"]})
    return fields


def _image_row(form: UploadForm, row: int) -> dict[str, str]:
    """One image row: the file uploaded now, else the one kept from an earlier try (unless dropped)."""
    media_id = _kept_or_uploaded(form, f"image_file_{row}", f"image_id_{row}", f"image_drop_{row}")
    return {"id": media_id, "alt_text": str(form.fields.get(f"image_alt_{row}") or "")}


def _kept_or_uploaded(form: UploadForm, file_field: str, id_field: str, drop_field: str) -> str:
    stored = form.uploads.get(file_field)
    if stored is not None and stored.id is not None:
        return stored.id
    return "" if form.fields.get(drop_field) else str(form.fields.get(id_field) or "").strip()


def _dumps(value: Any) -> str:
    return dumps(value)
