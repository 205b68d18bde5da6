"""Issue 16 in Chromium: 投稿一覧 (search, filters, server pages; desktop and phone), and the compose preview
that blocks a text too long for X (counted whole, with the submit button disabled)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.models import CheckResult, DeliveryState, Message, MessageState, Platform, Priority
from gateway.store import NewDelivery, NewMessage
from tests.browser.conftest import SCREENSHOTS, Served, answer_dialogs, screenshot, signed_in

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
TOO_LONG = "小平市民まつりを中央公園で開催します。" * 7 + "問い合わせ：市民課042-346-9501まで"  # X: 300 of 280


async def viewport_shot(page: Any, name: str) -> None:
    """What the reader sees first (the full-page shots of a long list are too tall to read)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


async def _seed(served: Served, count: int) -> None:
    for i in range(count):
        body = Message(municipality="kodaira", category="event" if i % 2 else "city_news",
                       text=f"小平市からのお知らせ 第{i}号。\n詳しくは市のサイトをご覧ください。", title=f"お知らせ{i}")
        await served.runtime.store.add_message(NewMessage(
            municipality="kodaira", body=body, state=MessageState.PENDING_APPROVAL, priority=Priority.NORMAL,
            submitted_by="sato", source="console", check=CheckResult.of([]), accounts=("kodaira_x",)), actor="sato")


async def test_posts_list_searches_filters_and_pages(browser: Any, served: Served) -> None:
    await _seed(served, 45)
    staff = await signed_in(browser, served, "sato")
    await staff.get_by_role("link", name="投稿一覧").click()
    await staff.wait_for_url("**/console/posts")
    assert "全 45 件" in await staff.locator(".total").inner_text()
    assert await staff.locator("li.post-row").count() == 30
    first = staff.locator("li.post-row").first
    assert "お知らせ44" in await first.inner_text() and "承認待ち" in await first.inner_text()
    assert "作成者 sato" in await first.inner_text()
    await viewport_shot(staff, "posts-desktop")
    await staff.get_by_role("link", name="次へ").click()
    await staff.wait_for_url("**page=2")
    assert await staff.locator("li.post-row").count() == 15

    await staff.get_by_label("本文・タイトル").fill("第7号")
    await staff.get_by_role("button", name="絞り込む").click()
    await staff.wait_for_url("**q=*")
    assert await staff.locator("li.post-row").count() == 1
    await staff.get_by_label("本文・タイトル").fill("")
    await staff.get_by_label("カテゴリ").select_option("event")
    await staff.get_by_role("button", name="絞り込む").click()
    await staff.wait_for_url("**category=event*")
    assert "全 22 件" in await staff.locator(".total").inner_text()

    await staff.set_viewport_size(PHONE)
    await staff.goto(served.url + "/console/posts")
    await viewport_shot(staff, "posts-phone")
    width = await staff.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the list is {width} px wide on a 390 px phone"


async def test_preview_blocks_a_text_too_long_for_x(browser: Any, served: Served) -> None:
    staff = await signed_in(browser, served, "sato")
    await staff.goto(served.url + "/console/compose")
    await staff.get_by_label("自治体").select_option("kodaira")
    await staff.get_by_label("カテゴリ", exact=True).select_option("event")
    await staff.get_by_label("kodaira_x（X").check()
    await staff.get_by_label("本文").fill(TOO_LONG)
    await staff.locator(".verdict-block").wait_for()
    live = await staff.locator("#findings-live").inner_text()
    assert "問題は見つかりませんでした" not in live and "20 超えています" in live
    assert "300 / 280" in await staff.locator(".post .count").first.inner_text()
    assert await staff.get_by_role("button", name="提出する").is_disabled()
    assert await staff.locator("#submit-blocked").is_visible()
    await screenshot(staff, "compose-too-long-desktop")
    await staff.set_viewport_size(PHONE)
    await staff.locator("#findings-live").scroll_into_view_if_needed()
    await viewport_shot(staff, "compose-too-long-phone")
    await staff.get_by_label("本文").fill("小平市民まつりを中央公園で開催します。")
    await staff.locator(".verdict-pass").wait_for()
    assert await staff.get_by_role("button", name="提出する").is_enabled()


async def test_deliveries_keep_emergencies_on_top_of_a_paged_backlog(browser: Any, served: Served) -> None:
    store = served.runtime.store
    for priority, count, text in ((Priority.EMERGENCY, 3, "避難指示を発令しました"), (Priority.NORMAL, 120, "市民まつり")):
        for start in range(0, count, 20):
            body = Message(municipality="kodaira", category="event", text=text, priority=priority)
            new = NewMessage(municipality="kodaira", body=body, state=MessageState.APPROVED, priority=priority,
                             submitted_by="sato", source="api", check=CheckResult.of([]), accounts=("kodaira_x",))
            held = [NewDelivery("kodaira_x", Platform.X, DeliveryState.HELD, None)] * min(20, count - start)
            await store.add_planned_message(new, held, actor="sato")
    operator = await signed_in(browser, served, "ito")
    await operator.goto(served.url + "/console/deliveries")
    assert "全 123 件" in await operator.locator(".total").inner_text()
    rows = operator.locator("#rows tr")
    assert await rows.count() == 50
    assert [await rows.nth(i).get_attribute("class") for i in range(4)] == ["emergency"] * 3 + [""]
    await viewport_shot(operator, "deliveries-paged-desktop")
    await operator.get_by_role("link", name="3", exact=True).click()
    await operator.wait_for_url("**page=3")
    assert await rows.count() == 23
    await operator.set_viewport_size(PHONE)
    await operator.goto(served.url + "/console/deliveries?priority=emergency")
    assert await rows.count() == 3
    await viewport_shot(operator, "deliveries-emergency-phone")
    width = await operator.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"配信状況 is {width} px wide on a 390 px phone"
    cancel = rows.first.get_by_role("button", name="取消")
    box = await cancel.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"]
    asked = answer_dialogs(operator, accept=False)  # 取消 asks first; answering no cancels nothing
    await cancel.click()
    assert asked and "取り消しますか" in asked[0]
    assert await operator.locator("#rows tr[data-state='cancelled']").count() == 0


async def test_the_audit_log_fits_a_phone_and_names_posts_in_words(browser: Any, served: Served) -> None:
    from gateway.models import Actor, Role
    from gateway.pipeline.intake.validation import parse_message
    from tests.browser.conftest import ALL_CITIES

    staff = Actor("sato", Role.STAFF, ALL_CITIES)
    await served.runtime.gateway.submit(parse_message({
        "municipality": "kodaira", "category": "event", "accounts": ["kodaira_x"],
        "text": "小平市民まつりを中央公園で開催します。ぜひお越しください。"}), staff)
    operator = await signed_in(browser, served, "ito")
    await operator.set_viewport_size(PHONE)
    await operator.goto(served.url + "/console/audit")
    link = operator.get_by_role("link", name="小平市民まつりを中央公園で開催します。")
    await link.first.wait_for()  # the post in words (its id only on hover), not m_01a2…
    await viewport_shot(operator, "audit-phone")
    width = await operator.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"監査ログ is {width} px wide on a 390 px phone"
    actor = operator.locator("label", has_text="実行者")
    field = operator.locator("#a-actor")
    label_box, field_box = await actor.bounding_box(), await field.bounding_box()
    assert label_box and field_box and label_box["y"] < field_box["y"]  # each label above its own field
