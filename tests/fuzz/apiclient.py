"""The API under fuzz: a client with a token per role, and ledger checks for "nothing half-stored"."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from gateway.models import MessageState, Role
from gateway.store import SqlStore

REQUEST_TIMEOUT_S = 10  # a request slower than this on a fuzz input counts as a hang
BIG = 10**6

MESSAGE = {"municipality": "kodaira", "category": "event", "accounts": ["kodaira_x", "kodaira_facebook"],
           "text": "小平市民まつりを中央公園で開催します。ぜひお越しください。"}

# What security_headers sets on every response (API responses also get Cache-Control: no-store).
SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy")

@dataclass
class Api:
    client: TestClient
    tokens: dict[Role, str]
    store: SqlStore

    async def send(self, method: str, path: str, *, role: Role, body: bytes | None,
                   content_type: str = "application/json", **headers: str) -> tuple[ClientResponse, Any]:
        sent = {"Authorization": f"Bearer {self.tokens[role]}", **headers}
        if content_type:
            sent["Content-Type"] = content_type
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            response = await self.client.request(method, path, data=body, headers=sent)
            raw = await response.read()
        return response, _checked_json(response, raw)


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def raw_request(client: TestClient, method: str, path: str, headers: list[bytes],
                      body: bytes = b"") -> RawResponse:
    """One request written byte for byte: header values no HTTP client would send (non-UTF-8, controls)."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    head = [f"{method} {path} HTTP/1.1".encode(), b"Host: localhost", b"Connection: close",
            f"Content-Length: {len(body)}".encode(), *headers]
    try:
        writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            raw = await reader.read()
    finally:
        writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    header_block, _, payload = rest.partition(b"\r\n\r\n")
    fields = dict(line.decode("latin-1").split(": ", 1) for line in header_block.split(b"\r\n") if b": " in line)
    return RawResponse(int(status_line.split()[1]), {k.lower(): v for k, v in fields.items()}, payload)


def assert_secured(path: str, headers: Any) -> None:
    """The security headers are there, whatever went wrong (headers: any case-insensitive or lower-case mapping)."""
    names = {name.lower(): value for name, value in headers.items()}
    missing = [name for name in SECURITY_HEADERS if name.lower() not in names]
    assert not missing, f"{path}: no {missing} in {names}"
    if path.startswith("/api/"):
        assert names.get("cache-control") == "no-store", names


def _checked_json(response: ClientResponse, raw: bytes) -> Any:
    assert response.status < 500, f"{response.status}: {raw[:500]!r}"
    assert response.content_type == "application/json", (response.status, raw[:200])
    payload = json.loads(raw)
    if response.status >= 400:
        assert isinstance(payload, dict), payload
        assert isinstance(payload.get("error"), str) and payload["error"], payload
        assert isinstance(payload.get("message"), str) and payload["message"], payload
    return payload


@dataclass(frozen=True)
class Ledger:
    messages: int
    deliveries: int


async def ledger(store: SqlStore) -> Ledger:
    return Ledger(len(await store.list_messages(limit=BIG)), len(await store.list_deliveries(limit=BIG)))


async def assert_fully_stored(store: SqlStore, message_id: str, delivery_ids: list[str] | None = None) -> None:
    """The message, its deliveries (those the response listed, if any) and their audit rows."""
    record = await store.get_message(message_id)
    actions = {event.action for event in await store.list_audit(message_id=message_id, limit=BIG)}
    assert "message.accepted" in actions, actions
    deliveries = await store.list_deliveries(message_id=message_id, limit=BIG)
    if delivery_ids is not None:
        assert sorted(d.id for d in deliveries) == sorted(delivery_ids)
    if record.state in (MessageState.PLANNED,) and record.accounts:
        assert deliveries, f"{message_id} is planned but has no deliveries"
    for delivery in deliveries:
        assert await store.list_audit(delivery_id=delivery.id, limit=1), f"no audit row for {delivery.id}"
