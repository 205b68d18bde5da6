"""PostgreSQL connections dropped under load: the gateways reconnect and carry on, nothing lost or doubled.

Restarting the shared PostgreSQL server is not allowed here (other work uses it), so the restart
is simulated the way clients see it: every backend of the scratch database is terminated,
again and again, while two gateway replicas take submissions and publish.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from tests.faults.client import push_all, submissions
from tests.faults.conftest import Launch, make_client
from tests.faults.outcome import assert_exactly_once, wait_all_sent
from tests.faults.procs import Sandbox

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

MESSAGES = 40
TERMINATE_FOR_S = 12.0


def _terminator(admin_dsn: str, database: str, stop: threading.Event, killed: list[int]) -> None:
    rng = random.Random()
    conn = psycopg2.connect(admin_dsn, connect_timeout=5)
    conn.autocommit = True
    try:
        while not stop.wait(rng.uniform(0.2, 0.8)):
            with conn.cursor() as cursor:
                cursor.execute("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE datname = %s AND pid <> pg_backend_pid()", (database,))
                row = cursor.fetchone()
                killed.append(int(row[0]) if row else 0)
    finally:
        conn.close()


def test_connections_terminated_under_load(postgres_url: str, pg_admin_url: str, sandbox: Sandbox,
                                           launch: Launch) -> None:
    replicas = [launch(postgres_url, sandbox.url, name=f"gateway{i}") for i in (1, 2)]
    turn = itertools.cycle(replicas)
    client = make_client(replicas[0], url=lambda: next(turn).url)
    tag = uuid.uuid4().hex[:6]
    subs = submissions(MESSAGES, tag)
    stop, killed = threading.Event(), list[int]()
    admin_dsn = make_url(pg_admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    terminator = threading.Thread(target=_terminator, args=(admin_dsn, make_url(postgres_url).database, stop,
                                                            killed), daemon=True)
    terminator.start()
    started = time.monotonic()
    try:
        push_all(client, subs, started + 40, gap_s=TERMINATE_FOR_S / MESSAGES)
        stop.wait(max(0.0, TERMINATE_FOR_S - (time.monotonic() - started)))
    finally:
        stop.set()
        terminator.join(timeout=10)

    assert sum(killed) >= 10, f"too few backends terminated to mean anything: {killed}"
    wait_all_sent(client, subs, 40, replicas[0])
    assert_exactly_once(sandbox, subs, tag)
    for replica in replicas:
        assert replica.proc is not None and replica.proc.poll() is None, f"a replica died:\n{replica.tail()}"
    print(f"terminated backends={sum(killed)} over {len(killed)} rounds; client_errors={dict(client.errors)}")
