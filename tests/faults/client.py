"""The HTTP side of the fault tests: submit messages (retrying across gateway restarts), read deliveries."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import requests

MINE_ACCOUNTS = ("mine_x", "mine_facebook")
KISARAZU_ACCOUNTS = ("kisarazu_x", "kisarazu_facebook", "kisarazu_line")
FINAL = {"sent", "failed", "skipped", "cancelled", "retracted"}


def marker_text(marker: str) -> str:
    return f"【緊急】避難所を開設しました（訓練ではありません）。最寄りの避難所へ避難してください。整理番号 {marker}"


@dataclass
class Submission:
    marker: str
    municipality: str
    accounts: tuple[str, ...]
    message_id: str | None = None
    approved: bool = False
    media: list[dict[str, Any]] = field(default_factory=list)  # message media items (ids from POST /media)


@dataclass
class Client:
    """Talks to whichever gateway process is up; a refused connection means "try again shortly"."""

    url: Callable[[], str]
    staff: str
    approver: str
    operator: str
    errors: Counter[str] = field(default_factory=Counter)

    def _call(self, method: str, path: str, token: str, **kw: Any) -> requests.Response | None:
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        try:
            response = requests.request(method, self.url() + path, headers=headers, timeout=10, **kw)
        except requests.RequestException as exc:
            self.errors[type(exc).__name__] += 1
            return None
        if response.status_code >= 500:
            self.errors[f"HTTP {response.status_code}"] += 1
        return response

    def submit(self, sub: Submission) -> bool:
        """One attempt; the Idempotency-Key makes a repeat after a kill return the first submission."""
        body = {"municipality": sub.municipality, "accounts": list(sub.accounts), "category": "emergency",
                "priority": "emergency", "emergency_reason": "障害試験", "text": marker_text(sub.marker)}
        if sub.media:
            body["media"] = sub.media
        response = self._call("POST", "/api/v1/messages", self.staff, json=body,
                              headers={"Idempotency-Key": f"fault-{sub.marker}"})
        if response is None or response.status_code >= 500:
            return False
        assert response.status_code in (200, 201), response.text
        data = response.json()
        sub.message_id = data["id"]
        sub.approved = data["state"] != "pending_approval"
        return True

    def approve(self, sub: Submission) -> bool:
        response = self._call("POST", f"/api/v1/messages/{sub.message_id}/approve", self.approver, json={})
        if response is None or response.status_code >= 500:
            return False
        # 409: approved by an earlier attempt whose answer was lost to a kill.
        assert response.status_code in (200, 409), response.text
        sub.approved = True
        return True

    def push(self, sub: Submission) -> bool:
        """Advance one submission by one step; True when it is accepted (and approved if needed)."""
        if sub.message_id is None and not self.submit(sub):
            return False
        if not sub.approved and not self.approve(sub):
            return False
        return sub.message_id is not None and sub.approved

    def deliveries(self) -> list[dict[str, Any]] | None:
        response = self._call("GET", "/api/v1/deliveries?limit=5000", self.operator)
        if response is None or response.status_code != 200:
            return None
        rows: list[dict[str, Any]] = response.json()["deliveries"]
        return rows


def submissions(count: int, tag: str) -> list[Submission]:
    """Alternating municipalities: 美祢 needs no approval, 木更津 needs an approver (and has LINE)."""
    out = []
    for i in range(count):
        if i % 2 == 0:
            out.append(Submission(f"{tag}-{i:03d}", "mine", MINE_ACCOUNTS))
        else:
            out.append(Submission(f"{tag}-{i:03d}", "kisarazu", KISARAZU_ACCOUNTS))
    return out


def push_all(client: Client, subs: Iterable[Submission], deadline: float, gap_s: float = 0.0) -> None:
    """Get every submission accepted; `gap_s` spreads them out so that the load lasts."""
    pending = list(subs)
    while pending and time.monotonic() < deadline:
        while pending and client.push(pending[0]):
            pending.pop(0)
            time.sleep(gap_s)
        if pending:
            time.sleep(0.1)  # the gateway is down (or restarting): try the same one again shortly
    assert not pending, f"{len(pending)} submissions never accepted: {client.errors}"


def published_counts(posts: Iterable[dict[str, Any]], tag: str) -> Counter[tuple[str, str]]:
    """(marker, account) -> how many live posts carry that marker on that account."""
    counts: Counter[tuple[str, str]] = Counter()
    for post in posts:
        text = post["text"]
        start = text.find(tag + "-")
        if start >= 0:
            counts[(text[start:start + len(tag) + 4], post["account"])] += 1
    return counts


def expected_pairs(subs: Iterable[Submission]) -> set[tuple[str, str]]:
    return {(s.marker, a) for s in subs for a in s.accounts}
