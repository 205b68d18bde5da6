"""The combined sandbox: every platform's real API paths on one aiohttp app, plus control routes.

Control routes (never on a real platform, so they cannot collide):
`GET /_sandbox/` a page of what each platform "published" per account; `GET /_sandbox/posts`
JSON (`platform`, `account` filters); `POST /_sandbox/faults` queues a fault
(`{kind, platform, account?, status?, reset_s?, hang_s?, times?}`), `GET` lists and `DELETE`
clears them; `GET /_sandbox/requests` what arrived.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import quote

import jinja2
from aiohttp import web

from gateway.errors import InputError
from gateway.models import Platform
from gateway.ports import SANDBOX_CHANGE, listen
from gateway.sandbox.base import Fault, FaultKind, PublishedPost, SandboxState
from gateway.sandbox.credentials import sandbox_credentials

INSTALLERS: Mapping[Platform, str] = {
    Platform.X: "gateway.sandbox.x",
    Platform.LINE: "gateway.sandbox.line",
    Platform.FACEBOOK: "gateway.sandbox.facebook",
    Platform.YOUTUBE: "gateway.sandbox.youtube",
    Platform.INSTAGRAM: "gateway.sandbox.instagram",
}
# Where a platform's API paths start on the sandbox when not at the root: Instagram's Graph paths
# (`/v26.0/{id}`) would collide with Facebook's, so they live under a prefix of their own.
BASE_PATHS: Mapping[Platform, str] = {Platform.INSTAGRAM: "/instagram"}
LABELS: Mapping[Platform, str] = {
    Platform.X: "X", Platform.LINE: "LINE 公式アカウント", Platform.FACEBOOK: "Facebook ページ",
    Platform.YOUTUBE: "YouTube", Platform.INSTAGRAM: "Instagram",
}
OPEN_PATH = "/_sandbox/open"  # + /{platform}/{the platform's own post path}: "投稿を開く" in sandbox mode
MAX_BODY_BYTES = 64 * 1024 * 1024  # video chunks and photos; aiohttp's default is 1 MiB
MAX_FAULT_TIMES = 1000

STATE_KEY = web.AppKey("sandbox_state", SandboxState)
PLATFORMS_KEY = web.AppKey("sandbox_platforms", tuple)

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("gateway.sandbox", "templates"), autoescape=True, trim_blocks=True,
    lstrip_blocks=True,
)


def sandbox_state_for(accounts: Mapping[str, Platform], latency_s: float = 0.0) -> SandboxState:
    """A fresh sandbox state that knows these accounts (account id -> platform)."""
    return SandboxState(dict(accounts), latency_s=latency_s)


def build_sandbox_app(state: SandboxState, platforms: Iterable[Platform] | None = None) -> web.Application:
    """The aiohttp app serving `platforms` (default: all four) and the control routes."""
    chosen = tuple(platforms) if platforms is not None else tuple(INSTALLERS)
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[STATE_KEY] = state
    app[PLATFORMS_KEY] = chosen
    for platform in chosen:
        # Imported by name so that each platform module is only loaded when it is served.
        importlib.import_module(INSTALLERS[platform]).install(app, state)
    app.router.add_get("/_sandbox/", index)
    app.router.add_get("/_sandbox/posts", posts)
    app.router.add_get(OPEN_PATH + "/{platform}/{tail:.*}", open_post)
    app.router.add_get("/_sandbox/faults", list_faults)
    app.router.add_post("/_sandbox/faults", add_fault)
    app.router.add_delete("/_sandbox/faults", clear_faults)
    app.router.add_get("/_sandbox/requests", requests)
    return app


# -- control routes ---------------------------------------------------------------------------


async def open_post(request: web.Request) -> web.Response:
    """A post's link as the platform would give it (x.com/{handle}/status/{id}, facebook.com/{id},
    youtube.com/watch?v={id}), answered with the sandbox page, at that post."""
    remote_id = request.query.get("v") or request.match_info["tail"].rstrip("/").rsplit("/", 1)[-1]
    raise web.HTTPSeeOther(f"/_sandbox/#post-{quote(remote_id, safe='')}")



async def index(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    sections = [_section(state, platform) for platform in request.app[PLATFORMS_KEY]]
    html = _templates.get_template("index.html").render(
        platforms=sections, total=len(state.posts), faults=state.faults.pending(),
        request_count=len(state.requests),
    )
    return web.Response(text=html, content_type="text/html", charset="utf-8")


def _section(state: SandboxState, platform: Platform) -> dict[str, Any]:
    accounts = sorted(a for a, p in state.accounts.items() if p is platform)
    by_account: dict[str, list[PublishedPost]] = {a: [] for a in accounts}
    for post in state.posts:
        if post.platform is platform:
            by_account.setdefault(post.account, []).append(post)
    return {
        "label": LABELS.get(platform, platform.value),
        "accounts": [
            {"id": account, "posts": sorted(items, key=lambda p: p.created_at, reverse=True)}
            for account, items in by_account.items()
        ],
    }


async def posts(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    platform = _platform(request.query.get("platform"))
    account = request.query.get("account")
    found = [
        p for p in state.posts
        if (platform is None or p.platform is platform) and (account is None or p.account == account)
    ]
    return web.json_response({"posts": [_post_json(p) for p in found]})


def _post_json(post: PublishedPost) -> dict[str, Any]:
    data = post.as_dict()
    # The YouTube sandbox keeps the whole video resource in `extra`; the listing stays small.
    data["extra"] = {k: v for k, v in post.extra.items() if k != "resource"}
    return data


async def list_faults(request: web.Request) -> web.Response:
    return web.json_response({"pending": [_fault_json(f) for f in request.app[STATE_KEY].faults.pending()]})


async def add_fault(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError:
        raise _bad_request("JSON の本文が必要です") from None
    fault, times = parse_fault(body)
    faults = request.app[STATE_KEY].faults
    faults.add(fault, times)
    return web.json_response({"queued": times, "pending": len(faults.pending())}, status=201)


async def clear_faults(request: web.Request) -> web.Response:
    faults = request.app[STATE_KEY].faults
    cleared = len(faults.pending())
    faults.clear()
    return web.json_response({"cleared": cleared})


async def requests(request: web.Request) -> web.Response:
    platform = _platform(request.query.get("platform"))
    rows = [
        {"at": at.isoformat(), "platform": p.value, "method": method, "path": path}
        for at, p, method, path in request.app[STATE_KEY].requests
        if platform is None or p is platform
    ]
    return web.json_response({"requests": rows})


def parse_fault(body: object) -> tuple[Fault, int]:
    """A fault and how many times to queue it, from the control JSON; 400 with a reason otherwise."""
    if not isinstance(body, dict):
        raise _bad_request("JSON オブジェクトが必要です")
    try:
        kind = FaultKind(str(body.get("kind")))
    except ValueError:
        raise _bad_request(f"kind は {', '.join(k.value for k in FaultKind)} のいずれかです") from None
    platform = _platform(body.get("platform"))
    if platform is None:
        raise _bad_request("platform が必要です")
    account = body.get("account")
    times = int(_number(body, "times", 1, integer=True))
    if account is not None and not isinstance(account, str):
        raise _bad_request("account は文字列です")
    if not 1 <= times <= MAX_FAULT_TIMES:
        raise _bad_request(f"times は 1〜{MAX_FAULT_TIMES} です")
    status = body.get("status")
    if status is not None and not (isinstance(status, int) and 400 <= status <= 599):
        raise _bad_request("status は 400〜599 の整数です")
    fault = Fault(kind=kind, platform=platform, account=account, status=status,
                  reset_s=int(_number(body, "reset_s", 60, integer=True)), hang_s=_number(body, "hang_s", 30.0))
    return fault, times


def _number(body: Mapping[str, Any], name: str, default: float, *, integer: bool = False) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _bad_request(f"{name} は 0 以上の数です")
    if integer and value != int(value):
        raise _bad_request(f"{name} は整数です")
    return float(value)


def _platform(value: object) -> Platform | None:
    if value is None:
        return None
    try:
        return Platform(str(value))
    except ValueError:
        raise _bad_request(f"platform は {', '.join(p.value for p in INSTALLERS)} のいずれかです") from None


def _bad_request(reason: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=web.json_response({"error": reason}).text, content_type="application/json")


def _fault_json(fault: Fault) -> dict[str, Any]:
    return {"kind": fault.kind.value, "platform": fault.platform.value, "account": fault.account,
            "status": fault.status, "reset_s": fault.reset_s, "hang_s": fault.hang_s}


# -- server -----------------------------------------------------------------------------------


class SandboxServer:
    """Runs the sandbox app on host:port (0 picks a free port) for `gateway sandbox`, serve and tests."""

    def __init__(
        self,
        state: SandboxState,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        platforms: Iterable[Platform] | None = None,
        shutdown_timeout: float = 1.0,
        middlewares: Iterable[Any] = (),
    ) -> None:
        self.state = state
        self.host = host
        self.port = port
        self._platforms = tuple(platforms) if platforms is not None else None
        self._shutdown_timeout = shutdown_timeout  # hung fault handlers must not hold up shutdown
        self._runner: web.AppRunner | None = None
        self._middlewares = tuple(middlewares)  # e.g. a benchmark's request tap

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def credentials(self) -> dict[str, dict[str, str]]:
        """What each account's adapter must present (DESIGN.md credential fields)."""
        return {account: sandbox_credentials(account, platform) for account, platform in self.state.accounts.items()}

    async def start(self) -> None:
        app = build_sandbox_app(self.state, self._platforms)
        app.middlewares.extend(self._middlewares)
        self._runner = web.AppRunner(app, shutdown_timeout=self._shutdown_timeout, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await listen(site.start, port=self.port, what="サンドボックス", change=SANDBOX_CHANGE)
        except InputError:
            await self.close()
            raise
        self.port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SandboxServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
