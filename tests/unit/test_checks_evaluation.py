"""The labelled corpus meets the issue's targets (recall, false blocks), and the engine starts fast."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from gateway.pipeline.checks import CheckEngine, evaluate_file
from gateway.pipeline.checks.evaluate import FAMILY_TARGETS, TARGET_GROUPS
from tests.unit.test_checks_fixtures import engine

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def test_corpus_size() -> None:
    lines = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in CORPUS.glob("*.jsonl"))
    assert lines >= 400


def test_corpus_meets_targets() -> None:
    report = evaluate_file(CORPUS, engine())
    for name, (rule_ids, target) in TARGET_GROUPS.items():
        hit, total = report.group_recall(rule_ids)
        assert total and hit / total >= target, (name, hit, total, list(report.misses()))
    counts = report.family_counts()
    for family, target in FAMILY_TARGETS.items():
        c = counts[family]
        assert c["tp"] / (c["tp"] + c["fn"]) >= target, (family, c)
    assert report.false_block_rate() <= 0.01, list(report.misses())
    assert "precision" in report.render()


def test_exact_layer_starts_within_one_second() -> None:
    started = time.perf_counter()
    CheckEngine(linguistic=False)
    assert time.perf_counter() - started <= 1.0


def test_whole_engine_starts_within_three_seconds() -> None:
    """In a fresh interpreter: imports, the language model (GiNZA) and the lexicons."""
    code = ("import time; t = time.perf_counter()\n"
            "from gateway.pipeline.checks import CheckEngine\n"
            "CheckEngine(); print(time.perf_counter() - t)")
    took = float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    assert took <= 3.0
