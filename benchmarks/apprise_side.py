"""Apprise beside the gateway: the same box, the same run (issue 18).

Apprise 2.3.0 is installed into a scratch virtualenv, `var/bench-apprise/` (made once, then
reused), and run there as a subprocess: it fans each of N messages out to 4 local JSON endpoints
(`json://127.0.0.1:PORT/endpointK`), one `notify()` after another, with Apprise's defaults (its
thread pool sends to the endpoints in parallel; no persistence, no checks). The endpoints are one
small aiohttp receiver in this process that answers at once (`--latency-ms` adds a delay after the
arrival is taken).

Per-notification latency is the time from just before `notify()` in the Apprise process to the
arrival of that message's request at an endpoint (both wall clock, time.time(), shared by the two
processes), one sample per message and endpoint; deliveries/s is the number of arrivals over the
time from the first measured call to the last arrival. The first `--warmup` messages (Apprise
loads its plugins on the first call) are sent but not counted.

Run alone (`python benchmarks/apprise_side.py`) or through `--apprise` on
`benchmarks/emergency_latency.py` and `benchmarks/throughput.py`.

Last line: `apprise_p50_ms=.. apprise_p99_ms=.. apprise_per_s=..`

This module imports only the standard library at the top: the Apprise virtualenv runs this same
file with `--drive`, and has neither aiohttp nor the gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPRISE_VERSION = "2.3.0"
VENV_DIR = ROOT / "var" / "bench-apprise"
MARKER = re.compile(rb"APPRISE(\d{6})")
TITLE = "木更津市からのお知らせ"
TEXT = "市民体育館は設備点検のため、今週末は休館します。ご不便をおかけしますが、ご理解をお願いします。"


# -- summary (pure) --------------------------------------------------------------------------------

@dataclass(frozen=True)
class AppriseFigures:
    p50_ms: float
    p99_ms: float
    per_s: float
    deliveries: int
    expected: int

    def fields(self) -> str:
        """The fields appended to the benchmarks' last lines."""
        return f"apprise_p50_ms={self.p50_ms:.1f} apprise_p99_ms={self.p99_ms:.1f} apprise_per_s={self.per_s:.0f}"


def pct(values: list[float], q: float) -> float:
    """The q-quantile by nearest rank, as `emergency_latency.py` takes it."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarise(calls: dict[int, float], receipts: Iterable[tuple[int, str, float]], endpoints: int,
              warmup: int) -> AppriseFigures:
    """Figures from the call times by message number and the (message, endpoint, arrival) receipts.

    Messages numbered below `warmup` are left out; so is a second arrival of the same message at the
    same endpoint (only the first counts).
    """
    first: dict[tuple[int, str], float] = {}
    for n, endpoint, arrived in receipts:
        if n >= warmup and n in calls:
            key = (n, endpoint)
            first[key] = min(arrived, first.get(key, arrived))
    measured = [n for n in calls if n >= warmup]
    if not first or not measured:
        raise ValueError("no measured deliveries")
    latencies = [(arrived - calls[n]) * 1000 for (n, _), arrived in first.items()]
    elapsed = max(first.values()) - min(calls[n] for n in measured)
    return AppriseFigures(p50_ms=pct(latencies, .5), p99_ms=pct(latencies, .99),
                          per_s=len(first) / elapsed if elapsed > 0 else float("inf"),
                          deliveries=len(first), expected=len(measured) * endpoints)


# -- the scratch virtualenv ------------------------------------------------------------------------

def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _installed_version(python: Path) -> str | None:
    found = subprocess.run([str(python), "-c", "import apprise; print(apprise.__version__)"],
                           capture_output=True, text=True, check=False)
    return found.stdout.strip() if found.returncode == 0 else None


def ensure_apprise(venv: Path = VENV_DIR) -> Path:
    """The Python of a virtualenv holding Apprise 2.3.0, made (or repaired) if needed."""
    python = _venv_python(venv)
    if python.exists() and _installed_version(python) == APPRISE_VERSION:
        return python
    print(f"  installing apprise {APPRISE_VERSION} into {venv}", flush=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                          f"apprise=={APPRISE_VERSION}"], capture_output=True, text=True, check=False)
    if pip.returncode != 0 or _installed_version(python) != APPRISE_VERSION:
        raise RuntimeError(f"could not install apprise {APPRISE_VERSION} into {venv}:\n{pip.stdout}{pip.stderr}")
    return python


# -- the Apprise side (runs in the scratch virtualenv) ---------------------------------------------

def drive(port: int, endpoints: int, messages: int) -> None:
    """Send `messages` notifications through Apprise; print the call times as one JSON line."""
    apprise = importlib.import_module("apprise")  # only in the scratch virtualenv (and unknown to mypy)

    notifier = apprise.Apprise()
    for k in range(endpoints):
        if not notifier.add(f"json://127.0.0.1:{port}/endpoint{k}"):
            raise RuntimeError(f"apprise refused endpoint {k}")
    calls: list[tuple[int, float]] = []
    failed = 0
    for n in range(messages):
        called = time.time()
        ok = notifier.notify(body=f"{TEXT}（APPRISE{n:06d}）", title=TITLE)
        calls.append((n, called))
        failed += 0 if ok else 1
    print(json.dumps({"version": apprise.__version__, "calls": calls, "failed": failed}), flush=True)


# -- the receiver and the run (this virtualenv) ----------------------------------------------------

async def measure(messages: int = 1000, endpoints: int = 4, warmup: int = 20, latency_ms: float = 0.0,
                  venv: Path = VENV_DIR, timeout_s: float = 300) -> AppriseFigures:
    """Install if needed, serve the endpoints, run Apprise over them, and summarise."""
    from aiohttp import web

    python = await asyncio.to_thread(ensure_apprise, venv)
    receipts: list[tuple[int, str, float]] = []

    async def receive(request: web.Request) -> web.Response:
        arrived = time.time()
        found = MARKER.search(await request.read())
        if found:
            receipts.append((int(found.group(1)), request.match_info["endpoint"], arrived))
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{endpoint}", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        proc = await asyncio.create_subprocess_exec(
            str(python), __file__, "--drive", "--port", str(port), "--endpoints", str(endpoints),
            "--messages", str(warmup + messages), stdout=asyncio.subprocess.PIPE)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=timeout_s)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        if proc.returncode != 0:
            raise RuntimeError(f"the Apprise process ended with {proc.returncode}")
    finally:
        await runner.cleanup()
    report = json.loads(out.decode().strip().splitlines()[-1])
    figures = summarise({int(n): float(t) for n, t in report["calls"]}, receipts, endpoints, warmup)
    print(f"  apprise {report['version']}: {messages} messages x {endpoints} endpoints "
          f"(+{warmup} warm-up), {figures.deliveries}/{figures.expected} arrived, {report['failed']} failed "
          f"notify() calls; p50 {figures.p50_ms:.1f} ms, p99 {figures.p99_ms:.1f} ms, "
          f"{figures.per_s:.0f} deliveries/s", flush=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay of each endpoint's answer")
    parser.add_argument("--venv", type=Path, default=VENV_DIR)
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        drive(args.port, args.endpoints, args.messages)
        return 0
    figures = asyncio.run(measure(args.messages, args.endpoints, args.warmup, args.latency_ms, args.venv))
    print(figures.fields())
    return 0


if __name__ == "__main__":
    sys.exit(main())
