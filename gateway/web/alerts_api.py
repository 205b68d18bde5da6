"""`POST /api/v1/alerts`: disaster-information systems push JMA XML, L-Alert, CAP or JSON."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from gateway.pipeline.alerts import AlertIntake
from gateway.service import Actor, Gateway
from gateway.web.signature import HEADER, SignatureVerifier

ALERT_INTAKE: web.AppKey[AlertIntake] = web.AppKey("alert_intake", AlertIntake)
SIGNATURES: web.AppKey[SignatureVerifier | None] = web.AppKey("alert_signatures", object)  # type: ignore[arg-type]

_REJECTED_STATUS = {"too_large": 413, "empty": 400}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def post_alert(request: web.Request, gw: Gateway, actor: Actor) -> web.StreamResponse:
    raw = await request.read()
    verifier = request.app.get(SIGNATURES)
    if verifier is not None:
        verifier.verify(request.headers.get(HEADER), raw)
    municipality = request.query.get("municipality") or None
    result = await request.app[ALERT_INTAKE].receive(raw, actor, content_type=request.content_type,
                                                     municipality=municipality)
    body = result.to_json()
    if result.outcome == "rejected":
        code = result.error.code if result.error else "alert_unsupported"
        status = _REJECTED_STATUS.get(code, 400 if result.error else 422)
        return web.json_response({"error": code, "message": result.reason, **body}, status=status, dumps=_dumps)
    return web.json_response(body, status=202 if result.outcome == "accepted" else 200, dumps=_dumps)
