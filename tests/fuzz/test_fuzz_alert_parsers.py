"""Fuzz the alert parsers: any input gives an Alert or an InputError, quickly; dry_run never raises."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.alerts import Alert, dry_run, parse_alert
from gateway.errors import InputError
from gateway.policy import Policies, load_policies
from tests.fuzz import strategies as fz

POLICIES: Policies = load_policies(Path(__file__).resolve().parents[2] / "config" / "municipalities")

# 500 ms per example: a parser that takes longer on a 1 MB document is a denial-of-service lever.
FUZZ = settings(max_examples=fz.examples(150), deadline=500, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.data_too_large])


def _parse_or_input_error(raw: bytes, content_type: str | None = None) -> None:
    try:
        alert = parse_alert(raw, content_type=content_type)
    except InputError as exc:
        assert exc.message  # the reason shown to the sending system
        return
    assert isinstance(alert, Alert)


@FUZZ
@given(st.binary(max_size=4000), st.sampled_from([None, "application/xml", "application/json", "text/plain"]))
@example(b"\xef\xbb\xbf", None)
@example(b"<", None)
@example(b"[]", "application/json")
@example(b"<?xml version='1.0' encoding='x-unknown'?><a/>", None)
def test_arbitrary_bytes(raw: bytes, content_type: str | None) -> None:
    _parse_or_input_error(raw, content_type)


@FUZZ
@given(fz.mutated_fixture())
def test_mutated_fixtures(raw: bytes) -> None:
    _parse_or_input_error(raw)


@FUZZ
@given(fz.mutated_tree())
def test_mutated_fixture_trees(raw: bytes) -> None:
    _parse_or_input_error(raw)


@FUZZ
@given(fz.generated_tree())
def test_generated_trees_in_alert_namespaces(raw: bytes) -> None:
    _parse_or_input_error(raw)


@FUZZ
@given(fz.mutated_json_alert())
def test_mutated_json_alerts(raw: bytes) -> None:
    _parse_or_input_error(raw, "application/json")


@settings(max_examples=fz.examples(100), deadline=1000, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.data_too_large])
@given(fz.alert_documents(), st.sampled_from([None, "kodaira", "zushi", "osaka", ""]))
def test_dry_run_never_raises(raw: bytes, municipality: str | None) -> None:
    result = dry_run(raw, POLICIES, municipality=municipality or None)
    assert result.outcome in ("accepted", "ignored", "rejected", "held")
    assert result.reason
    assert (result.error is not None) <= (result.outcome == "rejected")
    result.to_json()  # what `gateway alert --dry-run` prints must always serialise


def test_strategies_reach_the_parsers() -> None:
    """Guard against a fuzzer that only ever exercises the XML tokenizer: some generated documents
    must parse into Alerts, and all fixtures must still round-trip."""
    parsed = 0
    for name in fz.fixture_names():
        try:
            parse_alert(fz.fixture_bytes(name))
            parsed += 1
        except InputError:
            pass
    assert parsed >= 30
    seen: list[bool] = []

    @settings(max_examples=60, deadline=None, database=None)
    @given(fz.mutated_tree())
    def collect(raw: bytes) -> None:
        try:
            parse_alert(raw)
            seen.append(True)
        except InputError:
            seen.append(False)

    collect()
    assert any(seen), "mutated trees never produced a parseable alert"


@pytest.mark.parametrize("name", ["hostile_billion_laughs.xml", "hostile_xxe.xml", "hostile_xxe_parameter.xml"])
def test_hostile_fixtures_are_input_errors(name: str) -> None:
    with pytest.raises(InputError):
        parse_alert(fz.fixture_bytes(name))
