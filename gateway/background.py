"""Background loops that never die silently: supervised, restarted, and reported.

Every loop the running gateway depends on — housekeeping (held posts, recovery, reconciling), the
two dispatch lanes, the worker heartbeat, the account checks — runs under a `Supervisor`. A loop
that raises is logged with its traceback, counted in /metrics, and started again after a backoff
(1 s doubling to 30 s); a loop that is alive but has not completed a round for three of its
intervals is reported too. `/readyz` answers 503 while any loop is unhealthy and names it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway import metrics
from gateway.logs import log_failure

log = logging.getLogger("gateway.background")

Beat = Callable[[], None]
Loop = Callable[[Beat], Awaitable[None]]

MAX_BACKOFF_SECONDS = 30.0


@dataclass
class LoopHealth:
    name: str
    every: float | None  # expected seconds between rounds; None: no rounds to watch (a lane waits on events)
    started: float
    last_round: float | None = None
    failures: int = 0
    last_error: str | None = None
    running: bool = False

    def problem(self, now: float) -> str | None:
        if not self.running:
            return f"{self.name}: 停止中（再起動待ち、失敗 {self.failures} 回: {self.last_error}）"
        if self.every is None:
            return None
        since = self.last_round if self.last_round is not None else self.started
        if now - since > max(3 * self.every, 10.0):
            return (f"{self.name}: {now - since:.0f} 秒間処理が完了していません"
                    f"（最後の失敗: {self.last_error or 'なし'}）")
        return None


class Supervisor:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._health: dict[str, LoopHealth] = {}

    def run(self, name: str, loop: Loop, *, every: float | None = None) -> None:
        """Start `loop(beat)`; it calls `beat()` after each completed round (when `every` is set)."""
        health = LoopHealth(name, every, started=self._clock(), running=True)
        self._health[name] = health
        self._tasks[name] = asyncio.create_task(self._keep_running(health, loop), name=name)

    def failed(self, name: str, exc: BaseException) -> None:
        """A round of `name` failed without ending the loop (it goes on with the next round)."""
        health = self._health.get(name)
        if health is not None:
            health.failures += 1
            health.last_error = f"{type(exc).__name__}: {exc}"[:300]
        metrics.BACKGROUND_FAILURES.labels(name).inc()

    def problems(self) -> list[str]:
        now = self._clock()
        return [p for p in (h.problem(now) for h in self._health.values()) if p]

    def health(self) -> list[LoopHealth]:
        return list(self._health.values())

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _keep_running(self, health: LoopHealth, loop: Loop) -> None:
        backoff = 1.0

        def beat() -> None:
            health.last_round = self._clock()
            metrics.BACKGROUND_LAST_ROUND.labels(health.name).set(time.time())

        while True:
            health.running = True
            metrics.BACKGROUND_RUNNING.labels(health.name).set(1)
            rounds_before = health.last_round
            try:
                await loop(beat)
                raise RuntimeError("the loop returned")  # a loop runs until cancelled
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # whatever it was, the loop must come back
                log_failure(log, "background loop failed; restarting", exc, loop=health.name)
                health.running = False
                metrics.BACKGROUND_RUNNING.labels(health.name).set(0)
                metrics.BACKGROUND_RESTARTS.labels(health.name).inc()
                self.failed(health.name, exc)
            if health.last_round != rounds_before:  # it had been working: start the backoff again
                backoff = 1.0
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
