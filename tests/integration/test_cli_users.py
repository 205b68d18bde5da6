"""`gateway user ...` and `gateway token create` as people type them (real processes, both databases).

The contracts: `user create` refuses an existing name and changes nothing; `token create` never changes a
user; no `--municipality` means every city only for admin and alert_system.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from gateway.models import Role, Scope
from gateway.store import open_store

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = str(Path(sys.executable).parent / "gateway")
PASSWORD = "correct horse battery\n"


def run(database_url: str, *args: str, stdin: str = PASSWORD) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GATEWAY, "--database-url", database_url, *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, timeout=120, check=False)


async def user(database_url: str, name: str) -> object:
    store = await open_store(database_url)
    try:
        return await store.get_user(name)
    finally:
        await store.aclose()


async def test_user_create_refuses_an_existing_name_and_changes_nothing(database_url: str) -> None:
    created = await asyncio.to_thread(run, database_url, "user", "create", "--user", "hanako", "--role", "staff",
                                      "--municipality", "zushi")
    assert created.returncode == 0, created.stderr
    assert "作成し" in created.stdout
    before = await user(database_url, "hanako")
    again = await asyncio.to_thread(run, database_url, "user", "create", "--user", "hanako", "--role", "admin",
                                    stdin="another password 1\n")
    assert again.returncode != 0 and "作成し" not in again.stdout
    assert "すでに登録されています" in again.stderr
    assert await user(database_url, "hanako") == before  # same role, scope, password hash, session epoch


async def test_a_scoped_role_needs_a_city_and_the_city_must_exist(database_url: str) -> None:
    missing = await asyncio.to_thread(run, database_url, "user", "create", "--user", "jiro", "--role", "approver")
    assert missing.returncode != 0 and "--municipality" in missing.stderr
    unknown = await asyncio.to_thread(run, database_url, "user", "create", "--user", "jiro", "--role", "approver",
                                      "--municipality", "tokyo")
    assert unknown.returncode != 0 and "tokyo" in unknown.stderr
    assert await user(database_url, "jiro") is None
    token = await asyncio.to_thread(run, database_url, "token", "create", "--user", "jiro", "--role", "staff")
    assert token.returncode != 0 and await user(database_url, "jiro") is None


async def test_token_create_never_changes_a_user(database_url: str) -> None:
    staff = await asyncio.to_thread(run, database_url, "token", "create", "--user", "saburo", "--role", "staff",
                                    "--municipality", "kodaira")
    assert staff.returncode == 0 and staff.stdout.startswith("kgw_")
    before = await user(database_url, "saburo")
    promoted = await asyncio.to_thread(run, database_url, "token", "create", "--user", "saburo", "--role",
                                       "approver", "--municipality", "kodaira")
    assert promoted.returncode != 0 and "kgw_" not in promoted.stdout
    assert "set-role" in promoted.stderr
    wider = await asyncio.to_thread(run, database_url, "token", "create", "--user", "saburo", "--role", "staff",
                                    "--municipality", "zushi")
    assert wider.returncode != 0 and "zushi" in wider.stderr
    assert await user(database_url, "saburo") == before


async def test_admin_and_alert_systems_may_have_every_city(database_url: str) -> None:
    for name, role in (("root", "admin"), ("jma", "alert_system")):
        done = await asyncio.to_thread(run, database_url, "token", "create", "--user", name, "--role", role)
        assert done.returncode == 0, done.stderr
        found = await user(database_url, name)
        assert found.scope == Scope.everywhere()  # type: ignore[attr-defined]


async def test_role_and_scope_change_only_through_their_commands(database_url: str) -> None:
    assert (await asyncio.to_thread(run, database_url, "user", "create", "--user", "shiro", "--role", "staff",
                                    "--municipality", "mine")).returncode == 0
    role = await asyncio.to_thread(run, database_url, "user", "set-role", "--user", "shiro", "--role", "approver")
    assert role.returncode == 0, role.stderr
    scope = await asyncio.to_thread(run, database_url, "user", "set-scope", "--user", "shiro", "--municipality",
                                    "mine", "--municipality", "zushi", "--emergency", "mine")
    assert scope.returncode == 0, scope.stderr
    found = await user(database_url, "shiro")
    assert found.role is Role.APPROVER  # type: ignore[attr-defined]
    assert found.scope == Scope.of("mine", "zushi", emergency=("mine",))  # type: ignore[attr-defined]
    outside = await asyncio.to_thread(run, database_url, "user", "set-scope", "--user", "shiro", "--municipality",
                                      "zushi", "--emergency", "mine")
    assert outside.returncode != 0 and await user(database_url, "shiro") == found
    listed = await asyncio.to_thread(run, database_url, "user", "list")
    assert "shiro" in listed.stdout and "緊急: mine" in listed.stdout


async def test_disable_and_sign_out_end_what_a_user_can_do(database_url: str) -> None:
    token = (await asyncio.to_thread(run, database_url, "token", "create", "--user", "goro", "--role", "operator",
                                     "--municipality", "kisarazu")).stdout.strip()
    from datetime import UTC, datetime

    from gateway.web.auth import hash_token

    store = await open_store(database_url)
    try:
        assert await store.user_for_token(hash_token(token), datetime.now(UTC)) is not None
        assert (await asyncio.to_thread(run, database_url, "user", "sign-out", "--user", "goro")).returncode == 0
        assert await store.user_for_token(hash_token(token), datetime.now(UTC)) is None
    finally:
        await store.aclose()


async def test_submit_and_approve_from_the_shell_keep_the_users_scope(database_url: str, tmp_path: Path) -> None:
    import json

    for name, role, city in (("z-staff", "staff", "zushi"), ("m-staff", "staff", "mine"),
                             ("m-boss", "approver", "mine")):
        assert (await asyncio.to_thread(run, database_url, "user", "create", "--user", name, "--role", role,
                                        "--municipality", city)).returncode == 0
    message = tmp_path / "m.json"
    message.write_text(json.dumps({"municipality": "mine", "category": "city_news", "accounts": ["mine_x"],
                                   "official_view": True, "text": "市の観光振興の方針をお知らせします。"},
                                  ensure_ascii=False), encoding="utf-8")
    refused = await asyncio.to_thread(run, database_url, "submit", str(message), "--as", "z-staff")
    assert refused.returncode != 0 and "担当範囲外" in refused.stderr
    submitted = await asyncio.to_thread(run, database_url, "submit", str(message), "--as", "m-staff")
    assert submitted.returncode == 0, submitted.stderr
    message_id, state = submitted.stdout.split("\t")[:2]
    assert state == "pending_approval"
    approved = await asyncio.to_thread(run, database_url, "approve", message_id, "--as", "m-boss", "--official-view")
    assert approved.returncode == 0, approved.stderr
    store = await open_store(database_url)
    try:
        [step] = await store.list_approvals(message_id)
        assert step.approver == "m-boss" and step.official_view
        assert len(await store.list_audit(actor="z-staff", action="access.denied")) == 1
        assert len(await store.list_messages(limit=10)) == 1
    finally:
        await store.aclose()
