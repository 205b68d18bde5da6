"""The summary of `benchmarks/apprise_side.py` (issue 18): what it counts, not how fast anything is."""

from __future__ import annotations

import pytest

from benchmarks.apprise_side import AppriseFigures, pct, summarise


def test_pct_takes_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert pct(values, .5) == 51.0
    assert pct(values, .99) == 99.0
    assert pct([7.0], .99) == 7.0
    with pytest.raises(ValueError):
        pct([], .5)


def test_summary_leaves_out_warmup_and_repeats() -> None:
    calls = {0: 10.0, 1: 20.0, 2: 30.0}
    receipts = [
        (0, "endpoint0", 10.5),  # warm-up: not counted
        (1, "endpoint0", 20.002), (1, "endpoint1", 20.004),
        (2, "endpoint0", 30.001), (2, "endpoint1", 30.010),
        (2, "endpoint1", 30.020),  # a second arrival at the same endpoint: only the first counts
        (9, "endpoint0", 31.0),  # no such call
    ]
    figures = summarise(calls, receipts, endpoints=2, warmup=1)
    assert figures.deliveries == 4
    assert figures.expected == 4
    assert figures.p50_ms == pytest.approx(4.0)
    assert figures.p99_ms == pytest.approx(10.0)
    assert figures.per_s == pytest.approx(4 / 10.010)


def test_summary_counts_missing_arrivals_against_expected() -> None:
    figures = summarise({0: 1.0, 1: 2.0}, [(0, "endpoint0", 1.001)], endpoints=4, warmup=0)
    assert (figures.deliveries, figures.expected) == (1, 8)


def test_summary_without_measured_deliveries_fails() -> None:
    with pytest.raises(ValueError):
        summarise({0: 1.0}, [(0, "endpoint0", 1.1)], endpoints=4, warmup=1)


def test_fields_are_the_last_line_fields() -> None:
    figures = AppriseFigures(p50_ms=4.54, p99_ms=17.96, per_s=607.6, deliveries=4000, expected=4000)
    assert figures.fields() == "apprise_p50_ms=4.5 apprise_p99_ms=18.0 apprise_per_s=608"
