"""Console sign-in under attack (issue 12): concurrent guesses, shared office addresses, copied cookies.

Each client here keeps no cookies of its own: every request names the cookies it sends, as an
attacker replaying them would.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway import cli
from gateway.services.passwords import hash_password
from gateway.store import SqlStore, open_store
from gateway.store.records import LoginLimits
from gateway.web.app import build_app
from tests.integration.conftest import APPROVER, OPERATOR, STAFF, Harness

PASSWORD = "correct horse battery"
PASSWORD_HASH = hash_password(PASSWORD)
LIMITS = LoginLimits()


@pytest.fixture
async def client(harness: Harness, tmp_path: Path) -> AsyncIterator[TestClient]:
    for actor in (STAFF, APPROVER, OPERATOR):
        await harness.store.set_password(actor.name, PASSWORD_HASH, actor="test")
    app = build_app(harness.gateway)
    async with TestClient(TestServer(app), cookie_jar=aiohttp.DummyCookieJar()) as c:
        yield c


async def login_token(client: TestClient) -> str:
    """The login form's CSRF token (the same value goes in the form and in the kgw_login cookie)."""
    page = await client.get("/console/login")
    match = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert match
    return match.group(1)


async def attempt(client: TestClient, token: str, user: str, password: str) -> aiohttp.ClientResponse:
    form = {"user": user, "password": password, "next": "/console/", "csrf": token}
    response = await client.post("/console/login", data=form, headers={"Cookie": f"kgw_login={token}"},
                                 allow_redirects=False)
    await response.read()
    return response


async def session_cookie(client: TestClient, user: str) -> str:
    response = await attempt(client, await login_token(client), user, PASSWORD)
    assert response.status == 303, await response.text()
    return response.cookies["kgw_session"].value


async def page_with(client: TestClient, cookie: str, path: str = "/console/compose") -> int:
    response = await client.get(path, headers={"Cookie": f"kgw_session={cookie}"}, allow_redirects=False)
    return response.status


# -- the throttle ----------------------------------------------------------------------------------

async def test_forty_concurrent_guesses_check_only_five_passwords(client: TestClient) -> None:
    token = await login_token(client)
    burst = await asyncio.gather(*(attempt(client, token, STAFF.name, f"wrong guess {i}") for i in range(40)))
    statuses = sorted(r.status for r in burst)
    assert statuses == [401] * LIMITS.per_user + [429] * (40 - LIMITS.per_user)
    # The right password among more concurrent guesses is not even checked.
    burst = await asyncio.gather(*(attempt(client, token, STAFF.name, PASSWORD if i == 20 else f"guess {i}")
                                   for i in range(40)))
    assert {r.status for r in burst} == {429}


async def test_one_users_failures_do_not_lock_out_colleagues_at_the_same_address(client: TestClient) -> None:
    token = await login_token(client)
    for i in range(LIMITS.per_user):
        assert (await attempt(client, token, STAFF.name, f"typo {i}")).status == 401
    assert (await attempt(client, token, STAFF.name, PASSWORD)).status == 429
    assert (await attempt(client, token, APPROVER.name, PASSWORD)).status == 303


async def test_a_success_does_not_clear_the_address_count(client: TestClient) -> None:
    """An attacker signing in now and then to their own account still meets the address-wide cap."""
    token = await login_token(client)
    guesses = 0
    for round_ in range(7):
        for i in range(4):  # under the per-user limit, a different name each time
            assert (await attempt(client, token, f"guess-{round_}-{i}", "password1")).status == 401
            guesses += 1
        assert (await attempt(client, token, OPERATOR.name, PASSWORD)).status == 303
    while guesses < LIMITS.per_address:
        assert (await attempt(client, token, f"spray-{guesses}", "password1")).status == 401
        guesses += 1
    locked = await attempt(client, token, APPROVER.name, PASSWORD)
    assert locked.status == 429
    assert "ログインできません" in await locked.text() and "秒後" in await locked.text()
    assert 0 < int(locked.headers["Retry-After"]) <= LIMITS.address_max_delay.total_seconds()


async def test_delays_grow_with_each_failure_and_lift_by_themselves(client: TestClient, harness: Harness) -> None:
    """Past five failures each attempt waits 30 s, then 60 s, 120 s ... (at most 15 minutes): no fixed lockout."""
    token = await login_token(client)
    for i in range(LIMITS.per_user):
        assert (await attempt(client, token, STAFF.name, f"typo {i}")).status == 401
    harness.clock.advance(seconds=10)
    waiting = await attempt(client, token, STAFF.name, PASSWORD)
    assert waiting.status == 429 and waiting.headers["Retry-After"] == "20"
    # 10:00:00 JST + 30 s: the message names the time the wait ends, in Japan time.
    assert "10時00分30秒（約20秒後）までログインできません" in await waiting.text()
    waits = []
    for _ in range(6):  # each further failure doubles the wait
        harness.clock.advance(seconds=int(waiting.headers["Retry-After"]))
        assert (await attempt(client, token, STAFF.name, "another typo")).status == 401
        waiting = await attempt(client, token, STAFF.name, PASSWORD)
        assert waiting.status == 429
        waits.append(int(waiting.headers["Retry-After"]))
    assert waits == [60, 120, 240, 480, 900, 900]  # capped at 15 minutes
    harness.clock.advance(seconds=900)
    assert (await attempt(client, token, STAFF.name, PASSWORD)).status == 303


