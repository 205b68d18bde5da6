"""The frozen sets stay out of training: no training file is a frozen one, and no frozen message's text
is in any training file (issue 13: a held-out figure means nothing if its posts were trained on)."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.pipeline.checks.train import CORPUS_DIR, TRAIN_FILES


def _texts(path: Path) -> set[str]:
    return {json.loads(line)["message"]["text"] for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()}


def test_no_frozen_file_is_trained_on() -> None:
    frozen = sorted((CORPUS_DIR / "frozen").glob("*.jsonl"))
    assert frozen, "the frozen sets are missing"
    assert not [name for name in TRAIN_FILES if name.startswith("frozen/")]
    trained = set().union(*(_texts(CORPUS_DIR / name) for name in TRAIN_FILES))
    for path in frozen:
        shared = _texts(path) & trained
        assert not shared, (path.name, sorted(shared)[:3])
