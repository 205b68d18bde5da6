"""Routine fan-out throughput and the nationwide alert scenario (issue 7).

Everything runs as separate processes, as in production: one sandbox process answering at once
(zero latency), and `gateway serve --platforms live` processes pointed at it through the base-URL
settings, with credentials from an encrypted credentials file. The configuration is synthetic:
1,741 municipalities (the number in Japan), each with four text accounts (X, X PR, LINE, Facebook).

Throughput: N routine deliveries are planned straight into the ledger as `held` (far in the
future), the gateway processes are started and warmed up, then every `not_before` is moved to now
(T0) and the processes release and send them; deliveries/s = N / (time from T0 until the last one
is `sent`). SQLite with one process, PostgreSQL with 1, 2 and 4 processes; every process of every
configuration has the same number of routine workers (`--routine-workers`, default 32: with
platforms that answer at once, the publishes in flight per process are what keeps it busy).

Nationwide: PostgreSQL, 4 processes; every municipality's alert system pushes one alert at once
(32 concurrent clients spread over the processes); the figure is the time from the first push
until the sandbox has seen the first platform request of every (alert, account) pair.

Last line: `throughput sqlite_per_s=.. pg1_per_s=.. pg2_per_s=.. pg4_per_s=.. nationwide_s=..`; with
`--apprise`, Apprise's 4-endpoint fan-out is measured after the gateway's runs
(`benchmarks/apprise_side.py`) and `apprise_p50_ms=.. apprise_p99_ms=.. apprise_per_s=..` end the
same line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
from aiohttp import ClientSession, web
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.apprise_side import ensure_apprise, measure  # noqa: E402
from gateway.credentials import EncryptedCredentialFile, parse_keys  # noqa: E402
from gateway.models import CheckResult, DeliveryState, MessageState, Platform, Priority  # noqa: E402
from gateway.pipeline.intake.validation import parse_message  # noqa: E402
from gateway.policy import load_policies  # noqa: E402
from gateway.sandbox.app import SandboxServer, sandbox_state_for  # noqa: E402
from gateway.sandbox.credentials import sandbox_credentials  # noqa: E402
from gateway.store import NewDelivery, NewMessage, open_store, upgrade_async  # noqa: E402

GATEWAY = str(Path(sys.executable).with_name("gateway"))
MUNICIPALITIES = 1741
PLATFORMS = (("x", "main"), ("x", "pr"), ("line", "main"), ("facebook", "main"))
MARKER = re.compile(rb"NATION(\d{4})")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# -- synthetic configuration ---------------------------------------------------------------------

def account_id(n: int, platform: str, purpose: str) -> str:
    return f"m{n:04d}_{platform}" if purpose == "main" else f"m{n:04d}_{purpose}_{platform}"


def area_code(n: int) -> str:
    """A made-up five-digit municipality code (prefix 60-77 is no real prefecture; never XX000)."""
    return f"{60 + n // 100:02d}{100 + n % 100:03d}"


def municipality_toml(n: int) -> str:
    title = f"第{n}市ソーシャルメディア運用方針"
    accounts = "".join(
        f'\n[[accounts]]\nid = "{account_id(n, p, purpose)}"\nplatform = "{p}"\nhandle = "@m{n:04d}_{purpose}"\n'
        f'purpose = "{purpose}"\nmanager = "広報課長"\ncategories = ["city_news", "emergency", "tourism"]\n'
        f'categories_clause = "{title} 2"\n'
        for p, purpose in PLATFORMS)
    return f'''id = "m{n:04d}"
name = "第{n}市"
policy_title = "{title}"
[hours]
open = 00:00:00
close = 23:59:00
weekdays = [0, 1, 2, 3, 4, 5, 6]
closed_on_holidays = false
clause = "{title} 6"
[approval]
mode = "official_view_only"
clause = "{title} 4"
shares_need_approval = false
[credentials]
clause = "{title} 7"
[shares]
clause = "{title} 8"
[links]
clause = "{title} 9"
[alerts]
area_codes = ["{area_code(n)}"]
area_names = ["第{n}市"]
{accounts}'''


def write_config(directory: Path, count: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for n in range(1, count + 1):
        (directory / f"m{n:04d}.toml").write_text(municipality_toml(n), encoding="utf-8")


def all_accounts(count: int) -> dict[str, Platform]:
    return {account_id(n, p, purpose): Platform(p) for n in range(1, count + 1) for p, purpose in PLATFORMS}


def write_credentials(path: Path, key: str, accounts: dict[str, Platform]) -> None:
    store = EncryptedCredentialFile(path, parse_keys(key))
    store.set_many({a: sandbox_credentials(a, p) for a, p in accounts.items()}, actor="bench", reason="bench")


# -- processes -------------------------------------------------------------------------------------

def free_port() -> int:
    """A free port below the ephemeral range: a port the kernel hands out for binding to 0 can be
    taken by one of the thousands of outgoing connections before the server binds it."""
    while True:
        port = secrets.randbelow(12_000) + 20_000
        with socket.socket() as s, contextlib.suppress(OSError):
            s.bind(("127.0.0.1", port))
            with socket.socket() as above:  # the sandbox's report lives on the next port
                above.bind(("127.0.0.1", port + 1))
                return port


async def serve_sandbox(port: int, config_dir: Path) -> None:
    """The sandbox process, with a tap recording when each alert's platform requests arrive."""
    arrivals: dict[str, list[float]] = {}

    @web.middleware
    async def tap(request: web.Request, handler: Handler) -> web.StreamResponse:
        now = time.time()
        if request.method == "POST" and not request.path.startswith("/_"):
            # The marker is ASCII, so it reads the same in JSON, form-encoded and multipart bodies.
            found = MARKER.search(await request.read())
            if found:
                arrivals.setdefault(found.group(1).decode(), []).append(now)
        return await handler(request)

    async def report(request: web.Request) -> web.Response:
        return web.json_response(arrivals)

    accounts = {a.id: a.platform for m in load_policies(config_dir) for a in m.accounts}
    async with SandboxServer(sandbox_state_for(accounts), port=port, middlewares=[tap]):
        bench = web.Application()  # the report lives on the next port, outside the platforms' paths
        bench.router.add_get("/_bench/arrivals", report)
        runner = web.AppRunner(bench, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port + 1).start()
        print("ready", flush=True)
        await asyncio.Event().wait()


