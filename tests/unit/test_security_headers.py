"""gateway.web.security: headers on console pages, API responses, errors and https requests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.web.security import CONTENT_SECURITY_POLICY, security_headers


async def _page(request: web.Request) -> web.Response:
    return web.Response(text="<h1>承認待ち</h1>", content_type="text/html")


async def _api(request: web.Request) -> web.Response:
    return web.json_response({"ok": True}, headers={"Cache-Control": "max-age=600"})


async def _framable(request: web.Request) -> web.Response:
    return web.Response(text="x", headers={"X-Frame-Options": "SAMEORIGIN"})


async def _missing(request: web.Request) -> web.Response:
    raise web.HTTPNotFound(text="no such message")


def _app() -> web.Application:
    app = web.Application(middlewares=[security_headers])
    app.router.add_get("/console/messages", _page)
    app.router.add_get("/api/v1/deliveries", _api)
    app.router.add_get("/apiary", _page)  # shares the prefix but is not the API
    app.router.add_get("/framable", _framable)
    app.router.add_get("/api/v1/messages/{id}", _missing)
    return app


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(_app())) as test_client:
        yield test_client


def _assert_base_headers(headers: object) -> None:
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY  # type: ignore[index]
    assert headers["X-Content-Type-Options"] == "nosniff"  # type: ignore[index]
    assert headers["X-Frame-Options"] == "DENY"  # type: ignore[index]
    assert headers["Referrer-Policy"] == "no-referrer"  # type: ignore[index]


def test_policy_has_every_directive() -> None:
    directives = {d.strip() for d in CONTENT_SECURITY_POLICY.split(";")}
    assert directives == {"default-src 'self'", "frame-ancestors 'none'", "base-uri 'none'",
                          "form-action 'self'", "object-src 'none'"}


async def test_console_page_gets_headers_but_stays_cacheable(client: TestClient) -> None:
    response = await client.get("/console/messages")
    assert response.status == 200
    _assert_base_headers(response.headers)
    assert "Cache-Control" not in response.headers
    assert "Strict-Transport-Security" not in response.headers  # plain http


async def test_api_response_is_no_store_even_if_handler_said_otherwise(client: TestClient) -> None:
    response = await client.get("/api/v1/deliveries")
    _assert_base_headers(response.headers)
    assert response.headers["Cache-Control"] == "no-store"


async def test_only_the_api_prefix_is_no_store(client: TestClient) -> None:
    response = await client.get("/apiary")
    assert "Cache-Control" not in response.headers


async def test_raised_http_errors_get_headers(client: TestClient) -> None:
    response = await client.get("/api/v1/messages/m_x")
    assert response.status == 404
    _assert_base_headers(response.headers)
    assert response.headers["Cache-Control"] == "no-store"


async def test_unknown_route_404_gets_headers(client: TestClient) -> None:
    response = await client.get("/nowhere")
    assert response.status == 404
    _assert_base_headers(response.headers)


async def test_handler_choice_is_kept(client: TestClient) -> None:
    response = await client.get("/framable")
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


async def test_hsts_only_over_https() -> None:
    # Behind a TLS-terminating proxy aiohttp sees https once the request is cloned with scheme="https"
    # (what aiohttp-remotes / a forwarded-headers middleware do), so that is what the test does.
    @web.middleware
    async def as_https(request: web.Request, handler: object) -> web.StreamResponse:
        return await handler(request.clone(scheme="https"))  # type: ignore[operator,no-any-return]

    app = web.Application(middlewares=[as_https, security_headers])
    app.router.add_get("/console/messages", _page)
    async with TestClient(TestServer(app)) as https_client:
        response = await https_client.get("/console/messages")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
