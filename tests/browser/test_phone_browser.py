"""Issue 16: every console page fits a 390 px phone (nothing wider than the screen, so no sideways scrolling
to reach a status or a button), each page as the role that uses it, with a screenshot of each to look at."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.models import Actor, Role
from gateway.pipeline.intake.validation import parse_message
from gateway.services.passwords import hash_password
from tests.browser.conftest import ALL_CITIES, PASSWORD, SCREENSHOTS, Served, signed_in

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
PAGES = {
    "sato": ("/console/", "/console/compose", "/console/posts", "/console/drafts", "/console/calendar",
             "/console/messages/{id}"),
    "suzuki": ("/console/approvals", "/console/audit", "/console/alerts"),
    "ito": ("/console/deliveries", "/console/accounts"),
    "kanri": ("/console/users", "/console/accounts"),
}


async def _width(page: Any) -> int:
    return int(await page.evaluate("document.documentElement.scrollWidth"))


async def test_every_page_fits_a_phone(browser: Any, served: Served) -> None:
    runtime = served.runtime
    await runtime.store.ensure_user("kanri", Role.ADMIN, actor="test", scope=ALL_CITIES)
    await runtime.store.set_password("kanri", hash_password(PASSWORD), actor="test")
    staff = Actor("sato", Role.STAFF, ALL_CITIES)
    long_line = "小平市民まつりを中央公園で開催します。会場には臨時駐車場がありませんので、公共交通機関でお越しください。"
    submitted = await runtime.gateway.submit(parse_message({
        "municipality": "kodaira", "category": "event", "accounts": ["kodaira_x", "kodaira_facebook"],
        "title": "小平市民まつりのお知らせ", "text": long_line + "\n問い合わせ：産業振興課 042-346-9581"}), staff)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    too_wide = []
    login = await (await browser.new_context(locale="ja-JP", viewport=PHONE)).new_page()
    await login.goto(served.url + "/console/login")
    await login.screenshot(path=str(SCREENSHOTS / "phone-login.png"))
    if await _width(login) > PHONE["width"]:
        too_wide.append(("/console/login", await _width(login)))
    for user, paths in PAGES.items():
        page = await signed_in(browser, served, user)
        await page.set_viewport_size(PHONE)
        for path in paths:
            response = await page.goto(served.url + path.format(id=submitted.record.id))
            assert response is not None and response.status == 200, (user, path)
            name = path.strip("/").replace("/", "-").replace("{id}", "message") or "home"
            await page.screenshot(path=str(SCREENSHOTS / f"phone-{user}-{name}.png"))
            if await _width(page) > PHONE["width"]:
                too_wide.append((path, await _width(page)))
    assert too_wide == [], f"wider than a 390 px phone: {too_wide}"
