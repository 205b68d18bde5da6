"""`gateway demo` end to end: every delivery settles as scripted, 厚木's Instagram included."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.cli.demo import run_demo
from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


async def test_demo_delivers_everywhere_instagram_included(capsys: pytest.CaptureFixture[str]) -> None:
    assert await run_demo(Settings(config_dir=ROOT / "config" / "municipalities")) == 0
    out = capsys.readouterr().out
    assert re.search(r"atsugi_instagram\s+instagram\s+normal\s+sent\s", out), out
    assert "instagram 1件" in out
