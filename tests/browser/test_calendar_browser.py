"""Issue 16 in Chromium: the 予約・配信カレンダー at desktop and phone width: a scheduled post on its day with
why it waits, week view from a day's link, nothing wider than a 390 px phone."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import pytest

from gateway.models import CheckResult, DeliveryState, Message, MessageState, Platform, Priority
from gateway.store import NewDelivery, NewMessage
from gateway.web.console.labels import JST
from tests.browser.conftest import Served, screenshot, signed_in
from tests.browser.test_posts_browser import PHONE, viewport_shot

pytestmark = pytest.mark.browser


async def _schedule(served: Served, when: datetime, text: str, account: str = "kodaira_x") -> None:
    body = Message(municipality="kodaira", category="event", text=text, not_before=when)
    new = NewMessage(municipality="kodaira", body=body, state=MessageState.APPROVED, priority=Priority.NORMAL,
                     submitted_by="sato", source="console", check=CheckResult.of([]), accounts=(account,))
    held = [NewDelivery(account, Platform.X, DeliveryState.HELD, when, reason="指定日時まで保留")]
    await served.runtime.store.add_planned_message(new, held, actor="sato")


async def test_the_calendar_shows_scheduled_posts_by_day(browser: Any, served: Served) -> None:
    today = datetime.now(JST).date()
    day = today + timedelta(days=1) if today.day < 28 else today  # stays in this month's grid
    when = datetime.combine(day, time(9, 15), JST)
    await _schedule(served, when, "秋の市民文化祭のお知らせ。作品展示と舞台発表を行います。")
    await _schedule(served, when + timedelta(hours=5), "図書館の特別整理期間のお知らせ。期間中は休館します。")
    staff = await signed_in(browser, served, "sato")
    await staff.get_by_role("link", name="カレンダー").click()
    await staff.wait_for_url("**/console/calendar")
    cell = staff.locator(f'td[data-date="{day.isoformat()}"]')
    entries = cell.locator("li.entry")
    assert await entries.count() == 2
    first = await entries.first.inner_text()
    assert "09:15" in first and "秋の市民文化祭" in first and "指定日時まで保留" in first
    await viewport_shot(staff, "calendar-month-desktop")
    await cell.get_by_role("link", name=f"{day.month}/{day.day}").click()
    await staff.wait_for_url("**view=week*")
    assert await staff.locator("li.entry").count() == 2
    await screenshot(staff, "calendar-week-desktop")

    await staff.set_viewport_size(PHONE)
    await staff.goto(served.url + "/console/calendar")
    await viewport_shot(staff, "calendar-month-phone")
    width = await staff.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the calendar is {width} px wide on a 390 px phone"
    assert await staff.locator(f'td[data-date="{day.isoformat()}"] li.entry').first.is_visible()


async def test_the_home_page_answers_is_everything_all_right(browser: Any, served: Served) -> None:
    operator = await signed_in(browser, served, "ito")
    await operator.goto(served.url + "/console/")
    assert "対応が必要な異常はありません" in await operator.locator("#overall").inner_text()
    await screenshot(operator, "home-desktop")
    await operator.set_viewport_size(PHONE)
    await operator.reload()
    width = await operator.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the home page is {width} px wide on a 390 px phone"
    await viewport_shot(operator, "home-phone")
