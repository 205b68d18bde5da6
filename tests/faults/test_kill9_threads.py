"""kill -9 while X threads are going out: every thread ends up whole, each part exactly once, one chain.

Issue 12: a crash between thread parts left part 2 unsent while the ledger said `sent` (5 of 80
threads). The sandbox delays every request (latency) so that kills land between parts; the gateway
is killed at random moments and restarted on the same database, many times.
"""

from __future__ import annotations

import os
import random
import shutil
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from tests.faults.client import Client
from tests.faults.conftest import Launch, make_client
from tests.faults.procs import ROOT, Sandbox

pytestmark = pytest.mark.slow

THREADS = 10
ACCOUNTS = {"mine": ("mine_x",), "kisarazu": ("kisarazu_x",)}


def _thread_config(tmp: Path) -> Path:
    config = tmp / "municipalities"
    shutil.copytree(ROOT / "config" / "municipalities", config)
    for city in ACCOUNTS:
        path = config / f"{city}.toml"
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace(f'id = "{city}_x"\n', f'id = "{city}_x"\nx_overflow = "thread"\n', 1),
                        encoding="utf-8")
    return config


def _text(marker: str) -> str:
    # Every sentence carries the marker, so every part does wherever the thread is split.
    return "".join(f"避難所を開設しました（整理番号{marker}、{i}）。" for i in range(24))


def _parts_of(marker: str) -> int:
    from gateway.adapters.x import render_x
    from gateway.models import Message
    from gateway.policy import load_policies

    found = load_policies(ROOT / "config" / "municipalities").account("mine_x")
    assert found is not None
    account = found[1].model_copy(update={"x_overflow": "thread"})
    return len(render_x(Message(municipality="mine", category="emergency", text=_text(marker)), account).parts)


def _submit(client: Client, marker: str, city: str) -> str | None:
    body = {"municipality": city, "accounts": list(ACCOUNTS[city]), "category": "emergency",
            "priority": "emergency", "emergency_reason": "障害試験", "text": _text(marker)}
    response = client._call("POST", "/api/v1/messages", client.staff, json=body,
                            headers={"Idempotency-Key": f"thread-{marker}"})
    if response is None or response.status_code >= 500:
        return None
    assert response.status_code in (200, 201), response.text
    data = response.json()
    if data["state"] == "pending_approval":
        approved = client._call("POST", f"/api/v1/messages/{data['id']}/approve", client.approver, json={})
        if approved is None or approved.status_code not in (200, 409):
            return None
    return str(data["id"])


def test_kill9_between_thread_parts(database_url: str, tmp_path: Path, launch: Launch) -> None:
    seed = int(os.environ.get("FAULT_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    tag = uuid.uuid4().hex[:5]
    config = _thread_config(tmp_path)
    sandbox = Sandbox(tmp_path, latency_ms=120).up()
    try:
        gateway = launch(database_url, sandbox.url, CONFIG_DIR=str(config))
        client = make_client(gateway)
        pending = [(f"{tag}{i:02d}", "mine" if i % 2 else "kisarazu") for i in range(THREADS)]
        kills = 0
        deadline = time.monotonic() + 120
        while (pending or kills < 6) and time.monotonic() < deadline:
            if pending and _submit(client, *pending[0]) is not None:
                pending.pop(0)
                continue
            if kills < 12:
                time.sleep(rng.uniform(0.05, 0.6))
                gateway.restart()
                kills += 1
        assert not pending, f"FAULT_SEED={seed}: not accepted {pending}"

        def parts() -> Counter[tuple[str, str]]:
            counts: Counter[tuple[str, str]] = Counter()
            for post in sandbox.posts():
                for i in range(THREADS):
                    marker = f"{tag}{i:02d}"
                    if marker in post["text"]:
                        counts[(marker, post["text"].rsplit(" ", 1)[-1])] += 1
            return counts

        n = _parts_of(f"{tag}00")
        assert n >= 3
        expected = {(f"{tag}{i:02d}", f"({k}/{n})") for i in range(THREADS) for k in range(1, n + 1)}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and set(parts()) != expected:
            time.sleep(0.5)
        counts = parts()
        assert set(counts) == expected, f"FAULT_SEED={seed} kills={kills}: missing {sorted(expected - set(counts))}"
        assert all(n == 1 for n in counts.values()), f"FAULT_SEED={seed}: twice {[k for k, n in counts.items() if n > 1]}"
        by_id = {p["remote_id"]: p for p in sandbox.posts()}
        for post in sandbox.posts():
            if not post["text"].endswith(f"(1/{n})") and tag in post["text"]:
                parent = by_id.get(post["reply_to"] or "")
                assert parent is not None and parent["text"].split("整理番号")[1][:7] == \
                    post["text"].split("整理番号")[1][:7], f"FAULT_SEED={seed}: a part outside its thread"
        print(f"FAULT_SEED={seed} kills={kills} threads={THREADS}")
    finally:
        sandbox.kill9()
