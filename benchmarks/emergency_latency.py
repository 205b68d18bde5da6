"""Emergency lane latency with and without a backlog of routine deliveries.

Scenario (issue 5): SQLite, sandbox platforms answering every request after 50 ms, 10,000 routine
deliveries queued (routine workers busy sending them), then 100 alerts pushed one after another to
`POST /api/v1/alerts`. For each alert and platform we take the time from the alert request's
arrival at the gateway (a middleware at the front of the app) to the arrival of the platform
request at the sandbox (a middleware at the front of the sandbox, before its 50 ms latency), matched
by a marker carried in the alert's area name. The same is then measured with no backlog.

The sandbox runs in its own process, as the platforms are other hosts in production; both taps
use the wall clock (time.time()), which the two processes share.

Last line: `emergency-latency p50_ms=.. p99_ms=.. max_ms=.. backlog=10000 nobacklog_p99_ms=..`; with
`--apprise`, Apprise's 4-endpoint fan-out is measured after both runs (`benchmarks/apprise_side.py`)
and `apprise_p50_ms=.. apprise_p99_ms=.. apprise_per_s=..` end the same line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.apprise_side import ensure_apprise, measure
from gateway.adapters import build_adapters
from gateway.credentials import StaticCredentials
from gateway.media import MediaStore
from gateway.models import Actor, MessageState, Priority, Role
from gateway.policy import load_policies
from gateway.runtime import all_accounts, open_runtime, sandbox_settings
from gateway.sandbox.app import SandboxServer, sandbox_state_for
from gateway.sandbox.credentials import sandbox_credentials
from gateway.settings import Settings
from gateway.store.records import NewMessage
from gateway.web.app import build_app
from gateway.web.auth import create_token

MARKER = re.compile(r"BENCH(\d{5})")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Taps:
    """Arrival times by alert marker: at the gateway, and per platform at the sandbox."""

    def __init__(self) -> None:
        self.gateway: dict[str, float] = {}
        self.platform: dict[tuple[str, str], float] = {}

    def gateway_tap(self) -> Any:
        @web.middleware
        async def tap(request: web.Request, handler: Handler) -> web.StreamResponse:
            now = time.time()
            if request.path == "/api/v1/alerts":
                found = MARKER.search((await request.read()).decode("utf-8", "replace"))
                if found:
                    self.gateway[found.group(1)] = now
            return await handler(request)
        return tap

    def sandbox_tap(self) -> Any:
        @web.middleware
        async def tap(request: web.Request, handler: Handler) -> web.StreamResponse:
            now = time.time()
            if request.method == "POST" and not request.path.startswith("/_"):
                found = MARKER.search(_decoded(await request.read()))
                if found:
                    self.platform.setdefault((found.group(1), _platform_of(request.path)), now)
            return await handler(request)
        return tap

    def latencies_ms(self) -> list[float]:
        return [(t - self.gateway[marker]) * 1000 for (marker, _), t in self.platform.items()
                if marker in self.gateway]


def _decoded(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    try:
        return json.dumps(json.loads(text), ensure_ascii=False)
    except ValueError:
        return urllib.parse.unquote_plus(text)


def _platform_of(path: str) -> str:
    if path.startswith("/2/"):
        return "x"
    if path.startswith("/v2/bot"):
        return "line"
    if path.startswith("/upload/youtube") or path.startswith("/youtube"):
        return "youtube"
    return "facebook"


def alert_json(n: int) -> bytes:
    return json.dumps({
        "format": "koho-alert/1", "id": f"bench-{n:05d}", "revision": 1, "sender": "bench",
        "sent": datetime.now(UTC).isoformat(), "kind": "evacuation",
        "areas": [{"code": "12206", "name": "木更津市", "subareas": [f"地区BENCH{n:05d}"]}],
        "headline": "河川の水位上昇のため避難指示を発令しました。", "details": {"evacuation_type": "避難指示"},
    }, ensure_ascii=False).encode()


async def make_backlog(runtime: Any, deliveries: int) -> int:
    """Routine messages for mine (approval-free routine posts), planned straight into the queue."""
    gateway = runtime.gateway
    actor = Actor("bench-staff", Role.STAFF)
    from gateway.pipeline.intake.validation import parse_message

    made = 0
    n = 0
    while made < deliveries:
        n += 1
        message = parse_message({"municipality": "mine", "category": "tourism", "accounts": ["mine_x", "mine_facebook"],
                                 "text": f"秋芳洞の紅葉が見頃です。週末はぜひお越しください。（{n}）"})
        targets, result = await gateway.check(message)
        record, _ = await runtime.store.add_message(NewMessage(
            municipality="mine", body=message, state=MessageState.APPROVED, priority=Priority.NORMAL,
            submitted_by=actor.name, source="bench", check=result, accounts=tuple(a.id for a in targets.accounts),
        ), actor=actor.name)
        made += len(await gateway.plan(record))
    return made


async def serve_sandbox(port: int, latency_s: float) -> None:
    """The sandbox process: the four platforms with latency, plus `/_bench/arrivals`."""
    taps = Taps()
    policies = load_policies(Settings().config_dir)
    state = sandbox_state_for({a.id: a.platform for a in all_accounts(policies).values()}, latency_s=latency_s)

    async def arrivals(request: web.Request) -> web.Response:
        return web.json_response([[m, p, t] for (m, p), t in taps.platform.items()])

    async with SandboxServer(state, port=port, middlewares=[taps.sandbox_tap()]) as sandbox:
        bench = web.Application()
        bench.router.add_get("/_bench/arrivals", arrivals)
        runner = web.AppRunner(bench, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port + 1).start()
        print(f"ready {sandbox.base_url}", flush=True)
        await asyncio.Event().wait()


async def _start_sandbox_process(latency_s: float) -> tuple[asyncio.subprocess.Process, int]:
    port = _free_port_pair()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve-sandbox", str(port), "--latency-ms", str(latency_s * 1000),
        stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
    assert line.startswith(b"ready"), line
    return proc, port


def _free_port_pair() -> int:
    import socket

    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
        with socket.socket() as b:
            try:
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return int(port)
    raise RuntimeError("no free port pair")


async def run(backlog: int, alerts: int, latency_s: float) -> list[float]:
    taps = Taps()
    proc, port = await _start_sandbox_process(latency_s)
    base_url = f"http://127.0.0.1:{port}"
    try:
        with tempfile.TemporaryDirectory(prefix="bench-emergency-") as tmp:
            settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp}/bench.db", poll_seconds=1.0,
                                var_dir=Path(tmp))
            accounts = all_accounts(load_policies(settings.config_dir))
            credentials = {a: sandbox_credentials(a, acc.platform) for a, acc in accounts.items()}
            adapters = build_adapters(sandbox_settings(settings, base_url), StaticCredentials(credentials), accounts,
                                      MediaStore(settings.media_root))
            async with open_runtime(settings, adapters=adapters, start=False, check_processes=True) as runtime:
                queued = await make_backlog(runtime, backlog) if backlog else 0
                await runtime.worker.start()
                try:
                    await push_alerts(runtime, taps, alerts, queued, port)
                finally:
                    await runtime.worker.stop()
                    for adapter in adapters.values():
                        await adapter.aclose()
    finally:
        proc.terminate()
        await proc.wait()
    return taps.latencies_ms()


async def push_alerts(runtime: Any, taps: Taps, alerts: int, queued: int, sandbox_port: int) -> None:
    token = await create_token(runtime.store, user="bench-alerts", role=Role.ALERT_SYSTEM, ttl_days=1,
                               now=datetime.now(UTC), actor="bench")
    app = build_app(runtime.gateway)
    app.middlewares.insert(0, taps.gateway_tap())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    try:
        async with ClientSession() as client:
            await asyncio.sleep(1.0)  # routine workers are busy with the backlog by now
            for n in range(alerts):
                async with client.post(f"http://127.0.0.1:{port}/api/v1/alerts", data=alert_json(n),
                                       headers=headers) as response:
                    assert response.status == 202, await response.text()
                await asyncio.sleep(0.02)
            await _wait_for(client, taps, sandbox_port + 1, alerts * 3, timeout_s=30)
        left = len(await runtime.store.list_deliveries(states=None, limit=100_000))
        print(f"  backlog queued={queued}  deliveries in ledger at end={left}", flush=True)
    finally:
        await runner.cleanup()


async def _wait_for(client: ClientSession, taps: Taps, port: int, expected: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with client.get(f"http://127.0.0.1:{port}/_bench/arrivals") as response:
            arrived = await response.json()
        taps.platform = {(m, p): t for m, p, t in arrived}
        if len(taps.platform) >= expected:
            return
        await asyncio.sleep(0.2)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def describe(label: str, values: list[float]) -> None:
    print(f"{label}: n={len(values)} p50={pct(values, .5):.1f} ms  p99={pct(values, .99):.1f} ms  "
          f"max={max(values):.1f} ms  mean={statistics.fmean(values):.1f} ms", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--alerts", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--apprise", action="store_true",
                        help="also measure Apprise 2.3.0 fanning out to 4 local endpoints, in this run")
    parser.add_argument("--apprise-messages", type=int, default=1000)
    parser.add_argument("--serve-sandbox", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sandbox is not None:
        asyncio.run(serve_sandbox(args.serve_sandbox, args.latency_ms / 1000))
        return 0
    if args.apprise:
        ensure_apprise()  # before the long part, so that a failed install shows at once
    with_backlog = asyncio.run(run(args.backlog, args.alerts, args.latency_ms / 1000))
    describe(f"with backlog of {args.backlog}", with_backlog)
    without = asyncio.run(run(0, args.alerts, args.latency_ms / 1000))
    describe("no backlog", without)
    expected = args.alerts * 3
    if len(with_backlog) < expected or len(without) < expected:
        print(f"incomplete: expected {expected} platform requests per run", flush=True)
    apprise = f" {asyncio.run(measure(args.apprise_messages)).fields()}" if args.apprise else ""
    print(f"emergency-latency p50_ms={pct(with_backlog, .5):.1f} p99_ms={pct(with_backlog, .99):.1f} "
          f"max_ms={max(with_backlog):.1f} backlog={args.backlog} nobacklog_p99_ms={pct(without, .99):.1f}{apprise}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
