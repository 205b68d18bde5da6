"""The labelled corpus meets the issue's targets (recall, false blocks)."""

from __future__ import annotations

from pathlib import Path

from gateway.pipeline.checks import evaluate_file
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