class Cluster:
    """A sandbox process and K gateway processes sharing one database."""

    def __init__(self, workdir: Path, config_dir: Path, database_url: str, processes: int,
                 routine_workers: int = 32) -> None:
        self.workdir, self.config_dir, self.database_url, self.processes = workdir, config_dir, database_url, processes
        self.routine_workers = routine_workers
        self.sandbox_port = free_port()
        self.ports = [free_port() for _ in range(processes)]
        self.procs: list[subprocess.Popen[bytes]] = []
        self.key = Fernet.generate_key().decode()

    def env(self) -> dict[str, str]:
        base = f"http://127.0.0.1:{self.sandbox_port}"
        return {**os.environ, "GATEWAY_CONFIG_DIR": str(self.config_dir), "GATEWAY_PLATFORMS": "live",
                "GATEWAY_X__BASE_URL": base, "GATEWAY_LINE__BASE_URL": base, "GATEWAY_FACEBOOK__BASE_URL": base,
                "GATEWAY_YOUTUBE__BASE_URL": base, "GATEWAY_CREDENTIALS_FILE": str(self.workdir / "creds.enc"),
                "GATEWAY_CREDENTIALS_KEY": self.key, "GATEWAY_POLL_SECONDS": "0.2",
                "GATEWAY_DATABASE_URL": self.database_url, "GATEWAY_LOG_LEVEL": "WARNING",
                "GATEWAY_ROUTINE_WORKERS": str(self.routine_workers), "GATEWAY_SETTINGS_FILE": "/nonexistent"}

    async def __aenter__(self) -> Cluster:
        sandbox = subprocess.Popen([sys.executable, __file__, "--serve-sandbox", str(self.sandbox_port),
                                    "--config-dir", str(self.config_dir)], stdout=subprocess.PIPE)
        self.procs.append(sandbox)
        assert sandbox.stdout is not None
        assert (await asyncio.to_thread(sandbox.stdout.readline)).startswith(b"ready")
        write_credentials(self.workdir / "creds.enc", self.key, all_accounts(count_of(self.config_dir)))
        subprocess.run([GATEWAY, "db", "upgrade"], env=self.env(), check=True, capture_output=True)
        for port in self.ports:
            self.procs.append(subprocess.Popen([GATEWAY, "serve", "--port", str(port)], env=self.env(),
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        await self.wait_healthy()
        return self

    async def wait_healthy(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        async with ClientSession() as client:
            for port in self.ports:
                while True:
                    with contextlib.suppress(OSError):
                        async with client.get(f"http://127.0.0.1:{port}/healthz") as response:
                            if response.status == 200:
                                break
                    if time.monotonic() > deadline:
                        raise RuntimeError("gateway did not start")
                    await asyncio.sleep(0.3)

    async def __aexit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)
            if proc.poll() is None:
                proc.kill()


def count_of(config_dir: Path) -> int:
    return len(list(config_dir.glob("*.toml")))


# -- databases -------------------------------------------------------------------------------------

@contextlib.asynccontextmanager
async def scratch_database(kind: str, workdir: Path, admin_url: str) -> AsyncIterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    name = f"gw_bench_{secrets.token_hex(4)}"
    _admin(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(url: str, statement: str) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(statement)
    conn.close()


# -- throughput ------------------------------------------------------------------------------------

async def plan_backlog(database_url: str, count: int, municipalities: int, release_at: datetime) -> None:
    """`count` routine deliveries spread over every account, held until `release_at`."""
    await upgrade_async(database_url)
    store = await open_store(database_url)
    accounts = list(all_accounts(municipalities).items())
    try:
        per_message = 4
        for start in range(0, count, per_message):
            chosen = accounts[start % len(accounts): start % len(accounts) + per_message]
            municipality = chosen[0][0].split("_", 1)[0]
            chosen = [(a, p) for a, p in chosen if a.startswith(municipality + "_")]
            body = parse_message({"municipality": municipality, "category": "tourism",
                                  "accounts": [a for a, _ in chosen], "text": f"紅葉が見頃です。（{start}）"})
            new = NewMessage(municipality=municipality, body=body, state=MessageState.APPROVED,
                             priority=Priority.NORMAL, submitted_by="bench", source="bench",
                             check=CheckResult.of([]), accounts=tuple(a for a, _ in chosen))
            await store.add_planned_message(
                new, [NewDelivery(a, p, DeliveryState.HELD, release_at) for a, p in chosen], actor="bench")
    finally:
        await store.aclose()


def release_now(database_url: str) -> None:
    """T0: every held delivery becomes due (the processes' housekeeping releases them)."""
    statement = "UPDATE deliveries SET not_before = {now} WHERE state = 'held'"
    if database_url.startswith("sqlite"):
        import sqlite3

        with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as conn:
            # The store keeps SQLite times as naive UTC text with microseconds.
            now = datetime.now(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
            conn.execute(statement.format(now="?"), (now,))
            conn.commit()
        return
    with contextlib.closing(psycopg2.connect(database_url)) as conn, conn.cursor() as cursor:
        cursor.execute(statement.format(now="now()"))
        conn.commit()


def sent_count(database_url: str) -> int:
    """One COUNT through a plain driver connection, so that watching costs the gateways nothing."""
    if database_url.startswith("sqlite"):
        import sqlite3

        with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as conn:
            return int(conn.execute("SELECT count(*) FROM deliveries WHERE state = 'sent'").fetchone()[0])
    with contextlib.closing(psycopg2.connect(database_url)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM deliveries WHERE state = 'sent'")
        return int(cursor.fetchone()[0])


async def throughput(
    kind: str, processes: int, deliveries: int, config_dir: Path, admin_url: str, routine_workers: int = 32,
) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-tp-") as tmp:
        workdir = Path(tmp)
        async with scratch_database(kind, workdir, admin_url) as url:
            await upgrade_async(url)
            await plan_backlog(url, deliveries, count_of(config_dir), datetime.now(UTC) + timedelta(days=1))
            async with Cluster(workdir, config_dir, url, processes, routine_workers):
                await asyncio.sleep(1.0)  # let every process finish its start-up work
                started = time.monotonic()
                release_now(url)
                while (done := sent_count(url)) < deliveries:
                    if time.monotonic() - started > 600:
                        raise RuntimeError(f"only {done} of {deliveries} sent")
                    await asyncio.sleep(0.25)
                elapsed = time.monotonic() - started
    rate = deliveries / elapsed
    print(f"  {kind} x{processes}: {deliveries} deliveries in {elapsed:.1f} s = {rate:.0f}/s", flush=True)
    return rate


# -- nationwide ------------------------------------------------------------------------------------

def alert_body(n: int) -> bytes:
    return json.dumps({
        "format": "koho-alert/1", "id": f"nation-{n:04d}", "revision": 1, "sender": f"bousai-{n:04d}",
        "sent": datetime.now(UTC).isoformat(), "kind": "evacuation",
        "areas": [{"code": area_code(n), "name": f"第{n}市", "subareas": [f"地区NATION{n:04d}"]}],
        "headline": "河川の水位上昇のため避難指示を発令しました。", "details": {"evacuation_type": "避難指示"},
    }, ensure_ascii=False).encode()


async def nationwide(config_dir: Path, admin_url: str, processes: int = 4) -> float:
    municipalities = count_of(config_dir)
    with tempfile.TemporaryDirectory(prefix="bench-nation-") as tmp:
        workdir = Path(tmp)
        async with scratch_database("postgresql", workdir, admin_url) as url, \
                Cluster(workdir, config_dir, url, processes) as cluster:
            env = cluster.env()
            token = subprocess.run([GATEWAY, "token", "create", "--user", "bousai", "--role", "alert_system"],
                                   env=env, check=True, capture_output=True, text=True).stdout.strip()
            started = time.time()
            await push_all(cluster.ports, token, municipalities)
            pushed = time.time() - started
            last = await wait_for_arrivals(cluster.sandbox_port + 1, municipalities, expected_each=len(PLATFORMS))
    elapsed = last - started
    print(f"  nationwide: {municipalities} alerts x {len(PLATFORMS)} accounts; pushes took {pushed:.1f} s; "
          f"every first platform request made after {elapsed:.1f} s", flush=True)
    return elapsed


async def push_all(ports: list[int], token: str, municipalities: int, concurrency: int = 32) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(1, municipalities + 1):
        queue.put_nowait(n)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def client_loop(client: ClientSession, index: int) -> None:
        while not queue.empty():
            n = queue.get_nowait()
            port = ports[(n + index) % len(ports)]
            async with client.post(f"http://127.0.0.1:{port}/api/v1/alerts", data=alert_body(n),
                                   headers=headers) as response:
                if response.status != 202:
                    raise RuntimeError(f"alert {n}: {response.status} {await response.text()}")

    async with ClientSession() as client:
        await asyncio.gather(*(client_loop(client, i) for i in range(concurrency)))


async def wait_for_arrivals(port: int, alerts: int, expected_each: int, timeout_s: float = 300) -> float:
    deadline = time.monotonic() + timeout_s
    async with ClientSession() as client:
        while True:
            async with client.get(f"http://127.0.0.1:{port}/_bench/arrivals") as response:
                arrivals: dict[str, list[float]] = await response.json()
            complete = [times for times in arrivals.values() if len(times) >= expected_each]
            if len(complete) >= alerts:
                return max(sorted(times)[expected_each - 1] for times in complete)
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(complete)} of {alerts} alerts reached every account")
            await asyncio.sleep(0.5)


# -- main ------------------------------------------------------------------------------------------

async def run(args: argparse.Namespace) -> None:
    if args.apprise:
        await asyncio.to_thread(ensure_apprise)  # before the long part, so that a failed install shows at once
    with tempfile.TemporaryDirectory(prefix="bench-config-") as tmp:
        config_dir = Path(tmp) / "municipalities"
        write_config(config_dir, args.municipalities)
        print(f"  routine workers per process: {args.routine_workers}", flush=True)
        rates = {"sqlite": await throughput("sqlite", 1, args.deliveries, config_dir, args.pg, args.routine_workers)}
        for processes in (1, 2, 4):
            rates[f"pg{processes}"] = await throughput("postgresql", processes, args.deliveries, config_dir, args.pg,
                                                       args.routine_workers)
        nation = await nationwide(config_dir, args.pg, args.nation_processes)
    apprise = f" {(await measure(args.apprise_messages)).fields()}" if args.apprise else ""
    print(f"throughput sqlite_per_s={rates['sqlite']:.0f} pg1_per_s={rates['pg1']:.0f} pg2_per_s={rates['pg2']:.0f} "
          f"pg4_per_s={rates['pg4']:.0f} nationwide_s={nation:.1f}{apprise}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--nation-processes", type=int, default=4)
    parser.add_argument("--routine-workers", type=int, default=32,
                        help="GATEWAY_ROUTINE_WORKERS of every process, in every configuration")
    parser.add_argument("--municipalities", type=int, default=MUNICIPALITIES)
    parser.add_argument("--pg", default=os.environ.get("GATEWAY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--apprise", action="store_true",
                        help="also measure Apprise 2.3.0 fanning out to 4 local endpoints, in this run")
    parser.add_argument("--apprise-messages", type=int, default=1000)
    parser.add_argument("--serve-sandbox", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--config-dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sandbox is not None:
        asyncio.run(serve_sandbox(args.serve_sandbox, args.config_dir))
        return 0
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
