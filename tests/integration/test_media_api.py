"""`POST /api/v1/media` over a real database, and an uploaded image's whole journey to the X sandbox."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.media import IMAGE_MAX_BYTES
from gateway.models import DeliveryState, Platform, Role
from gateway.runtime import open_runtime
from gateway.settings import Settings
from gateway.web.api import ROUTES
from gateway.web.app import build_app
from gateway.web.auth import create_token
from gateway.web.openapi import openapi_document
from tests.integration.conftest import OFFICE_HOURS, Harness
from tests.mediafiles import FIXTURE_MEDIA, PNG
from tests.scopes import CITIES

ROOT = Path(__file__).resolve().parents[2]
VIDEO = (FIXTURE_MEDIA / "clip.mp4").read_bytes()  # 600 KiB, far over the app's JSON body limit below


@dataclass
class Uploader:
    client: TestClient
    tokens: dict[Role, str]

    async def upload(self, data: bytes | None, *, role: Role = Role.STAFF, name: str = "file",
                     filename: str = "photo.jpg", content_type: str = "image/jpeg") -> tuple[int, dict[str, Any]]:
        form = aiohttp.FormData(default_to_multipart=True)
        if data is not None:
            form.add_field(name, data, filename=filename, content_type=content_type)
        else:
            form.add_field("note", "ファイルなし")
        response = await self.client.post("/api/v1/media", data=form,
                                          headers={"Authorization": f"Bearer {self.tokens[role]}"})
        return response.status, await response.json()


@pytest.fixture
async def uploader(harness: Harness) -> AsyncIterator[Uploader]:
    now = datetime.now(UTC)
    tokens = {role: await create_token(harness.store, user=f"user-{role.value}", role=role, municipalities=CITIES, ttl_days=1, now=now,
                                       actor="test") for role in Role}
    async with TestClient(TestServer(build_app(harness.gateway, max_body_bytes=64 * 1024))) as client:
        yield Uploader(client, tokens)


def _stored_files(harness: Harness) -> list[str]:
    return sorted(p.name for p in harness.media.root.iterdir()) if harness.media.root.exists() else []


async def test_upload_answers_id_kind_type_size_and_digest(uploader: Uploader, harness: Harness) -> None:
    status, body = await uploader.upload(PNG, filename="../../etc/passwd.jpg", content_type="image/jpeg")
    assert status == 201, body
    assert set(body) == {"id", "kind", "content_type", "size", "sha256"}
    assert body["kind"] == "image" and body["content_type"] == "image/png"  # from the content, not the name
    assert body["size"] == len(PNG) and body["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert _stored_files(harness) == [f"{body['id']}.png"]
    [audit] = await harness.store.list_audit(action="media.uploaded")
    assert audit.actor == "user-staff"


@pytest.mark.parametrize("role", [Role.STAFF, Role.APPROVER, Role.ADMIN])
async def test_staff_approvers_and_admins_may_upload(uploader: Uploader, role: Role) -> None:
    assert (await uploader.upload(PNG, role=role))[0] == 201


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.ALERT_SYSTEM])
async def test_other_roles_may_not_upload_and_nothing_is_stored(uploader: Uploader, harness: Harness,
                                                                role: Role) -> None:
    assert (await uploader.upload(PNG, role=role))[0] == 403
    assert _stored_files(harness) == []


async def test_a_video_is_streamed_past_the_json_body_limit(uploader: Uploader) -> None:
    status, body = await uploader.upload(VIDEO, filename="clip.bin", content_type="application/octet-stream")
    assert status == 201, body
    assert (body["kind"], body["content_type"], body["size"]) == ("video", "video/mp4", len(VIDEO))


@pytest.mark.parametrize(("data", "code"), [
    (b"just some text that says it is a picture", "unsupported_type"),
    (b"<!doctype html><script>alert(1)</script>", "unsupported_type"),
    (b"", "empty"),
], ids=["text-named-jpg", "html", "empty"])
async def test_refused_uploads_name_the_field_in_japanese(uploader: Uploader, harness: Harness, data: bytes,
                                                          code: str) -> None:
    status, body = await uploader.upload(data)
    assert status == 400, body
    assert body["error"] == code
    [problem] = body["problems"]
    assert problem["field"] == "file" and problem["code"] == code and not problem["message"].isascii()
    assert _stored_files(harness) == []


async def test_too_large_image_is_413_and_leaves_nothing(uploader: Uploader, harness: Harness) -> None:
    status, body = await uploader.upload(PNG[:16] + bytes(IMAGE_MAX_BYTES + 1 - 16))
    assert status == 413, body
    assert body["error"] == "too_large" and body["problems"][0]["field"] == "file"
    assert "5MB" in body["problems"][0]["message"]
    assert _stored_files(harness) == []


async def test_missing_or_misnamed_part_is_refused(uploader: Uploader, harness: Harness) -> None:
    missing = await uploader.upload(None)
    assert missing[0] == 400 and missing[1]["problems"][0]["field"] == "note"
    misnamed = await uploader.upload(PNG, name="media")
    assert misnamed[0] == 400 and misnamed[1]["problems"][0]["field"] == "media"
    response = await uploader.client.post("/api/v1/media", data=json.dumps({"file": "x"}), headers={
        "Authorization": f"Bearer {uploader.tokens[Role.STAFF]}", "Content-Type": "application/json"})
    assert response.status == 400 and (await response.json())["problems"][0]["field"] == "Content-Type"
    empty_form = await uploader.client.post("/api/v1/media", data=b"--x--\r\n", headers={
        "Authorization": f"Bearer {uploader.tokens[Role.STAFF]}", "Content-Type": "multipart/form-data; boundary=x"})
    assert empty_form.status == 400
    assert _stored_files(harness) == []


async def test_unknown_id_is_refused_at_intake(uploader: Uploader, harness: Harness) -> None:
    body = {"municipality": "kodaira", "category": "event", "accounts": ["kodaira_x"], "text": "写真です。",
            "media": [{"kind": "image", "id": "0" * 32, "alt_text": "市役所の外観"}]}
    response = await uploader.client.post("/api/v1/messages", data=json.dumps(body), headers={
        "Authorization": f"Bearer {uploader.tokens[Role.STAFF]}", "Content-Type": "application/json"})
    assert response.status == 400
    [problem] = (await response.json())["problems"]
    assert problem["field"] == "media[0].id" and problem["code"] == "unknown_id"
    assert await harness.store.list_messages() == []


def test_openapi_documents_the_multipart_upload() -> None:
    operation = openapi_document(ROUTES)["paths"]["/api/v1/media"]["post"]
    schema = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema == {"$ref": "#/components/schemas/MediaUpload"}
    assert set(operation["x-roles"]) == {"admin", "staff", "approver"}
    assert "201" in operation["responses"] and "413" in operation["responses"]


# -- end to end: upload, submit by id, approve, publish to the X sandbox ---------------------------

async def test_uploaded_image_is_published_to_x_by_id(database_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=database_url, platforms="sandbox", config_dir=ROOT / "config" / "municipalities",
                        var_dir=tmp_path, reconcile_after_seconds=0)
    started = time.monotonic()
    in_office_hours = lambda: OFFICE_HOURS + timedelta(seconds=time.monotonic() - started)  # noqa: E731
    async with open_runtime(settings, start=False, clock=in_office_hours) as runtime:
        now = datetime.now(UTC)
        staff, approver = [await create_token(runtime.store, user=name, role=role, municipalities=CITIES, ttl_days=1, now=now, actor="test")
                           for name, role in (("sato", Role.STAFF), ("suzuki", Role.APPROVER))]
        async with TestClient(TestServer(build_app(runtime.gateway))) as client:
            form = aiohttp.FormData()
            form.add_field("file", PNG, filename="map.png", content_type="image/png")
            uploaded = await client.post("/api/v1/media", data=form, headers={"Authorization": f"Bearer {staff}"})
            assert uploaded.status == 201, await uploaded.text()
            media_id = (await uploaded.json())["id"]
            message = {"municipality": "kodaira", "category": "event", "accounts": ["kodaira_x"],
                       "text": "小平市民まつりの会場地図です。",
                       "media": [{"kind": "image", "id": media_id, "alt_text": "中央公園の会場配置図"}]}
            submitted = await client.post("/api/v1/messages", data=json.dumps(message, ensure_ascii=False),
                                          headers={"Authorization": f"Bearer {staff}",
                                                   "Content-Type": "application/json"})
            assert submitted.status == 201, await submitted.text()
            message_id = (await submitted.json())["id"]
            approved = await client.post(f"/api/v1/messages/{message_id}/approve",
                                         headers={"Authorization": f"Bearer {approver}"})
            assert approved.status == 200, await approved.text()
        await runtime.gateway.dispatcher.drain()
        [delivery] = await runtime.store.list_deliveries(message_id=message_id)
        assert delivery.state is DeliveryState.SENT, delivery.error_text
        assert runtime.sandbox is not None
        [post] = runtime.sandbox.state.live_posts(Platform.X, "kodaira_x")
        assert post.remote_id == delivery.remote_id
        [medium] = post.media
        assert (medium["kind"], medium["media_type"], medium["size"]) == ("image", "image/png", len(PNG))
        assert medium["alt_text"] == "中央公園の会場配置図"
