"""`gateway check` judges media from the message alone: it never opens a file, whatever the path says."""

from __future__ import annotations

import builtins
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from gateway.cli.check import check_lines
from gateway.pipeline.checks import default_engine
from gateway.policy import load_policies

CONFIG = Path(__file__).resolve().parents[2] / "config" / "municipalities"


def _line(media: dict[str, Any]) -> str:
    return json.dumps({"municipality": "kodaira", "accounts": ["kodaira_x"], "category": "event",
                       "text": "小平市民まつりの会場地図です。", "media": [media]}, ensure_ascii=False)


def test_check_opens_no_file(monkeypatch: pytest.MonkeyPatch) -> None:
    policies, engine = load_policies(CONFIG), default_engine()

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"gateway check opened a file: {args[:1]}")

    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(os, "open", refuse)
    out = io.StringIO()
    lines = [_line({"kind": "image", "id": "a" * 32, "alt_text": "中央公園の会場配置図"}),
             _line({"kind": "image", "path": "/etc/passwd", "alt_text": "中央公園の会場配置図"}),
             _line({"kind": "video", "path": "../credentials.enc"}),
             _line({"kind": "image", "id": "a" * 32}),
             _line({"kind": "image", "id": "a" * 32, "path": "a.png", "alt_text": "地図"})]
    assert check_lines(lines, policies, engine, out) == 0
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["verdict"] for r in results[:3]] == ["pass", "pass", "pass"]
    assert results[3]["verdict"] == "block"  # no alt text: judged from the fields, as before
    assert results[4]["verdict"] == "block" and "media[0].id" in results[4]["findings"][0]["message"]
