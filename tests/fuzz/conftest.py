"""The API fuzz tests run on the integration harness: a real Gateway on real SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.models import Role
from gateway.web.app import build_app
from gateway.web.auth import create_token
from tests.fuzz.apiclient import Api
from tests.integration.conftest import Harness, engine, harness, policies

__all__ = ["api", "engine", "harness", "policies"]


@pytest.fixture
async def api(harness: Harness) -> AsyncIterator[Api]:
    now = datetime.now(UTC)
    tokens = {role: await create_token(harness.store, user=f"user-{role.value}", role=role, ttl_days=1, now=now,
                                       actor="test") for role in Role}
    app = build_app(harness.gateway, max_body_bytes=256 * 1024)
    async with TestClient(TestServer(app)) as client:
        yield Api(client, tokens, harness.store)
