"""Drafts in the JSON API: `/api/v1/drafts...`, each seen by its author (and admins)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.models import Actor
from gateway.pipeline.intake.validation import parse_message
from gateway.services.drafts import Drafts
from gateway.services.messages import Gateway
from gateway.store.records import Draft
from gateway.web.fields import idempotency_key
from gateway.web.jsonio import dumps, iso, read_json
from gateway.web.shapes import message_json


def draft_json(draft: Draft) -> dict[str, Any]:
    return {"id": draft.id, "municipality": draft.municipality, "author": draft.author, "state": "draft",
            "created_at": iso(draft.created_at), "updated_at": iso(draft.updated_at),
            "message": draft.body.model_dump(mode="json", exclude_none=True)}


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=dumps)


async def post_draft(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    draft = await Drafts(gw).save(parse_message(await read_json(request)), actor)
    return _json(draft_json(draft), status=201)


async def list_drafts(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    return _json({"drafts": [draft_json(d) for d in await Drafts(gw).list(actor)]})


async def get_draft(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    return _json(draft_json(await Drafts(gw).read(request.match_info["id"], actor)))


async def put_draft(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    body = parse_message(await read_json(request))
    return _json(draft_json(await Drafts(gw).save(body, actor, draft_id=request.match_info["id"])))


async def delete_draft(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    await Drafts(gw).delete(request.match_info["id"], actor)
    return _json({"id": request.match_info["id"], "deleted": True})


async def submit_draft(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    key = idempotency_key(request.headers.get("Idempotency-Key"))
    submitted = await Drafts(gw).submit(request.match_info["id"], actor, idempotency_key=key)
    body = message_json(submitted.record, await gw.list_deliveries(message_id=submitted.record.id))
    body["approval"] = submitted.approval_reason
    return _json(body, status=201 if submitted.created else 200)
