"""Benchmark of the outbound checks: posts per second on one core, p99 latency, engine start-up.

Posts are 300-character messages built from the labelled corpus (everyday posts with some
violations mixed in), checked against the real municipality files. Start-up is measured in a
fresh interpreter: importing the checks and constructing the engine (dictionary, lexicons and the
GiNZA language model).

Two engines are measured: the exact layer alone (identifiers, stamps, secrets, lexicons) and the
whole engine (exact + linguistic layer). Last line:
`checks posts_per_s=<exact layer> p99_ms=<whole engine> startup_s=<whole engine> exact_p99_ms=..
full_posts_per_s=.. exact_startup_s=..` (targets: exact >= 1,000 posts/s/core, whole-engine p99 <= 100 ms,
start-up <= 3 s).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.models import Message  # noqa: E402
from gateway.pipeline.checks import CheckEngine, CheckInput  # noqa: E402
from gateway.pipeline.checks.evaluate import resolve_accounts  # noqa: E402
from gateway.policy import load_policies  # noqa: E402

POST_CHARS = 300
POSTS = 3000
STARTUP_CODE = (
    "import time; t = time.perf_counter()\n"
    "from gateway.pipeline.checks import CheckEngine\n"
    "CheckEngine(linguistic={linguistic}); print(time.perf_counter() - t)\n"
)


def _pin_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _inputs() -> list[CheckInput]:
    policies = load_policies(ROOT / "config" / "municipalities")
    lines = [json.loads(line) for p in sorted((ROOT / "tests" / "corpus").glob("*.jsonl"))
             for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    # Padding comes from everyday posts only, so most posts are ordinary ones, as in real traffic.
    texts = [entry["message"]["text"] for entry in lines if entry["expect"]["verdict"] == "pass"]
    inputs: list[CheckInput] = []
    for i in range(POSTS):
        entry = lines[i % len(lines)]
        text, k = entry["message"]["text"], i
        while len(text) < POST_CHARS:  # pad with following corpus posts up to 300 characters
            k += 7
            text += "\n" + texts[k % len(texts)]
        message = Message.model_validate({**entry["message"], "text": text[:POST_CHARS]})
        city = policies.get(message.municipality)
        assert city is not None
        inputs.append(CheckInput(message, city, resolve_accounts(message, city)))
    return inputs


def _startup(linguistic: bool) -> float:
    code = STARTUP_CODE.format(linguistic=linguistic)
    runs = [float(subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                                 capture_output=True, text=True).stdout) for _ in range(3)]
    return statistics.median(runs)


def main() -> None:
    _pin_one_core()
    exact_startup, startup = _startup(False), _startup(True)
    inputs = _inputs()
    figures = {}
    for name, engine in (("exact layer", CheckEngine(linguistic=False)), ("whole engine", CheckEngine())):
        for inp in inputs[:200]:  # warm-up
            engine.check(inp)
        wall, cpu = _run(engine, inputs)
        figures[name] = cpu
        print(f"{name}: {len(inputs)} posts x {POST_CHARS} characters, one core "
              f"(load average {os.getloadavg()[0]:.2f})")
        for label, (rate, p50, p99, worst) in (("wall clock", wall), ("CPU time", cpu)):
            print(f"  {label:>10}: {rate:.0f} posts/s  p50 {p50:.2f} ms  p99 {p99:.2f} ms  max {worst:.2f} ms")
    print(f"start-up (fresh interpreter, import + construct, median of 3): exact layer {exact_startup:.3f} s, "
          f"whole engine {startup:.3f} s")
    # Per core: CPU time, which other processes sharing the core do not inflate.
    exact_rate, _, exact_p99, _ = figures["exact layer"]
    full_rate, _, full_p99, _ = figures["whole engine"]
    print(f"checks posts_per_s={exact_rate:.0f} p99_ms={full_p99:.2f} startup_s={startup:.3f} "
          f"exact_p99_ms={exact_p99:.2f} full_posts_per_s={full_rate:.0f} exact_startup_s={exact_startup:.3f}")


def _run(engine: CheckEngine, inputs: list[CheckInput]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    walls, cpus = [], []
    for inp in inputs:
        w, c = time.perf_counter(), time.thread_time()
        engine.check(inp)
        cpus.append(time.thread_time() - c)
        walls.append(time.perf_counter() - w)
    return _stats(walls), _stats(cpus)


def _stats(latencies: list[float]) -> tuple[float, ...]:
    ordered = sorted(latencies)
    return (len(ordered) / sum(ordered), ordered[len(ordered) // 2] * 1000,
            ordered[int(len(ordered) * 0.99) - 1] * 1000, ordered[-1] * 1000)


if __name__ == "__main__":
    main()
