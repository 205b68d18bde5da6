"""The web console over a real database: sign-in, sessions, CSRF, roles, compose preview, approval, audit CSV."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote_from_bytes

import aiohttp
import pytest
import twitter_text
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.models import Message, MessageState
from gateway.services.passwords import hash_password
from gateway.web.app import build_app
from tests.fuzz.apiclient import assert_secured, raw_request
from tests.integration.conftest import APPROVER, APPROVER2, OPERATOR, STAFF, Harness
from tests.mediafiles import PNG

PASSWORD = "correct horse battery"
PASSWORD_HASH = hash_password(PASSWORD)  # hashed once: argon2 is slow on purpose
TEXT = "小平市民まつりを中央公園で開催します。ぜひお越しください。"
FORM = {"municipality": "kodaira", "category": "event", "accounts": "kodaira_x", "text": TEXT}


@pytest.fixture
async def app(harness: Harness, tmp_path: Path) -> web.Application:
    for actor in (STAFF, APPROVER, APPROVER2, OPERATOR):
        await harness.store.set_password(actor.name, PASSWORD_HASH, actor="test")
    return build_app(harness.gateway)


@pytest.fixture
async def client(app: object) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(app)) as c:  # type: ignore[arg-type]
        yield c


async def login_form(client: TestClient, name: str, password: str = PASSWORD) -> dict[str, str]:
    page = await client.get("/console/login")
    return {"user": name, "password": password, "next": "/console/", "csrf": csrf_of(await page.text())}


async def login(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign in and return the CSRF token found on the home page."""
    response = await client.post("/console/login", data=await login_form(client, name, password))
    assert response.status == 200, await response.text()
    return csrf_of(await response.text())


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


