"""The aiohttp application: API routes from the route table, errors as JSON, health and metrics."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web

from gateway import metrics
from gateway.connections import ConnectionService
from gateway.errors import (
    FieldProblem,
    Forbidden,
    GatewayError,
    InputError,
    StoreError,
)
from gateway.pipeline.intake.validation import require_storable
from gateway.services.accounts import AccountService
from gateway.services.alerts import AlertIntake
from gateway.services.messages import Gateway
from gateway.web.api import ROUTES, Route
from gateway.web.auth import TokenCache, authenticate, require_role
from gateway.web.console.connect import CONNECTIONS
from gateway.web.console.routes import mount as mount_console
from gateway.web.jsonio import dumps
from gateway.web.keys import (
    ACCOUNT_SERVICE,
    ALERT_INTAKE,
    GATEWAY,
    SIGNATURES,
    TOKENS,
    WORKER,
    audit_denied,
    error_response,
    internal_error,
)
from gateway.web.openapi import openapi_document
from gateway.web.security import security_headers
from gateway.web.signature import SignatureVerifier
from gateway.worker import Worker

log = logging.getLogger("gateway.web")

EXTRA_ROUTES: web.AppKey[list[Route]] = web.AppKey("extra_routes", list)


@web.middleware
async def errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    """Every failure becomes a JSON answer; nothing escapes to aiohttp's plain-text 500, which the
    security headers middleware never sees."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        failure: Exception = exc
    except Exception as exc:
        failure = exc
    try:
        return _failure_response(request, failure)
    except Exception:
        log.exception("error while answering an error", extra={"path": request.path})
        return internal_error()


def _failure_response(request: web.Request, exc: Exception) -> web.Response:
    if isinstance(exc, GatewayError):
        return error_response(exc)
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        limit = request.app._client_max_size
        problem = FieldProblem("(本文)", "too_large", f"本文が大きすぎます（上限 {limit} バイト）")
        response = error_response(InputError(problem.message, [problem], code="too_large"))
        response.set_status(413)
        return response
    if isinstance(exc, web.HTTPException):
        return web.json_response({"error": exc.reason.lower().replace(" ", "_"), "message": exc.reason},
                                 status=exc.status)
    log.error("unhandled error", exc_info=exc, extra={"path": request.path})
    return internal_error()


def _wrap(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        gateway = request.app[GATEWAY]
        require_storable(dict(request.match_info), "path")
        require_storable({k: v for k, v in request.query.items()}, "query")
        actor = await authenticate(request, gateway.users, datetime.now(UTC), request.app[TOKENS])
        try:
            require_role(actor, route.roles)
            return await route.handler(request, gateway, actor)
        except Forbidden as exc:
            await audit_denied(gateway, actor.name, request, exc)
            raise

    return handle


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready: the database answers and every background loop is running and completing its rounds."""
    gateway = request.app[GATEWAY]
    try:
        await gateway.ready()
    except StoreError:
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    worker = request.app.get(WORKER)
    problems = (worker.supervisor.problems() if worker is not None else []) + gateway.checks.problems()
    if problems:
        return web.json_response({"status": "degraded", "problems": problems}, status=503,
                                 dumps=dumps)
    return web.json_response({"status": "ready"})


async def metrics_handler(request: web.Request) -> web.Response:
    return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")


async def openapi_handler(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(all_routes(request.app)))


def all_routes(app: web.Application) -> list[Route]:
    return [*ROUTES, *app.get(EXTRA_ROUTES, [])]


def build_app(
    gateway: Gateway, *, max_body_bytes: int = 1_000_000, extra_routes: list[Route] | None = None,
    alert_secret: bytes | None = None, alert_window_s: int = 300, session_secret: bytes | None = None,
    accounts: AccountService | None = None, worker: Worker | None = None,
    connections: ConnectionService | None = None,
) -> web.Application:
    """The API and the console. Without `session_secret` console sessions last only as long as the process.

    `max_body_bytes` bounds JSON and form bodies; uploads (`POST /api/v1/media`, the compose form)
    are streamed into the gateway's media store and bounded by its per-kind limits instead.
    """
    app = web.Application(middlewares=[security_headers, errors_middleware], client_max_size=max_body_bytes)
    app[GATEWAY] = gateway
    if accounts is not None:  # without it, the account handlers build one over the gateway
        app[ACCOUNT_SERVICE] = accounts
    if worker is not None:  # /readyz reports its background loops
        app[WORKER] = worker
    if connections is not None:  # without it, the console cannot connect accounts (it says so)
        app[CONNECTIONS] = connections
    app[TOKENS] = TokenCache()
    app[ALERT_INTAKE] = AlertIntake(gateway, max_bytes=max_body_bytes)
    app[SIGNATURES] = SignatureVerifier(alert_secret, alert_window_s) if alert_secret else None
    app[EXTRA_ROUTES] = list(extra_routes or [])
    for route in all_routes(app):
        app.router.add_route(route.method, route.path, _wrap(route))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/v1/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/api/v1/metrics", metrics_handler)
    app.router.add_get("/openapi.json", openapi_handler)
    app.router.add_get("/api/v1/openapi.json", openapi_handler)
    mount_console(app, secret=session_secret or secrets.token_bytes(32))
    return app
