"""Alert texts pass the outbound policy checks (no political terms, no personal data ...): issue 5
says the emergency lane skips approval but not the checks, so a template that trips them would
block an alert. Texts in other languages (issue 17) pass the checks the gateway runs on alerts."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.alerts import parse_alert, posts_for
from gateway.errors import InputError
from gateway.models import Message, Priority
from gateway.policy import Policies, load_policies

engine_module = pytest.importorskip("gateway.pipeline.checks.engine")
context_module = pytest.importorskip("gateway.pipeline.checks.context")

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "alerts"
SAMPLES = ROOT.parent / "shared" / "alert_samples"


@pytest.fixture(scope="module")
def policies() -> Policies:
    return load_policies(ROOT / "config" / "municipalities")


def _documents() -> list[Path]:
    found = sorted(FIXTURES.iterdir())
    if SAMPLES.is_dir():
        found += sorted(p for p in SAMPLES.rglob("*") if p.suffix in (".xml", ".cap"))
    return found


def test_every_alert_text_passes_the_checks(policies: Policies) -> None:
    engine = engine_module.CheckEngine()
    checked = 0
    for path in _documents():
        try:
            alert = parse_alert(path.read_bytes())
        except InputError:
            continue
        for municipality in policies:
            for post in posts_for(alert, municipality, forced=True):
                if post.skip_reason:
                    continue
                account = municipality.account(post.account)
                message = Message(municipality=municipality.id, accounts=(post.account,), category="emergency",
                                  text=post.text, priority=Priority.EMERGENCY, drill=alert.drill)
                # Other languages are checked as the gateway checks every alert text (generated: the exact
                # layer); the Japanese linguistic layer and its model judge Japanese prose only.
                generated = post.language != "ja"
                result = engine.check(context_module.CheckInput(message, municipality, (account,),
                                                                generated=generated))
                assert not result.findings, (path.name, post.text, result.findings)
                checked += 1
    assert checked > 100
