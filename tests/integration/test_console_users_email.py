"""利用者の管理: an optional e-mail address per user (where notifications reach them), checked in Japanese."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from gateway.models import Role, Scope
from tests.integration.conftest import STAFF, Harness
from tests.integration.test_console import PASSWORD_HASH, app, client, login  # noqa: F401  (fixtures)


async def _admin(harness: Harness) -> None:
    await harness.store.ensure_user("root", Role.ADMIN, actor="test", scope=Scope.everywhere())
    await harness.store.set_password("root", PASSWORD_HASH, actor="test")


async def test_an_admin_sets_and_clears_a_users_email(harness: Harness, client: TestClient) -> None:  # noqa: F811
    await _admin(harness)
    csrf = await login(client, "root")
    page = await (await client.get("/console/users")).text()
    assert "メール（通知）" in page and "未登録" in page
    response = await client.post("/console/users/email", data={"csrf": csrf, "user": STAFF.name,
                                                              "email": " sato@city.kodaira.tokyo.jp "})
    assert response.status == 200 and "メールアドレスを保存しました" in await response.text()
    user = await harness.store.get_user(STAFF.name)
    assert user is not None and user.email == "sato@city.kodaira.tokyo.jp"
    assert 'value="sato@city.kodaira.tokyo.jp"' in await (await client.get("/console/users")).text()
    await client.post("/console/users/email", data={"csrf": csrf, "user": STAFF.name, "email": ""})
    cleared = await harness.store.get_user(STAFF.name)
    assert cleared is not None and cleared.email is None
    [*_, last] = await harness.store.list_audit(action="user.email_set")
    assert last.detail["email_before"] == "sato@city.kodaira.tokyo.jp" and last.detail["email"] is None


async def test_a_bad_address_is_refused_in_japanese_and_nothing_changes(harness: Harness,
                                                                         client: TestClient) -> None:  # noqa: F811
    await _admin(harness)
    csrf = await login(client, "root")
    response = await client.post("/console/users/email", data={"csrf": csrf, "user": STAFF.name,
                                                              "email": "sato＠city"})
    assert response.status == 400
    assert "メールアドレスの形式が正しくありません" in await response.text()
    user = await harness.store.get_user(STAFF.name)
    assert user is not None and user.email is None
    created = await client.post("/console/users/create", data={
        "csrf": csrf, "user": "yamada", "role": "staff", "municipality": "kodaira", "password": "correct horse 2",
        "email": "yamada@"})
    assert created.status == 400 and await harness.store.get_user("yamada") is None


async def test_a_user_created_with_an_email_keeps_it(harness: Harness, client: TestClient) -> None:  # noqa: F811
    await _admin(harness)
    csrf = await login(client, "root")
    await client.post("/console/users/create", data={
        "csrf": csrf, "user": "yamada", "role": "approver", "municipality": "kodaira",
        "password": "correct horse 2", "email": "yamada@city.kodaira.tokyo.jp"})
    user = await harness.store.get_user("yamada")
    assert user is not None and user.email == "yamada@city.kodaira.tokyo.jp" and user.role is Role.APPROVER
