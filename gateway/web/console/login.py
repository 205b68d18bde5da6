"""Sign-in and sign-out pages."""

from __future__ import annotations

import asyncio
import secrets
import time

from aiohttp import web

from gateway.web.console.context import CODEC, THROTTLE, gateway_of, render, require_csrf, viewer_of
from gateway.web.console.passwords import verify_password
from gateway.web.console.session import COOKIE, LIFETIME_S, same_token
from gateway.web.console.throttle import WINDOW_S, keys_for

LOCKED = f"ログインの失敗が続いたため、{WINDOW_S // 60}分間ログインできません。時間をおいてやり直してください"
WRONG = "利用者名またはパスワードが正しくありません"
EXPIRED = "ログイン画面の有効期限が切れました。もう一度入力してください"
LOGIN_COOKIE = "kgw_login"


def safe_next(value: str | None) -> str:
    """Only same-site console paths, so the login form cannot be used as an open redirect."""
    if value and value.startswith("/console/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/console/"


async def login_form(request: web.Request) -> web.StreamResponse:
    if await viewer_of(request) is not None:
        raise web.HTTPSeeOther(safe_next(request.query.get("next")))
    return _login_page(request, safe_next(request.query.get("next")))


def _login_page(request: web.Request, target: str, *, status: int = 200, error: str | None = None,
                user: str = "") -> web.Response:
    """The form carries a fresh token that must match a cookie set with it (login CSRF)."""
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", None, status=status, next=target, error=error, user=user, csrf=token)
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, path="/console/login", httponly=True, samesite="Strict",
                        secure=request.secure)
    return response


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    user = str(form.get("user", "")).strip()
    password = str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")))
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not same_token(expected, str(form.get("csrf", ""))):
        return _login_page(request, target, status=403, error=EXPIRED, user=user)
    keys = keys_for(user, request.remote)
    throttle = request.app[THROTTLE]
    if throttle.locked(keys, time.time()):
        return _login_page(request, target, status=429, error=LOCKED, user=user)
    record = await gateway_of(request).store.get_user(user) if user else None
    stored_hash = record.password_hash if record is not None and not record.disabled else None
    # argon2 verification takes tens of milliseconds of CPU: keep it off the event loop.
    ok = await asyncio.to_thread(verify_password, stored_hash, password)
    if not ok or record is None:
        throttle.fail(keys, time.time())
        return _login_page(request, target, status=401, error=WRONG, user=user)
    throttle.succeed(keys)
    codec = request.app[CODEC]
    response = web.HTTPSeeOther(target)
    response.del_cookie(LOGIN_COOKIE, path="/console/login")
    response.set_cookie(COOKIE, codec.encode(codec.issue(record.name, record.password_hash, time.time())),
                        max_age=LIFETIME_S, path="/", httponly=True, samesite="Strict", secure=request.secure)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    viewer = await viewer_of(request)
    if viewer is not None:
        await require_csrf(request, viewer)
    response = web.HTTPSeeOther("/console/login")
    response.del_cookie(COOKIE, path="/")
    raise response
