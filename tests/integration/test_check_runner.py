"""Checks in worker processes, each message within a budget (issue 12: the checks blocked the loop).

The slow input is a city lexicon with a catastrophic regex, as a city could write one: `(a+)+b` on
a run of "a" takes exponential time in Python's regex engine. The runners are real: forkserver
worker processes talking over pipes.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.errors import Busy, InputError
from gateway.media import MediaStore
from gateway.models import Message, MessageState, Priority, Role, Verdict
from gateway.pipeline.checks import CheckEngine, CheckInput
from gateway.pipeline.checks.engine import DEFAULT_LEXICON_DIR
from gateway.pipeline.checks.runner import ProcessRunner
from gateway.pipeline.intake.targets import resolve_targets
from gateway.policy import Policies
from gateway.store import open_store, upgrade_async
from gateway.testing import fake_adapters
from gateway.web.app import build_app
from gateway.web.auth import create_token
from tests.integration.conftest import ALERTS, APPROVER, OFFICE_HOURS, STAFF, Clock, Harness, build_gateway
from tests.scopes import CITIES

SLOW_RULE = """
[[rule]]
id = "public_order.test_backtracking"
clause = "forbidden"
severity = "review"
message = "テスト用の遅い規則"
regex = ['(a+)+b']
"""
SLOW_TEXT = "b " + "a" * 40 + "!"  # hours of backtracking; the "b" lets the rule past its prefilter


@pytest.fixture
def slow_lexicons(tmp_path: Path) -> Path:
    directory = tmp_path / "lexicons"
    directory.mkdir()
    shutil.copy(DEFAULT_LEXICON_DIR / "default.toml", directory / "default.toml")
    (directory / "kodaira.toml").write_text(SLOW_RULE, encoding="utf-8")
    return directory


@pytest.fixture
async def runner(slow_lexicons: Path) -> AsyncIterator[ProcessRunner]:
    checks = ProcessRunner(routine=1, budget_s=0.5, queue_s=5, lexicon_dir=slow_lexicons)
    await checks.start()
    try:
        yield checks
    finally:
        await checks.aclose()


def check_input(policies: Policies, text: str, *, emergency: bool = False) -> CheckInput:
    message = Message(municipality="kodaira", category="emergency" if emergency else "city_news", text=text,
                      priority=Priority.EMERGENCY if emergency else Priority.NORMAL)
    targets = resolve_targets(message, policies)
    return CheckInput(message, targets.municipality, targets.accounts)


async def test_a_worker_gives_the_engines_result(runner: ProcessRunner, policies: Policies,
                                                 slow_lexicons: Path) -> None:
    inp = check_input(policies, "小平市長の個人携帯は090-1234-5678です。秘密の会議資料を公開します。")
    expected = CheckEngine(slow_lexicons).check(inp)
    assert expected.verdict is Verdict.BLOCK  # a result with findings, spans and clauses to compare
    assert await runner.check(inp, emergency=False) == expected
    assert await runner.check(inp, emergency=True) == expected


async def test_a_check_over_budget_is_a_review_finding_and_the_worker_is_replaced(
    runner: ProcessRunner, policies: Policies,
) -> None:
    started = time.monotonic()
    result = await runner.check(check_input(policies, SLOW_TEXT), emergency=False)
    took = time.monotonic() - started
    assert [(f.rule, f.severity.value) for f in result.findings] == [("check.timeout", "review")]
    assert result.verdict is Verdict.REVIEW
    assert "0.5秒" in result.findings[0].message
    assert took < 3, took  # the budget, not the seconds the regex would have taken
    # the next message gets a fresh worker and a real check
    after = await runner.check(check_input(policies, "図書館の開館時間のお知らせです。"), emergency=False)
    assert after.verdict is Verdict.PASS and after.findings == ()


async def test_an_alert_is_checked_while_staff_posts_hold_every_routine_worker(
    runner: ProcessRunner, policies: Policies,
) -> None:
    slow = [asyncio.create_task(runner.check(check_input(policies, SLOW_TEXT), emergency=False)) for _ in range(3)]
    await asyncio.sleep(0.1)  # the first is in the routine worker, the others queue behind it
    loop_lag = asyncio.create_task(_max_loop_lag(0.4))
    started = time.monotonic()
    alert = await runner.check(check_input(policies, "【避難指示】警戒レベル4 直ちに避難してください。", emergency=True),
                               emergency=True)
    took = time.monotonic() - started
    assert alert.verdict is not Verdict.REVIEW or all(f.rule != "check.timeout" for f in alert.findings)
    assert took < 0.25, took  # its own worker: not behind 3 x 0.5 s of staff posts
    assert await loop_lag < 0.1  # the loop never waited on a check
    results = await asyncio.gather(*slow)
    assert [r.findings[0].rule for r in results] == ["check.timeout"] * 3


async def test_a_worker_that_dies_gives_check_failed_and_is_replaced(runner: ProcessRunner, policies: Policies) -> None:
    task = asyncio.create_task(runner.check(check_input(policies, SLOW_TEXT), emergency=False))
    await asyncio.sleep(0.15)
    busy = [w for w in runner._live if w.lane == "routine"]
    assert len(busy) == 1
    pid = busy[0].process.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    result = await task
    assert [f.rule for f in result.findings] == ["check.failed"]
    ok = await runner.check(check_input(policies, "図書館の開館時間のお知らせです。"), emergency=False)
    assert ok.verdict is Verdict.PASS
    assert all(w.process.pid != pid for w in runner._live)


async def test_a_cancelled_check_does_not_hand_its_answer_to_the_next(runner: ProcessRunner,
                                                                      policies: Policies) -> None:
    within_budget = "b " + "a" * 22 + "!"  # about 0.25 s of backtracking: an answer (pass) comes, late
    task = asyncio.create_task(runner.check(check_input(policies, within_budget), emergency=False))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    inp = check_input(policies, "小平市長の個人携帯は090-1234-5678です。")
    assert (await runner.check(inp, emergency=False)).verdict is Verdict.BLOCK  # not the pass meant for the first


async def test_staff_posts_that_wait_too_long_for_a_worker_are_refused_busy(slow_lexicons: Path,
                                                                           policies: Policies) -> None:
    checks = ProcessRunner(routine=1, budget_s=1.0, queue_s=0.3, lexicon_dir=slow_lexicons)
    await checks.start()
    try:
        first = asyncio.create_task(checks.check(check_input(policies, SLOW_TEXT), emergency=False))
        await asyncio.sleep(0.05)
        with pytest.raises(Busy) as refused:
            await checks.check(check_input(policies, "お知らせです。"), emergency=False)
        assert refused.value.retry_after_s >= 1
        assert (await first).findings[0].rule == "check.timeout"
    finally:
        await checks.aclose()


async def test_closing_ends_every_worker(slow_lexicons: Path) -> None:
    checks = ProcessRunner(routine=2, budget_s=1.0, lexicon_dir=slow_lexicons)
    await checks.start()
    processes = [w.process for w in checks._live]
    assert len(processes) == 3 and all(p.is_alive() for p in processes)  # two routine, one emergency
    await checks.aclose()
    assert not any(p.is_alive() for p in processes)


async def _max_loop_lag(duration: float) -> float:
    """The longest the event loop took to come back to a 10 ms sleep, over `duration`."""
    worst = 0.0
    end = time.monotonic() + duration
    while time.monotonic() < end:
        before = time.monotonic()
        await asyncio.sleep(0.01)
        worst = max(worst, time.monotonic() - before - 0.01)
    return worst


async def test_a_post_over_budget_waits_for_an_approver_and_an_alert_does_not_wait_for_it(
    database_url: str, policies: Policies, engine: CheckEngine, slow_lexicons: Path, tmp_path: Path,
) -> None:
    """Through the gateway: the staff post is stored for approval with its `check.timeout` finding
    (an approver overrides it with a reason); an alert submitted meanwhile is planned at once."""
    clock = Clock(OFFICE_HOURS)
    await upgrade_async(database_url)
    store = await open_store(database_url, clock=clock)
    for actor in (STAFF, APPROVER, ALERTS):
        await store.ensure_user(actor.name, actor.role, actor="test", scope=actor.scope)
    checks = ProcessRunner(routine=1, budget_s=0.5, lexicon_dir=slow_lexicons)
    gateway = build_gateway(store, policies, engine, clock, fake_adapters(), MediaStore(tmp_path / "media"), checks)
    await checks.start()
    try:
        staff = asyncio.create_task(gateway.submit(
            Message(municipality="kodaira", accounts=("kodaira_x",), category="city_news", text=SLOW_TEXT), STAFF))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        alert = await gateway.submit(Message(
            municipality="kodaira", accounts=("kodaira_x",), category="emergency", priority=Priority.EMERGENCY,
            text="【避難指示】警戒レベル4 小平市全域に避難指示を発令しました。"), ALERTS)
        took = time.monotonic() - started
        assert alert.record.state is MessageState.PLANNED and alert.deliveries, alert
        assert took < 0.3, took
        held = await staff
        assert held.record.state is MessageState.PENDING_APPROVAL
        assert [f.rule for f in held.record.check.findings] == ["check.timeout"]
        with pytest.raises(InputError):  # the finding must be answered, like any review finding
            await gateway.approve(held.record.id, APPROVER)
        approved = await gateway.approve(held.record.id, APPROVER,
                                         {"check.timeout": "本文を読み、問題がないことを確認しました"})
        assert approved.record.state is MessageState.PLANNED
    finally:
        await checks.aclose()
        await store.aclose()


async def test_the_api_answers_busy_with_retry_after_and_stores_nothing(
    harness: Harness, slow_lexicons: Path,
) -> None:
    checks = ProcessRunner(routine=1, budget_s=1.0, queue_s=0.2, lexicon_dir=slow_lexicons)
    harness.gateway.checks = checks
    token = await create_token(harness.store, user=STAFF.name, role=Role.STAFF, municipalities=CITIES, ttl_days=1,
                               now=datetime.now(UTC), actor="test")
    headers = {"Authorization": f"Bearer {token}"}
    body = {"municipality": "kodaira", "category": "city_news", "accounts": ["kodaira_x"]}
    await checks.start()
    try:
        async with TestClient(TestServer(build_app(harness.gateway))) as client:
            slow = asyncio.create_task(client.post("/api/v1/messages", json={**body, "text": SLOW_TEXT},
                                                   headers=headers))
            await asyncio.sleep(0.1)
            response = await client.post("/api/v1/messages", json={**body, "text": "図書館のお知らせです。"},
                                          headers=headers)
            assert response.status == 503
            assert response.headers["Retry-After"] == "1"
            payload = await response.json()
            assert payload["error"] == "busy" and "しばらくしてから" in payload["message"]
            first = await slow
            assert first.status == 201
            assert [f["rule"] for f in (await first.json())["check"]["findings"]] == ["check.timeout"]
        stored = await harness.store.list_messages(limit=10)
        assert [m.body.text for m in stored] == [SLOW_TEXT]  # the refused post left nothing behind
    finally:
        await checks.aclose()


async def test_workers_that_cannot_start_are_reported_and_alerts_go_to_a_person(tmp_path: Path,
                                                                                policies: Policies) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "default.toml").write_text("[[rule]\nid = ", encoding="utf-8")  # a city's typo
    checks = ProcessRunner(routine=1, budget_s=0.5, queue_s=0.3, lexicon_dir=broken)
    checks.emergency_wait_s = 0.5
    try:
        async with asyncio.timeout(30):
            await checks.start()  # returns after the first try; the workers keep being retried
        problems = checks.problems()
        assert len(problems) == 2 and all("0/1" in p and "default.toml" in p for p in problems), problems
        alert = await checks.check(check_input(policies, "【避難指示】直ちに避難", emergency=True), emergency=True)
        assert [f.rule for f in alert.findings] == ["check.unavailable"]
        with pytest.raises(Busy):
            await checks.check(check_input(policies, "お知らせです。"), emergency=False)
    finally:
        await checks.aclose()


# -- the linguistic layer in the workers (issue 13) -------------------------------------------------

async def test_the_linguistic_layer_runs_in_the_worker(runner: ProcessRunner, policies: Policies) -> None:
    inp = check_input(policies, "ベトナム人は夜中に騒ぐので、アパートの管理には注意が必要です。")
    result = await runner.check(inp, emergency=False)
    assert "discrimination.group" in {f.rule for f in result.findings}
    assert result.verdict is Verdict.BLOCK


async def test_alert_template_posts_skip_the_linguistic_layer(runner: ProcessRunner, policies: Policies) -> None:
    text = "【避難指示】ベトナム人は夜中に騒ぐので注意が必要です。"  # what the layer would block, to show it is skipped
    staff = check_input(policies, text, emergency=True)
    template = CheckInput(staff.message, staff.municipality, staff.accounts, generated=True)
    assert "discrimination.group" in {f.rule for f in (await runner.check(staff, emergency=True)).findings}
    assert not any(f.rule.startswith("discrimination") for f in (await runner.check(template, emergency=True)).findings)
