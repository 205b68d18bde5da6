"""Sign-in and sign-out pages."""

from __future__ import annotations

import asyncio
import math
import secrets
import time

from aiohttp import web

from gateway.models import storable_text_problem
from gateway.services.messages import Gateway
from gateway.services.passwords import verify_password
from gateway.store.base import UserDirectory
from gateway.store.records import LoginAttempt, User
from gateway.web.console.context import CODEC, THROTTLE, Viewer, gateway_of, render, require_csrf, viewer_of
from gateway.web.console.labels import JST
from gateway.web.console.session import COOKIE, LIFETIME_S, same_token
from gateway.web.console.throttle import MAX_NAME

LOCKED = ("ログインの失敗が続いたため、{at}（約{wait}後）までログインできません。その後にやり直してください。"
          "失敗が続くほど待ち時間は長くなります。急ぐときは管理者に解除を依頼してください")
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
    # Counted before the password is checked: concurrent guesses cannot pass the limit.
    throttle, store = request.app[THROTTLE], gateway_of(request).users
    attempt = await throttle.reserve(store, user, request.remote)
    if not attempt.allowed:
        return _locked_page(request, target, attempt, user)
    record = await _user_named(store, user)
    stored_hash = record.password_hash if record is not None and not record.disabled else None
    # argon2 verification takes tens of milliseconds of CPU: keep it off the event loop.
    ok = await asyncio.to_thread(verify_password, stored_hash, password)
    if not ok or record is None:
        return _login_page(request, target, status=401, error=WRONG, user=user)
    await throttle.succeeded(store, attempt, user, request.remote)
    raise _signed_in(request, record, target)


async def _user_named(store: UserDirectory, name: str) -> User | None:
    if not name or len(name) > MAX_NAME or storable_text_problem(name) is not None:
        return None  # no user has such a name; the password is still checked, against a dummy hash
    return await store.get_user(name)


def _locked_page(request: web.Request, target: str, attempt: LoginAttempt, user: str) -> web.Response:
    """Refused without checking the password; says when to try again."""
    seconds = max(1, math.ceil(attempt.retry_after.total_seconds()))
    at = attempt.retry_at.astimezone(JST).strftime("%H時%M分%S秒") if attempt.retry_at else "しばらく"
    wait = f"{seconds}秒" if seconds < 60 else f"{math.ceil(seconds / 60)}分"
    response = _login_page(request, target, status=429, user=user, error=LOCKED.format(at=at, wait=wait))
    response.headers["Retry-After"] = str(seconds)
    return response


def _signed_in(request: web.Request, record: User, target: str) -> web.HTTPSeeOther:
    codec = request.app[CODEC]
    session = codec.issue(record.name, record.password_hash, record.session_epoch, time.time())
    response = web.HTTPSeeOther(target)
    response.del_cookie(LOGIN_COOKIE, path="/console/login")
    response.set_cookie(COOKIE, codec.encode(session), max_age=LIFETIME_S, path="/", httponly=True,
                        samesite="Strict", secure=request.secure)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    """Ends the session on the server too: a copy of the cookie no longer signs anyone in."""
    viewer = await viewer_of(request)
    if viewer is not None:
        await require_csrf(request, viewer)
        name = viewer.actor.name
        await gateway_of(request).users.end_sessions(name, actor=name)
    response = web.HTTPSeeOther("/console/login")
    response.del_cookie(COOKIE, path="/")
    raise response


async def sign_out_everywhere(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    """Every console session of the viewer ends (on every device), and every token of theirs is revoked."""
    from gateway.services.users import sign_out_everywhere as end_all

    await end_all(gw.users, name=viewer.actor.name, actor=viewer.actor.name)
    response = web.HTTPSeeOther("/console/login")
    response.del_cookie(COOKIE, path="/")
    raise response
