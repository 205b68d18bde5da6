"""Withdrawing a post before approval (issue 16): its author, or an approver of the city, takes back a post that
waits for approval or was sent back; it is never planned, the audit keeps who and why, and a post that was
approved is refused (that is 取り下げ, which deletes what went out)."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp.test_utils import TestClient

from gateway.errors import Conflict, Forbidden
from gateway.models import MessageState, Role
from gateway.pipeline.intake.validation import parse_message
from gateway.web.auth import create_token
from tests.integration.conftest import APPROVER, STAFF, STAFF2, Harness
from tests.integration.test_console import app, client, login  # noqa: F401  (fixtures)

POST = {"municipality": "kodaira", "category": "event", "accounts": ["kodaira_x"],
        "text": "小平市民まつりを中央公園で開催します。ぜひお越しください。"}


async def _pending(harness: Harness, text: str = POST["text"]) -> str:
    submitted = await harness.gateway.submit(parse_message({**POST, "text": text}), STAFF)
    assert submitted.record.state is MessageState.PENDING_APPROVAL
    return submitted.record.id


async def test_the_author_withdraws_and_nothing_is_planned(harness: Harness) -> None:
    message_id = await _pending(harness)
    record = await harness.gateway.withdraw(message_id, STAFF, "日程が変わったため")
    assert record.state is MessageState.CANCELLED
    assert await harness.store.list_deliveries(message_id=message_id) == []
    [event] = await harness.store.list_audit(message_id=message_id, action="message.cancelled", limit=10)
    assert event.actor == STAFF.name and "日程が変わったため" in (event.reason or "")
    try:
        await harness.gateway.approve(message_id, APPROVER)
    except Conflict:
        pass
    else:
        raise AssertionError("a withdrawn post was approved")


async def test_another_staff_member_may_not_and_an_approver_may(harness: Harness) -> None:
    message_id = await _pending(harness)
    try:
        await harness.gateway.withdraw(message_id, STAFF2, "間違い")
    except Forbidden as exc:
        assert "提出した本人" in exc.message
    else:
        raise AssertionError("another staff member withdrew the post")
    assert (await harness.store.get_message(message_id)).state is MessageState.PENDING_APPROVAL
    assert (await harness.gateway.withdraw(message_id, APPROVER, "重複")).state is MessageState.CANCELLED


async def test_a_sent_back_post_can_be_withdrawn_an_approved_one_cannot(harness: Harness) -> None:
    sent_back = await _pending(harness)
    await harness.gateway.reject(sent_back, APPROVER, "日付を確認してください")
    assert (await harness.gateway.withdraw(sent_back, STAFF, "中止")).state is MessageState.CANCELLED
    approved = await _pending(harness, "図書館の休館日のお知らせです。")
    await harness.gateway.approve(approved, APPROVER)
    try:
        await harness.gateway.withdraw(approved, STAFF, "中止")
    except Conflict as exc:
        assert "承認前" in exc.message
    else:
        raise AssertionError("an approved post was withdrawn")
    assert (await harness.store.get_message(approved)).state is not MessageState.CANCELLED


async def test_the_api_needs_a_reason_and_answers_the_record(harness: Harness, client: TestClient) -> None:  # noqa: F811
    message_id = await _pending(harness)
    token = await create_token(harness.store, user=STAFF.name, role=Role.STAFF, ttl_days=1, now=datetime.now(UTC),
                               actor="test", municipalities=["kodaira"])
    headers = {"Authorization": f"Bearer {token}"}
    empty = await client.post(f"/api/v1/messages/{message_id}/withdraw", json={}, headers=headers)
    assert empty.status == 400 and "理由" in (await empty.json())["message"]
    done = await client.post(f"/api/v1/messages/{message_id}/withdraw", json={"reason": "中止"}, headers=headers)
    assert done.status == 200, await done.text()
    assert (await done.json())["state"] == "cancelled"


async def test_the_console_offers_it_to_the_author_only_before_approval(harness: Harness,
                                                                        client: TestClient) -> None:  # noqa: F811
    message_id = await _pending(harness)
    csrf = await login(client, STAFF.name)
    page = await (await client.get(f"/console/messages/{message_id}")).text()
    assert "提出を取り下げる" in page and "data-confirm" in page
    done = await client.post(f"/console/messages/{message_id}/withdraw", data={"csrf": csrf, "reason": "中止"},
                             allow_redirects=False)
    assert done.status == 303 and done.headers["Location"].endswith("?notice=withdrawn")
    page = await (await client.get(done.headers["Location"])).text()
    assert "提出を取り下げました" in page and "取消" in page  # the state in words
    assert 'action="/console/messages/' + message_id + '/withdraw"' not in page  # nothing left to withdraw
