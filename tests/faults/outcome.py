"""The end state every fault test demands: each accepted message out exactly once per target account."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from tests.faults.client import Client, Submission, expected_pairs, published_counts
from tests.faults.procs import Gateway, Sandbox


def ours(rows: list[dict[str, Any]], subs: list[Submission]) -> list[dict[str, Any]]:
    ids = {s.message_id for s in subs}
    return [d for d in rows if d["message_id"] in ids]


def wait_all_sent(
    client: Client, subs: list[Submission], timeout_s: float, gateway: Gateway, context: str = "",
) -> list[dict[str, Any]]:
    """Poll the API until every delivery of these messages is `sent` (or fail with what is left)."""
    deadline = time.monotonic() + timeout_s
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        listed = client.deliveries()
        if listed is not None:
            rows = ours(listed, subs)
            if len(rows) == sum(len(s.accounts) for s in subs) and all(d["state"] == "sent" for d in rows):
                return rows
        time.sleep(0.3)
    left = Counter(d["state"] for d in rows if d["state"] != "sent")
    stuck = [(d["account"], d["state"], d["attempts"], d["error"]) for d in rows if d["state"] != "sent"][:5]
    raise AssertionError(f"{context} not all sent after {timeout_s}s: {len(rows)} deliveries, left {dict(left)}, "
                         f"e.g. {stuck}\n--- gateway log ---\n{gateway.tail()}")


def assert_exactly_once(sandbox: Sandbox, subs: list[Submission], tag: str) -> None:
    counts = published_counts(sandbox.posts(), tag)
    wanted = expected_pairs(subs)
    duplicates = {k: n for k, n in counts.items() if n > 1}
    missing = wanted - set(counts)
    unexpected = set(counts) - wanted
    assert not duplicates, f"published more than once: {sorted(duplicates.items())[:10]}"
    assert not missing, f"never published: {sorted(missing)[:10]}"
    assert not unexpected, f"published but never accepted: {sorted(unexpected)[:10]}"
