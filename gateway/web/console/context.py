"""Shared console plumbing: app keys, the signed-in user, role guard, CSRF and page rendering."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from gateway.errors import Forbidden, GatewayError
from gateway.models import Actor, Role
from gateway.services.messages import Gateway
from gateway.web.console.session import COOKIE, Session, SessionCodec, csrf_ok, fingerprint
from gateway.web.console.throttle import LoginThrottle
from gateway.web.keys import GATEWAY, audit_denied, error_response

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
STATIC = Path(__file__).resolve().parents[1] / "static"

CODEC: web.AppKey[SessionCodec] = web.AppKey("console_codec", SessionCodec)
THROTTLE: web.AppKey[LoginThrottle] = web.AppKey("console_throttle", LoginThrottle)
JINJA: web.AppKey[jinja2.Environment] = web.AppKey("console_jinja", jinja2.Environment)


class CsrfRefused(Forbidden):
    """A form without its CSRF token (expired, or forged): refused like any 403, but not an access decision
    about the user, so not audited (a forged request from another site must not write to the audit log)."""


@dataclass(frozen=True)
class Viewer:
    actor: Actor
    session: Session

    def can(self, roles: frozenset[Role]) -> bool:
        return self.actor.role is Role.ADMIN or self.actor.role in roles


Page = Callable[[web.Request, Gateway, Viewer], Awaitable[web.StreamResponse]]


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True,
                             lstrip_blocks=True)
    from gateway.web.console import labels

    env.globals.update(labels.GLOBALS)
    env.filters.update(labels.FILTERS)
    return env


def gateway_of(request: web.Request) -> Gateway:
    return request.app[GATEWAY]


async def viewer_of(request: web.Request) -> Viewer | None:
    raw = request.cookies.get(COOKIE)
    session = request.app[CODEC].decode(raw, time.time()) if raw else None
    if session is None:
        return None
    user = await gateway_of(request).user(session.user)
    if (user is None or user.disabled or user.session_epoch != session.epoch
            or fingerprint(user.password_hash) != session.fingerprint):
        return None
    return Viewer(Actor(user.name, user.role, user.scope), session)


def render(request: web.Request, template: str, viewer: Viewer | None, status: int = 200,
           **values: Any) -> web.Response:
    # City names for what people read (小平市, not kodaira): the header's scope among them.
    policies = request.app[GATEWAY].policies
    city_names = {m.id: m.name for m in policies}
    html = request.app[JINJA].get_template(template).render(
        viewer=viewer, path=request.path,
        **{"city_names": city_names, "account_name": policies.account_label, **values})
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-store"})


def wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "") or request.content_type == "application/json"


def page(roles: frozenset[Role], *, streamed_form: bool = False,
         ) -> Callable[[Page], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    """Wrap a console handler: sign-in, role check, CSRF on writes, errors as Japanese pages.

    With `streamed_form`, a multipart body is left unread for the handler, which must check CSRF
    before it stores anything (`uploads.read_form` does).
    """
    def wrap(handler: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            viewer = await viewer_of(request)
            if viewer is None:
                return _to_login(request)
            try:
                if not viewer.can(roles):
                    raise Forbidden("この画面・操作の権限がありません")
                streamed = streamed_form and request.content_type == "multipart/form-data"
                if request.method not in ("GET", "HEAD") and not streamed:
                    await require_csrf(request, viewer)
                return await handler(request, gateway_of(request), viewer)
            except GatewayError as exc:
                if isinstance(exc, Forbidden) and not isinstance(exc, CsrfRefused):
                    await audit_denied(gateway_of(request), viewer.actor.name, request, exc)
                return error_page(request, viewer, exc)
        return handle
    return wrap


async def require_csrf(request: web.Request, viewer: Viewer) -> None:
    presented = request.headers.get("X-CSRF-Token")
    if presented is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        value = form.get("csrf")
        presented = value if isinstance(value, str) else None
    if not csrf_ok(viewer.session, presented):
        raise CsrfRefused("フォームの有効期限が切れたか、不正な送信です（CSRFトークンが一致しません）。"
                        "画面を開き直してからもう一度送信してください")


def error_page(request: web.Request, viewer: Viewer | None, exc: GatewayError) -> web.StreamResponse:
    response = error_response(exc)
    if wants_json(request):
        return response
    return render(request, "error.html", viewer, status=response.status, error=exc)


def _to_login(request: web.Request) -> web.StreamResponse:
    if wants_json(request) or request.path.endswith("/events"):
        return web.json_response({"error": "unauthenticated", "message": "ログインが必要です"}, status=401)
    # A form posted after the session expired cannot be replayed after sign-in: start from the console.
    target = request.rel_url.path if request.method == "GET" else "/console/"
    raise web.HTTPSeeOther(f"/console/login?next={target}")
