"""Security headers on every console and API response (CSP, no framing, no sniffing, no referrer).

The console is server-rendered and loads nothing from other origins, so a strict same-origin
policy costs nothing; `frame-ancestors 'none'` and X-Frame-Options stop clickjacking of the
approve button. API responses carry per-user data, so no proxy or browser may cache them.
HSTS is only meaningful (and only honoured by browsers) over https, so plain-http dev runs skip it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"

BASE_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def apply_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Set the headers on `response` unless a handler already chose its own value."""
    for name, value in BASE_HEADERS:
        response.headers.setdefault(name, value)
    if _is_api(request.path):
        # Overrides any cache header a handler set: API bodies are per-user and must never be stored.
        response.headers["Cache-Control"] = "no-store"
    if request.secure:
        response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        # Error pages raised by aiohttp (404, 405, ...) are responses too and need the same headers.
        apply_security_headers(request, exc)
        raise
    if not response.prepared:
        apply_security_headers(request, response)
    return response
