"""Approval routes (SHIRASAGI's 承認ルート) on real databases: steps in order, four eyes across all of them,
send-back at any step, the account's 運用責任者 as the last step, and cities without a route unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import Conflict, Forbidden, InputError
from gateway.models import Actor, MessageState, Role, Scope
from gateway.pipeline.checks import CheckEngine
from gateway.pipeline.intake.validation import parse_message
from gateway.policy import load_policies
from gateway.store import open_store, upgrade_async
from gateway.store.records import StepApproval
from gateway.testing import fake_adapters
from tests.integration.conftest import OFFICE_HOURS, Clock, Harness, build_gateway
from tests.routes import config_with_route

ATSUGI = Scope.of("atsugi")
STAFF = Actor("sato", Role.STAFF, ATSUGI)
BUCHO = Actor("bucho", Role.APPROVER, ATSUGI)  # 所属長
BUCHO2 = Actor("bucho2", Role.APPROVER, ATSUGI)
KACHO = Actor("kacho", Role.APPROVER, ATSUGI)  # 広報主管課長
SEKININ = Actor("sekinin", Role.APPROVER, ATSUGI)  # 運用責任者
ZUSHI_KACHO = Actor("kacho-zushi", Role.APPROVER, Scope.of("zushi"))


def post(**fields: Any) -> Any:
    base = {"municipality": "atsugi", "category": "city_news", "accounts": ["atsugi_x"],
            "text": "市役所の窓口受付時間が変わります。詳しくは市のホームページをご覧ください。"}
    return parse_message({**base, **fields})


async def routed(database_url: str, engine: CheckEngine, tmp_path: Path, *, manager_last: bool = False,
                 ) -> AsyncIterator[Harness]:
    policies = load_policies(config_with_route(tmp_path / "config", manager_last=manager_last))
    clock = Clock(OFFICE_HOURS)
    await upgrade_async(database_url)
    store = await open_store(database_url, clock=clock)
    for actor in (STAFF, BUCHO, BUCHO2, KACHO, SEKININ, ZUSHI_KACHO):
        await store.ensure_user(actor.name, actor.role, actor="test", scope=actor.scope)
    adapters = fake_adapters()
    from gateway.media import MediaStore

    try:
        yield Harness(build_gateway(store, policies, engine, clock, adapters), store, clock, adapters, policies,
                      MediaStore(tmp_path / "media"))
    finally:
        await store.aclose()


@pytest.fixture
async def route(database_url: str, engine: CheckEngine, tmp_path: Path) -> AsyncIterator[Harness]:
    async for h in routed(database_url, engine, tmp_path):
        yield h


@pytest.fixture
async def manager_route(database_url: str, engine: CheckEngine, tmp_path: Path) -> AsyncIterator[Harness]:
    async for h in routed(database_url, engine, tmp_path, manager_last=True):
        yield h


async def test_two_steps_in_order(route: Harness) -> None:
    gw = route.gateway
    submitted = await gw.submit(post(), STAFF)
    assert submitted.record.state is MessageState.PENDING_APPROVAL
    with pytest.raises(Forbidden, match="承認する権限がありません"):  # staff take no step
        await gw.approve(submitted.record.id, Actor("tanaka", Role.STAFF, ATSUGI))
    first = await gw.approve(submitted.record.id, BUCHO)
    assert first.record.state is MessageState.PENDING_APPROVAL and first.deliveries == []
    assert "広報主管課長" in first.approval_reason
    assert await route.store.list_deliveries(message_id=submitted.record.id) == []
    with pytest.raises(Forbidden, match="広報主管課長"):  # step 2 names kacho only
        await gw.approve(submitted.record.id, BUCHO2)
    final = await gw.approve(submitted.record.id, KACHO)
    assert final.record.state is MessageState.PLANNED and final.record.approved_by == "kacho"
    assert [a.approver for a in await route.store.list_approvals(submitted.record.id)] == ["bucho", "kacho"]
    actions = [e.action for e in await route.store.list_audit(message_id=submitted.record.id)]
    assert actions.count("message.step_approved") == 2 and "message.approved" in actions


async def test_nobody_approves_two_steps_nor_their_own_post(route: Harness) -> None:
    gw = route.gateway
    own = await gw.submit(post(), KACHO)  # the 課長 writes a post: someone else must take every step
    await gw.approve(own.record.id, BUCHO)
    with pytest.raises(Forbidden, match="自分が提出した"):
        await gw.approve(own.record.id, KACHO)
    assert (await route.store.get_message(own.record.id)).state is MessageState.PENDING_APPROVAL
    # A route whose steps could both be taken by one person (roles at each step) still needs two.
    other = await gw.submit(post(), STAFF)
    await gw.approve(other.record.id, BUCHO)
    with pytest.raises(Forbidden, match="別の段階をすでに承認"):
        await gw.reject(other.record.id, BUCHO, "やはり差し戻します")


async def test_send_back_at_the_second_step_with_a_comment(route: Harness) -> None:
    gw = route.gateway
    submitted = await gw.submit(post(), STAFF)
    await gw.approve(submitted.record.id, BUCHO)
    record = await gw.reject(submitted.record.id, KACHO, "日付の表記を確認してください")
    assert record.state is MessageState.REJECTED and record.note == "日付の表記を確認してください"
    with pytest.raises(Conflict):
        await gw.approve(submitted.record.id, KACHO)


async def test_an_approver_of_another_city_takes_no_step(route: Harness) -> None:
    submitted = await route.gateway.submit(post(), STAFF)
    with pytest.raises(Forbidden, match="担当範囲外"):
        await route.gateway.approve(submitted.record.id, ZUSHI_KACHO)
    assert await route.store.list_approvals(submitted.record.id) == []


async def test_two_approvers_racing_for_one_step_record_it_once(route: Harness) -> None:
    """The loser sees the step taken (409) or, when it read the route after the winner, the next step's
    approvers (403): either way one approval is recorded."""
    submitted = await route.gateway.submit(post(), STAFF)
    results = await asyncio.gather(route.gateway.approve(submitted.record.id, BUCHO),
                                   route.gateway.approve(submitted.record.id, BUCHO2), return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) in (["Conflict", "Submitted"], ["Forbidden", "Submitted"])
    assert len(await route.store.list_approvals(submitted.record.id)) == 1


async def test_the_database_keeps_one_approval_per_step_and_per_person(route: Harness) -> None:
    """Below the service's checks: the unique keys refuse a second row for a step, or a second step by one person."""
    submitted = await route.gateway.submit(post(), STAFF)
    message_id, now = submitted.record.id, route.clock()
    racing = await asyncio.gather(*(route.store.approve_step(
        message_id, StepApproval(step=0, step_name="所属長", approver=name, at=now), final=False, actor=name)
        for name in ("bucho", "bucho2")), return_exceptions=True)
    assert sorted(type(r).__name__ for r in racing) == ["Conflict", "MessageRecord"]
    winner = next(a.approver for a in await route.store.list_approvals(message_id))
    with pytest.raises(Conflict):
        await route.store.approve_step(message_id, StepApproval(step=1, step_name="広報主管課長", approver=winner,
                                                                at=now), final=True, actor=winner)
    assert (await route.store.get_message(message_id)).state is MessageState.PENDING_APPROVAL
    assert len(await route.store.list_approvals(message_id)) == 1


