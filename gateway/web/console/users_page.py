"""利用者の管理 (admin): create users, change role or scope, reset a password, unlock, disable, sign out.

Every change goes through `gateway.services.users` (the same rules as `gateway user ...`) and is
audited by the store. The user acted on is named by a form field, never by the path.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from gateway.errors import FieldProblem, InputError, NotFound
from gateway.models import Role, Scope
from gateway.services import users
from gateway.services.messages import Gateway
from gateway.web.console.context import Viewer, render
from gateway.web.console.throttle import user_key

Form = MultiDictProxy[Any]
ACTIONS = ("create", "role", "scope", "password", "email", "unlock", "disable", "enable", "sign-out")


async def page(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    return render(request, "users.html", viewer, users=await gw.list_users(), municipalities=list(gw.policies),
                  roles=list(Role), notice=request.query.get("notice"), error=None)


async def act(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise InputError("不明な操作です", [FieldProblem("action", "unknown", "一覧から選んでください")])
    form = await request.post()
    name = _text(form, "user")
    if not name:
        raise InputError("利用者名を入力してください", [FieldProblem("user", "missing", "必須項目です")])
    await _apply(gw, viewer.actor.name, action, name, form)
    raise web.HTTPSeeOther(f"/console/users?notice={action}")


async def _apply(gw: Gateway, actor: str, action: str, name: str,
                 form: Form) -> None:
    store = gw.users
    if action in ("create", "scope"):
        role = _role(form) if action == "create" else await _current_role(gw, name)
        scope = _scope(gw, role, form)
        if action == "create":
            email = users.checked_email(_text(form, "email"))  # refused before the user exists
            await users.create_user(store, name=name, role=role, password=_text(form, "password"), actor=actor,
                                    scope=scope)
            if email is not None:
                await store.set_email(name, email, actor=actor)
        else:
            await users.set_scope(store, name=name, scope=scope, actor=actor)
    elif action == "role":
        await users.set_role(store, name=name, role=_role(form), actor=actor)
    elif action == "email":
        await users.set_email(store, name=name, email=_text(form, "email"), actor=actor)
    elif action == "password":
        await users.set_password(store, name=name, password=_text(form, "password"), actor=actor)
    elif action == "unlock":
        await store.unlock_logins(actor=actor, user=user_key(name))
    elif action in ("disable", "enable"):
        await users.disable(store, name=name, actor=actor, disabled=action == "disable")
    else:
        await users.sign_out_everywhere(store, name=name, actor=actor)


def _text(form: Form, field: str) -> str:
    """A text field; a password is taken as typed (spaces included), anything else stripped."""
    value = form.get(field)
    if not isinstance(value, str):
        return ""
    return value if field == "password" else value.strip()


def _role(form: Form) -> Role:
    try:
        return Role(_text(form, "role"))
    except ValueError:
        raise InputError("役割を選んでください", [FieldProblem("role", "enum", "一覧から選んでください")]) from None


async def _current_role(gw: Gateway, name: str) -> Role:
    user = await gw.user(name)
    if user is None:
        raise NotFound(f"利用者が見つかりません: {name}")
    return user.role


def _scope(gw: Gateway, role: Role, form: Form) -> Scope:
    cities = [str(v) for v in form.getall("municipality", []) if str(v)]
    if "*" in cities:
        cities = []
    return users.scope_from(gw.policies, role, municipalities=cities,
                            accounts=[str(v) for v in form.getall("account", []) if str(v)],
                            emergency=[str(v) for v in form.getall("emergency", []) if str(v)],
                            field="municipality")
