"""The compose form with an English and a やさしい日本語 version (issue 17), in headless Chromium: the preview
shows each account's posts per language and the readability check's suggestion, the approver approves the
versions with the Japanese, and LINE sends the three languages in one broadcast."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.models import Platform
from tests.browser.conftest import Served, answer_dialogs, screenshot, signed_in

pytestmark = pytest.mark.browser

JAPANESE = "木更津市民まつりを中央公園で開きます。ぜひお越しください。"
ENGLISH = "The Kisarazu City Festival is held at Chuo Park. Everyone is welcome."
HARD_EASY = "中央公園(ちゅうおうこうえん)で まつりを 開催(かいさい)します。"
EASY = "中央公園(ちゅうおうこうえん)で まつりが あります。来(き)て ください。"


async def test_compose_with_an_english_version_previewed_approved_and_sent(browser: Any, served: Served) -> None:
    staff = await signed_in(browser, served, "sato")
    await staff.goto(served.url + "/console/compose")
    await staff.get_by_label("自治体").select_option("kisarazu")
    await staff.get_by_label("カテゴリ", exact=True).select_option("event")
    await staff.get_by_label("kisarazu_x（X").check()
    await staff.get_by_label("kisarazu_line（LINE").check()
    await staff.get_by_label("本文").fill(JAPANESE)
    await staff.get_by_label("英語").fill(ENGLISH)
    await staff.get_by_label("やさしい日本語").fill(HARD_EASY)

    suggestion = staff.locator("#findings-live li.sev-review").filter(has_text="「開催」はむずかしい言葉です")
    await suggestion.wait_for()
    assert "やさしい日本語版（translations[0].text）" in await suggestion.inner_text()
    assert "ガイドライン" in await suggestion.locator("cite").inner_text()

    await staff.get_by_label("やさしい日本語").fill(EASY)
    await staff.locator(".verdict-pass").wait_for()
    line = staff.locator("article.post[aria-label='kisarazu_line']")
    assert "日本語・やさしい日本語・英語" in await line.locator("h3").inner_text()
    assert [t.strip() for t in await line.locator("pre.part").all_inner_texts()] == [JAPANESE, EASY, ENGLISH]
    x_posts = staff.locator("article.post[aria-label='kisarazu_x']")
    assert await x_posts.count() == 1  # kisarazu_x posts Japanese only
    assert ENGLISH not in await x_posts.inner_text()
    await screenshot(staff, "13-compose-english-version")

    await staff.get_by_role("button", name="提出する").click()
    await staff.wait_for_url("**/console/messages/*")
    message_id = staff.url.rsplit("/", 1)[1]

    approver = await signed_in(browser, served, "suzuki")
    answer_dialogs(approver)
    await approver.goto(f"{served.url}/console/messages/{message_id}")
    assert ENGLISH in await approver.locator("details.posts").inner_text()  # the approver sees every version
    await approver.get_by_role("button", name="承認する").click()
    await approver.wait_for_url(f"**/console/messages/{message_id}?notice=approved")

    sandbox = served.runtime.sandbox
    assert sandbox is not None
    for _ in range(200):
        broadcasts = sandbox.state.live_posts(Platform.LINE, "kisarazu_line")
        if broadcasts and sandbox.state.live_posts(Platform.X, "kisarazu_x"):
            break
        await approver.wait_for_timeout(100)
    (broadcast,) = sandbox.state.live_posts(Platform.LINE, "kisarazu_line")
    assert [m["text"] for m in broadcast.extra["messages"]] == [JAPANESE, EASY, ENGLISH]
    assert [p.text for p in sandbox.state.live_posts(Platform.X, "kisarazu_x")] == [JAPANESE]