async def test_review_findings_are_overridden_at_every_step(route: Harness) -> None:
    submitted = await route.gateway.submit(post(link="https://bit.ly/abc"), STAFF)
    rules = [f.rule for f in submitted.record.check.findings if f.severity.value == "review"]
    assert rules, submitted.record.check
    with pytest.raises(InputError):
        await route.gateway.approve(submitted.record.id, BUCHO)
    reasons = dict.fromkeys(rules, "市の短縮URLで確認済み")
    await route.gateway.approve(submitted.record.id, BUCHO, reasons)
    with pytest.raises(InputError):
        await route.gateway.approve(submitted.record.id, KACHO)
    final = await route.gateway.approve(submitted.record.id, KACHO, reasons)
    assert final.record.state is MessageState.PLANNED and dict(final.record.overrides) == reasons


async def test_the_accounts_manager_is_the_last_step(manager_route: Harness) -> None:
    gw = manager_route.gateway
    submitted = await gw.submit(post(), STAFF)
    await gw.approve(submitted.record.id, BUCHO)
    await gw.approve(submitted.record.id, KACHO)
    assert (await manager_route.store.get_message(submitted.record.id)).state is MessageState.PENDING_APPROVAL
    with pytest.raises(Forbidden, match="運用責任者"):
        await gw.approve(submitted.record.id, BUCHO2)
    final = await gw.approve(submitted.record.id, SEKININ)
    assert final.record.state is MessageState.PLANNED
    assert [a.step_name for a in await manager_route.store.list_approvals(submitted.record.id)] == [
        "所属長", "広報主管課長", "運用責任者"]


async def test_a_city_without_a_route_keeps_one_approval(route: Harness) -> None:
    kodaira = Actor("k-staff", Role.STAFF, Scope.of("kodaira"))
    approver = Actor("k-approver", Role.APPROVER, Scope.of("kodaira"))
    submitted = await route.gateway.submit(parse_message({
        "municipality": "kodaira", "category": "event", "accounts": ["kodaira_x"],
        "text": "小平市民まつりを中央公園で開催します。"}), kodaira)
    final = await route.gateway.approve(submitted.record.id, approver)
    assert final.record.state is MessageState.PLANNED
