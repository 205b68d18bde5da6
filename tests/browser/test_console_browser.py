"""The console in headless Chromium: the whole journey, CSRF and roles, keyboard-only compose."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Served, answer_dialogs, screenshot, signed_in

pytestmark = pytest.mark.browser

MOBILE = "小平市民まつりを開催します。お問い合わせは担当 090-1234-5678 まで。"
CLEAN = "小平市民まつりを中央公園で開催します。ぜひお越しください。"


async def compose(page: Any, served: Served, text: str) -> None:
    await page.goto(served.url + "/console/compose")
    await page.get_by_label("自治体").select_option("kodaira")
    await page.get_by_label("カテゴリ", exact=True).select_option("event")
    await page.get_by_label("kodaira_x（X").check()
    await page.get_by_label("本文").fill(text)


async def test_compose_approve_watch_live_and_retract(browser: Any, served: Served) -> None:
    staff = await signed_in(browser, served, "sato")
    await compose(staff, served, MOBILE)
    mark = staff.locator("#findings-live mark.finding")
    await mark.wait_for()
    assert await mark.inner_text() == "090-1234-5678"
    assert "4(8)" in await staff.locator("#findings-live cite").first.inner_text()
    await staff.locator(".post .count").first.wait_for()
    await screenshot(staff, "01-compose-finding")

    await staff.get_by_label("本文").fill(CLEAN)
    await staff.locator(".verdict-pass").wait_for()
    assert "/ 280" in await staff.locator(".post .count").first.inner_text()
    await staff.get_by_role("button", name="提出する").click()
    await staff.wait_for_url("**/console/messages/*")
    message_id = staff.url.rsplit("/", 1)[1]
    assert await staff.get_by_role("button", name="承認する").count() == 0

    operator = await signed_in(browser, served, "ito")
    await operator.goto(served.url + "/console/deliveries")
    await operator.locator("#live").filter(has_text="変更はすぐに反映").wait_for()
    await operator.evaluate("window.__notReloaded = true")

    approver = await signed_in(browser, served, "suzuki")
    asked = answer_dialogs(approver)
    await approver.goto(served.url + "/console/approvals")
    card = approver.locator(f"article:has(#m-{message_id})")
    await screenshot(approver, "02-approval-queue")
    await card.get_by_role("button", name="承認する").click()
    await approver.wait_for_url(f"**/console/messages/{message_id}?notice=approved")
    assert asked == ["この投稿を承認しますか？承認すると配信の予定が組まれます。"]

    # The row names the post by its words and links to it by id.
    sent = operator.locator(f"#rows tr[data-state='sent']:has(a[href='/console/messages/{message_id}'])")
    await sent.wait_for(timeout=20_000)
    assert await operator.evaluate("window.__notReloaded") is True  # updated live, no reload
    assert await sent.get_by_role("link", name="投稿を開く").count() == 1
    rows = await operator.locator("#rows tr[id^='d-']").count()  # 「全 N 件」 follows the rows that arrived live
    await operator.locator("p.total").filter(has_text=f"全 {rows} 件（1〜{rows} 件目を表示）").wait_for(timeout=10_000)
    await screenshot(operator, "03-deliveries-live-sent")
    # In sandbox mode the post exists only in the sandbox: the link opens it there, not on x.com.
    href = await sent.get_by_role("link", name="投稿を開く").get_attribute("href")
    assert href.startswith(served.runtime.sandbox.base_url + "/_sandbox/open/x/"), href
    sandbox = await browser.new_page()
    await sandbox.goto(href)
    remote_id = href.rsplit("/", 1)[1]
    assert sandbox.url.endswith(f"/_sandbox/#post-{remote_id}")
    assert CLEAN in await sandbox.locator(f"tr#post-{remote_id}").inner_text()
    await sandbox.close()

    await operator.goto(f"{served.url}/console/messages/{message_id}")
    await operator.get_by_label("取り下げの理由").fill("日付の誤りのため")
    await operator.get_by_role("button", name="取り下げる").click()
    await operator.wait_for_url("**notice=retracted")
    assert await operator.locator("td.state-retracted").count() == 1
    await screenshot(operator, "04-retracted")

    await staff.goto(f"{served.url}/console/compose?correction_of={message_id}")
    assert (await staff.get_by_label("本文").input_value()).startswith("【訂正】")
    await staff.locator(".verdict-pass, .verdict-review").wait_for()
    await screenshot(staff, "05-correction-compose")

    await operator.goto(f"{served.url}/console/audit?message_id={message_id}")
    audit = await operator.locator("table.audit").inner_text()
    assert "配信: 送信済み" in audit and "送信中 → 送信済み" in audit  # delivery.sent, sending -> sent, in words
    await screenshot(operator, "06-audit")
    await operator.goto(f"{served.url}/console/accounts")
    await screenshot(operator, "07-accounts")


async def test_csrf_refused_and_roles_enforced(browser: Any, served: Served) -> None:
    staff = await signed_in(browser, served, "sato")
    response = await staff.goto(served.url + "/console/approvals")
    assert response.status == 403
    assert "権限がありません" in await staff.locator("main").inner_text()
    assert await staff.get_by_role("link", name="承認待ち").count() == 0
    status = await staff.evaluate("""async () => (await fetch('/console/compose/preview', {method: 'POST',
        headers: {'Content-Type': 'application/json', 'Accept': 'application/json'},
        body: JSON.stringify({municipality: 'kodaira', category: 'event', text: 'x'})})).status""")
    assert status == 403
    await staff.goto(served.url + "/console/compose")
    await staff.evaluate("document.querySelector('#compose input[name=csrf]').value = 'forged'")
    await staff.get_by_label("自治体").select_option("kodaira")
    await staff.get_by_label("カテゴリ", exact=True).select_option("event")
    await staff.get_by_label("本文").fill(CLEAN)
    async with staff.expect_navigation():
        await staff.get_by_role("button", name="提出する").click()
    assert "CSRF" in await staff.locator("main").inner_text()
    await screenshot(staff, "08-csrf-refused")

    operator = await signed_in(browser, served, "ito")
    response = await operator.goto(served.url + "/console/compose")
    assert response.status == 403


async def tab_to(page: Any, selector: str, limit: int = 80) -> None:
    for _ in range(limit):
        if await page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


async def choose_by_keyboard(page: Any, selector: str, value: str) -> None:
    await tab_to(page, selector)
    for _ in range(20):
        if await page.evaluate(f"document.querySelector({selector!r}).value") == value:
            return
        await page.keyboard.press("ArrowDown")
    raise AssertionError(f"{value} not reachable in {selector}")


async def test_compose_form_by_keyboard_only(browser: Any, served: Served) -> None:
    staff = await signed_in(browser, served, "sato")
    await staff.goto(served.url + "/console/compose")
    await choose_by_keyboard(staff, "#municipality", "kodaira")
    await choose_by_keyboard(staff, "#category", "event")
    await tab_to(staff, "#acc-kodaira_x")
    await staff.keyboard.press("Space")
    await tab_to(staff, "#text")
    await staff.keyboard.type(CLEAN)
    await staff.locator(".verdict-pass").wait_for()
    focus_style = await staff.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focus_style != "none"  # the focused field is visibly marked
    await screenshot(staff, "09-keyboard-compose")
    await tab_to(staff, "#submit")
    await staff.keyboard.press("Enter")
    await staff.wait_for_url("**/console/messages/*")
    assert "承認待ち" in await staff.locator("main").inner_text()


async def test_operator_publishes_a_held_alert_and_dismisses_a_restricted_one(browser: Any, served: Served) -> None:
    from datetime import UTC, datetime

    from gateway.models import Actor, Role, Scope
    from gateway.services.alerts import AlertIntake
    from tests.alertdocs import cap, info, json_alert

    intake = AlertIntake(served.runtime.gateway)
    feed = Actor("jma-feed", Role.ALERT_SYSTEM, Scope.everywhere())
    await served.runtime.store.ensure_user(feed.name, feed.role, actor="test")
    old = await intake.receive(json_alert(id="flood-2024", sent=datetime(2024, 9, 1, 1, 0, tzinfo=UTC)), feed)
    restricted = await intake.receive(cap(info(), scope="Restricted", sent=served.runtime.gateway.clock(),
                                          head="<restriction>防災関係機関のみ</restriction>"), feed)
    assert old.outcome == "held" and restricted.held

    operator = await signed_in(browser, served, "ito")
    await operator.get_by_role("link", name="要確認の防災情報").click()
    held = operator.locator(f"section:has(#held-{old.held})")
    await held.wait_for()
    assert "2024" in await held.locator("dl.meta").inner_text()
    assert "（2024年9月1日10時00分 kodaira-bousai発表）" in await held.locator("pre.part").first.inner_text()
    restricted_card = operator.locator(f"section:has(#held-{restricted.held})")
    assert await restricted_card.get_by_role("button", name="確認して掲載する").count() == 0
    await screenshot(operator, "10-held-alerts")

    await held.get_by_label("掲載する理由（任意）").fill("2年前の情報と確認のうえ掲載")
    await held.get_by_role("button", name="確認して掲載する").click()
    await operator.wait_for_url("**notice=published*")
    assert "掲載しました" in await operator.locator("p.notice").inner_text()
    await restricted_card.get_by_label("見送る理由").fill("関係機関向けのため確認のみ")
    await restricted_card.get_by_role("button", name="確認済みにする").click()
    await operator.wait_for_url("**notice=dismissed")
    assert "ありません" in await operator.locator("main").inner_text()
    await operator.goto(served.url + "/console/alerts?view=decided")
    decided = await operator.locator("main").inner_text()
    assert "掲載済み" in decided and "見送り" in decided and "関係機関向けのため確認のみ" in decided
    await screenshot(operator, "11-held-alerts-decided")

    staff = await signed_in(browser, served, "sato")
    assert await staff.get_by_role("link", name="要確認の防災情報").count() == 0
    response = await staff.goto(served.url + "/console/alerts")
    assert response is not None and response.status == 403


async def test_staff_uploads_an_image_and_the_approver_sees_its_thumbnail(browser: Any, served: Served) -> None:
    from tests.mediafiles import FIXTURE_MEDIA

    staff = await signed_in(browser, served, "sato")
    await compose(staff, served, CLEAN)
    assert await staff.get_by_label("またはパス（var/media/…）").count() == 0  # no server paths to type
    await staff.locator("#image_file_0").set_input_files(str(FIXTURE_MEDIA / "city.png"))
    await staff.locator("#image_alt_0").fill("小平市役所の外観")
    await staff.locator(".post p.media").filter(has_text="小平市役所の外観").wait_for()
    await staff.get_by_role("button", name="提出する").click()
    await staff.wait_for_url("**/console/messages/*")
    message_id = staff.url.rsplit("/", 1)[1]

    approver = await signed_in(browser, served, "suzuki")
    await approver.goto(served.url + "/console/approvals")
    thumb = approver.locator(f"article:has(#m-{message_id}) img.thumb")
    await thumb.wait_for()
    assert await thumb.get_attribute("alt") == "小平市役所の外観"
    assert await thumb.evaluate("img => img.complete && img.naturalWidth") == 8  # the 8x8 PNG, served by id
    await screenshot(approver, "12-approval-thumbnail")
