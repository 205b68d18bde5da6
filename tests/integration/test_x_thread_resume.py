"""Issue 12: an X thread cut short by a crash is finished from the first part that is not out.

A worker killed between the parts of a thread left part 2 unsent while the ledger said `sent` (5 of
80 threads): the reconciler found the first part on the timeline and took the thread for done. Now
each part is recorded as it goes out; after the crash the reconciler adds the part that was in
flight if the timeline shows it, and the rest is sent replying to the last part out. Real tweepy
against the X sandbox, real databases.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.adapters.base import IdempotencyKey, Progress
from gateway.models import Actor, DeliveryState, Platform, Role, Scope
from gateway.pipeline.delivery.progress import ledger_progress
from gateway.pipeline.intake.validation import parse_message
from gateway.runtime import Runtime, open_runtime
from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ALERTS = Actor("jma-feed", Role.ALERT_SYSTEM, Scope.everywhere())
DEAD = "w-killed"
TEXT = "【避難指示】" + "木更津市は市内全域に避難指示を発令しました。危険な場所から全員避難してください。" * 9


class ShiftedClock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


class Killed(BaseException):
    """The process dies: nothing after this point runs (not an Exception: no handler catches it)."""


@pytest.fixture
async def runtime(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Runtime, ShiftedClock]]:
    config = tmp_path / "municipalities"
    shutil.copytree(ROOT / "config" / "municipalities", config)
    kisarazu = config / "kisarazu.toml"
    text = kisarazu.read_text(encoding="utf-8")
    kisarazu.write_text(text.replace('id = "kisarazu_x"\n', 'id = "kisarazu_x"\nx_overflow = "thread"\n', 1),
                        encoding="utf-8")
    clock = ShiftedClock()
    settings = Settings(database_url=database_url, platforms="sandbox", config_dir=config,
                        reconcile_emergency_after_seconds=0)
    async with open_runtime(settings, start=False, clock=clock) as opened:
        await opened.store.ensure_user(ALERTS.name, ALERTS.role, actor="test")
        yield opened, clock


async def killed_after(rt: Runtime, clock: ShiftedClock, parts_recorded: int) -> Any:
    """Plan the thread, claim it as worker DEAD, publish until `parts_recorded` parts are in the ledger
    and the next part is out on X, then die."""
    submitted = await rt.gateway.submit(parse_message({
        "municipality": "kisarazu", "accounts": ["kisarazu_x"], "category": "emergency", "priority": "emergency",
        "text": TEXT}), ALERTS)
    await rt.store.heartbeat(DEAD, host="h", pid=1, started_at=clock())
    (delivery,) = await rt.store.claim_due(worker=DEAD, now=clock(), limit=1, lease_seconds=120)
    adapter = rt.adapters[Platform.X]
    found = rt.policies.account("kisarazu_x")
    assert found is not None
    post = adapter.render(submitted.record.body, found[1])
    assert len(post.parts) == 3
    real = await ledger_progress(rt.store, delivery, DEAD)

    async def record(index: int, remote_id: str) -> None:
        if index == parts_recorded:
            raise Killed  # part `index` is out on X, the ledger never hears of it
        await real.record(index, remote_id)

    with pytest.raises(Killed):
        await adapter.publish(post, IdempotencyKey(delivery.idempotency_key),
                              progress=Progress(real.done, record, real.withdrawn))
    return delivery


async def recover(rt: Runtime, clock: ShiftedClock) -> None:
    clock.offset += timedelta(seconds=11)  # the dead worker's heartbeat is stale
    for _ in range(3):
        await rt.worker.reconciler.run_once(clock())
        await rt.gateway.dispatcher.drain()


def x_posts(rt: Runtime) -> list[Any]:
    assert rt.sandbox is not None
    return [p for p in rt.sandbox.state.posts if p.platform is Platform.X and p.account == "kisarazu_x"]


@pytest.mark.parametrize("recorded", [1, 2])
async def test_a_thread_killed_between_parts_is_finished_once(
    runtime: tuple[Runtime, ShiftedClock], recorded: int,
) -> None:
    rt, clock = runtime
    delivery = await killed_after(rt, clock, recorded)
    assert len(x_posts(rt)) == recorded + 1  # one more part is out than the ledger knows
    await recover(rt, clock)
    final = await rt.store.get_delivery(delivery.id)
    assert final.state is DeliveryState.SENT, final
    posts = x_posts(rt)
    assert [p.text.rsplit(" ", 1)[-1] for p in posts] == ["(1/3)", "(2/3)", "(3/3)"]  # each part once
    assert [p.reply_to for p in posts[1:]] == [posts[0].remote_id, posts[1].remote_id]  # one chain
    assert final.remote_id == posts[0].remote_id
    (sent,) = [e for e in await rt.store.list_audit(delivery_id=delivery.id) if e.to_state == "sent"]
    assert sent.detail.get("extra_ids") == [posts[1].remote_id, posts[2].remote_id]


async def test_a_thread_whose_first_part_never_went_out_is_sent_whole(
    runtime: tuple[Runtime, ShiftedClock],
) -> None:
    rt, clock = runtime
    submitted = await rt.gateway.submit(parse_message({
        "municipality": "kisarazu", "accounts": ["kisarazu_x"], "category": "emergency", "priority": "emergency",
        "text": TEXT}), ALERTS)
    await rt.store.heartbeat(DEAD, host="h", pid=1, started_at=clock())
    (delivery,) = await rt.store.claim_due(worker=DEAD, now=clock(), limit=1, lease_seconds=120)
    assert delivery.message_id == submitted.record.id
    await recover(rt, clock)  # killed before the first request
    assert (await rt.store.get_delivery(delivery.id)).state is DeliveryState.SENT
    assert len(x_posts(rt)) == 3