async def test_root_redirects_and_pages_need_login(client: TestClient) -> None:
    response = await client.get("/", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/console/"
    response = await client.get("/console/deliveries", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/console/login")
    page = await client.get("/console/login")
    assert "ログイン" in await page.text()
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


async def test_login_form_needs_its_token(client: TestClient) -> None:
    await client.get("/console/login")
    forged = await client.post("/console/login", data={"user": STAFF.name, "password": PASSWORD, "csrf": "forged"},
                               allow_redirects=False)
    assert forged.status == 403 and "有効期限" in await forged.text()
    assert (await client.get("/console/compose", allow_redirects=False)).status == 303


async def test_session_cookie_flags_and_logout(client: TestClient) -> None:
    response = await client.post("/console/login", data=await login_form(client, STAFF.name), allow_redirects=False)
    assert response.status == 303
    [cookie] = [c for c in response.headers.getall("Set-Cookie") if c.startswith("kgw_session=")]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    home = await client.get("/console/")
    token = csrf_of(await home.text())
    assert (await client.post("/console/logout", data={"csrf": "wrong"})).status == 403
    await client.post("/console/logout", data={"csrf": token})
    after = await client.get("/console/compose", allow_redirects=False)
    assert after.status == 303


async def test_wrong_password_then_lockout_in_japanese(client: TestClient) -> None:
    for _ in range(5):
        response = await client.post("/console/login", data=await login_form(client, STAFF.name, "nope"))
        assert response.status == 401
        assert "正しくありません" in await response.text()
    locked = await client.post("/console/login", data=await login_form(client, STAFF.name))
    assert locked.status == 429
    assert "ログインできません" in await locked.text()


async def test_new_password_ends_old_sessions(client: TestClient, harness: Harness) -> None:
    await login(client, STAFF.name)
    assert (await client.get("/console/compose")).status == 200
    await harness.store.set_password(STAFF.name, hash_password("another long password"), actor="test")
    assert (await client.get("/console/compose", allow_redirects=False)).status == 303


async def test_state_changes_need_the_csrf_token(client: TestClient) -> None:
    token = await login(client, STAFF.name)
    refused = await client.post("/console/compose", data=FORM)
    assert refused.status == 403
    assert "CSRF" in await refused.text()
    refused = await client.post("/console/compose/preview", json=FORM, headers={"Accept": "application/json"})
    assert refused.status == 403
    accepted = await client.post("/console/compose", data={**FORM, "csrf": token, "idempotency_key": "k1"},
                                 allow_redirects=False)
    assert accepted.status == 303 and accepted.headers["Location"].startswith("/console/messages/")


@pytest.mark.parametrize(("actor", "path", "status"), [
    (STAFF, "/console/approvals", 403), (STAFF, "/console/audit", 403), (OPERATOR, "/console/compose", 403),
    (OPERATOR, "/console/deliveries", 200), (APPROVER, "/console/approvals", 200), (OPERATOR, "/console/audit", 200),
    (OPERATOR, "/console/accounts", 200),
])
async def test_roles_as_in_the_api(client: TestClient, actor: object, path: str, status: int) -> None:
    await login(client, actor.name)  # type: ignore[attr-defined]
    response = await client.get(path)
    assert response.status == status, await response.text()
    if status == 403:
        assert "権限がありません" in await response.text()


async def test_preview_marks_the_finding_and_counts(client: TestClient) -> None:
    token = await login(client, STAFF.name)
    text = "お問い合わせは担当 090-1234-5678 まで。"
    response = await client.post("/console/compose/preview", json={**FORM, "accounts": ["kodaira_x"], "text": text},
                                 headers={"X-CSRF-Token": token, "Accept": "application/json"})
    body = await response.json()
    assert response.status == 200, body
    assert body["verdict"] == "block"
    marked = [s for s in body["segments"] if s["finding"] is not None]
    assert [s["text"] for s in marked] == ["090-1234-5678"]
    assert "4(8)" in body["findings"][0]["clause"]
    [post] = body["posts"]
    # The harness runs fake adapters; the counter is twitter-text's weighted length of the rendered part.
    assert post["platform"] == "x"
    assert post["counts"][0]["value"] == twitter_text.parse_tweet(post["parts"][0]["text"]).weightedLength


async def test_nobody_approves_their_own_message(client: TestClient, harness: Harness, app: object) -> None:
    token = await login(client, APPROVER.name)
    created = await client.post("/console/compose", data={**FORM, "csrf": token, "idempotency_key": "own"},
                                allow_redirects=False)
    message_id = created.headers["Location"].rsplit("/", 1)[1]
    page = await (await client.get(f"/console/messages/{message_id}")).text()
    assert "承認する</button>" not in page and "自分が提出した投稿は承認できません" in page
    refused = await client.post(f"/console/messages/{message_id}/approve", data={"csrf": token})
    assert refused.status == 403
    async with TestClient(TestServer(app)) as other:  # type: ignore[arg-type]
        other_token = await login(other, APPROVER2.name)
        queue = await (await other.get("/console/approvals")).text()
        assert "承認する</button>" in queue
        done = await other.post(f"/console/messages/{message_id}/approve", data={"csrf": other_token},
                                allow_redirects=False)
        assert done.status == 303
    assert (await harness.store.get_message(message_id)).state is MessageState.PLANNED


async def test_audit_csv_has_bom_and_japanese(client: TestClient) -> None:
    token = await login(client, STAFF.name)
    await client.post("/console/compose", data={**FORM, "csrf": token, "idempotency_key": "a1"})
    await client.post("/console/logout", data={"csrf": token})
    await login(client, OPERATOR.name)
    response = await client.get("/console/audit.csv?actor=" + STAFF.name)
    raw = await response.read()
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("日時,実行者,操作")
    assert "message.accepted" in text


async def test_accounts_stop_resume_and_rotation(client: TestClient, harness: Harness) -> None:
    token = await login(client, OPERATOR.name)
    page = await (await client.get("/console/accounts")).text()
    assert "kodaira_x" in page and "要確認: 長期間投稿なし" in page and "停止する</button>" in page
    stopped = await client.post("/console/accounts/kodaira_x/stop", data={"csrf": token, "reason": "乗っ取りの疑い"})
    assert stopped.status == 200
    assert "停止中（乗っ取りの疑い）" in await stopped.text()
    missing = await client.post("/console/accounts/kodaira_x/resume", data={"csrf": token, "reason": " "})
    assert missing.status == 400 and "理由を入力" in await missing.text()
    resumed = await client.post("/console/accounts/kodaira_x/resume", data={"csrf": token, "reason": "確認済み"})
    assert "アカウントを再開しました" in await resumed.text()
    await client.post("/console/accounts/kodaira_x/rotation", data={"csrf": token, "reason": "担当者の異動"})
    events = await harness.store.list_audit(action="credentials.rotated")
    assert [e.reason for e in events] == ["担当者の異動"]


async def test_staff_sees_accounts_without_actions(client: TestClient) -> None:
    token = await login(client, STAFF.name)
    page = await (await client.get("/console/accounts")).text()
    assert "kodaira_x" in page and "停止する</button>" not in page
    refused = await client.post("/console/accounts/kodaira_x/stop", data={"csrf": token, "reason": "x"})
    assert refused.status == 403


async def test_image_upload_goes_into_the_media_store(client: TestClient, harness: Harness) -> None:
    token = await login(client, STAFF.name)
    form = aiohttp.FormData({**FORM, "csrf": token, "idempotency_key": "img", "image_alt_0": "会場の地図"})
    form.add_field("image_file_0", PNG, filename="../../etc/passwd.jpg", content_type="image/jpeg")
    created = await client.post("/console/compose", data=form, allow_redirects=False)
    assert created.status == 303, await created.text()
    record = await harness.store.get_message(created.headers["Location"].rsplit("/", 1)[1])
    [media] = record.body.media
    assert media.alt_text == "会場の地図" and media.path is None and media.id is not None
    # Named by a random id, typed by its content (a PNG, whatever the file name and Content-Type said).
    assert [p.name for p in harness.media.root.iterdir()] == [f"{media.id}.png"]
    assert (harness.media.root / f"{media.id}.png").read_bytes() == PNG


async def test_a_text_file_named_jpg_is_refused_and_nothing_is_stored(client: TestClient, harness: Harness) -> None:
    token = await login(client, STAFF.name)
    form = aiohttp.FormData({**FORM, "csrf": token, "image_alt_0": "地図"})
    form.add_field("image_file_0", b"just some text, not a picture", filename="map.jpg", content_type="image/jpeg")
    response = await client.post("/console/compose", data=form)
    page = await response.text()
    assert response.status == 400 and "画像1" in page and "対応していない形式" in page
    assert await harness.store.list_messages() == []
    assert not harness.media.root.exists() or list(harness.media.root.iterdir()) == []


async def test_staff_cannot_name_a_server_path(client: TestClient, harness: Harness) -> None:
    token = await login(client, STAFF.name)
    page = await (await client.get("/console/compose")).text()
    assert 'name="image_path_0"' not in page and 'name="video_path"' not in page
    for forged in ("../credentials.enc", "/etc/passwd", "0" * 32):
        response = await client.post("/console/compose", data={**FORM, "csrf": token, "image_id_0": forged,
                                                                 "image_alt_0": "地図"})
        assert response.status == 400, forged
        assert "media[0].id" in await response.text()
    assert await harness.store.list_messages() == []


async def test_upload_before_the_csrf_token_is_refused(client: TestClient, harness: Harness) -> None:
    await login(client, STAFF.name)
    form = aiohttp.FormData()
    form.add_field("image_file_0", PNG, filename="a.png", content_type="image/png")
    for name, value in FORM.items():
        form.add_field(name, value)
    response = await client.post("/console/compose", data=form)
    assert response.status == 403
    assert not harness.media.root.exists() or list(harness.media.root.iterdir()) == []


async def test_kept_upload_survives_a_refused_submit(client: TestClient, harness: Harness) -> None:
    token = await login(client, STAFF.name)
    form = aiohttp.FormData({**FORM, "csrf": token, "image_alt_0": ""})  # no alt text: blocked by the checks
    form.add_field("image_file_0", PNG, filename="a.png", content_type="image/png")
    response = await client.post("/console/compose", data=form)
    assert response.status == 422
    kept = re.search(r'name="image_id_0" value="([0-9a-f]{32})"', await response.text())
    assert kept, "the uploaded image is offered again without a second upload"
    retry = await client.post("/console/compose", data={**FORM, "csrf": token, "image_id_0": kept.group(1),
                                                         "image_alt_0": "会場の地図"}, allow_redirects=False)
    assert retry.status == 303, await retry.text()


async def test_approver_sees_a_thumbnail_served_by_id_with_its_real_type(client: TestClient, app: web.Application,
                                                                        harness: Harness) -> None:
    async with TestClient(TestServer(app)) as staff:
        token = await login(staff, STAFF.name)
        form = aiohttp.FormData({**FORM, "csrf": token, "image_alt_0": "会場の地図"})
        form.add_field("image_file_0", PNG, filename="poster.jpg", content_type="image/jpeg")
        created = await staff.post("/console/compose", data=form, allow_redirects=False)
        assert created.status == 303, await created.text()
    message_id = created.headers["Location"].rsplit("/", 1)[1]
    [media] = (await harness.store.get_message(message_id)).body.media
    await login(client, APPROVER.name)
    page = await (await client.get("/console/approvals")).text()
    assert f'<img class="thumb" src="/console/media/{media.id}" alt="会場の地図"' in page
    served = await client.get(f"/console/media/{media.id}")
    assert served.status == 200 and served.content_type == "image/png"  # from the content, not ".jpg"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert await served.read() == PNG
    for bad in ("f" * 32, "..%2F..%2Fgateway.db", "credentials.enc", media.id + ".png"):
        assert (await client.get(f"/console/media/{bad}")).status == 404, bad


async def test_media_route_needs_a_signed_in_reader(app: web.Application, harness: Harness) -> None:
    stored = harness.media.add(PNG)
    async with TestClient(TestServer(app)) as anonymous:
        response = await anonymous.get(f"/console/media/{stored.id}", allow_redirects=False)
        assert response.status == 303 and "/console/login" in response.headers["Location"]


REVIEW_TEXT = "小平市民まつりを開催します。詳しくは https://bit.ly/abc123"


async def submitted(app: web.Application, actor: object, text: str) -> str:
    async with TestClient(TestServer(app)) as staff:
        token = await login(staff, actor.name)  # type: ignore[attr-defined]
        created = await staff.post("/console/compose", data={**FORM, "text": text, "csrf": token,
                                                             "idempotency_key": text[:20]}, allow_redirects=False)
        assert created.status == 303, await created.text()
        return created.headers["Location"].rsplit("/", 1)[1]


async def test_review_finding_needs_an_override_reason(client: TestClient, app: web.Application,
                                                       harness: Harness) -> None:
    message_id = await submitted(app, STAFF, REVIEW_TEXT)
    token = await login(client, APPROVER.name)
    queue = await (await client.get("/console/approvals")).text()
    assert 'name="override_links.shortener"' in queue and '<mark class="finding"' in queue
    refused = await client.post(f"/console/messages/{message_id}/approve", data={"csrf": token})
    assert refused.status == 400 and "理由を記入" in await refused.text()
    approved = await client.post(f"/console/messages/{message_id}/approve",
                                 data={"csrf": token, "override_links.shortener": "市の公式短縮URLで確認済み"})
    assert approved.status == 200
    record = await harness.store.get_message(message_id)
    assert record.overrides == {"links.shortener": "市の公式短縮URLで確認済み"}


async def test_send_back_with_a_comment(client: TestClient, app: web.Application, harness: Harness) -> None:
    message_id = await submitted(app, STAFF, TEXT)
    token = await login(client, APPROVER.name)
    await client.post(f"/console/messages/{message_id}/reject", data={"csrf": token, "comment": "日付を追記してください"})
    record = await harness.store.get_message(message_id)
    assert record.state is MessageState.REJECTED and record.note == "日付を追記してください"


async def test_deliveries_stream_pushes_changed_rows(client: TestClient, app: web.Application,
                                                     harness: Harness) -> None:
    message_id = await submitted(app, STAFF, TEXT)
    await harness.gateway.approve(message_id, APPROVER)
    await login(client, OPERATOR.name)
    assert message_id in await (await client.get("/console/deliveries")).text()
    [delivery] = await harness.store.list_deliveries(message_id=message_id)
    stream = await client.get("/console/deliveries/events")
    assert stream.headers["Content-Type"] == "text/event-stream"
    harness.clock.advance(seconds=1)
    await harness.gateway.cancel_delivery(delivery.id, OPERATOR)
    event = b""
    while b"\n\n" not in event:
        event += await asyncio.wait_for(stream.content.readany(), timeout=5)
    stream.close()
    name, data = event.decode().split("\n")[:2]
    assert name == "event: row"
    payload = json.loads(data.removeprefix("data: "))
    assert payload["id"] == delivery.id and payload["state"] == "cancelled"
    assert f'id="d-{delivery.id}"' in payload["html"] and "取消" in payload["html"]


async def read_events(stream: aiohttp.ClientResponse, name: str) -> dict[str, object]:
    """The data of the next `name` event on an SSE stream (other events are skipped)."""
    buffer = b""
    while True:
        while b"\n\n" not in buffer:
            chunk = await asyncio.wait_for(stream.content.readany(), timeout=5)
            assert chunk, f"the stream ended before a {name} event"
            buffer += chunk
        event, buffer = buffer.split(b"\n\n", 1)
        lines = event.decode().split("\n")
        if lines[0] == f"event: {name}":
            return dict(json.loads(lines[1].removeprefix("data: ")))


async def test_deliveries_stream_sends_the_new_total(client: TestClient, app: web.Application, harness: Harness,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """「全 N 件」 follows the live rows: a delivery that arrives adds to it; one that leaves a filtered view
    (its state no longer the one filtered on) takes from it, though no row of the page changed."""
    from gateway.web.console import deliveries

    monkeypatch.setattr(deliveries, "POLL_S", 0.05)
    await login(client, OPERATOR.name)
    page = await (await client.get("/console/deliveries")).text()
    assert "全 0 件" in page
    stream = await client.get("/console/deliveries/events")
    try:
        first = (await harness.gateway.submit(msg_for("kodaira_x"), STAFF)).record.id
        await harness.gateway.approve(first, APPROVER)
        total = await read_events(stream, "total")
    finally:
        stream.close()
    assert total["total"] == 1 and "全 1 件" in str(total["html"]) and "1〜1 件目" in str(total["html"])

    [delivery] = await harness.store.list_deliveries(message_id=first)
    queued = await (await client.get("/console/deliveries", params={"state": delivery.state.value})).text()
    assert "全 1 件" in queued
    filtered = await client.get("/console/deliveries/events", params={"state": delivery.state.value})
    try:
        harness.clock.advance(seconds=1)
        await harness.gateway.cancel_delivery(delivery.id, OPERATOR)
        total = await read_events(filtered, "total")
    finally:
        filtered.close()
    assert total["total"] == 0 and "全 0 件" in str(total["html"])


async def test_audit_free_text_search(client: TestClient, app: web.Application, harness: Harness) -> None:
    message_id = await submitted(app, STAFF, TEXT)
    await harness.gateway.reject(message_id, APPROVER, "写真の差し替えが必要")
    await login(client, OPERATOR.name)
    found = await (await client.get("/console/audit", params={"text": "写真の差し替え"})).text()
    assert message_id in found
    none = await (await client.get("/console/audit", params={"text": "存在しない語句"})).text()
    assert message_id not in none


async def test_audit_says_actions_and_states_in_japanese(client: TestClient, app: web.Application,
                                                         harness: Harness) -> None:
    message_id = await submitted(app, STAFF, TEXT)
    await harness.gateway.reject(message_id, APPROVER, "写真の差し替えが必要")
    await login(client, OPERATOR.name)
    page = await (await client.get("/console/audit", params={"message_id": message_id})).text()
    table = page.split("<table", 1)[1]
    assert "投稿: 受付" in table and "承認待ち → 差し戻し" in table
    shown = re.sub(r'title="[^"]*"', "", table)  # the code stays as a tooltip only
    assert "pending_approval" not in shown and "message.rejected" not in shown and "message.accepted" not in shown


# -- issue 12: hostile cookies, CSRF values and JSON ----------------------------------------------

def _session_cookie(client: TestClient) -> bytes:
    [value] = [c.value for c in client.session.cookie_jar if c.key == "kgw_session"]
    return value.encode()


@pytest.mark.parametrize("cookie", ["kgw_session=あ.い".encode(), b"kgw_session=\xff.\xfe", b"kgw_session=abc.\xff",
                                    "kgw_session=eyJ1Ijoic2F0byJ9.０１２".encode()])
async def test_malformed_session_cookie_is_signed_out(client: TestClient, cookie: bytes) -> None:
    page = await raw_request(client, "GET", "/console/deliveries", [b"Cookie: " + cookie])
    assert page.status == 303 and page.headers["location"].startswith("/console/login"), page.body[:300]
    assert_secured("/console/deliveries", page.headers)
    stream = await raw_request(client, "GET", "/console/deliveries/events", [b"Cookie: " + cookie])
    assert stream.status == 401 and stream.json()["error"] == "unauthenticated", stream.body[:300]
    assert_secured("/console/deliveries/events", stream.headers)


@pytest.mark.parametrize("field", ["csrf=%E3%81%82", "csrf=%FF", "csrf=%00"])
async def test_malformed_login_csrf_is_an_expired_form(client: TestClient, field: str) -> None:
    await client.get("/console/login")
    [cookie] = [c.value for c in client.session.cookie_jar if c.key == "kgw_login"]
    for login_cookie in (cookie.encode(), "あ".encode(), b"\xff"):
        response = await raw_request(client, "POST", "/console/login", [
            b"Cookie: kgw_login=" + login_cookie, b"Content-Type: application/x-www-form-urlencoded"],
            f"user=sato&password=x&{field}".encode())
        assert response.status == 403, response.body[:300]
        assert "有効期限" in response.body.decode()
        assert_secured("/console/login", response.headers)


@pytest.mark.parametrize("token", ["あ".encode(), b"\xff\xfe", b"\xc3\x28"])
async def test_malformed_csrf_header_or_field_is_forbidden(client: TestClient, harness: Harness, token: bytes) -> None:
    await login(client, OPERATOR.name)
    cookie = b"Cookie: kgw_session=" + _session_cookie(client)
    by_header = await raw_request(client, "POST", "/console/accounts/kodaira_x/stop", [
        cookie, b"X-CSRF-Token: " + token, b"Content-Type: application/x-www-form-urlencoded"], b"reason=x")
    by_field = await raw_request(client, "POST", "/console/accounts/kodaira_x/stop", [
        cookie, b"Content-Type: application/x-www-form-urlencoded"], b"reason=x&csrf=" + quote_from_bytes(token).encode())
    for response in (by_header, by_field):
        assert response.status == 403, response.body[:300]
        assert "CSRF" in response.body.decode() and response.headers["content-type"].startswith("text/html")
        assert_secured("/console/accounts/kodaira_x/stop", response.headers)
    assert await harness.store.list_audit(action="account.stopped") == []


@pytest.mark.parametrize("body", [b"[" * 500 + b"]" * 500, b'{"text": ' + b"9" * 5000 + b"}", b'{"\\ud800": 1}'],
                         ids=["deep", "huge-int", "surrogate-key"])
async def test_preview_refuses_hostile_json(client: TestClient, body: bytes) -> None:
    token = await login(client, STAFF.name)
    response = await client.post("/console/compose/preview", data=body, headers={
        "X-CSRF-Token": token, "Accept": "application/json", "Content-Type": "application/json"})
    assert response.status == 400, await response.text()
    assert (await response.json())["error"] in ("too_deep", "number_too_long", "invalid_unicode")
    assert_secured("/console/compose/preview", response.headers)


@pytest.mark.parametrize("alert_id", [str(2**63), "9" * 5000])
async def test_console_hijack_id_out_of_range_is_bad_input(client: TestClient, alert_id: str) -> None:
    token = await login(client, OPERATOR.name)
    response = await client.post(f"/console/hijack-alerts/{alert_id}/resolve", data={"csrf": token, "note": "確認"})
    assert response.status == 400, await response.text()
    assert "警告の番号" in await response.text()


async def test_form_key_reused_with_another_text_is_refused(client: TestClient, harness: Harness) -> None:
    token = await login(client, STAFF.name)
    first = await client.post("/console/compose", data={**FORM, "csrf": token, "idempotency_key": "form-1"},
                              allow_redirects=False)
    assert first.status == 303
    again = await client.post("/console/compose", data={**FORM, "csrf": token, "idempotency_key": "form-1"},
                              allow_redirects=False)
    assert again.status == 303 and again.headers["Location"] == first.headers["Location"]
    edited = await client.post("/console/compose", data={**FORM, "text": TEXT + "（雨天中止）", "csrf": token,
                                                         "idempotency_key": "form-1"}, allow_redirects=False)
    assert edited.status == 409, await edited.text()
    assert "別の内容" in await edited.text()
    assert len(await harness.store.list_messages()) == 1


# -- free text is bounded (issue 12) -----------------------------------------------------------------

LONG = "あ" * 2001


@pytest.mark.parametrize(("actor", "path", "form", "field"), [
    (APPROVER, "/console/messages/{id}/approve", {"override_links.shortener": LONG}, "override_links.shortener"),
    (APPROVER, "/console/messages/{id}/reject", {"comment": LONG}, "comment"),
    (APPROVER, "/console/messages/{id}/retract", {"reason": LONG}, "reason"),
    (OPERATOR, "/console/accounts/kodaira_x/stop", {"reason": LONG}, "reason"),
    (OPERATOR, "/console/accounts/kodaira_x/resume", {"reason": LONG}, "reason"),
    (OPERATOR, "/console/accounts/kodaira_x/rotation", {"reason": LONG}, "reason"),
    (OPERATOR, "/console/hijack-alerts/1/resolve", {"note": LONG}, "note"),
    (OPERATOR, "/console/held-alerts/h_x/publish", {"note": LONG}, "note"),
    (OPERATOR, "/console/held-alerts/h_x/dismiss", {"note": LONG}, "note"),
])
async def test_console_free_text_longer_than_its_limit_is_refused(
    client: TestClient, app: web.Application, harness: Harness, actor: object, path: str, form: dict[str, str],
    field: str,
) -> None:
    message_id = await submitted(app, STAFF, REVIEW_TEXT)
    token = await login(client, actor.name)  # type: ignore[attr-defined]
    audit_before = len(await harness.store.list_audit(limit=10_000))
    response = await client.post(path.format(id=message_id), data={"csrf": token, **form},
                                 headers={"Accept": "application/json"})
    assert response.status == 400, await response.text()
    payload = await response.json()
    assert payload["error"] == "too_long" and [p["field"] for p in payload["problems"]] == [field]
    assert (await harness.store.get_message(message_id)).state is MessageState.PENDING_APPROVAL
    assert len(await harness.store.list_audit(limit=10_000)) == audit_before


@pytest.mark.parametrize("name", ["text", "actor", "action", "message_id"])
async def test_audit_search_terms_are_bounded(client: TestClient, name: str) -> None:
    await login(client, OPERATOR.name)
    for path in ("/console/audit", "/console/audit.csv"):
        response = await client.get(path, params={name: "a" * 201})
        assert response.status == 400, await response.text()
        assert "200文字以内" in await response.text()
    assert (await client.get("/console/audit", params={name: "a" * 200})).status == 200


@pytest.mark.parametrize("key", ["k" * 201, "k" * 300, "k\x01"])
async def test_console_idempotency_key_is_checked(client: TestClient, harness: Harness, key: str) -> None:
    token = await login(client, STAFF.name)
    response = await client.post("/console/compose", data={**FORM, "csrf": token, "idempotency_key": key},
                                 allow_redirects=False)
    assert response.status == 400, await response.text()
    assert "idempotency_key" in await response.text()
    assert await harness.store.list_messages() == []



# -- live streams per user (issue 12) ------------------------------------------------------------------

async def test_event_streams_are_capped_per_user_and_a_closed_one_frees_its_slot(
    client: TestClient, app: web.Application, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gateway.web.console import deliveries

    monkeypatch.setattr(deliveries, "POLL_S", 0.02)
    await login(client, OPERATOR.name)
    streams = [await client.get("/console/deliveries/events") for _ in range(4)]
    try:
        assert [s.status for s in streams] == [200] * 4
        assert_secured("/console/deliveries/events", streams[0].headers)
        refused = await client.get("/console/deliveries/events")
        assert refused.status == 429, await refused.text()
        assert "4画面まで" in await refused.text()
        assert_secured("/console/deliveries/events", refused.headers)
        async with TestClient(TestServer(app)) as other:  # another user has slots of their own
            await login(other, APPROVER.name)
            theirs = await other.get("/console/deliveries/events")
            assert theirs.status == 200
            theirs.close()
        streams.pop(0).close()
        for _ in range(200):  # the handler notices the closed connection at its next poll
            again = await client.get("/console/deliveries/events")
            if again.status == 200:
                break
            await asyncio.sleep(0.02)
        assert again.status == 200
        streams.append(again)
    finally:
        for stream in streams:
            stream.close()


async def test_an_open_event_stream_ends_when_the_server_shuts_down(client: TestClient, app: web.Application) -> None:
    """An operator's open 配信状況 page must not hold a restart for the server's 60 s shutdown timeout."""
    await login(client, OPERATOR.name)
    stream = await client.get("/console/deliveries/events")
    assert stream.status == 200
    await app.shutdown()  # what AppRunner.cleanup() runs before it waits for open handlers
    body = b""
    while chunk := await asyncio.wait_for(stream.content.readany(), timeout=5):
        body += chunk
    assert stream.content.at_eof() and b"event: row" not in body


async def test_accounts_page_is_paged_with_what_needs_a_person_first(
        client: TestClient, harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.web.console import accounts_page

    monkeypatch.setattr(accounts_page, "ACCOUNTS_PER_PAGE", 4)
    submitted = await harness.gateway.submit(msg_for("kodaira_x"), STAFF)
    await harness.gateway.approve(submitted.record.id, APPROVER)
    await harness.dispatcher.drain()  # kodaira_x has posted today: nothing to act on
    await login(client, OPERATOR.name)
    accounts = [a.id for m in harness.gateway.policies for a in m.accounts]
    first = await (await client.get("/console/accounts")).text()
    assert f"全 {len(accounts)} 件（1〜4 件目を表示）" in first
    assert f"要対応のアカウント: {len(accounts) - 1}件" in first
    assert 'id="acc-kodaira_x"' not in first and 'rel="next"' in first
    last_page = -(-len(accounts) // 4)
    last = await (await client.get(f"/console/accounts?page={last_page}")).text()
    assert 'id="acc-kodaira_x"' in last  # the one without anything to act on comes last
    only = await (await client.get(f"/console/accounts?attention=1&page={last_page}")).text()
    assert 'id="acc-kodaira_x"' not in only and f"全 {len(accounts) - 1} 件" in only
    bad = await client.get("/console/accounts?page=0")
    assert bad.status == 400 and "ページ番号が正しくありません" in await bad.text()


def msg_for(account: str) -> Message:
    return Message(municipality="kodaira", accounts=[account], category="event", text="小平市民まつりを中央公園で開催します。")
