"""Intake and approval on real databases: four-eyes, the seeds' exceptions, idempotency, bad input."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.errors import Conflict, Forbidden, InputError, PolicyViolation
from gateway.models import Actor, DeliveryState, Message, MessageState, Scope
from gateway.pipeline.intake.validation import parse_message
from tests.integration.conftest import ALERTS, APPROVER, APPROVER2, STAFF, Harness
from tests.mediafiles import PNG

EVACUATION = "【避難指示】警戒レベル4 小平市全域に避難指示を発令しました。"


def msg(**fields: Any) -> Message:
    base: dict[str, Any] = {"municipality": "kodaira", "category": "event", "accounts": ["kodaira_x"],
                            "text": "小平市民まつりを中央公園で開催します。ぜひお越しください。"}
    base.update(fields)
    return parse_message(base)


async def message_count(h: Harness) -> int:
    return len(await h.store.list_messages(limit=1000))


async def test_routine_post_waits_for_a_second_person(harness: Harness) -> None:
    submitted = await harness.gateway.submit(msg(), STAFF)
    assert submitted.record.state is MessageState.PENDING_APPROVAL
    assert "ソーシャルメディア運用ポリシー" in submitted.approval_reason
    assert await harness.store.list_deliveries(message_id=submitted.record.id) == []


async def test_submitter_cannot_approve_own_message(harness: Harness) -> None:
    own = await harness.gateway.submit(msg(), APPROVER)
    with pytest.raises(Forbidden, match="自分が提出した"):
        await harness.gateway.approve(own.record.id, APPROVER)
    approved = await harness.gateway.approve(own.record.id, APPROVER2)
    assert approved.record.state is MessageState.PLANNED
    assert approved.record.approved_by == APPROVER2.name
    assert [d.account for d in approved.deliveries] == ["kodaira_x"]


async def test_staff_cannot_approve(harness: Harness) -> None:
    submitted = await harness.gateway.submit(msg(), STAFF)
    with pytest.raises(Forbidden):
        await harness.gateway.approve(submitted.record.id, STAFF.__class__("other-staff", STAFF.role))


async def test_approval_is_audited(harness: Harness) -> None:
    submitted = await harness.gateway.submit(msg(), STAFF)
    await harness.gateway.approve(submitted.record.id, APPROVER)
    events = await harness.store.list_audit(message_id=submitted.record.id)
    actions = [(e.actor, e.to_state) for e in events if e.delivery_id is None]
    assert (APPROVER.name, "approved") in actions
    assert any(e.actor == STAFF.name for e in events)


async def test_reject_sends_back_with_comment(harness: Harness) -> None:
    submitted = await harness.gateway.submit(msg(), STAFF)
    record = await harness.gateway.reject(submitted.record.id, APPROVER, "日付を確認してください")
    assert record.state is MessageState.REJECTED
    assert record.note == "日付を確認してください"


@pytest.mark.parametrize(("fields", "expected"), [
    # 逗子 3-2(1)ウ: pre-authorised kinds go out without the manager's permission (with a link to the city's site).
    ({"municipality": "zushi", "accounts": None, "category": "city_news", "preauthorized": "on_website",
      "link": "https://www.city.zushi.lg.jp/shisei/koza.html"}, MessageState.PLANNED),
    ({"municipality": "zushi", "accounts": None, "category": "city_news", "preauthorized": "disaster",
      "link": "https://www.city.zushi.lg.jp/bousai/"}, MessageState.PLANNED),
    ({"municipality": "zushi", "accounts": None, "category": "city_news"}, MessageState.PENDING_APPROVAL),
    # 美祢 第4-6: routine posts need no approval; the city's official view does.
    ({"municipality": "mine", "accounts": None, "category": "tourism"}, MessageState.PLANNED),
    ({"municipality": "mine", "accounts": None, "category": "city_news", "official_view": True},
     MessageState.PENDING_APPROVAL),
    # The other seeds: the responsible manager approves every post.
    ({"municipality": "atsugi", "accounts": ["atsugi_x"], "category": "city_news"}, MessageState.PENDING_APPROVAL),
    ({"municipality": "kisarazu", "accounts": ["kisarazu_x"], "category": "city_news"},
     MessageState.PENDING_APPROVAL),
])
async def test_each_seeds_approval_rule(harness: Harness, fields: dict[str, Any], expected: MessageState) -> None:
    submitted = await harness.gateway.submit(msg(**fields), STAFF)
    assert submitted.record.state is expected, submitted.approval_reason


async def test_alert_system_emergency_needs_no_approval(harness: Harness) -> None:
    message = msg(category="emergency", priority="emergency", text=EVACUATION)
    submitted = await harness.gateway.submit(message, ALERTS)
    assert submitted.record.state is MessageState.PLANNED
    assert {d.state for d in submitted.deliveries} == {DeliveryState.QUEUED}


async def test_staff_emergency_still_needs_approval(harness: Harness) -> None:
    """Even with kodaira's emergency permission (and a reason), a person's emergency post waits for approval."""
    message = msg(category="emergency", priority="emergency", text=EVACUATION, emergency_reason="避難指示の発令")
    crisis = Actor(STAFF.name, STAFF.role, Scope.of("kodaira", emergency=("kodaira",)))
    submitted = await harness.gateway.submit(message, crisis)
    assert submitted.record.state is MessageState.PENDING_APPROVAL


async def test_idempotency_key_returns_the_first_submission(harness: Harness) -> None:
    first = await harness.gateway.submit(msg(), STAFF, idempotency_key="k-1")
    again = await harness.gateway.submit(msg(), STAFF, idempotency_key="k-1")
    assert first.created and not again.created
    assert again.record.id == first.record.id
    assert await message_count(harness) == 1


async def test_idempotency_key_with_another_message_is_a_conflict(harness: Harness) -> None:
    await harness.gateway.submit(msg(), STAFF, idempotency_key="k-1")
    with pytest.raises(Conflict) as refused:
        await harness.gateway.submit(msg(text="別の本文で同じキーを使うと受け付けません。"), STAFF, idempotency_key="k-1")
    assert refused.value.code == "idempotency_key_reused"
    assert await message_count(harness) == 1
    assert len(await harness.store.list_audit(action="message.accepted")) == 1


async def test_concurrent_duplicate_submissions_store_one(harness: Harness) -> None:
    results = await asyncio.gather(*[harness.gateway.submit(msg(), STAFF, idempotency_key="same") for _ in range(5)])
    assert len({r.record.id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert await message_count(harness) == 1


@pytest.mark.parametrize(("fields", "field", "code"), [
    ({"municipality": "tokyo"}, "municipality", "unknown_municipality"),
    ({"accounts": ["kodaira_line"]}, "accounts[0]", "unknown_account"),
    ({"category": "gossip"}, "category", "unknown_category"),
])
async def test_bad_targets_are_refused_and_nothing_stored(
    harness: Harness, fields: dict[str, Any], field: str, code: str,
) -> None:
    with pytest.raises(InputError) as caught:
        await harness.gateway.submit(msg(**fields), STAFF)
    assert [(p.field, p.code) for p in caught.value.problems] == [(field, code)]
    assert await message_count(harness) == 0


async def test_category_the_account_does_not_allow_is_blocked_with_clause(harness: Harness) -> None:
    with pytest.raises(PolicyViolation) as caught:
        await harness.gateway.submit(msg(accounts=["kodaira_mayor_x"], category="event"), STAFF)
    rules = {f.rule: f for f in caught.value.findings}
    finding = next(f for rule, f in rules.items() if rule.startswith("categor"))
    assert "小平市" in finding.clause
    assert await message_count(harness) == 0


async def test_image_without_alt_text_is_blocked(harness: Harness) -> None:
    with pytest.raises(PolicyViolation) as caught:
        await harness.gateway.submit(msg(media=[{"kind": "image", "id": harness.media.add(PNG).id}]), STAFF)
    assert any(f.rule.startswith("accessibility") for f in caught.value.findings)
    assert await message_count(harness) == 0


def test_schema_problems_name_the_field_in_japanese() -> None:
    with pytest.raises(InputError) as caught:
        parse_message({"municipality": "kodaira", "category": "event", "text": "x", "priority": "urgent",
                       "media": [{"kind": "image"}], "colour": "red", "not_before": "tomorrow"})
    fields = {p.field: p.message for p in caught.value.problems}
    assert "priority" in fields and "指定できない値" in fields["priority"]
    assert "media[0].path" in fields and fields["media[0].path"].startswith("必須項目です")
    assert "colour" in fields and "不明な項目" in fields["colour"]
    assert "not_before" in fields


def test_naive_not_before_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        parse_message({"municipality": "kodaira", "category": "event", "text": "x",
                       "not_before": "2026-11-24T09:00:00"})
    assert caught.value.problems[0].field == "not_before"


async def test_a_date_without_its_year_is_read_near_the_day_it_is_written(harness: Harness) -> None:
    """Written on 24 November 2026: 「12月5日（金）」 can only be 5 December 2026, a Saturday. A month later the
    same words are a report of an event past, read against the new day."""
    wrong = await harness.gateway.submit(msg(text="おはなし会は12月5日（金）午前10時から中央図書館で開きます。"), STAFF)
    [found] = [f for f in wrong.record.check.findings if f.rule == "accuracy.weekday"]
    assert found.severity.value == "review" and "2026年12月5日は土曜日です" in found.message, found.message
    right = await harness.gateway.submit(msg(text="おはなし会は12月5日（土）午前10時から中央図書館で開きます。"), STAFF)
    assert [f.rule for f in right.record.check.findings] == []
    harness.clock.advance(days=300)  # 20 September 2027: the nearest 5 December is 2027's, a Sunday
    later = await harness.gateway.submit(msg(text="おはなし会は12月5日（土）午前10時から中央図書館で開きます。"), STAFF)
    assert any("2027年12月5日は日曜日です" in f.message for f in later.record.check.findings), later.record.check
