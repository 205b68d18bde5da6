"""PostgreSQL restarted under load: the gateways ride out real server restarts, nothing lost or doubled.

The shared PostgreSQL server must not be restarted (other work uses it), so this test runs its
own private PostgreSQL cluster (initdb into a temporary directory, a free port) and restarts
that one for real while two gateway replicas take submissions and publish: a clean `fast`
shutdown and a crash (`immediate`, no shutdown checkpoint, crash recovery on start), each with
the server down for a moment. Every accepted message must still go out exactly once.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import pytest
import requests

from tests.faults.client import Submission, push_all, submissions
from tests.faults.conftest import Launch, make_client
from tests.faults.outcome import assert_exactly_once, wait_all_sent
from tests.faults.procs import Gateway, Sandbox, free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PG_BIN = Path(os.environ.get("GATEWAY_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_OS_USER = "postgres"  # initdb and postgres refuse to run as root
DATABASE = "gateway"

MESSAGES = 40
LOAD_FOR_S = 12.0
# (seconds after the load starts, shutdown mode, seconds the server stays down)
RESTARTS = ((2.5, "fast", 1.5), (6.0, "immediate", 1.5), (9.5, "fast", 1.0))


def _unavailable(reason: str) -> None:
    """Skip, or fail under GATEWAY_REQUIRE_PG=1 (CI), exactly as tests/conftest.py does for the shared server."""
    if os.environ.get("GATEWAY_REQUIRE_PG") == "1":
        pytest.fail(f"GATEWAY_REQUIRE_PG=1 but {reason}")
    pytest.skip(reason)


@dataclass
class PrivatePostgres:
    """A throw-away PostgreSQL cluster owned by the `postgres` OS user (or by us when not root)."""

    base: Path
    port: int = field(default_factory=free_port)
    restarts: list[str] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def log(self) -> Path:
        return self.base / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, tool: str, *args: str, timeout_s: float = 60, check: bool = True) -> str:
        command = [str(PG_BIN / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", PG_OS_USER, "--", *command]
        # cwd: the postgres user may not be allowed into the checkout.
        out = subprocess.run(command, cwd=self.base, capture_output=True, text=True, timeout=timeout_s, check=False)
        if check and out.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} exited with {out.returncode}:\n{out.stdout}{out.stderr}"
                               f"\n--- postgres.log ---\n{self.tail()}")
        return out.stdout

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C",
                  "--no-sync")

    def start(self) -> None:
        # max_connections: two replicas with pools of 20 + 20 overflow each, listeners and CLI runs.
        options = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
                   f"-c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str, down_s: float) -> float:
        """Stop (`fast`: clean; `immediate`: a crash), stay down `down_s`, start; returns the downtime."""
        began = time.monotonic()
        self.stop(mode)
        time.sleep(down_s)
        self.start()
        self.restarts.append(mode)
        return time.monotonic() - began

    def create_database(self) -> None:
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                                connect_timeout=5)
        try:
            conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
            with conn.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            conn.close()

    def listeners(self) -> int:
        """Sessions of the gateway database whose last statement was a LISTEN (the replicas' wake listeners)."""
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                                connect_timeout=5)
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND query ILIKE 'LISTEN %%'",
                               (DATABASE,))
                row = cursor.fetchone()
                return int(row[0]) if row else 0
        finally:
            conn.close()

    def teardown(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30", "stop", check=False)
        shutil.rmtree(self.base, ignore_errors=True)

    def tail(self, lines: int = 30) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    """A fresh private cluster with an empty `gateway` database; stopped (immediate) and deleted afterwards."""
    missing = [tool for tool in ("initdb", "pg_ctl", "postgres") if not os.access(PG_BIN / tool, os.X_OK)]
    if missing:
        _unavailable(f"PostgreSQL server binaries {missing} not found in {PG_BIN} (set GATEWAY_TEST_PG_BIN)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        _unavailable(f"running as root but `runuser` is missing: cannot run PostgreSQL as {PG_OS_USER}")
    # Not under pytest's tmp_path: its parents are private to root and the postgres user must get in.
    base = Path(tempfile.mkdtemp(prefix="gw-pg-restart-"))
    if os.geteuid() == 0:
        try:
            shutil.chown(base, user=PG_OS_USER, group=PG_OS_USER)
        except LookupError as exc:
            shutil.rmtree(base, ignore_errors=True)
            _unavailable(f"running as root but there is no `{PG_OS_USER}` OS user to run PostgreSQL: {exc}")
    cluster = PrivatePostgres(base)
    try:
        cluster.init()
        cluster.start()
        cluster.create_database()
        yield cluster
    finally:
        cluster.teardown()


def _restarter(cluster: PrivatePostgres, started: float, subs: list[Submission], stop: threading.Event,
               done: list[tuple[str, float, int]], errors: list[BaseException]) -> None:
    """Restart the cluster on schedule; records (mode, downtime, submissions still pending at the stop)."""
    try:
        for at_s, mode, down_s in RESTARTS:
            if stop.wait(max(0.0, started + at_s - time.monotonic())):
                return
            pending = sum(1 for s in subs if s.message_id is None or not s.approved)
            done.append((mode, cluster.restart(mode, down_s), pending))
    except BaseException as exc:  # reported by the test thread
        errors.append(exc)


def _settled(count: Callable[[], int], timeout_s: float, want: int | None = None) -> int:
    """`count()` once it reaches `want` (or, without one, stops changing for a second), or at the timeout."""
    deadline = time.monotonic() + timeout_s
    last = count()
    while time.monotonic() < deadline and last != want:
        time.sleep(1)
        now = count()
        if want is None and now == last:
            break
        last = now
    return last


def _logs(replicas: list[Gateway], cluster: PrivatePostgres) -> str:
    parts = [f"--- {r.log.name} ---\n{r.tail()}" for r in replicas]
    return "\n".join([*parts, f"--- postgres.log ---\n{cluster.tail()}"])


def test_postgresql_restarted_under_load(private_pg: PrivatePostgres, sandbox: Sandbox, launch: Launch) -> None:
    replicas = [launch(private_pg.url, sandbox.url, name=f"gateway{i}") for i in (1, 2)]
    turn = itertools.cycle(replicas)
    client = make_client(replicas[0], url=lambda: next(turn).url)
    tag = uuid.uuid4().hex[:6]
    subs = submissions(MESSAGES, tag)
    listening = _settled(private_pg.listeners, 5)  # 0 if the gateway ever stops using LISTEN/NOTIFY
    stop, done, errors = threading.Event(), list[tuple[str, float, int]](), list[BaseException]()
    started = time.monotonic()
    restarter = threading.Thread(target=_restarter, args=(private_pg, started, subs, stop, done, errors),
                                 daemon=True)
    restarter.start()
    try:
        push_all(client, subs, started + 45, gap_s=LOAD_FOR_S / MESSAGES)
        restarter.join(timeout=60)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; restarts {done}\n{_logs(replicas, private_pg)}") from None
    finally:
        stop.set()
        restarter.join(timeout=60)
    load_s = time.monotonic() - started

    if errors:
        raise AssertionError(f"restarting the private cluster failed: {errors[0]!r}") from errors[0]
    assert [mode for mode, _, _ in done] == [mode for _, mode, _ in RESTARTS], f"restarts missing: {done}"
    assert all(pending > 0 for _, _, pending in done), f"a restart came after the load had ended: {done}"
    try:
        wait_all_sent(client, subs, 60, replicas[0])
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_logs(replicas[1:], private_pg)}") from None
    assert_exactly_once(sandbox, subs, tag)
    for replica in replicas:
        assert replica.proc is not None and replica.proc.poll() is None, \
            f"{replica.log.name} died:\n{_logs(replicas, private_pg)}"
        health = requests.get(f"{replica.url}/healthz", timeout=10)
        assert health.status_code == 200, f"{replica.log.name} unhealthy after the restarts: {health.text}\n" \
                                          f"{_logs(replicas, private_pg)}"
    relistening = _settled(private_pg.listeners, 15, want=listening)
    assert relistening == listening, f"wake listeners before the restarts {listening}, after {relistening}\n" \
                                     f"{_logs(replicas, private_pg)}"
    restarts = ", ".join(f"{mode} down {down:.1f}s ({pending} pending)" for mode, down, pending in done)
    print(f"\nrestarts={len(done)} [{restarts}]; load {load_s:.1f}s; {MESSAGES} messages; "
          f"wake listeners {listening} -> {relistening}; client_errors={dict(client.errors)}")
