"""Retry policy: when a delivery that failed with a retryable error is tried again.

Exponential backoff with full jitter (tenacity's `wait_random_exponential`), so that many
deliveries failing together against one platform do not come back as a storm. A platform's own
reset time (429 headers) always wins over the computed delay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tenacity import RetryCallState, wait_random_exponential


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 5.0
    max_seconds: float = 3600.0
    max_attempts: int = 8

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th failed attempt (1-based)."""
        wait = wait_random_exponential(multiplier=self.base_seconds, max=self.max_seconds, min=self.base_seconds)
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = max(attempt, 1)
        return float(wait(state))

    def next_attempt_at(self, now: datetime, attempt: int, retry_after: datetime | None) -> datetime:
        if retry_after is not None and retry_after > now:
            return retry_after
        return now + timedelta(seconds=self.delay(attempt))

    def exhausted(self, attempt: int) -> bool:
        return attempt >= self.max_attempts
