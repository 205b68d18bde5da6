"""A two-step approval route in headless Chromium: 厚木's 所属長 then 広報主管課長, each on their own screen.

Staff write in the console; the 所属長 approves the first step from the queue; the same person finds they
cannot take the second; the 広報主管課長 approves it and the post is planned. A second post is sent back at
the second step with a comment the author reads. Staff of 逗子 do not see 厚木's posts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gateway.models import Role, Scope
from gateway.runtime import open_runtime
from gateway.services.passwords import hash_password
from gateway.settings import Settings
from gateway.web.app import build_app
from tests.browser.conftest import PASSWORD, RunningClock, Served, _free_port, answer_dialogs, screenshot, signed_in
from tests.routes import config_with_route

pytestmark = pytest.mark.browser

ATSUGI = Scope.of("atsugi")
USERS = {"sato": (Role.STAFF, ATSUGI), "bucho": (Role.APPROVER, ATSUGI), "kacho": (Role.APPROVER, ATSUGI),
         "zushi-staff": (Role.STAFF, Scope.of("zushi"))}
TEXT = "市役所の窓口受付時間が変わります。詳しくは市のホームページをご覧ください。"


@pytest.fixture
async def routed(tmp_path: Path) -> AsyncIterator[Served]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}", platforms="sandbox",
                        config_dir=config_with_route(tmp_path / "config"), var_dir=tmp_path, poll_seconds=0.1)
    async with open_runtime(settings, clock=RunningClock()) as runtime:
        password_hash = hash_password(PASSWORD)
        for name, (role, scope) in USERS.items():
            await runtime.store.create_user(name, role, scope, actor="test", password_hash=password_hash)
        runner = web.AppRunner(build_app(runtime.gateway), access_log=None)
        await runner.setup()
        port = _free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield Served(f"http://127.0.0.1:{port}", runtime)
        finally:
            await runner.cleanup()


async def write(page: Any, served: Served, text: str) -> str:
    await page.goto(served.url + "/console/compose")
    assert await page.locator("#municipality option").all_inner_texts() == ["選んでください", "厚木市"]
    assert await page.locator("#priority").count() == 0  # 緊急 is not offered without the permission
    await page.get_by_label("自治体").select_option("atsugi")
    await page.get_by_label("カテゴリ", exact=True).select_option("city_news")
    await page.get_by_label("atsugi_x（X").check()
    await page.get_by_label("本文").fill(text)
    await page.locator(".verdict-pass").wait_for()
    await page.get_by_role("button", name="提出する").click()
    await page.wait_for_url("**/console/messages/*")
    return str(page.url.rsplit("/", 1)[1])


async def test_two_step_route_approved_and_sent_back(browser: Any, routed: Served) -> None:
    staff = await signed_in(browser, routed, "sato")
    message_id = await write(staff, routed, TEXT)
    route = staff.locator("section.route")
    assert "所属長" in await route.inner_text() and "広報主管課長" in await route.inner_text()
    await screenshot(staff, "route-01-submitted")

    bucho = await signed_in(browser, routed, "bucho")
    asked = answer_dialogs(bucho)
    await bucho.goto(routed.url + "/console/approvals")
    card = bucho.locator(f"article:has(#m-{message_id})")
    await card.get_by_role("button", name="所属長として承認する").click()
    await bucho.wait_for_url(f"**/console/messages/{message_id}?notice=step_approved")
    assert asked == ["この投稿を承認しますか？（所属長として）"]
    assert "承認済み bucho" in await bucho.locator("section.route li.done").inner_text()
    assert "別の段階をすでに承認" in await bucho.locator("article.message").inner_text()
    assert await bucho.get_by_role("button", name="広報主管課長として承認する").count() == 0
    await screenshot(bucho, "route-02-first-step")
    record = await routed.runtime.store.get_message(message_id)
    assert record.state.value == "pending_approval"

    kacho = await signed_in(browser, routed, "kacho")
    answer_dialogs(kacho)
    await kacho.goto(routed.url + f"/console/messages/{message_id}")
    assert "承認待ち" in await kacho.locator("section.route li.current").inner_text()
    await kacho.get_by_role("button", name="広報主管課長として承認する").click()
    await kacho.wait_for_url(f"**/console/messages/{message_id}?notice=approved")
    assert await kacho.locator("section.route li.done").count() == 2
    await screenshot(kacho, "route-03-approved")
    assert (await routed.runtime.store.get_message(message_id)).state.value in ("planned", "approved", "sent")

    second = await write(staff, routed, "図書館の休館日をお知らせします。")
    await bucho.goto(routed.url + f"/console/messages/{second}")
    await bucho.get_by_role("button", name="所属長として承認する").click()
    await kacho.goto(routed.url + f"/console/messages/{second}")
    await kacho.get_by_label("差し戻しのコメント").fill("休館日の日付を追記してください")
    await kacho.get_by_role("button", name="差し戻す").click()
    await staff.goto(routed.url + f"/console/messages/{second}")
    assert "休館日の日付を追記してください" in await staff.locator("article.message").inner_text()
    await screenshot(staff, "route-04-sent-back")

    other = await signed_in(browser, routed, "zushi-staff")
    response = await other.goto(routed.url + f"/console/messages/{message_id}")
    assert response.status == 403 and "担当範囲外" in await other.locator("main").inner_text()
    await screenshot(other, "route-05-out-of-scope")


async def test_admin_manages_users_and_only_the_permitted_see_emergency(browser: Any, routed: Served) -> None:
    store = routed.runtime.store
    await store.create_user("root", Role.ADMIN, Scope.everywhere(), actor="test", password_hash=hash_password(PASSWORD))
    admin = await signed_in(browser, routed, "root")
    await admin.goto(routed.url + "/console/users")
    await admin.locator("#new-user").fill("kiki")
    await admin.locator("#new-role").select_option("staff")
    new = admin.locator("section[aria-labelledby=new-h]")
    await new.locator("fieldset").nth(0).get_by_label("厚木市").check()
    await new.locator("fieldset").nth(1).get_by_label("厚木市").check()
    await admin.locator("#new-password").fill(PASSWORD)
    await admin.get_by_role("button", name="作成する").click()
    await admin.wait_for_url("**/console/users?notice=create")
    row = admin.locator("tr", has_text="kiki")
    assert "緊急: 厚木市" in await row.inner_text()  # the city by its name
    await screenshot(admin, "users-01-created")
    again = await admin.request.post(routed.url + "/console/users/create", form={
        "csrf": await admin.locator("input[name=csrf]").first.get_attribute("value"), "user": "kiki", "role": "admin",
        "password": "another password"})
    assert again.status == 409 and (await store.get_user("kiki")).role is Role.STAFF  # type: ignore[union-attr]

    crisis = await signed_in(browser, routed, "kiki")
    await crisis.goto(routed.url + "/console/compose")
    assert await crisis.locator("#priority option").all_inner_texts() == ["通常", "緊急（時間外でも送信）"]
    await screenshot(crisis, "users-02-compose-emergency")
    staff = await signed_in(browser, routed, "sato")
    await staff.goto(routed.url + "/console/compose")
    assert await staff.locator("#priority").count() == 0

    await row.get_by_text("変更する").click()
    await row.get_by_role("button", name="無効にする").click()
    await admin.wait_for_url("**/console/users?notice=disable")
    await crisis.goto(routed.url + "/console/compose")
    assert "/console/login" in crisis.url  # a disabled user's session ends at once
