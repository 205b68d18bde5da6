"""Login throttling: after 5 failures within 15 minutes, a user name or client address is locked.

In memory per process; behind several replicas an attacker gets at most 5 tries per replica,
which argon2's cost already makes slow.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

MAX_FAILURES = 5
WINDOW_S = 15 * 60


@dataclass
class LoginThrottle:
    max_failures: int = MAX_FAILURES
    window_s: float = WINDOW_S
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def locked(self, keys: tuple[str, ...], now: float) -> bool:
        return any(len(self._recent(key, now)) >= self.max_failures for key in keys)

    def fail(self, keys: tuple[str, ...], now: float) -> None:
        for key in keys:
            self._recent(key, now).append(now)
        if len(self._failures) > 10_000:  # bound memory under a spray of names
            self._failures = {k: v for k, v in self._failures.items() if v and v[-1] > now - self.window_s}

    def succeed(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times


def keys_for(user: str, address: str | None) -> tuple[str, ...]:
    return (f"user:{user}", f"addr:{address or '-'}")
