"""Issue 12: no value that passed intake (or was put in the ledger some other way) can stop the gateway.

A message scheduled for 9999-12-31 once made approval answer 500, killed the maintenance loop with an
OverflowError while /readyz said ready, left a `sending` delivery unrecovered forever, and kept
`gateway serve` from starting. These tests put such data in the real database and run the real loops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.background import Supervisor
from gateway.errors import InputError
from gateway.models import DeliveryState, Message, MessageState, Priority, Role
from gateway.store.records import NewMessage
from gateway.web.app import build_app
from tests.integration.conftest import APPROVER, JST, STAFF, Harness

FAR = datetime(9999, 12, 31, 20, 0, tzinfo=JST)


def message(**changes: Any) -> Message:
    return Message.model_validate({"municipality": "kodaira", "accounts": ["kodaira_x"], "category": "event",
                                   "text": "小平市民まつりを開催します。", **changes})


async def wait_for(condition: Callable[[], Any], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if await condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_a_schedule_the_gateway_cannot_keep_is_refused_at_intake(harness: Harness) -> None:
    for not_before in (FAR, datetime(1999, 12, 31, tzinfo=JST), harness.clock.now + timedelta(days=400)):
        with pytest.raises(InputError) as caught:
            await harness.gateway.submit(message(not_before=not_before.isoformat()), STAFF)
        assert caught.value.problems[0].field == "not_before"
    assert await harness.store.list_messages() == []
    ok = await harness.gateway.submit(message(not_before=(harness.clock.now + timedelta(days=300)).isoformat()),
                                      STAFF)
    assert ok.created


async def stored_poison(h: Harness) -> str:
    """A message with a 9999 schedule, approved, as it could be in a ledger written before the fix."""
    record, _ = await h.store.add_message(NewMessage(
        municipality="kodaira", body=message(not_before=FAR.isoformat()), state=MessageState.APPROVED,
        priority=Priority.NORMAL, submitted_by=STAFF.name, source="api",
        check=(await h.gateway.check(message()))[1], accounts=("kodaira_x",), approved_by=APPROVER.name,
    ), actor="test")
    return record.id


async def test_a_stored_poison_message_is_planned_not_fatal(harness: Harness) -> None:
    poison = await stored_poison(harness)
    assert await harness.worker.plan_pending(include_recent=True) == 1  # used to raise OverflowError
    (delivery,) = await harness.store.list_deliveries(message_id=poison)
    assert delivery.state is DeliveryState.HELD  # held a year at most; an operator can cancel it
    assert delivery.not_before is not None and delivery.not_before <= harness.clock.now + timedelta(days=367)


async def test_start_up_and_the_loops_survive_poison(harness: Harness) -> None:
    await stored_poison(harness)
    await harness.worker.start()  # used to raise OverflowError: serve refused to start
    try:
        assert harness.worker.supervisor.problems() == []
        names = {h.name for h in harness.worker.supervisor.health()}
        assert {"housekeeping", "lane-emergency", "lane-routine"} <= names
    finally:
        await harness.worker.stop()


async def test_a_failing_housekeeping_step_does_not_stop_the_others(harness: Harness) -> None:
    """The reconciler fails every round (a bug, not a platform error); held posts are still released."""
    async def broken(now: datetime) -> int:
        raise RuntimeError("reconciler bug")

    harness.worker.reconciler.run_once = broken  # type: ignore[method-assign]
    submitted = await harness.gateway.submit(message(not_before=(harness.clock.now + timedelta(minutes=5))
                                                     .isoformat()), STAFF)
    await harness.gateway.approve(submitted.record.id, APPROVER)
    harness.clock.advance(minutes=6)
    await harness.worker.start()
    try:
        async def released() -> bool:
            states = {d.state for d in await harness.store.list_deliveries(message_id=submitted.record.id)}
            return states == {DeliveryState.SENT}

        await wait_for(released)
        await wait_for(lambda: _has_problem(harness, "housekeeping"), seconds=12)
    finally:
        await harness.worker.stop()


async def _has_problem(h: Harness, name: str) -> bool:
    return any(p.startswith(name) for p in h.worker.supervisor.problems())


async def test_a_crashed_loop_is_restarted_and_reported() -> None:
    supervisor = Supervisor()
    runs: list[int] = []

    async def flaky(beat: Callable[[], None]) -> None:
        runs.append(1)
        if len(runs) == 1:
            raise OverflowError("date value out of range")
        while True:
            beat()
            await asyncio.sleep(0.01)

    supervisor.run("flaky", flaky, every=0.01)
    await asyncio.sleep(0.05)
    assert supervisor.problems() and "OverflowError" in supervisor.problems()[0]  # waiting to restart
    await asyncio.sleep(1.2)
    assert len(runs) == 2 and supervisor.problems() == []
    (health,) = supervisor.health()
    assert health.failures == 1 and health.running
    await supervisor.stop()


async def test_readyz_reports_a_loop_that_is_down(harness: Harness) -> None:
    async def dead(beat: Callable[[], None]) -> None:
        raise RuntimeError("boom")

    harness.worker.supervisor.run("account-checks", dead, every=1.0)
    async with TestClient(TestServer(build_app(harness.gateway, worker=harness.worker))) as client:
        await asyncio.sleep(0.05)
        response = await client.get("/readyz")
        body = await response.json()
        assert response.status == 503 and body["status"] == "degraded"
        assert any("account-checks" in p and "RuntimeError" in p for p in body["problems"])
        metrics = await (await client.get("/metrics")).text()
        assert 'gateway_background_failures_total{loop="account-checks"}' in metrics
    await harness.worker.supervisor.stop()


async def test_the_http_api_refuses_the_far_schedule(harness: Harness) -> None:
    from gateway.web.auth import create_token
    from tests.scopes import CITIES

    token = await create_token(harness.store, user="sato-http", role=Role.STAFF, municipalities=CITIES, ttl_days=1,
                               now=datetime.now(JST), actor="test")
    async with TestClient(TestServer(build_app(harness.gateway))) as client:
        response = await client.post("/api/v1/messages", json={**message().model_dump(mode="json", exclude_none=True),
                                                               "not_before": "9999-12-31T20:00:00+09:00"},
                                     headers={"Authorization": f"Bearer {token}"})
        body = await response.json()
        assert response.status == 400 and body["problems"][0]["field"] == "not_before", body
