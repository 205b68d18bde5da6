"""Connecting accounts from the console in headless Chromium: X (OAuth 2.0 + PKCE) and Facebook Login
(the Page token and the Instagram business account behind it), through the sandbox's consent pages.

The gateway runs in sandbox mode with an encrypted credentials file: tokens must end up there, and
nowhere on the pages. A replayed callback is refused in Japanese; a refresh failure shows a banner.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.credentials import EncryptedCredentialFile, new_key, parse_keys
from gateway.models import Platform, Role, Scope
from gateway.runtime import open_runtime
from gateway.sandbox.credentials import sandbox_credentials, sandbox_user_id
from gateway.services.passwords import hash_password
from gateway.settings import Settings
from gateway.web.app import build_app
from tests.browser.conftest import PASSWORD, ROOT, RunningClock, Served, _free_port, screenshot, signed_in

pytestmark = pytest.mark.browser

ADMINS = {"yamada": Scope.of("mine"), "kato": Scope.of("kodaira")}  # city admins of 美祢 and 小平


@pytest.fixture
async def connectable(tmp_path: Path) -> AsyncIterator[tuple[Served, EncryptedCredentialFile]]:
    key = new_key()
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}", platforms="sandbox",
                        config_dir=ROOT / "config" / "municipalities", var_dir=tmp_path, poll_seconds=0.1,
                        credentials_key=key, credentials_file=tmp_path / "credentials.enc")
    async with open_runtime(settings, clock=RunningClock()) as runtime:
        password_hash = hash_password(PASSWORD)
        for name, scope in ADMINS.items():
            await runtime.store.create_user(name, Role.ADMIN, scope, actor="test", password_hash=password_hash)
        await runtime.store.create_user("ito", Role.OPERATOR, Scope.of("mine"), actor="test",
                                        password_hash=password_hash)
        runner = web.AppRunner(build_app(runtime.gateway, connections=runtime.connections), access_log=None)
        await runner.setup()
        port = _free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield Served(f"http://127.0.0.1:{port}", runtime), EncryptedCredentialFile(
                tmp_path / "credentials.enc", parse_keys(key))
        finally:
            await runner.cleanup()


def _fields(stored: EncryptedCredentialFile, account: str) -> dict[str, str]:
    stored.list_masked()  # reads the file again now (get() looks at most once a second)
    return {k: v.get_secret_value() for k, v in stored.get(account).items()}


async def _consent(page: Any, served: Served, account: str, login_as: str, name: str) -> list[str]:
    """Press 接続する for `account`, sign in on the sandbox's consent page as `login_as`, press 許可."""
    callbacks: list[str] = []
    callback = served.url + "/console/connect/callback"
    page.on("request", lambda r: callbacks.append(r.url) if r.url.startswith(callback) else None)
    await page.goto(served.url + "/console/accounts?municipality=mine")
    await page.get_by_role("button", name=f"{account} を接続する").click()
    await page.wait_for_url(served.runtime.sandbox.base_url + "/**")
    await page.get_by_label("ログインするアカウント").select_option(login_as)
    await screenshot(page, f"connect-consent-{name}")
    await page.get_by_role("button", name="許可").click()
    await page.wait_for_url(served.url + "/console/accounts?notice=*")
    return callbacks


async def test_city_admin_connects_x_with_pkce_and_a_replayed_callback_is_refused(connectable: Any, browser: Any):
    served, stored = connectable
    page = await signed_in(browser, served, "yamada")
    callbacks = await _consent(page, served, "mine_x", "mine_x", "x")
    await page.get_by_text("アカウント mine_x を接続しました").wait_for()
    fields = _fields(stored, "mine_x")
    sandbox = sandbox_credentials("mine_x", Platform.X)
    assert fields["bearer_token"] == sandbox["bearer_token"]
    assert fields["user_id"] == sandbox_user_id("mine_x")
    assert fields["refresh_token"].startswith("rt-") and fields["expires_at"]
    card = page.locator("section", has=page.locator("#acc-mine_x"))
    await card.get_by_text("コンソールから接続済み").wait_for()
    await card.get_by_text("トークンの有効期限").wait_for()
    html = await page.content()
    assert fields["bearer_token"] not in html and fields["refresh_token"] not in html
    await screenshot(page, "connect-accounts-x")

    # The same callback again (a replay, or the back button): refused, nothing changed.
    assert len(callbacks) == 1
    response = await page.goto(callbacks[0])
    assert response.status == 400
    await page.get_by_text("すでに使われた応答です").wait_for()
    assert fields["bearer_token"] not in await page.content()

    # The stored token works against the platform: X's API answers as the account.
    async with aiohttp.ClientSession() as session, session.get(
            served.runtime.sandbox.base_url + "/2/users/me",
            headers={"Authorization": f"Bearer {fields['bearer_token']}"}) as me:
        assert (await me.json())["data"]["id"] == sandbox_user_id("mine_x")


