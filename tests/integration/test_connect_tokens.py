"""Token issuance and renewal against the sandbox's real endpoints: Google consent for YouTube (offline
access, refresh token, token-endpoint refresh) and LINE channel access tokens from the channel id and
secret; state checks; refresh failures audited and visible. Real SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from gateway.connections import ConnectionService
from gateway.credentials import EncryptedCredentialFile, new_key, parse_keys
from gateway.errors import AuthError, InputError
from gateway.models import Platform
from gateway.runtime import Runtime, open_runtime
from gateway.sandbox.credentials import sandbox_credentials
from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SESSION = "session-of-the-admin"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Runtime, EncryptedCredentialFile, Clock]]:
    key, clock = new_key(), Clock()
    settings = Settings(database_url=database_url, platforms="sandbox", config_dir=ROOT / "config" / "municipalities",
                        var_dir=tmp_path, credentials_key=key, credentials_file=tmp_path / "credentials.enc")
    async with open_runtime(settings, clock=clock, start=False) as runtime:
        yield runtime, EncryptedCredentialFile(tmp_path / "credentials.enc", parse_keys(key)), clock


def _service(runtime: Runtime) -> ConnectionService:
    assert runtime.connections is not None
    return runtime.connections


def _account(runtime: Runtime, account_id: str) -> Any:
    found = runtime.policies.account(account_id)
    assert found is not None
    return found[1]


async def _consent(url: str, account: str, decision: str = "allow") -> dict[str, str]:
    """What a person does on the consent page: sign in as `account`, press 許可 (or キャンセル)."""
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as page:
            assert page.status == 200 and "許可" in await page.text()
        form = {f"q_{k}": v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        async with session.post(url.split("?")[0], data={**form, "account": account, "decision": decision},
                                allow_redirects=False) as answer:
            assert answer.status == 302
            return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}


def _fields(stored: EncryptedCredentialFile, account: str) -> dict[str, str]:
    stored.list_masked()  # reads the file again now (get() looks at most once a second)
    return {k: v.get_secret_value() for k, v in stored.get(account).items()}


async def test_google_consent_gives_a_refresh_token_that_renews_the_access_token(world: Any):
    runtime, stored, clock = world
    service = _service(runtime)
    url = service.begin(_account(runtime, "atsugi_youtube"), actor="admin", session_key=SESSION,
                        origin="http://console.example")
    query = parse_qs(urlsplit(url).query)
    assert urlsplit(url).path == "/o/oauth2/v2/auth"
    assert query["access_type"] == ["offline"] and query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == ["http://console.example/console/connect/callback"]
    back = await _consent(url, "atsugi_youtube")
    pending = service.take(back["state"], session_key=SESSION)
    assert await service.complete(pending, code=back["code"], error="") is None
    fields = _fields(stored, "atsugi_youtube")
    sandbox = sandbox_credentials("atsugi_youtube", Platform.YOUTUBE)
    assert {k: fields[k] for k in ("access_token", "refresh_token", "channel_id")} == {
        k: sandbox[k] for k in ("access_token", "refresh_token", "channel_id")}
    assert datetime.fromisoformat(fields["expires_at"]) == clock.now + timedelta(seconds=3599)
    with pytest.raises(InputError) as replayed:  # the same answer twice
        service.take(back["state"], session_key=SESSION)
    assert replayed.value.code == "connect_state_invalid" and "すでに使われた" in replayed.value.message

    assert await service.refresh_due() == []  # an hour left: not yet
    clock.now += timedelta(minutes=55)
    assert await service.refresh_due() == ["atsugi_youtube"]
    assert datetime.fromisoformat(_fields(stored, "atsugi_youtube")["expires_at"]) > clock.now + timedelta(minutes=59)

    clock.now += timedelta(minutes=55)
    runtime.sandbox.state.consent.refuse(Platform.YOUTUBE, "atsugi_youtube")
    assert await service.refresh_due() == []
    status = (await service.statuses())["atsugi_youtube"]
    assert status.failing and "invalid_grant" in (status.failure or "")
    assert fields["refresh_token"] not in (status.failure or "")
    audit = await runtime.store.list_audit(action="credentials.refresh_failed")
    assert [e.detail["account"] for e in audit] == ["atsugi_youtube"]
    clock.now += timedelta(minutes=1)
    runtime.sandbox.state.consent.refuse(Platform.YOUTUBE, "atsugi_youtube")  # and again at the next round
    assert await service.refresh_due() == []
    audit = await runtime.store.list_audit(action="credentials.refresh_failed")
    assert [e.detail["first"] for e in audit] == [True, False]
    # The admin and operators are told once, when the tokens stop renewing, not at every round.
    [told] = await runtime.store.list_notifications(event="account_auth")
    assert told.subject == "atsugi_youtube" and "invalid_grant" in (told.reason or "")
    assert fields["refresh_token"] not in repr(told)
    clock.now += timedelta(minutes=1)
    assert await service.refresh_due() == ["atsugi_youtube"]  # the next round renews it again
    assert not (await service.statuses())["atsugi_youtube"].failing


async def test_a_callback_from_another_session_or_a_refusal_stores_nothing(world: Any):
    runtime, stored, _ = world
    service = _service(runtime)
    account = _account(runtime, "atsugi_youtube")
    back = await _consent(service.begin(account, actor="admin", session_key=SESSION, origin="http://c"),
                          "atsugi_youtube")
    with pytest.raises(InputError) as foreign:
        service.take(back["state"], session_key="someone-else")
    assert foreign.value.code == "connect_session_mismatch" and "別のログイン" in foreign.value.message
    denied = await _consent(service.begin(account, actor="admin", session_key=SESSION, origin="http://c"),
                            "atsugi_youtube", decision="deny")
    assert denied["error"] == "access_denied"
    with pytest.raises(InputError) as refusal:
        await service.complete(service.take(denied["state"], session_key=SESSION), code="", error=denied["error"])
    assert refusal.value.code == "connect_denied" and "許可されませんでした" in refusal.value.message
    with pytest.raises(InputError):
        service.take("made-up", session_key=SESSION)
    assert stored.list_masked() == []


async def test_line_channel_access_token_issued_and_renewed_before_it_expires(world: Any):
    runtime, stored, clock = world
    service = _service(runtime)
    account = _account(runtime, "atsugi_line")
    sandbox = sandbox_credentials("atsugi_line", Platform.LINE)
    with pytest.raises(AuthError) as wrong:
        await service.issue(account, {"channel_id": sandbox["channel_id"], "channel_secret": "not-the-secret"},
                            actor="admin")
    assert "invalid_client" in wrong.value.message and "not-the-secret" not in wrong.value.message
    await service.issue(account, {"channel_id": sandbox["channel_id"], "channel_secret": sandbox["channel_secret"]},
                        actor="admin")
    fields = _fields(stored, "atsugi_line")
    assert fields["channel_access_token"] == sandbox["channel_access_token"]
    assert datetime.fromisoformat(fields["expires_at"]) == clock.now + timedelta(days=30)
    clock.now += timedelta(days=22)
    assert await service.refresh_due() == []
    clock.now += timedelta(days=2)  # a week left: a new token is issued
    assert await service.refresh_due() == ["atsugi_line"]
    assert datetime.fromisoformat(_fields(stored, "atsugi_line")["expires_at"]) == clock.now + timedelta(days=30)
    connected = await runtime.store.list_audit(action="credentials.connected")
    assert [(e.actor, e.detail["account"]) for e in connected] == [("admin", "atsugi_line")]
    assert all(sandbox["channel_secret"] not in str(e.detail) for e in connected)
