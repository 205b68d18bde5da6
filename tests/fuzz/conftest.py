"""The API fuzz tests run on the integration harness: a real Gateway on real SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.models import Role
from gateway.web.app import build_app
from gateway.web.auth import create_token
from tests.fuzz.apiclient import Api
from tests.integration.conftest import Harness, engine, harness, policies
from tests.scopes import CITIES

__all__ = ["api", "engine", "harness", "policies", "signed_api"]


ALERT_SECRET = b"alert-secret-for-the-fuzz-tests-0123"


async def _api(harness: Harness, **options: Any) -> AsyncIterator[Api]:
    now = datetime.now(UTC)
    tokens = {role: await create_token(harness.store, user=f"user-{role.value}", role=role, municipalities=CITIES, ttl_days=1, now=now,
                                       actor="test") for role in Role}
    app = build_app(harness.gateway, max_body_bytes=256 * 1024, **options)
    async with TestClient(TestServer(app)) as client:
        yield Api(client, tokens, harness.store)


@pytest.fixture
async def api(harness: Harness) -> AsyncIterator[Api]:
    async for made in _api(harness):
        yield made


@pytest.fixture
async def signed_api(harness: Harness) -> AsyncIterator[Api]:
    """Alerts must carry an X-Koho-Signature made with ALERT_SECRET."""
    async for made in _api(harness, alert_secret=ALERT_SECRET):
        yield made
