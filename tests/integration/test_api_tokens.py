"""API tokens stop working when revoked or their user disabled: at once here, within a second elsewhere."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.models import Role
from gateway.store import open_store
from gateway.web.app import build_app
from gateway.web.auth import create_token, hash_token
from tests.integration.conftest import Harness
from tests.scopes import CITIES


@pytest.fixture
async def client(harness: Harness) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(build_app(harness.gateway))) as c:
        yield c


async def _token(harness: Harness, user: str = "feed") -> str:
    return await create_token(harness.store, user=user, role=Role.OPERATOR, municipalities=CITIES, ttl_days=1, now=datetime.now(UTC),
                              actor="test")


async def _status(client: TestClient, token: str) -> int:
    response = await client.get("/api/v1/deliveries", headers={"Authorization": f"Bearer {token}"})
    return response.status


async def test_a_revoked_token_is_refused_on_the_next_request(client: TestClient, harness: Harness) -> None:
    token = await _token(harness)
    assert await _status(client, token) == 200  # now in the cache
    assert await harness.store.revoke_token(hash_token(token), actor="admin")
    assert await _status(client, token) == 401


async def test_a_disabled_users_token_is_refused_on_the_next_request(client: TestClient, harness: Harness) -> None:
    token = await _token(harness)
    assert await _status(client, token) == 200
    await harness.store.set_user_disabled("feed", True, actor="admin")
    assert await _status(client, token) == 401


async def test_a_revocation_by_another_process_holds_within_a_second(
    client: TestClient, harness: Harness, database_url: str,
) -> None:
    token, other_token = await _token(harness), await _token(harness, "other-feed")
    assert await _status(client, token) == 200 and await _status(client, other_token) == 200
    elsewhere = await open_store(database_url)  # a replica, or the CLI
    try:
        assert await elsewhere.revoke_token(hash_token(token), actor="admin")
    finally:
        await elsewhere.aclose()
    await asyncio.sleep(1.05)
    assert await _status(client, token) == 401
    assert await _status(client, other_token) == 200
