"""The web layer's shared slots and answers: the application keys, and the error tree mapped to HTTP statuses.

The API, the console and the streams all answer a `GatewayError` through `error_response`, so one table
decides every status; `audit_denied` keeps every refusal of a signed-in user.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from gateway.errors import (
    Busy,
    Conflict,
    Forbidden,
    GatewayError,
    InputError,
    NotFound,
    PolicyViolation,
    StoreError,
    TooLarge,
)
from gateway.services.accounts import AccountService
from gateway.services.alerts import AlertIntake
from gateway.services.messages import Gateway
from gateway.web.auth import TokenCache, Unauthenticated
from gateway.web.console.streams import TooManyStreams
from gateway.web.jsonio import dumps
from gateway.web.signature import SignatureError, SignatureVerifier
from gateway.worker import Worker

log = logging.getLogger("gateway.web")

GATEWAY: web.AppKey[Gateway] = web.AppKey("gateway", Gateway)
TOKENS: web.AppKey[TokenCache] = web.AppKey("tokens", TokenCache)
WORKER: web.AppKey[Worker] = web.AppKey("worker", Worker)
ACCOUNT_SERVICE: web.AppKey[AccountService] = web.AppKey("account_service", AccountService)
ALERT_INTAKE: web.AppKey[AlertIntake] = web.AppKey("alert_intake", AlertIntake)
SIGNATURES: web.AppKey[SignatureVerifier | None] = web.AppKey("alert_signatures", object)  # type: ignore[arg-type]

_STATUS: tuple[tuple[type[GatewayError], int], ...] = (
    (Unauthenticated, 401), (SignatureError, 401), (Forbidden, 403), (NotFound, 404), (Conflict, 409),
    (PolicyViolation, 422), (TooLarge, 413), (InputError, 400), (TooManyStreams, 429), (StoreError, 503),
    (Busy, 503),
)


def error_body(exc: GatewayError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": exc.code, "message": exc.message}
    if isinstance(exc, InputError):
        body["problems"] = [p.as_dict() for p in exc.problems]
    if isinstance(exc, PolicyViolation):
        body["findings"] = [f.model_dump(mode="json") for f in exc.findings]
    return body


def error_response(exc: GatewayError) -> web.Response:
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
    headers = {"WWW-Authenticate": 'Bearer realm="koho-gateway"'} if status == 401 else None
    if isinstance(exc, Busy | StoreError):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return web.json_response(error_body(exc), status=status, headers=headers, dumps=dumps)


def internal_error() -> web.Response:
    return web.json_response({"error": "internal", "message": "内部エラーが発生しました"}, status=500, dumps=dumps)


async def audit_denied(gateway: Gateway, actor: str, request: web.Request, exc: Forbidden) -> None:
    """Every refusal of a signed-in user is kept (`access.denied`): who, what, and why."""
    try:
        await gateway.audit(actor=actor, action="access.denied", reason=exc.message[:2000],
                                  detail={"method": request.method, "path": request.path[:500], "code": exc.code})
    except GatewayError:  # the refusal stands even when the audit cannot be written
        log.warning("could not audit a refusal", extra={"path": request.path})
