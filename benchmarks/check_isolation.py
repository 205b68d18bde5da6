"""Can staff text hold up an alert? Alert latency while staff post pathological texts (issue 12).

Scenario (after the adversarial run in issue 12): the gateway on SQLite with the sandbox platforms
(in their own process, answering after 50 ms). First `--alerts` alerts alone; then `--posts` staff
posts of a slow text sent at once to `POST /api/v1/messages`, and the same number of alerts sent
one every 100 ms while the posts are being checked.

An alert's latency runs from the moment a separate client thread sends it to its first arrival at
a platform (the sandbox's tap, same wall clock). The client is not on the gateway's event loop, so
a blocked loop shows in the figures instead of hiding the wait.

The slow text is `--text` (default "１－" x 10,000, the issue's) and, with `--slow-rule`, a city
lexicon with a backtracking regex plus a text that triggers it: a check that outlasts any budget,
as a bad lexicon entry or a heavy linguistic layer could make one.

`--checks inline` runs the checks on the event loop (the behaviour before the fix, `check_workers =
0`); `--checks process` (default) in worker processes. Both run unless one is named.

Last line: `check-isolation mode=.. alone_p50_ms=.. alone_max_ms=.. loaded_p50_ms=.. loaded_max_ms=.. ...`
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.adapters import build_adapters
from gateway.credentials import StaticCredentials
from gateway.media import MediaStore
from gateway.models import Role
from gateway.pipeline.checks.engine import DEFAULT_LEXICON_DIR
from gateway.policy import load_policies
from gateway.runtime import all_accounts, open_runtime, sandbox_settings
from gateway.sandbox.credentials import sandbox_credentials
from gateway.settings import Settings
from gateway.web.app import build_app
from gateway.web.auth import create_token

sys.path.insert(0, str(Path(__file__).resolve().parent))
from emergency_latency import _start_sandbox_process, alert_json

SLOW_RULE = """
[[rule]]
id = "public_order.bench_backtracking"
clause = "public_order"
severity = "review"
message = "ベンチマーク用の遅い規則"
regex = ['(a+)+b']
"""
SLOW_RULE_TEXT = "b " + "a" * 40 + "!"

BENCH_CITIES = ("atsugi", "kisarazu", "kodaira", "mine", "zushi")  # the staff token's scope


class AlertSender(threading.Thread):
    """Sends alerts from its own thread with a blocking client; records the send times."""

    def __init__(self, port: int, token: str, numbers: list[int], gap_s: float, delay_s: float = 0.0) -> None:
        super().__init__(daemon=True)
        self.port, self.token, self.numbers, self.gap_s, self.delay_s = port, token, numbers, gap_s, delay_s
        self.sent: dict[str, float] = {}
        self.statuses: list[int] = []

    def run(self) -> None:
        time.sleep(self.delay_s)
        for n in self.numbers:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
            self.sent[f"{n:05d}"] = time.time()
            conn.request("POST", "/api/v1/alerts", body=alert_json(n),
                         headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
            self.statuses.append(conn.getresponse().status)
            conn.close()
            time.sleep(self.gap_s)


async def arrivals(client: ClientSession, sandbox_port: int) -> dict[str, float]:
    async with client.get(f"http://127.0.0.1:{sandbox_port + 1}/_bench/arrivals") as response:
        rows = await response.json()
    first: dict[str, float] = {}
    for marker, _platform, at in rows:
        first[marker] = min(at, first.get(marker, at))
    return first


async def wait_arrived(client: ClientSession, sandbox_port: int, markers: set[str],
                       timeout_s: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout_s
    seen: dict[str, float] = {}
    while time.monotonic() < deadline:
        seen = await arrivals(client, sandbox_port)
        if markers <= set(seen):
            break
        await asyncio.sleep(0.1)
    return seen


class StaffPost(threading.Thread):
    """One staff post from its own thread (not from the gateway's event loop, which it may block)."""

    def __init__(self, port: int, token: str, text: str, n: int) -> None:
        super().__init__(daemon=True)
        self.port, self.token, self.text, self.n = port, token, text, n
        self.answer: tuple[int, float, str] = (0, 0.0, "")

    def run(self) -> None:
        body = {"municipality": "kodaira", "category": "city_news", "accounts": ["kodaira_x"], "text": self.text}
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        conn.request("POST", "/api/v1/messages", body=json.dumps(body, ensure_ascii=False).encode(),
                     headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
                              "Idempotency-Key": f"bench-{self.n}"})
        response = conn.getresponse()
        payload = json.loads(response.read() or b"{}")
        conn.close()
        findings = payload.get("check", {}).get("findings", []) if isinstance(payload, dict) else []
        rules = ",".join(sorted({f["rule"] for f in findings if f["rule"].startswith("check.")}))
        self.answer = (response.status, time.monotonic() - started, rules)


async def send_alerts(client: ClientSession, port: int, token: str, sandbox_port: int, numbers: list[int],
                      gap_s: float, *, delay_s: float = 0.0, staff: list[StaffPost] = ()) -> list[float]:
    """Send alerts from a thread (after `delay_s`), starting `staff` posts at the same moment."""
    sender = AlertSender(port, token, numbers, gap_s, delay_s)
    sender.start()
    for post in staff:
        post.start()
    await asyncio.to_thread(sender.join)
    markers = {f"{n:05d}" for n in numbers}
    seen = await wait_arrived(client, sandbox_port, markers, timeout_s=120)
    bad = [s for s in sender.statuses if s != 202]
    if bad or not markers <= set(seen):
        print(f"  alerts: statuses {sender.statuses}, arrived {len(markers & set(seen))}/{len(markers)}", flush=True)
    return [(seen[m] - sender.sent[m]) * 1000 for m in sorted(markers) if m in seen]