async def test_refresh_failure_shows_on_the_accounts_page(connectable: Any, browser: Any):
    served, stored = connectable
    page = await signed_in(browser, served, "yamada")
    await _consent(page, served, "mine_x", "mine_x", "x-refresh")
    fields = _fields(stored, "mine_x")
    soon = (served.runtime.gateway.clock() + timedelta(minutes=5)).isoformat()
    stored.set("mine_x", {**fields, "expires_at": soon}, actor="test", reason="期限間近にする")
    connections = served.runtime.connections
    assert await connections.refresh_due() == ["mine_x"]  # renewed, with a rotated refresh token
    renewed = _fields(stored, "mine_x")
    assert renewed["refresh_token"] != fields["refresh_token"] and renewed["expires_at"] > soon

    stored.set("mine_x", {**renewed, "expires_at": soon}, actor="test", reason="期限間近にする")
    served.runtime.sandbox.state.consent.refuse(Platform.X, "mine_x")
    assert await connections.refresh_due() == []
    await page.goto(served.url + "/console/accounts?municipality=mine")
    banner = page.get_by_role("alert").filter(has_text="トークンの更新に失敗したアカウントがあります")
    found = served.runtime.policies.account("mine_x")
    assert found is not None
    await banner.get_by_text(f"美祢市 X {found[1].handle}").wait_for()  # the account as people know it
    card = page.locator("section", has=page.locator("#acc-mine_x"))
    await card.get_by_text("トークン更新失敗").wait_for()
    await card.get_by_text("invalid_request").wait_for()
    assert renewed["refresh_token"] not in await page.content()
    await screenshot(page, "connect-accounts-refresh-failed")
    failures = await served.runtime.store.list_audit(action="credentials.refresh_failed")
    assert [e.detail["account"] for e in failures] == ["mine_x"]


async def test_facebook_login_connects_the_page_and_its_instagram_account(connectable: Any, browser: Any):
    served, stored = connectable
    page = await signed_in(browser, served, "yamada")
    await _consent(page, served, "mine_facebook", "mine_facebook", "facebook")
    await page.get_by_text("アカウント mine_facebook を接続しました").wait_for()
    facebook = _fields(stored, "mine_facebook")
    instagram = _fields(stored, "mine_instagram")
    page_token = sandbox_credentials("mine_facebook", Platform.FACEBOOK)["page_access_token"]
    assert facebook == {"page_id": sandbox_user_id("mine_facebook"), "page_access_token": page_token}
    assert instagram == {"ig_user_id": sandbox_user_id("mine_instagram"), "access_token": page_token}
    ig_card = page.locator("section", has=page.locator("#acc-mine_instagram"))
    await ig_card.get_by_text("コンソールから接続済み").wait_for()
    assert page_token not in await page.content()
    await screenshot(page, "connect-accounts-facebook")

    # Instagram's Graph API accepts the Page token for the linked business account.
    base = served.runtime.sandbox.base_url + "/instagram/v26.0"
    async with aiohttp.ClientSession() as session, session.get(
            f"{base}/{instagram['ig_user_id']}/content_publishing_limit",
            params={"fields": "quota_usage,config"}, headers={"Authorization": f"Bearer {page_token}"}) as answer:
        assert answer.status == 200, await answer.text()


async def test_only_the_citys_admins_may_connect_its_accounts(connectable: Any, browser: Any):
    served, stored = connectable
    other_admin = await signed_in(browser, served, "kato")  # 小平's admin: 美祢's accounts are not theirs
    await other_admin.goto(served.url + "/console/accounts")
    assert await other_admin.get_by_role("button", name="mine_x を接続する").count() == 0
    csrf = await other_admin.locator("input[name=csrf]").first.get_attribute("value")
    response = await other_admin.request.post(served.url + "/console/accounts/mine_x/connect",
                                              form={"csrf": csrf}, max_redirects=0)
    assert response.status == 403
    assert "美祢市の管理者だけ" in await response.text()
    operator = await signed_in(browser, served, "ito")
    await operator.goto(served.url + "/console/accounts?municipality=mine")
    assert await operator.get_by_role("button", name="mine_x を接続する").count() == 0
    assert stored.list_masked() == []
