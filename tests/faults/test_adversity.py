"""Issue 12, with real `gateway serve` processes: poison in the ledger, submitters racing on one
Idempotency-Key across processes, an operator acting while a delivery is uncertain.

Each test drives the gateway only through its HTTP API and reads the sandbox's record of what was
published; the database is touched directly only to plant data the API can no longer produce.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from gateway.models import CheckResult, Message, MessageState, Priority, Verdict
from gateway.store import NewMessage, open_store
from gateway.store.schema import deliveries
from tests.faults.audit import _engine
from tests.faults.client import Client, push_all, submissions
from tests.faults.conftest import Launch, make_client
from tests.faults.outcome import assert_exactly_once, wait_all_sent
from tests.faults.procs import Gateway, Sandbox

pytestmark = pytest.mark.slow

FAR = datetime(9999, 12, 31, 11, 0, tzinfo=UTC)


def _plant_far_schedule(database_url: str, text: str) -> str:
    """An approved message scheduled for 9999-12-31, as a ledger written before intake refused it holds."""
    async def plant() -> str:
        store = await open_store(database_url)
        try:
            body = Message.model_validate({"municipality": "mine", "accounts": ["mine_x"], "category": "event",
                                           "text": text, "not_before": FAR.isoformat()})
            record, _ = await store.add_message(NewMessage(
                municipality="mine", body=body, state=MessageState.APPROVED, priority=Priority.NORMAL,
                submitted_by="fault_staff", source="api", check=CheckResult(verdict=Verdict.PASS),
                accounts=("mine_x",), approved_by="fault_approver"), actor="test")
            return record.id
        finally:
            await store.aclose()

    return asyncio.run(plant())


def _strand_in_sending(database_url: str, delivery_id: str) -> None:
    """Back to `sending` under a dead worker whose lease runs until 9999: only fencing can free it."""
    engine = _engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(deliveries.update().where(deliveries.c.id == delivery_id).values(
                state="sending", lease_owner="gone-worker-1", lease_expires=FAR, remote_id=None, remote_url=None,
                sent_at=None))
    finally:
        engine.dispose()


def _background_failures(gateway: Gateway) -> float:
    text = requests.get(f"{gateway.url}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("gateway_background_failures_total{"))


def _wait_ready(gateway: Gateway, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = requests.get(f"{gateway.url}/readyz", timeout=5)
        body = response.json()
        if response.status_code == 200:
            return body
        time.sleep(0.2)
    raise AssertionError(f"/readyz not ready after {timeout_s}s: {body}\n{gateway.tail()}")


def test_poison_in_the_ledger_neither_stops_start_up_nor_maintenance(
        database_url: str, sandbox: Sandbox, launch: Launch) -> None:
    """A 9999 schedule and a `sending` delivery leased until 9999, planted while the gateway was down,
    at production lease length (120 s): `serve` starts, stays ready, recovers the stranded delivery in
    seconds without posting it twice, and keeps delivering new messages."""
    tag = uuid.uuid4().hex[:6]
    gateway = launch(database_url, sandbox.url, LEASE_SECONDS=120)
    client = make_client(gateway)
    first = submissions(2, tag)
    push_all(client, first, time.monotonic() + 60)
    rows = wait_all_sent(client, first, 60, gateway)
    gateway.kill9()

    stranded = next(d for d in rows if d["account"] == "mine_x")
    _strand_in_sending(database_url, stranded["id"])
    poison = _plant_far_schedule(database_url, f"美祢市民まつりのお知らせ {tag}-far")

    restarted = time.monotonic()
    gateway.up()
    _wait_ready(gateway, 10)
    later = submissions(2, tag + "b")
    push_all(client, later, time.monotonic() + 60)
    wait_all_sent(client, first + later, 30, gateway)
    recovered_s = time.monotonic() - restarted
    assert recovered_s < 30, f"the stranded delivery waited {recovered_s:.0f}s (lease is 120 s)"

    time.sleep(2)  # several maintenance rounds over the poisoned rows
    body = _wait_ready(gateway, 5)
    assert body.get("problems", []) == []
    assert _background_failures(gateway) == 0, gateway.tail()
    held = requests.get(f"{gateway.url}/api/v1/deliveries", params={"message_id": poison},
                        headers={"Authorization": f"Bearer {client.operator}"}, timeout=10)
    assert held.status_code == 200 and [d["state"] for d in held.json()["deliveries"]] == ["held"], held.text
    assert_exactly_once(sandbox, first, tag)
    assert not [p for p in sandbox.posts() if f"{tag}-far" in p["text"]]
    assert "Traceback" not in gateway.tail(400)


def _post(gateway: Gateway, token: str, body: dict[str, Any], key: str) -> requests.Response:
    return requests.post(f"{gateway.url}/api/v1/messages", json=body, timeout=30,
                         headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key})


def test_submitters_racing_on_one_key_across_processes_make_one_message(
        database_url: str, sandbox: Sandbox, launch: Launch) -> None:
    """Twelve clients, two gateway processes on one database, the same Idempotency-Key and body, all at
    once: one message, one post per account; the same key with another body is 409 and stores nothing."""
    tag = uuid.uuid4().hex[:6]
    a = launch(database_url, sandbox.url, name="a")
    client = make_client(a)
    b = launch(database_url, sandbox.url, name="b")
    (sub,) = submissions(1, tag)
    body = {"municipality": sub.municipality, "accounts": list(sub.accounts), "category": "emergency",
            "priority": "emergency", "emergency_reason": "障害試験",
            "text": f"【緊急】避難所を開設しました。整理番号 {sub.marker}"}
    key = f"race-{tag}"
    start = threading.Barrier(12)
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def submit(gateway: Gateway) -> None:
        start.wait()
        response = _post(gateway, client.staff, body, key)
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=submit, args=(g,)) for g in [a, b] * 6]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == 12
    assert {r.status_code for r in answers} <= {200, 201}, [(r.status_code, r.text[:200]) for r in answers]
    assert sum(r.status_code == 201 for r in answers) == 1
    ids = {r.json()["id"] for r in answers}
    assert len(ids) == 1
    sub.message_id, sub.approved = ids.pop(), True

    other = _post(b, client.staff, {**body, "text": body["text"] + "（更新）"}, key)
    assert other.status_code == 409 and "idempotency_key_reused" in other.text, other.text

    wait_all_sent(client, [sub], 60, a)
    engine = _engine(database_url)
    try:
        with engine.connect() as conn:  # the ledger itself: one row for the key, whatever the answers said
            stored = conn.execute(sa.text("SELECT count(*) FROM messages WHERE idempotency_key = :k"),
                                  {"k": key}).scalar()
    finally:
        engine.dispose()
    assert stored == 1
    counts = [p for p in sandbox.posts() if sub.marker in p["text"]]
    assert sorted(p["account"] for p in counts) == sorted(sub.accounts)


def _delivery(client: Client, message_id: str, account: str) -> dict[str, Any]:
    rows = client.deliveries() or []
    return next(d for d in rows if d["message_id"] == message_id and d["account"] == account)


def _wait_state(client: Client, message_id: str, account: str, states: set[str], timeout_s: float,
                gateway: Gateway) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    row: dict[str, Any] = {}
    while time.monotonic() < deadline:
        row = _delivery(client, message_id, account)
        if row["state"] in states:
            return row
        time.sleep(0.2)
    raise AssertionError(f"{account} still {row.get('state')} after {timeout_s}s\n{gateway.tail()}")


def _operate(client: Client, delivery_id: str, action: str) -> requests.Response:
    response = client._call("POST", f"/api/v1/deliveries/{delivery_id}/{action}", client.operator, json={})
    assert response is not None
    return response


@pytest.mark.parametrize("account", ["mine_facebook", "mine_x"])
def test_operator_cancel_then_retry_of_an_uncertain_delivery_posts_once(
        database_url: str, sandbox: Sandbox, launch: Launch, account: str) -> None:
    """The platform published but the answer never came (uncertain). The operator cancels, then retries,
    then the gateway is killed and restarted: the post exists once and the delivery ends `sent`."""
    tag = uuid.uuid4().hex[:6]
    gateway = launch(database_url, sandbox.url, RECONCILE_AFTER_SECONDS=20, MAX_ATTEMPTS=3)
    client = make_client(gateway)
    platform = "facebook" if account.endswith("facebook") else "x"
    sandbox.fault(kind="timeout_after_accept", platform=platform, account=account, hang_s=8)
    sandbox.fault(kind="read_error", platform=platform, account=account, times=1000)  # cannot look yet
    (sub,) = submissions(1, tag)
    push_all(client, [sub], time.monotonic() + 30)
    assert sub.message_id is not None
    row = _wait_state(client, sub.message_id, account, {"uncertain"}, 30, gateway)

    assert _operate(client, row["id"], "cancel").status_code == 200
    retried = _operate(client, row["id"], "retry")
    assert retried.status_code == 200 and retried.json()["state"] == "uncertain", retried.text
    time.sleep(1)  # housekeeping rounds: still nothing sent while the timeline cannot be read
    assert len([p for p in sandbox.posts() if sub.marker in p["text"] and p["account"] == account]) == 1
    gateway.restart()
    sandbox.clear_faults()
    final = _wait_state(client, sub.message_id, account, {"sent", "failed"}, 60, gateway)
    assert final["state"] == "sent", final
    posts = [p for p in sandbox.posts() if sub.marker in p["text"] and p["account"] == account]
    assert len(posts) == 1, posts
    assert final["remote_id"] == posts[0]["remote_id"]


def test_retry_of_an_uncertain_delivery_is_refused_not_sent(
        database_url: str, sandbox: Sandbox, launch: Launch) -> None:
    """Retrying while the outcome is unknown would post twice: the API says 409 and the reconciler decides."""
    tag = uuid.uuid4().hex[:6]
    gateway = launch(database_url, sandbox.url, RECONCILE_AFTER_SECONDS=5)
    client = make_client(gateway)
    sandbox.fault(kind="timeout_after_accept", platform="facebook", account="mine_facebook", hang_s=8)
    sandbox.fault(kind="read_error", platform="facebook", account="mine_facebook", times=1000)
    (sub,) = submissions(1, tag)
    push_all(client, [sub], time.monotonic() + 30)
    assert sub.message_id is not None
    row = _wait_state(client, sub.message_id, "mine_facebook", {"uncertain"}, 30, gateway)
    refused = _operate(client, row["id"], "retry")
    assert refused.status_code == 409, refused.text
    sandbox.clear_faults()
    final = _wait_state(client, sub.message_id, "mine_facebook", {"sent", "failed"}, 60, gateway)
    assert final["state"] == "sent"
    assert len([p for p in sandbox.posts() if sub.marker in p["text"] and p["account"] == "mine_facebook"]) == 1


class _SmallDisk:
    """A size-limited tmpfs for the SQLite file; `fill()` takes every free byte, `free()` gives them back."""

    def __init__(self, path: Any, size_mb: int) -> None:
        self.path = path
        path.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(path)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small file system here (needs root): {done.stderr.strip()}")
        self.filler = path / "filler"

    def fill(self) -> None:
        for size in (65536, 512):  # then the last partial blocks
            fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
            finally:
                os.close(fd)

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True, check=False)


@pytest.fixture
def small_disk(tmp_path: Any) -> Any:
    disk = _SmallDisk(tmp_path / "disk", 16)
    try:
        yield disk
    finally:
        disk.unmount()


def test_disk_full_on_sqlite_loses_nothing_accepted(small_disk: _SmallDisk, sandbox: Sandbox,
                                                    launch: Launch) -> None:
    """The SQLite file system fills up while messages arrive and go out: submissions get a clear 503
    (never 500) and are retried; once space is back every accepted message is out exactly once, nothing
    refused is out, and the database passes its integrity check."""
    database_url = f"sqlite:///{small_disk.path / 'gateway.db'}"
    tag = uuid.uuid4().hex[:6]
    gateway = launch(database_url, sandbox.url)
    client = make_client(gateway)
    before = submissions(6, tag)
    push_all(client, before, time.monotonic() + 60)

    small_disk.fill()
    refused: list[requests.Response] = []
    during = submissions(4, tag + "f")
    for sub in during:
        body = {"municipality": sub.municipality, "accounts": list(sub.accounts), "category": "emergency",
                "priority": "emergency", "emergency_reason": "障害試験",
                "text": f"【緊急】避難所を開設しました。整理番号 {sub.marker}"}
        response = _post(gateway, client.staff, body, f"fault-{sub.marker}")
        if response.status_code != 201:
            refused.append(response)
    time.sleep(2)  # the workers run on a full disk for a while
    small_disk.free()

    assert refused, "the disk never filled up"
    assert {r.status_code for r in refused} == {503}, [(r.status_code, r.text[:300]) for r in refused]
    for response in refused:
        error = response.json()
        assert error["error"] == "storage_full" and "ディスク" in error["message"], error
        assert response.headers.get("Retry-After")

    push_all(client, during, time.monotonic() + 60)  # the refused ones, retried with the same keys
    after = submissions(2, tag + "a")
    push_all(client, after, time.monotonic() + 60)
    everything = before + during + after
    wait_all_sent(client, everything, 90, gateway)
    for group, group_tag in ((before, tag), (during, tag + "f"), (after, tag + "a")):
        assert_exactly_once(sandbox, group, group_tag)
    engine = _engine(database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
    finally:
        engine.dispose()
    assert "Traceback" not in gateway.tail(400), gateway.tail(400)