async def run(mode: str, posts: int, alerts: int, text: str, lexicon_dir: Path | None) -> dict[str, Any]:
    proc, sandbox_port = await _start_sandbox_process(0.05)
    base_url = f"http://127.0.0.1:{sandbox_port}"
    try:
        with tempfile.TemporaryDirectory(prefix="bench-isolation-") as tmp:
            settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp}/bench.db", var_dir=Path(tmp),
                                check_workers=0 if mode == "inline" else 1)
            accounts = all_accounts(load_policies(settings.config_dir))
            credentials = {a: sandbox_credentials(a, acc.platform) for a, acc in accounts.items()}
            adapters = build_adapters(sandbox_settings(settings, base_url), StaticCredentials(credentials), accounts,
                                      MediaStore(settings.media_root))
            async with open_runtime(settings, adapters=adapters) as runtime:
                if lexicon_dir is not None:
                    await _use_lexicons(runtime, settings, lexicon_dir)
                return await _measure(runtime, posts, alerts, text, sandbox_port)
    finally:
        proc.terminate()
        await proc.wait()


async def _use_lexicons(runtime: Any, settings: Settings, lexicon_dir: Path) -> None:
    from gateway.pipeline.checks.runner import ProcessRunner

    old = runtime.gateway.checks
    runtime.gateway.checks = ProcessRunner(routine=settings.check_workers, budget_s=settings.check_budget_seconds,
                                           queue_s=settings.check_queue_seconds, lexicon_dir=lexicon_dir)
    await runtime.gateway.checks.start()
    await old.aclose()


async def _measure(runtime: Any, posts: int, alerts: int, text: str, sandbox_port: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    alert_token = await create_token(runtime.store, user="bench-alerts", role=Role.ALERT_SYSTEM, ttl_days=1,
                                     now=now, actor="bench")
    staff_token = await create_token(runtime.store, user="bench-staff", role=Role.STAFF,
                                     municipalities=BENCH_CITIES, ttl_days=1, now=now, actor="bench")
    runner = web.AppRunner(build_app(runtime.gateway), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with ClientSession() as client:
            alone = await send_alerts(client, port, alert_token, sandbox_port, list(range(alerts)), 0.1)
            started = time.monotonic()
            staff = [StaffPost(port, staff_token, text, n) for n in range(posts)]
            loaded = await send_alerts(client, port, alert_token, sandbox_port, list(range(alerts, 2 * alerts)),
                                       0.1, delay_s=0.3, staff=staff)  # the posts are in the checks by then
            for post in staff:
                await asyncio.to_thread(post.join)
            answers = [post.answer for post in staff]
            staff_s = time.monotonic() - started
    finally:
        await runner.cleanup()
    return {"alone": alone, "loaded": loaded, "staff": answers, "staff_s": staff_s}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def report(mode: str, label: str, result: dict[str, Any]) -> None:
    statuses: dict[str, int] = {}
    for status, _took, rules in result["staff"]:
        key = f"{status}{'/' + rules if rules else ''}"
        statuses[key] = statuses.get(key, 0) + 1
    alone, loaded = result["alone"], result["loaded"]
    print(f"[{mode} / {label}] alerts alone: p50 {pct(alone, .5):.0f} ms, max {max(alone):.0f} ms; "
          f"with staff posts: p50 {pct(loaded, .5):.0f} ms, max {max(loaded):.0f} ms "
          f"(mean {statistics.fmean(loaded):.0f} ms); staff answers {statuses} in {result['staff_s']:.1f} s",
          flush=True)
    print(f"check-isolation mode={mode} text={label} alone_p50_ms={pct(alone, .5):.0f} alone_max_ms={max(alone):.0f} "
          f"loaded_p50_ms={pct(loaded, .5):.0f} loaded_max_ms={max(loaded):.0f} staff_posts={len(result['staff'])} "
          f"staff_seconds={result['staff_s']:.1f}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--alerts", type=int, default=10)
    parser.add_argument("--checks", choices=["inline", "process"], default=None)
    parser.add_argument("--text", default="１－" * 10_000)
    parser.add_argument("--slow-rule", action="store_true", help="also run with a backtracking lexicon rule")
    args = parser.parse_args()
    modes = [args.checks] if args.checks else ["inline", "process"]
    cases: list[tuple[str, str, Path | None]] = [("issue-text", args.text, None)]
    with tempfile.TemporaryDirectory(prefix="bench-lexicons-") as lexicons:
        if args.slow_rule:
            directory = Path(lexicons)
            shutil.copy(DEFAULT_LEXICON_DIR / "default.toml", directory / "default.toml")
            (directory / "kodaira.toml").write_text(SLOW_RULE, encoding="utf-8")
            cases.append(("backtracking-rule", SLOW_RULE_TEXT, directory))
        for label, text, lexicon_dir in cases:
            for mode in modes:
                if mode == "inline" and lexicon_dir is not None:
                    print(f"[inline / {label}] skipped: the check never ends on the event loop", flush=True)
                    continue
                report(mode, label, asyncio.run(run(mode, args.posts, args.alerts, text, lexicon_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
