"""kill -9 the gateway at random points of a fan-out, many times: nothing lost, nothing sent twice.

A killed worker leaves `sending` deliveries behind. When their lease expires the reconciler
makes the X/Facebook ones `uncertain` and looks for them on the account's timeline (found: sent;
not found: sent again), and resends the LINE ones with the same retry key. Submissions are
retried with the same Idempotency-Key, so a kill between accept and answer loses nothing.
Set FAULT_SEED to replay a run's kill timing.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid

import pytest

from tests.faults.audit import transitions
from tests.faults.client import Client, Submission, push_all, submissions
from tests.faults.conftest import Launch, make_client
from tests.faults.outcome import assert_exactly_once, wait_all_sent
from tests.faults.procs import Gateway, Sandbox

pytestmark = pytest.mark.slow

MESSAGES = 40
MIN_KILLS = 5
MAX_KILLS = 8


def _submit_in_background(client: Client, subs: list[Submission]) -> tuple[threading.Thread, list[BaseException]]:
    failures: list[BaseException] = []

    def submit() -> None:
        try:
            push_all(client, subs, time.monotonic() + 90)
        except BaseException as exc:  # re-raised by the test's thread
            failures.append(exc)

    thread = threading.Thread(target=submit, daemon=True)
    thread.start()
    return thread, failures


def _kill_storm(gateway: Gateway, submitter: threading.Thread, rng: random.Random) -> int:
    """SIGKILL at random moments (intake, planning, publishing, reconciling) and restart on the same DB."""
    kills = 0
    while kills < MIN_KILLS or (submitter.is_alive() and kills < MAX_KILLS):
        time.sleep(rng.uniform(0.1, 1.5))
        gateway.restart()
        kills += 1
    return kills


def test_kill9_during_fanout(database_url: str, sandbox: Sandbox, launch: Launch) -> None:
    seed = int(os.environ.get("FAULT_SEED", random.randrange(1 << 30)))
    tag = uuid.uuid4().hex[:6]
    gateway = launch(database_url, sandbox.url)
    client = make_client(gateway)
    subs = submissions(MESSAGES, tag)
    submitter, failures = _submit_in_background(client, subs)
    kills = _kill_storm(gateway, submitter, random.Random(seed))
    submitter.join(timeout=90)
    assert not failures, f"FAULT_SEED={seed}: {failures[0]!r}"

    wait_all_sent(client, subs, 60, gateway, context=f"FAULT_SEED={seed} kills={kills}:")
    assert_exactly_once(sandbox, subs, tag)
    uncertain = transitions(database_url, "uncertain")
    print(f"FAULT_SEED={seed} kills={kills} uncertain={len(uncertain)} client_errors={dict(client.errors)}")
