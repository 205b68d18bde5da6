"""Issue 16 in Chromium: save a draft, edit it, submit it; edit the submitted post into version 2; the approver
sees version 2 with the difference (post page and audit page), at desktop and phone width; a scheduled post's
予約の取消."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Served, answer_dialogs, screenshot, signed_in

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
FIRST = "小平市民まつりを中央公園で開催します。\nぜひお越しください。"
SECOND = "小平市民まつりを中央公園で開催します。\n雨天の場合は翌日に延期します。"


async def _fits(page: Any) -> None:
    """Nothing wider than the phone's screen: no sideways scrolling."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"page is {width}px wide"


async def _compose(page: Any, text: str) -> None:
    await page.get_by_label("自治体").select_option("kodaira")
    await page.get_by_label("カテゴリ").select_option("event")
    await page.locator("#acc-kodaira_x").check()
    await page.get_by_label("本文", exact=True).fill(text)


async def test_draft_edit_submit_and_the_approver_sees_version_two(browser: Any, served: Served) -> None:
    staff = await signed_in(browser, served, "sato")
    await staff.get_by_role("link", name="投稿作成").click()
    await _compose(staff, "下書き: " + FIRST)
    await staff.get_by_role("button", name="下書きを保存").click()
    await staff.wait_for_url("**notice=draft_saved")
    assert "下書きを保存しました" in await staff.locator("#draft-saved").inner_text()
    assert await served.runtime.store.list_messages(limit=5) == []  # nothing submitted, nothing planned

    await staff.get_by_role("link", name="下書き", exact=True).click()
    await staff.wait_for_url("**/console/drafts")
    assert "下書き: 小平市民まつり" in await staff.locator("ul.drafts").inner_text()
    await screenshot(staff, "drafts-desktop")
    approver = await signed_in(browser, served, "suzuki")  # another user sees none of it
    await approver.goto(served.url + "/console/drafts")
    assert "下書きはありません" in await approver.content()
    await approver.goto(served.url + "/console/approvals")
    assert "下書き: " not in await approver.content()

    await staff.get_by_role("link", name="編集する").click()
    await staff.wait_for_url("**/console/compose?draft=*")
    await staff.get_by_label("本文", exact=True).fill(FIRST)
    await staff.get_by_role("button", name="提出する").click()
    await staff.wait_for_url("**/console/messages/m_*")
    message_id = staff.url.rsplit("/", 1)[1].split("?")[0]
    await staff.goto(served.url + "/console/drafts")
    assert "下書きはありません" in await staff.content()

    await staff.goto(served.url + f"/console/messages/{message_id}")
    await staff.get_by_role("link", name="編集する").click()
    await staff.wait_for_url("**/edit")
    assert "第2版を作成" in await staff.locator("h1").inner_text()
    assert await staff.get_by_label("本文", exact=True).input_value() == FIRST
    await staff.get_by_label("本文", exact=True).fill(SECOND)
    await staff.get_by_role("button", name="編集を保存して承認を依頼する").click()
    await staff.wait_for_url("**notice=revised")
    assert "第2版を保存しました" in await staff.locator("#revised-notice").inner_text()

    await approver.goto(served.url + "/console/approvals")
    assert "第2版" in await approver.content()
    await approver.goto(served.url + f"/console/messages/{message_id}")
    history = await approver.locator("section.history").inner_text()
    assert "第2版の変更点" in history
    assert "-ぜひお越しください。" in history and "+雨天の場合は翌日に延期します。" in history
    assert await approver.locator("pre.diff .add").count() == 1
    await screenshot(approver, "revision-desktop")
    await approver.set_viewport_size(PHONE)
    await _fits(approver)
    await screenshot(approver, "revision-phone")
    await approver.goto(served.url + f"/console/audit?message_id={message_id}")
    assert "投稿: 編集" in await approver.content()
    await approver.get_by_text("第2版の変更点").click()
    added = approver.locator("table.audit pre.diff .add")
    assert await added.is_visible() and (await added.bounding_box())["width"] > 200  # a line, not a column
    await _fits(approver)
    await screenshot(approver, "revision-audit-phone")

    await staff.set_viewport_size(PHONE)
    await staff.goto(served.url + "/console/compose")
    await _fits(staff)
    await screenshot(staff, "compose-draft-button-phone")

    await approver.set_viewport_size({"width": 1400, "height": 1000})
    await approver.goto(served.url + f"/console/messages/{message_id}")
    asked = answer_dialogs(approver)
    await approver.get_by_role("button", name="承認する").click()
    await approver.wait_for_url("**notice=approved")
    assert asked
    assert await approver.get_by_role("link", name="編集する").count() == 0  # approved: no more edits


async def test_a_scheduled_post_is_cancelled_plainly(browser: Any, served: Served) -> None:
    staff = await signed_in(browser, served, "sato")
    await staff.goto(served.url + "/console/compose")
    await _compose(staff, FIRST)
    await staff.get_by_label("予約日時（日本時間、空欄はすぐ）").fill("2026-12-01T10:00")
    await staff.get_by_role("button", name="提出する").click()
    await staff.wait_for_url("**/console/messages/m_*")
    message_id = staff.url.rsplit("/", 1)[1].split("?")[0]
    approver = await signed_in(browser, served, "suzuki")
    await approver.goto(served.url + f"/console/messages/{message_id}")
    answer_dialogs(approver)
    await approver.get_by_role("button", name="承認する").click()
    await approver.wait_for_url("**notice=approved")
    section = approver.locator("section", has=approver.get_by_role("heading", name="予約の取消"))
    assert "配信する予約です" in await section.inner_text()
    await approver.get_by_label("取消の理由").fill("日程が変わったため")
    await approver.set_viewport_size(PHONE)
    await _fits(approver)
    await screenshot(approver, "schedule-cancel-phone")
    await approver.get_by_role("button", name="予約を取り消す").click()
    await approver.wait_for_url("**notice=schedule_cancelled")
    deliveries = await served.runtime.store.list_deliveries(message_id=message_id)
    assert deliveries and all(d.state.value == "cancelled" for d in deliveries)
    await staff.goto(served.url + f"/console/messages/{message_id}")
    assert "予約の取消" not in await staff.locator("main").inner_text() or "依頼" in await staff.content()
