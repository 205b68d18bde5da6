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


def test_check_reads_a_date_without_its_year_against_the_day_given(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`gateway check --as-of`: the writer's day, so that a check run later gives the same answer. Without it a
    file of posts may have been written on any day, and such a date is not judged."""
    from gateway.cli.main import main

    post = tmp_path / "post.json"
    post.write_text(json.dumps({"municipality": "kodaira", "accounts": ["kodaira_x"], "category": "event",
                                "text": "おはなし会は12月5日（金）に中央図書館で開きます。"}, ensure_ascii=False),
                    encoding="utf-8")
    config = ["--config-dir", str(CONFIG)]
    assert main([*config, "check", "--as-of", "2026-12-01", str(post)]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["verdict"] == "review" and "2026年12月5日は土曜日です" in found["findings"][0]["message"]
    assert main([*config, "check", "--as-of", "2025-12-01", str(post)]) == 0  # 2025's 5 December was a Friday
    assert json.loads(capsys.readouterr().out)["verdict"] == "pass"
    assert main([*config, "check", str(post)]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "pass"
    assert main([*config, "check", "--as-of", "2026-13-01", str(post)]) == 2
    assert "--as-of は YYYY-MM-DD" in capsys.readouterr().err
