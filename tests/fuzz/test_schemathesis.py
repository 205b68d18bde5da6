"""Schemathesis over /openapi.json: every documented operation, schema-driven inputs, never a 5xx.

The gateway runs for real (aiohttp on a TCP port, SQLite store, fake platform adapters) in a
thread with its own event loop, because schemathesis calls it synchronously over HTTP. The
hypothesis fuzzers in this folder cover PostgreSQL and the ledger invariants; this one covers
the breadth of the route table (query parameters, path ids, every body schema) as documented.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from gateway.models import Role
from gateway.pipeline.checks import default_engine
from gateway.policy import load_policies
from gateway.store import open_store, upgrade_async
from gateway.testing import fake_adapters
from gateway.web.api import ROUTES
from gateway.web.app import build_app
from gateway.web.auth import create_token
from gateway.web.openapi import openapi_document
from tests.fuzz import strategies as fz
from tests.integration.conftest import CONFIG, OFFICE_HOURS, Clock, build_gateway
from tests.scopes import CITIES

SCHEMA = schemathesis.openapi.from_dict(openapi_document(ROUTES))


@dataclass
class LiveGateway:
    base_url: str
    token: str


class _ServerThread(threading.Thread):
    """An event loop of its own, serving the app until asked to stop."""

    def __init__(self, database_url: str) -> None:
        super().__init__(daemon=True)
        self.database_url = database_url
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.live: LiveGateway | None = None
        self.error: BaseException | None = None
        self._cleanup: list[Any] = []

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start())
        except BaseException as exc:  # surfaced to the fixture, which fails the test with it
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self._shutdown())
        self.loop.close()

    async def _start(self) -> None:
        await upgrade_async(self.database_url)
        store = await open_store(self.database_url)
        gateway = build_gateway(store, load_policies(CONFIG), default_engine(), Clock(OFFICE_HOURS), fake_adapters())
        token = await create_token(store, user="fuzz-admin", role=Role.ADMIN, municipalities=CITIES, ttl_days=1, now=datetime.now(UTC),
                                   actor="test")
        runner = web.AppRunner(build_app(gateway, max_body_bytes=256 * 1024))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        self._cleanup = [runner.cleanup, store.aclose]
        self.live = LiveGateway(f"http://127.0.0.1:{port}", token)

    async def _shutdown(self) -> None:
        for step in self._cleanup:
            await step()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.join(timeout=10)


@pytest.fixture(scope="module")
def live_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    path: Path = tmp_path_factory.mktemp("schemathesis") / "gateway.db"
    server = _ServerThread(f"sqlite:///{path}")
    server.start()
    server.ready.wait(timeout=60)
    if server.error is not None:
        raise server.error
    assert server.live is not None
    try:
        yield server.live
    finally:
        server.stop()


@SCHEMA.parametrize()
@settings(max_examples=fz.examples(20), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_documented_operations_never_fail_with_5xx(case: Any, live_gateway: LiveGateway) -> None:
    # Admin passes every role check, so the inputs reach the handlers instead of stopping at 403.
    response = case.call(base_url=live_gateway.base_url, headers={"Authorization": f"Bearer {live_gateway.token}"},
                         timeout=10)
    case.validate_response(response, checks=[not_a_server_error])
