"""kill -9 the gateway while it uploads images and video to the platforms: nothing lost, nothing posted twice.

Files go in through `POST /api/v1/media` (retried across kills: a lost answer only leaves an
unused file), messages name them by id, and the gateway is killed at random while it publishes
them. Every X video waits for the platform's processing after its chunked upload (the sandbox
takes a second), so many kills land in the middle of a media upload; an X image is uploaded, given
its alt text, then attached. After each restart the reconciler finds what was posted and sends
the rest: every message must be out exactly once per account, with its media attached.
Set FAULT_SEED to replay a run's kill timing.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from gateway.models import Platform
from tests.faults.client import Client, Submission, push_all
from tests.faults.conftest import Launch, make_client
from tests.faults.outcome import assert_exactly_once, wait_all_sent
from tests.faults.procs import Gateway, Sandbox
from tests.mediafiles import FIXTURE_MEDIA

pytestmark = pytest.mark.slow

MESSAGES = 12
MIN_KILLS = 5
MAX_KILLS = 8
IMAGE = (FIXTURE_MEDIA / "city.png").read_bytes()
VIDEO = (FIXTURE_MEDIA / "clip.mp4").read_bytes()


def _plan(tag: str) -> list[tuple[Submission, bytes, str]]:
    """Images to 美祢 (X and Facebook, no approval); videos to 木更津's X (an approver acts)."""
    plan = []
    for i in range(MESSAGES):
        marker = f"{tag}-{i:03d}"
        if i % 2 == 0:
            plan.append((Submission(marker, "mine", ("mine_x", "mine_facebook")), IMAGE, "image"))
        else:
            plan.append((Submission(marker, "kisarazu", ("kisarazu_x",)), VIDEO, "video"))
    return plan


def _upload(client: Client, data: bytes, deadline: float) -> dict[str, Any]:
    """One file into the media store, tried again while the gateway is down or restarting."""
    while time.monotonic() < deadline:
        try:
            response = requests.post(client.url() + "/api/v1/media", files={"file": ("upload.bin", data)},
                                     headers={"Authorization": f"Bearer {client.staff}"}, timeout=30)
        except requests.RequestException as exc:
            client.errors[type(exc).__name__] += 1
            time.sleep(0.1)
            continue
        if response.status_code >= 500:
            client.errors[f"HTTP {response.status_code}"] += 1
            continue
        assert response.status_code == 201, response.text
        stored: dict[str, Any] = response.json()
        return stored
    raise AssertionError(f"upload never accepted: {client.errors}")


def _upload_and_submit(client: Client, plan: list[tuple[Submission, bytes, str]],
                       uploads: dict[str, dict[str, Any]]) -> tuple[threading.Thread, list[BaseException]]:
    failures: list[BaseException] = []

    def run() -> None:
        deadline = time.monotonic() + 120
        try:
            for sub, data, kind in plan:
                stored = _upload(client, data, deadline)
                uploads[sub.marker] = stored
                sub.media = [{"kind": kind, "id": stored["id"], "alt_text": "避難所の位置を示した地図"}]
                push_all(client, [sub], deadline)
        except BaseException as exc:  # re-raised by the test's thread
            failures.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, failures


def _kill_storm(gateway: Gateway, submitter: threading.Thread, rng: random.Random) -> int:
    kills = 0
    while kills < MIN_KILLS or (submitter.is_alive() and kills < MAX_KILLS):
        time.sleep(rng.uniform(0.2, 1.5))
        gateway.restart()
        kills += 1
    return kills


def _assert_media_attached(sandbox: Sandbox, plan: list[tuple[Submission, bytes, str]]) -> None:
    posts = sandbox.posts()
    for sub, data, kind in plan:
        for account in sub.accounts:
            [post] = [p for p in posts if p["account"] == account and sub.marker in p["text"]]
            if account.endswith("_x"):
                assert [(m["kind"], m["size"]) for m in post["media"]] == [(kind, len(data))], (sub.marker, post)
            else:  # a Facebook photo post
                assert [m["kind"] for m in post["media"]] == ["image"], (sub.marker, post)


def test_kill9_during_image_and_video_uploads(database_url: str, sandbox: Sandbox, launch: Launch,
                                              tmp_path: Path) -> None:
    seed = int(os.environ.get("FAULT_SEED", random.randrange(1 << 30)))
    tag = uuid.uuid4().hex[:6]
    media_dir = tmp_path / "media"
    gateway = launch(database_url, sandbox.url, MEDIA_DIR=str(media_dir))
    client = make_client(gateway)
    plan = _plan(tag)
    uploads: dict[str, dict[str, Any]] = {}
    submitter, failures = _upload_and_submit(client, plan, uploads)
    kills = _kill_storm(gateway, submitter, random.Random(seed))
    submitter.join(timeout=120)
    assert not failures, f"FAULT_SEED={seed}: {failures[0]!r}"

    subs = [sub for sub, _, _ in plan]
    wait_all_sent(client, subs, 90, gateway, context=f"FAULT_SEED={seed} kills={kills}:")
    assert_exactly_once(sandbox, subs, tag)
    _assert_media_attached(sandbox, plan)
    for stored in uploads.values():  # every file a message names is still whole in the store
        [path] = media_dir.glob(f"{stored['id']}.*")
        assert hashlib.sha256(path.read_bytes()).hexdigest() == stored["sha256"]
    video_inits = [r for r in sandbox.requests(Platform.X) if r["path"].endswith("/2/media/upload/initialize")]
    assert len(video_inits) >= MESSAGES // 2
    print(f"FAULT_SEED={seed} kills={kills} x_video_uploads_started={len(video_inits)} for {MESSAGES // 2} videos "
          f"client_errors={dict(client.errors)}")
