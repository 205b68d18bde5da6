"""Console routes: one table of (method, path, handler, roles), the same role sets as the API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.errors import GatewayError
from gateway.media import PUBLIC_PATH
from gateway.models import Role
from gateway.web.api import APPROVERS, OPERATORS, OPERATORS_APPROVERS, READERS, STAFF
from gateway.web.console import (
    accounts_page,
    approvals,
    audit,
    calendar,
    compose,
    connect,
    deliveries,
    drafts,
    held_alerts,
    home,
    login,
    posts,
    uploads,
    users_page,
)
from gateway.web.console.context import (
    CODEC,
    JINJA,
    STATIC,
    THROTTLE,
    Page,
    environment,
    error_page,
    page,
    viewer_of,
)
from gateway.web.console.session import SessionCodec
from gateway.web.console.streams import STREAMS, StreamSlots
from gateway.web.console.throttle import LoginThrottle

ADMINS: frozenset[Role] = frozenset()  # admin is always allowed; nobody else

PAGES: tuple[tuple[str, str, Page, frozenset[Role]], ...] = (
    ("GET", "/console/compose", compose.compose_page, STAFF),
    ("POST", "/console/compose/preview", compose.preview_json, STAFF),
    ("GET", "/console/drafts", drafts.page, STAFF),
    ("POST", "/console/drafts/{id}/delete", drafts.delete, STAFF),
    ("GET", "/console/messages/{id}/edit", compose.edit_page, STAFF),
    ("GET", "/console/media/{id}", uploads.serve, READERS),
    ("GET", "/console/posts", posts.page, READERS),
    ("GET", "/console/calendar", calendar.page, READERS),
    ("GET", "/console/approvals", approvals.queue, APPROVERS),
    ("GET", "/console/messages/{id}", approvals.message_page, READERS),
    ("POST", "/console/messages/{id}/approve", approvals.approve, APPROVERS),
    ("POST", "/console/messages/{id}/reject", approvals.reject, APPROVERS),
    ("POST", "/console/messages/{id}/withdraw", approvals.withdraw, STAFF),
    ("POST", "/console/messages/{id}/retract", deliveries.retract, OPERATORS_APPROVERS),
    ("GET", "/console/deliveries", deliveries.table, READERS),
    ("GET", "/console/deliveries/events", deliveries.events, READERS),
    ("POST", "/console/deliveries/{id}/retry", deliveries.retry, OPERATORS),
    ("POST", "/console/deliveries/{id}/cancel", deliveries.cancel, OPERATORS),
    ("GET", "/console/accounts", accounts_page.page, READERS),
    ("POST", "/console/accounts/{id}/stop", accounts_page.stop, OPERATORS),
    ("POST", "/console/accounts/{id}/resume", accounts_page.resume, OPERATORS),
    ("POST", "/console/accounts/{id}/rotation", accounts_page.rotation, OPERATORS),
    ("POST", "/console/hijack-alerts/{id}/resolve", accounts_page.resolve_hijack, OPERATORS),
    ("POST", "/console/accounts/{id}/connect", connect.start, ADMINS),
    ("GET", "/console/connect/callback", connect.callback, ADMINS),
    ("POST", "/console/connect/choose", connect.choose, ADMINS),
    ("GET", "/console/alerts", held_alerts.page, OPERATORS_APPROVERS),
    ("POST", "/console/held-alerts/{id}/publish", held_alerts.publish, OPERATORS),
    ("POST", "/console/held-alerts/{id}/dismiss", held_alerts.dismiss, OPERATORS),
    ("GET", "/console/audit", audit.page, OPERATORS_APPROVERS),
    ("GET", "/console/audit.csv", audit.export_csv, OPERATORS_APPROVERS),
    ("GET", "/console/users", users_page.page, ADMINS),
    ("POST", "/console/users/{action}", users_page.act, ADMINS),
    ("POST", "/console/sign-out-everywhere", login.sign_out_everywhere, frozenset(Role)),
)




async def root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/console/")


def _guarded_logout(handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except GatewayError as exc:
            return error_page(request, await viewer_of(request), exc)
    return handle


async def _close_streams(app: web.Application) -> None:
    app[STREAMS].close()


def mount(app: web.Application, *, secret: bytes) -> None:
    """Add the console's routes, static files and state to `app`; `/` redirects to the console."""
    app[CODEC] = SessionCodec(secret)
    app[THROTTLE] = LoginThrottle()
    app[JINJA] = environment()
    app[STREAMS] = StreamSlots()
    app.on_shutdown.append(_close_streams)
    app.router.add_get("/", root)
    app.router.add_get("/console", root)
    app.router.add_get("/console/", page(frozenset(Role))(home.page))
    app.router.add_get("/console/login", login.login_form)
    app.router.add_post("/console/login", login.login_submit)
    app.router.add_post("/console/logout", _guarded_logout(login.logout))
    for method, path, handler, roles in PAGES:
        app.router.add_route(method, path, page(roles)(handler))
    # The compose form streams its files into the media store and checks CSRF in the stream itself.
    app.router.add_post("/console/compose", page(STAFF, streamed_form=True)(compose.submit))
    app.router.add_static("/console/static/", STATIC)
    # Uploaded files at their signed public addresses, for platforms that fetch media themselves (no sign-in).
    app.router.add_get(PUBLIC_PATH + "{token}", uploads.serve_public)