async def test_an_account_is_slowed_whatever_the_address(harness: Harness) -> None:
    """A guesser moving between addresses meets the same per-account delay; the name need not exist."""
    for name in (STAFF.name, "nobody-by-this-name"):
        for i in range(LIMITS.per_user):
            assert (await harness.store.reserve_login(name, f"198.51.100.{i}", LIMITS)).allowed
        refused = await harness.store.reserve_login(name, "203.0.113.99", LIMITS)
        assert not refused.allowed and refused.retry_after == LIMITS.user_delay


async def test_an_office_address_is_only_slowed_briefly(harness: Harness) -> None:
    """Thirty failures from one office address: the next attempt there waits seconds, never minutes."""
    for i in range(LIMITS.per_address):
        assert (await harness.store.reserve_login(f"colleague-{i % 10}-{i}", "192.0.2.10", LIMITS)).allowed
    refused = await harness.store.reserve_login(APPROVER.name, "192.0.2.10", LIMITS)
    assert not refused.allowed and refused.retry_after == LIMITS.address_delay
    harness.clock.advance(seconds=LIMITS.address_max_delay.total_seconds())
    assert (await harness.store.reserve_login(APPROVER.name, "192.0.2.10", LIMITS)).allowed


async def test_a_success_clears_only_its_own_users_failures(client: TestClient) -> None:
    token = await login_token(client)
    for i in range(LIMITS.per_user - 1):
        await attempt(client, token, STAFF.name, f"typo {i}")
    assert (await attempt(client, token, STAFF.name, PASSWORD)).status == 303
    for i in range(LIMITS.per_user):  # a fresh count of five for this user
        assert (await attempt(client, token, STAFF.name, f"again {i}")).status == 401
    assert (await attempt(client, token, STAFF.name, PASSWORD)).status == 429


@pytest.mark.usefixtures("keep_logging")
async def test_gateway_user_unlock_clears_a_lockout(client: TestClient, database_url: str) -> None:
    token = await login_token(client)
    for i in range(LIMITS.per_user):
        await attempt(client, token, STAFF.name, f"typo {i}")
    assert (await attempt(client, token, STAFF.name, PASSWORD)).status == 429
    code = await asyncio.to_thread(cli.main, ["--database-url", database_url, "user", "unlock", "--user", STAFF.name])
    assert code == 0
    assert (await attempt(client, token, STAFF.name, PASSWORD)).status == 303


@pytest.mark.usefixtures("keep_logging")
async def test_gateway_user_unlock_clears_an_address(client: TestClient, harness: Harness, database_url: str) -> None:
    token = await login_token(client)
    for i in range(LIMITS.per_address):  # a spray of names from the test client's address
        assert (await harness.store.reserve_login(f"spray-{i}", "127.0.0.1", LIMITS)).allowed
    assert (await attempt(client, token, STAFF.name, PASSWORD)).status == 429
    assert await asyncio.to_thread(cli.main, ["--database-url", database_url, "user", "unlock", "--user",
                                              STAFF.name]) == 0
    assert (await attempt(client, token, STAFF.name, PASSWORD)).status == 429  # the address is still at its cap
    assert await asyncio.to_thread(cli.main, ["--database-url", database_url, "user", "unlock", "--address",
                                              "127.0.0.1"]) == 0
    assert (await attempt(client, token, STAFF.name, PASSWORD)).status == 303


async def test_replicas_share_the_count(harness: Harness, database_url: str) -> None:
    """Two stores on one database (two replicas): forty concurrent reservations, five counted."""
    other = await open_store(database_url, clock=harness.clock)
    try:
        stores: list[SqlStore] = [harness.store, other]
        tried = await asyncio.gather(*(stores[i % 2].reserve_login(STAFF.name, "203.0.113.7", LIMITS)
                                       for i in range(40)))
        assert sum(a.allowed for a in tried) == LIMITS.per_user
        # The same user from another address waits too (per account); another user from this one does not.
        assert not (await other.reserve_login(STAFF.name, "198.51.100.1", LIMITS)).allowed
        assert (await other.reserve_login(APPROVER.name, "203.0.113.7", LIMITS)).allowed
    finally:
        await other.aclose()


# -- sessions ----------------------------------------------------------------------------------------

async def test_a_copied_cookie_stops_working_after_logout(client: TestClient) -> None:
    cookie = await session_cookie(client, STAFF.name)
    home = await client.get("/console/", headers={"Cookie": f"kgw_session={cookie}"})
    csrf = re.search(r'name="csrf" value="([^"]+)"', await home.text())
    assert csrf and await page_with(client, cookie) == 200
    out = await client.post("/console/logout", data={"csrf": csrf.group(1)},
                            headers={"Cookie": f"kgw_session={cookie}"}, allow_redirects=False)
    assert out.status == 303
    assert await page_with(client, cookie) == 303  # the copy replayed after logout
    assert await page_with(client, await session_cookie(client, STAFF.name)) == 200


async def test_a_new_password_ends_copied_sessions(client: TestClient, harness: Harness) -> None:
    cookie = await session_cookie(client, STAFF.name)
    await harness.store.set_password(STAFF.name, hash_password("another long password"), actor="test")
    assert await page_with(client, cookie) == 303


async def test_disabling_a_user_ends_sessions_for_good(client: TestClient, harness: Harness) -> None:
    cookie = await session_cookie(client, STAFF.name)
    await harness.store.set_user_disabled(STAFF.name, True, actor="admin")
    assert await page_with(client, cookie) == 303
    await harness.store.set_user_disabled(STAFF.name, False, actor="admin")
    assert await page_with(client, cookie) == 303  # enabled again, yet the old cookie stays dead
    assert await page_with(client, await session_cookie(client, STAFF.name)) == 200
    actions = [e.action for e in await harness.store.list_audit(actor="admin")]
    assert actions == ["user.disabled", "user.enabled"]
