"""Issue 12: a message's `media.path` published the gateway's own secrets to a platform.

The gateway runs for real here (sandbox platforms, real adapters, SQLite and PostgreSQL) with its
var/ laid out as in production: the SQLite database, the encrypted credentials and their key, the
console's session key, and the media store beside them. Each leak is tried twice: through the API
(intake must refuse it with 400, naming the field, storing nothing) and by writing the message row
directly, past intake (no adapter may read the file: the delivery fails, nothing reaches the platform).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.models import DeliveryState, Message, MessageState, Platform, Priority, Role
from gateway.runtime import Runtime, open_runtime
from gateway.store.records import NewMessage
from gateway.web.app import build_app
from gateway.web.auth import create_token
from tests.scopes import CITIES

ROOT = Path(__file__).resolve().parents[2]
SECRET = b"SECRET-MATERIAL-THAT-MUST-NEVER-LEAVE"
ACCOUNT = {Platform.X: "kisarazu_x", Platform.FACEBOOK: "kisarazu_facebook", Platform.YOUTUBE: "kodaira_youtube"}

# The five ways in, as a staff member would type them with the gateway running in its project
# directory (var/ beside config/, the default): relative escapes, absolute paths, the SQLite
# database, the key files, and a symlink inside the store that points out of it.
LEAKS = {
    "relative-credentials": "var/credentials.enc",
    "relative-escape-from-store": "var/media/../credentials.enc",
    "relative-escape-twice": "var/media/../../var/session.key",
    "absolute-etc-passwd": "/etc/passwd",
    "absolute-credentials": "{var}/credentials.enc",
    "sqlite-database": "var/gateway.db",
    "key-file": "var/credentials.key",
    "session-key": "var/session.key",
    "symlink-out": "var/media/innocent.png",
}
# Store-relative spellings (DESIGN.md: `path` is relative to the media store), refused at intake too.
STORE_RELATIVE = {"dotdot-credentials": "../credentials.enc", "dotdot-database": "../gateway.db",
                  "bare-symlink-out": "innocent.png"}


@dataclass
class Env:
    runtime: Runtime
    var: Path
    client: TestClient
    token: str

    async def post_message(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        response = await self.client.post("/api/v1/messages", data=json.dumps(body, ensure_ascii=False),
                                          headers=headers)
        return response.status, await response.json()


def _lay_out_var(var: Path) -> None:
    """var/ as a running gateway has it, each secret holding a marker; the media store inside it."""
    for name in ("credentials.enc", "credentials.key", "session.key"):
        (var / name).write_bytes(SECRET)
        (var / name).chmod(0o600)
    if not (var / "gateway.db").exists():  # PostgreSQL runs: a stand-in for the SQLite file
        (var / "gateway.db").write_bytes(SECRET)
    media = var / "media"
    media.mkdir(exist_ok=True)
    (media / "innocent.png").symlink_to(var / "credentials.enc")


@pytest.fixture
async def env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Env]:
    from gateway.settings import Settings

    monkeypatch.chdir(tmp_path)  # the gateway's working directory, with var/ in it as in production
    var = tmp_path / "var"
    var.mkdir()
    if database_url.startswith("sqlite"):
        database_url = f"sqlite:///{var / 'gateway.db'}"
    settings = Settings(database_url=database_url, platforms="sandbox", config_dir=ROOT / "config" / "municipalities",
                        reconcile_after_seconds=0)
    async with open_runtime(settings, start=False) as runtime:
        _lay_out_var(var)
        token = await create_token(runtime.store, user="sato", role=Role.STAFF, municipalities=CITIES, ttl_days=1, now=datetime.now(UTC),
                                   actor="test")
        async with TestClient(TestServer(build_app(runtime.gateway))) as client:
            yield Env(runtime, var, client, token)


def _body(path: str, kind: str = "image") -> dict[str, Any]:
    return {"municipality": "kisarazu", "category": "city_news", "accounts": ["kisarazu_x"],
            "text": "市役所からのお知らせです。", "media": [{"kind": kind, "path": path, "alt_text": "市役所の外観の写真"}]}


@pytest.mark.parametrize("path", [*LEAKS.values(), *STORE_RELATIVE.values()], ids=[*LEAKS, *STORE_RELATIVE])
async def test_intake_refuses_every_leak_and_stores_nothing(env: Env, path: str) -> None:
    status, payload = await env.post_message(_body(path.format(var=env.var)))
    assert status == 400, payload
    [problem] = payload["problems"]
    assert problem["field"] == "media[0].path"
    assert problem["message"] and problem["message"].isascii() is False  # a Japanese reason for staff
    assert await env.runtime.store.list_messages() == []


async def test_intake_refuses_a_missing_file_and_a_file_of_another_kind(env: Env) -> None:
    (env.var / "media" / "poster.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    missing, wrong_kind = await env.post_message(_body("nothing-here.png")), await env.post_message(
        _body("poster.png", kind="video"))
    assert missing[0] == 400 and missing[1]["problems"][0]["field"] == "media[0].path"
    assert wrong_kind[0] == 400 and "画像" in wrong_kind[1]["problems"][0]["message"]
    assert await env.runtime.store.list_messages() == []


async def _forced(env: Env, platform: Platform, path: str) -> str:
    """Write an approved message row directly (past intake), plan it and run the dispatcher."""
    runtime = env.runtime
    kind, municipality, category = ("video", "kodaira", "tourism") if platform is Platform.YOUTUBE else (
        "image", "kisarazu", "emergency")
    message = Message.model_validate({
        "municipality": municipality, "category": category, "accounts": [ACCOUNT[platform]], "priority": "emergency",
        "text": "市役所からのお知らせです。", "title": "お知らせ",
        "media": [{"kind": kind, "path": path, "alt_text": "市役所の外観の写真"}]})
    targets, result = await runtime.gateway.check(message)
    record, _ = await runtime.store.add_message(NewMessage(
        municipality=municipality, body=message, state=MessageState.APPROVED, priority=Priority.EMERGENCY,
        submitted_by="sato", source="api", check=result, accounts=tuple(a.id for a in targets.accounts),
    ), actor="sato")
    (delivery,) = await runtime.gateway.plan(record)
    await runtime.gateway.dispatcher.drain()
    return delivery.id


@pytest.mark.parametrize("platform", list(ACCOUNT))
@pytest.mark.parametrize("path", list(LEAKS.values()), ids=list(LEAKS))
async def test_a_leak_forced_past_intake_is_never_read_by_an_adapter(env: Env, platform: Platform, path: str) -> None:
    delivery_id = await _forced(env, platform, path.format(var=env.var))
    delivery = await env.runtime.store.get_delivery(delivery_id)
    assert delivery.state is DeliveryState.FAILED, (delivery.state, delivery.error_text)
    assert delivery.error_code in ("media_refused", "media_missing")
    sandbox = env.runtime.sandbox
    assert sandbox is not None
    assert sandbox.state.live_posts(platform, ACCOUNT[platform]) == []
    uploads = [p for _, _, method, p in sandbox.state.requests if method in ("POST", "PUT")]
    assert uploads == [], f"the platform was sent {uploads}"
