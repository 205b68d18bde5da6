"""A real gateway (sandbox platforms, temporary SQLite) served on a free port, and headless Chromium.

Browser tests skip when /usr/bin/chromium is missing, unless GATEWAY_REQUIRE_BROWSER=1 (CI), where
they fail instead so that a broken install cannot pass silently.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from gateway.models import Role
from gateway.runtime import Runtime, open_runtime
from gateway.services.passwords import hash_password
from gateway.settings import Settings
from gateway.web.app import build_app
from tests.scopes import ALL_CITIES

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("GATEWAY_CHROMIUM", "/usr/bin/chromium"))  # override only to test the skip
SCREENSHOTS = ROOT / "var" / "screenshots"
PASSWORD = "correct horse battery"
USERS = {"sato": Role.STAFF, "suzuki": Role.APPROVER, "takahashi": Role.APPROVER, "ito": Role.OPERATOR}
# Tuesday 2026-11-24 10:00 JST: inside every seed city's office hours.
OFFICE_HOURS = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: browser tests need Debian's Chromium (apt-get install -y chromium)"
        if os.environ.get("GATEWAY_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " and GATEWAY_REQUIRE_BROWSER=1")
        pytest.skip(reason)
    return CHROMIUM


class RunningClock:
    """Real time shifted into office hours: timestamps still advance, so live updates are visible."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    def __call__(self) -> datetime:
        return OFFICE_HOURS + timedelta(seconds=time.monotonic() - self._start)


@dataclass
class Served:
    url: str
    runtime: Runtime


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}", platforms="sandbox",
                        config_dir=ROOT / "config" / "municipalities", var_dir=tmp_path, poll_seconds=0.1)
    async with open_runtime(settings, clock=RunningClock()) as runtime:
        password_hash = hash_password(PASSWORD)
        for name, role in USERS.items():
            await runtime.store.ensure_user(name, role, actor="test", scope=ALL_CITIES)
            await runtime.store.set_password(name, password_hash, actor="test")
        runner = web.AppRunner(build_app(runtime.gateway), access_log=None)
        await runner.setup()
        port = _free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield Served(f"http://127.0.0.1:{port}", runtime)
        finally:
            await runner.cleanup()


@pytest.fixture
async def browser(chromium_path: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=str(chromium_path),
                                           args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            yield launched
        finally:
            await launched.close()


async def signed_in(browser: Any, served: Served, user: str) -> Any:
    """A new browser context (its own cookies) signed in as `user`; returns its page."""
    context = await browser.new_context(locale="ja-JP", viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    await page.goto(served.url + "/console/login")
    await page.get_by_label("利用者名").fill(user)
    await page.get_by_label("パスワード").fill(PASSWORD)
    await page.get_by_role("button", name="ログイン").click()
    await page.wait_for_url(served.url + "/console/")
    return page


async def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


def answer_dialogs(page: Any, *, accept: bool = True) -> list[str]:
    """Answer every confirmation the page asks (取消, 承認する); returns the questions asked, in order."""
    asked: list[str] = []

    async def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        await (dialog.accept() if accept else dialog.dismiss())

    page.on("dialog", answer)
    return asked
