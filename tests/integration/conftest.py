"""Pipeline fixtures: a Gateway on a real database, the real policies and check engine, fake adapters."""

from __future__ import annotations

import functools
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.media import MediaStore
from gateway.models import Actor, Platform, Role
from gateway.pipeline.checks import CheckEngine, default_engine
from gateway.pipeline.checks.runner import CheckRunner, InlineRunner
from gateway.pipeline.delivery.dispatch import Dispatcher
from gateway.pipeline.delivery.reconcile import Reconciler
from gateway.pipeline.delivery.retry import RetryPolicy
from gateway.policy import Policies, load_policies
from gateway.services.messages import Gateway
from gateway.store import SqlStore, open_store, upgrade_async
from gateway.testing import FakeAdapter, fake_adapters
from gateway.worker import Worker
from tests.scopes import ALL_CITIES, EVERYWHERE

JST = ZoneInfo("Asia/Tokyo")
CONFIG = Path(__file__).resolve().parents[2] / "config" / "municipalities"

STAFF = Actor("sato", Role.STAFF, ALL_CITIES)
STAFF2 = Actor("tanaka", Role.STAFF, ALL_CITIES)
APPROVER = Actor("suzuki", Role.APPROVER, ALL_CITIES)
APPROVER2 = Actor("takahashi", Role.APPROVER, ALL_CITIES)
ALERTS = Actor("jma-feed", Role.ALERT_SYSTEM, EVERYWHERE)
OPERATOR = Actor("ito", Role.OPERATOR, ALL_CITIES)


class Clock:
    """A settable clock shared by the store and the pipeline."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@dataclass
class Harness:
    gateway: Gateway
    store: SqlStore
    clock: Clock
    adapters: dict[Platform, FakeAdapter]
    policies: Policies
    media: MediaStore

    @property
    def dispatcher(self) -> Dispatcher:
        return self.gateway.dispatcher

    @functools.cached_property
    def worker(self) -> Worker:
        return build_worker(self.gateway)


@pytest.fixture(scope="session")
def policies() -> Policies:
    return load_policies(CONFIG)


@pytest.fixture(scope="session")
def engine() -> CheckEngine:
    return default_engine()


def build_gateway(store: SqlStore, policies: Policies, engine: CheckEngine, clock: Clock,
                  adapters: dict[Platform, FakeAdapter], media: MediaStore | None = None,
                  checks: CheckRunner | None = None) -> Gateway:
    retry = RetryPolicy(base_seconds=5, max_seconds=600, max_attempts=3)
    dispatcher = Dispatcher(store=store, policies=policies, adapters=adapters, retry=retry, routine_workers=2,
                            emergency_workers=1, lease_seconds=60, poll_seconds=0.05, clock=clock, worker_id="t1")
    media = media or MediaStore(Path(tempfile.mkdtemp(prefix="gateway-media-")))
    return Gateway(store=store, policies=policies, checks=checks or InlineRunner(engine), adapters=adapters, dispatcher=dispatcher,
                   media=media, clock=clock)


def build_worker(gateway: Gateway) -> Worker:
    reconciler = Reconciler(gateway.store, gateway.policies, gateway.adapters, settle_seconds=30)
    return Worker(gateway, reconciler=reconciler, housekeeping_seconds=0.05)


# Tuesday 2026-11-24 10:00 JST: office hours in every seed city (Monday 11-23 is 勤労感謝の日).
OFFICE_HOURS = datetime(2026, 11, 24, 10, 0, tzinfo=JST)


@pytest.fixture
async def harness(database_url: str, policies: Policies, engine: CheckEngine,
                  tmp_path: Path) -> AsyncIterator[Harness]:
    clock = Clock(OFFICE_HOURS)
    media = MediaStore(tmp_path / "media")
    await upgrade_async(database_url)
    store = await open_store(database_url, clock=clock)
    adapters = fake_adapters()
    for actor in (STAFF, STAFF2, APPROVER, APPROVER2, ALERTS, OPERATOR):
        await store.ensure_user(actor.name, actor.role, actor="test", scope=actor.scope)
    try:
        yield Harness(build_gateway(store, policies, engine, clock, adapters, media), store, clock, adapters, policies,
                      media)
    finally:
        await store.aclose()
