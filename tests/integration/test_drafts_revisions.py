"""Drafts and edits before approval (issue 16), on SQLite and PostgreSQL.

A draft is saved without checks, seen by its author (and admins) only, never planned nor queued for approval,
and becomes a post only when submitted (the draft then gone in the same transaction). A post waiting for
approval or sent back is edited into a new version: checked again as at submission, its approvals cleared,
the audit showing the difference; an approved post is refused with 409."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient

from gateway.errors import Conflict, Forbidden, NotFound, PolicyViolation
from gateway.models import Actor, MessageState, Role, Scope
from gateway.pipeline.intake.validation import parse_message
from gateway.services.drafts import Drafts
from gateway.store.listings import MessageQuery
from gateway.web.auth import create_token
from tests.integration.conftest import APPROVER, APPROVER2, STAFF, STAFF2, Harness
from tests.integration.test_console import app, client, login  # noqa: F401  (fixtures)
from tests.routes import config_with_route

POST = {"municipality": "kodaira", "category": "event", "accounts": ["kodaira_x"],
        "text": "小平市民まつりを中央公園で開催します。\nぜひお越しください。"}
ADMIN = Actor("kanri", Role.ADMIN, Scope.everywhere())


async def _pending(harness: Harness, **changes: object) -> str:
    submitted = await harness.gateway.submit(parse_message({**POST, **changes}), STAFF)
    assert submitted.record.state is MessageState.PENDING_APPROVAL
    return submitted.record.id


# -- drafts -------------------------------------------------------------------------------------------

async def test_a_draft_is_saved_unchecked_and_never_planned_nor_queued(harness: Harness) -> None:
    drafts = Drafts(harness.gateway)
    # A text the checks would block (a phone number of a person) is still saved as a draft.
    draft = await drafts.save(parse_message({**POST, "text": "担当の山田の携帯は090-1234-5678です。"}), STAFF)
    assert (await drafts.read(draft.id, STAFF)).body.text.startswith("担当の山田")
    assert await harness.store.list_messages(limit=10) == []
    assert await harness.gateway.count_messages(MessageQuery(states=(MessageState.PENDING_APPROVAL,))) == 0
    assert await harness.worker.housekeeping_once() == []  # the recovery sweep plans nothing of it
    assert await harness.store.list_deliveries(limit=10) == []
    [saved] = await harness.store.list_audit(action="draft.saved", limit=5)
    assert saved.detail == {"draft": draft.id, "municipality": "kodaira"}  # never the text


async def test_a_draft_is_invisible_to_others(harness: Harness) -> None:
    drafts = Drafts(harness.gateway)
    draft = await drafts.save(parse_message(POST), STAFF)
    for other in (STAFF2, APPROVER):
        with pytest.raises(NotFound):
            await drafts.read(draft.id, other)
        assert await drafts.list(other) == []
        with pytest.raises(NotFound):
            await drafts.submit(draft.id, other)
        with pytest.raises(NotFound):
            await drafts.delete(draft.id, other)
    with pytest.raises(Forbidden):  # another city's staff: out of scope
        await drafts.read(draft.id, Actor("zushi-staff", Role.STAFF, Scope.of("zushi")))
    assert [d.id for d in await drafts.list(STAFF)] == [draft.id]
    assert [d.id for d in await drafts.list(ADMIN)] == [draft.id]  # admins see every draft
    assert (await drafts.read(draft.id, ADMIN)).author == STAFF.name


async def test_a_draft_is_edited_then_submitted_and_gone(harness: Harness) -> None:
    drafts = Drafts(harness.gateway)
    draft = await drafts.save(parse_message(POST), STAFF)
    edited = await drafts.save(parse_message({**POST, "text": "図書館の休館日のお知らせです。"}), STAFF, draft.id)
    assert edited.body.text == "図書館の休館日のお知らせです。"
    submitted = await drafts.submit(draft.id, STAFF)
    assert submitted.record.state is MessageState.PENDING_APPROVAL
    assert submitted.record.body.text == "図書館の休館日のお知らせです。"
    with pytest.raises(NotFound):
        await drafts.read(draft.id, STAFF)
    [accepted] = await harness.store.list_audit(message_id=submitted.record.id, action="message.accepted", limit=5)
    assert accepted.detail["draft"] == draft.id


async def test_a_draft_the_checks_block_stays_a_draft(harness: Harness) -> None:
    drafts = Drafts(harness.gateway)
    draft = await drafts.save(parse_message({**POST, "text": "担当の山田の携帯は090-1234-5678です。"}), STAFF)
    with pytest.raises(PolicyViolation):
        await drafts.submit(draft.id, STAFF)
    assert (await drafts.read(draft.id, STAFF)).id == draft.id
    assert await harness.store.list_messages(limit=10) == []


async def test_a_deleted_draft_is_gone(harness: Harness) -> None:
    drafts = Drafts(harness.gateway)
    draft = await drafts.save(parse_message(POST), STAFF)
    await drafts.delete(draft.id, STAFF)
    with pytest.raises(NotFound):
        await drafts.read(draft.id, STAFF)
    with pytest.raises(NotFound):
        await drafts.submit(draft.id, STAFF)
    assert await harness.store.list_messages(limit=10) == []
    assert len(await harness.store.list_audit(action="draft.deleted", limit=5)) == 1


# -- edits --------------------------------------------------------------------------------------------

async def test_an_edit_restarts_approval_from_the_first_step(database_url: str, harness: Harness,
                                                             tmp_path: object) -> None:
    from pathlib import Path

    from gateway.policy import load_policies

    harness.gateway.policies = load_policies(config_with_route(Path(str(tmp_path)) / "cities"))
    await harness.store.ensure_user("kacho", Role.APPROVER, actor="test", scope=Scope.everywhere())
    atsugi = {"municipality": "atsugi", "category": "city_news", "accounts": ["atsugi_x"],
              "text": "市役所の窓口受付時間が変わります。\n詳しくは市のホームページをご覧ください。"}
    message_id = (await harness.gateway.submit(parse_message(atsugi), STAFF)).record.id
    await harness.gateway.approve(message_id, APPROVER)  # 所属長: one of two steps
    assert len(await harness.store.list_approvals(message_id)) == 1
    revised = await harness.gateway.revise(
        message_id, parse_message({**atsugi, "text": "市役所の窓口受付時間が変わります。\n12月1日からです。"}), STAFF)
    assert revised.revision == 2 and revised.state is MessageState.PENDING_APPROVAL
    assert await harness.store.list_approvals(message_id) == []
    [event] = await harness.store.list_audit(message_id=message_id, action="message.revised", limit=5)
    assert "-詳しくは市のホームページをご覧ください。" in event.detail["diff"]
    assert "+12月1日からです。" in event.detail["diff"] and " 市役所の窓口受付時間が変わります。" in event.detail["diff"]
    assert event.detail["revision"] == 2 and event.actor == STAFF.name
    waiting = await harness.store.list_notifications(event="approval_waiting", limit=20)
    assert [n.detail.get("revision") for n in waiting if n.message_id == message_id].count(2) == 1
    step = await harness.gateway.approve(message_id, APPROVER)
    assert step.record.state is MessageState.PENDING_APPROVAL  # the first step again, not the second


async def test_an_edit_is_checked_again_and_a_violation_is_refused(harness: Harness) -> None:
    message_id = await _pending(harness)
    with pytest.raises(PolicyViolation) as refused:
        await harness.gateway.revise(message_id, parse_message({**POST, "text": "担当の山田の携帯は090-1234-5678です。"}),
                                     STAFF)
    assert any(f.severity.value == "block" for f in refused.value.findings)
    record = await harness.store.get_message(message_id)
    assert record.revision == 1 and record.body.text == POST["text"]  # nothing stored
    assert await harness.store.list_audit(message_id=message_id, action="message.revised", limit=5) == []


async def test_a_sent_back_post_is_edited_and_waits_again(harness: Harness) -> None:
    message_id = await _pending(harness)
    await harness.gateway.reject(message_id, APPROVER, "日付を入れてください")
    revised = await harness.gateway.revise(
        message_id, parse_message({**POST, "text": "11月3日、小平市民まつりを中央公園で開催します。"}), STAFF)
    assert revised.state is MessageState.PENDING_APPROVAL and revised.note is None and revised.revision == 2
    approved = await harness.gateway.approve(message_id, APPROVER)
    assert approved.record.state is MessageState.PLANNED


async def test_an_approved_post_cannot_be_edited(harness: Harness) -> None:
    message_id = await _pending(harness)
    await harness.gateway.approve(message_id, APPROVER)
    with pytest.raises(Conflict) as refused:
        await harness.gateway.revise(message_id, parse_message({**POST, "text": "変更"}), STAFF)
    assert "取り下げ" in refused.value.message and refused.value.code == "not_editable"


async def test_who_may_edit_and_who_may_then_approve(harness: Harness) -> None:
    message_id = await _pending(harness)
    with pytest.raises(Forbidden) as refused:
        await harness.gateway.revise(message_id, parse_message({**POST, "text": "変更します。"}), STAFF2)
    assert "提出した本人" in refused.value.message
    await harness.gateway.revise(message_id, parse_message({**POST, "text": "小平市民まつりを開催します。"}), APPROVER)
    with pytest.raises(Forbidden) as own:  # who wrote this version is not its approver
        await harness.gateway.approve(message_id, APPROVER)
    assert "自分が編集した版" in own.value.message
    assert (await harness.gateway.approve(message_id, APPROVER2)).record.state is MessageState.PLANNED


async def test_the_city_and_a_concurrent_edit_are_refused(harness: Harness) -> None:
    message_id = await _pending(harness)
    with pytest.raises(Conflict):
        await harness.gateway.revise(message_id, parse_message({**POST, "text": "版1からの編集"}), STAFF,
                                     expected_revision=2)
    from gateway.errors import InputError

    with pytest.raises(InputError) as moved:
        await harness.gateway.revise(message_id, parse_message({**POST, "municipality": "zushi",
                                                                "accounts": ["zushi_x"]}), STAFF)
    assert moved.value.problems[0].field == "municipality"


async def test_idempotent_submit_is_unaffected_by_an_edit(harness: Harness) -> None:
    message = parse_message(POST)
    first = await harness.gateway.submit(message, STAFF, idempotency_key="k-1")
    await harness.gateway.revise(first.record.id, parse_message({**POST, "text": "小平市民まつりのお知らせ。"}), STAFF)
    again = await harness.gateway.submit(message, STAFF, idempotency_key="k-1")
    assert not again.created and again.record.id == first.record.id and again.record.revision == 2
    with pytest.raises(Conflict):
        await harness.gateway.submit(parse_message({**POST, "text": "別の投稿"}), STAFF, idempotency_key="k-1")
    assert len(await harness.store.list_messages(limit=10)) == 1


# -- the API ------------------------------------------------------------------------------------------

async def _token(harness: Harness, actor: Actor) -> dict[str, str]:
    token = await create_token(harness.store, user=actor.name, role=actor.role, ttl_days=1, now=datetime.now(UTC),
                               actor="test", municipalities=["kodaira"])
    return {"Authorization": f"Bearer {token}"}


async def test_the_api_drafts_and_edits(harness: Harness, client: TestClient) -> None:  # noqa: F811
    staff, approver = await _token(harness, STAFF), await _token(harness, APPROVER)
    saved = await client.post("/api/v1/drafts", json=POST, headers=staff)
    assert saved.status == 201, await saved.text()
    draft_id = (await saved.json())["id"]
    hidden = await client.get(f"/api/v1/drafts/{draft_id}", headers=approver)
    assert hidden.status == 404 and "下書き" in (await hidden.json())["message"]
    listed = await client.get("/api/v1/drafts", headers=approver)
    assert (await listed.json())["drafts"] == []
    put = await client.put(f"/api/v1/drafts/{draft_id}", json={**POST, "text": "図書館の休館日のお知らせです。"},
                           headers=staff)
    assert put.status == 200
    submitted = await client.post(f"/api/v1/drafts/{draft_id}/submit", headers=staff)
    assert submitted.status == 201, await submitted.text()
    message = await submitted.json()
    assert message["state"] == "pending_approval" and message["revision"] == 1
    stale = await client.put(f"/api/v1/messages/{message['id']}", json={**POST, "text": "休館日の変更です。"},
                             headers={**staff, "If-Match": "7"})
    assert stale.status == 409
    revised = await client.put(f"/api/v1/messages/{message['id']}", json={**POST, "text": "休館日の変更です。"},
                               headers={**staff, "If-Match": "1"})
    assert revised.status == 200, await revised.text()
    assert (await revised.json())["revision"] == 2
    approved = await client.post(f"/api/v1/messages/{message['id']}/approve", json={}, headers=approver)
    assert approved.status == 200
    refused = await client.put(f"/api/v1/messages/{message['id']}", json=POST, headers=staff)
    assert refused.status == 409 and "取り下げ" in (await refused.json())["message"]


# -- the console --------------------------------------------------------------------------------------

FORM = {"municipality": "kodaira", "category": "event", "accounts": "kodaira_x", "text": POST["text"]}


async def test_the_console_saves_a_draft_edits_and_submits_it(harness: Harness, client: TestClient) -> None:  # noqa: F811
    token = await login(client, STAFF.name)
    saved = await client.post("/console/compose", data={**FORM, "csrf": token, "action": "draft"},
                              allow_redirects=False)
    assert saved.status == 303 and "notice=draft_saved" in saved.headers["Location"]
    [draft] = await harness.store.list_drafts(author=STAFF.name)
    listed = await (await client.get("/console/drafts")).text()
    assert "小平市民まつり" in listed and f"/console/compose?draft={draft.id}" in listed
    form = await (await client.get(f"/console/compose?draft={draft.id}")).text()
    assert f'name="draft_id" value="{draft.id}"' in form and "下書きの編集" in form
    submitted = await client.post("/console/compose", data={**FORM, "text": "図書館の休館日のお知らせです。",
                                                            "csrf": token, "draft_id": draft.id,
                                                            "idempotency_key": "d1"}, allow_redirects=False)
    assert submitted.status == 303, await submitted.text()
    message_id = submitted.headers["Location"].rsplit("/", 1)[1]
    assert (await harness.store.get_message(message_id)).body.text == "図書館の休館日のお知らせです。"
    assert await harness.store.list_drafts(author=STAFF.name) == []

    edit = await (await client.get(f"/console/messages/{message_id}/edit")).text()
    assert f'name="revise_of" value="{message_id}"' in edit and "図書館の休館日のお知らせです。" in edit
    blocked = await client.post("/console/compose", data={
        **FORM, "text": "担当の山田の携帯は090-1234-5678です。", "csrf": token, "revise_of": message_id,
        "revision": "1"}, allow_redirects=False)
    assert blocked.status == 422 and "090-1234-5678" in await blocked.text()  # the finding, the text kept
    revised = await client.post("/console/compose", data={
        **FORM, "text": "図書館の休館日が変わりました。", "csrf": token, "revise_of": message_id, "revision": "1"},
        allow_redirects=False)
    assert revised.status == 303 and "notice=revised" in revised.headers["Location"]
    page = await (await client.get(revised.headers["Location"])).text()
    assert "第2版" in page and "+図書館の休館日が変わりました。" in page and "-図書館の休館日のお知らせです。" in page


async def test_the_console_refuses_an_edit_once_approved(harness: Harness, client: TestClient) -> None:  # noqa: F811
    message_id = await _pending(harness)
    await harness.gateway.approve(message_id, APPROVER)
    await login(client, STAFF.name)
    page = await client.get(f"/console/messages/{message_id}")
    assert "編集する" not in await page.text()
    refused = await client.get(f"/console/messages/{message_id}/edit")
    assert refused.status == 409 and "取り下げ" in await refused.text()
