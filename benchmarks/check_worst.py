"""The slowest texts for the checks: 20,000-character repetitions of short pieces (issue 12).

Quadratic paths in the checks (a regex that rescans the rest of a run from every start, a scan per
hit) show on long repetitive texts. Every pair of the pieces below, and `--random` random
combinations of two to six, is repeated to 20,000 characters (the message limit) and checked for
each city in `--cities`; the slowest are printed.

Last line: `check-worst texts=.. worst_s=.. worst_piece=.. p99_s=..`
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.errors import InputError
from gateway.models import Message
from gateway.pipeline.checks import CheckEngine, CheckInput
from gateway.pipeline.intake.targets import resolve_targets
from gateway.pipeline.intake.validation import parse_message
from gateway.policy import Policies, load_policies

PIECES = [
    "1", "１", "-", "－", "ー", ".", "．", "@", "a", "A", "あ", "ア", "漢", "市", "長", " ", "　", "\n", "/", ":",
    "http://", "www.", "〒", "090", "(", ")", "（", "）", "_", "#", "＃", "%", "+", "@a", "a.", "1-", "秘", "様",
    "さん", "電話", "TEL", "号", "丁目", "番地", "、", "。", "・", "~", "〜", "x", "@x.jp ", "😀", "\u200d", "e\u0301",
    "【", "】", "極秘", "避難指示", "発令",
]
LIMIT = 20_000


def timed(engine: CheckEngine, policies: Policies, city: str, text: str) -> float:
    try:
        message: Message = parse_message({"municipality": city, "category": "city_news", "text": text})
    except InputError:
        return 0.0
    targets = resolve_targets(message, policies)
    started = time.perf_counter()
    engine.check(CheckInput(message, targets.municipality, targets.accounts))
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=300)
    parser.add_argument("--cities", default="kodaira,zushi")
    parser.add_argument("--show", type=int, default=10)
    args = parser.parse_args()
    policies = load_policies(Path(__file__).resolve().parents[1] / "config" / "municipalities")
    engine = CheckEngine()
    rng = random.Random(12)
    units = ["".join(pair) for pair in itertools.product(PIECES, repeat=2)]
    units += ["".join(rng.choice(PIECES) for _ in range(rng.randint(2, 6))) for _ in range(args.random)]
    results: list[tuple[float, str, str]] = []
    for unit in units:
        text = (unit * (LIMIT // len(unit) + 1))[:LIMIT]
        for city in args.cities.split(","):
            results.append((timed(engine, policies, city, text), unit, city))
    results.sort(reverse=True)
    for took, unit, city in results[:args.show]:
        print(f"{took:7.3f} s  {city:8} {unit!r}")
    p99 = results[len(results) // 100][0]
    print(f"check-worst texts={len(results)} worst_s={results[0][0]:.3f} worst_piece={results[0][1]!r} p99_s={p99:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
