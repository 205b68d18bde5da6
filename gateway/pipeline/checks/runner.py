"""Checks off the event loop, each message within a time budget.

The check engine is pure CPU: a pathological text (a long run of "１－", the linguistic layer on a
20,000-character post) can take seconds. Run on the event loop, that time is taken from every other
request and from the emergency lane. `ProcessRunner` runs the engine in worker processes instead:

- routine messages go to a pool of `routine` workers; emergency messages to a worker of their own
  (and to an idle routine worker when theirs is busy), so staff posts never queue in front of an
  alert;
- a worker that has not answered within the budget is killed and replaced; the message gets a
  `check.timeout` review finding (an approver reads it), never a silent pass;
- a worker that dies (or a check that raises) gives `check.failed`, the same way; an emergency that
  finds no worker at all within 5 s (none can start: /readyz says why) gives `check.unavailable`;
- a routine message that cannot get a worker within `queue_s` is refused with 503 (`Busy`): the
  client retries; nothing is stored.

`InlineRunner` runs the engine in the calling thread: for the CLI and for tests, where no other
request shares the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import pickle
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Protocol

from gateway import metrics
from gateway.errors import Busy
from gateway.models import CheckResult, Finding, Platform, Severity
from gateway.pipeline.checks.context import CheckInput
from gateway.pipeline.checks.engine import CheckEngine

log = logging.getLogger("gateway.checks")

START_TIMEOUT_S = 60.0  # a worker loads the dictionary and the lexicons: about 0.2 s, far more on a loaded host
# (the language model is loaded by the fork server before the first worker: about 2 s, once)
RESPAWN_BACKOFF_MAX_S = 30.0
EMERGENCY_WAIT_S = 5.0  # an alert waits this long for a check worker (a replacement starts in ~0.2 s)
ROUTINE, EMERGENCY = "routine", "emergency"
FAILED = "自動チェックを完了できませんでした。ポリシーに反する内容がないか、承認者が目で確かめてください。"


class CheckRunner(Protocol):
    async def check(self, inp: CheckInput, *, emergency: bool) -> CheckResult: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    def problems(self) -> list[str]: ...


class InlineRunner:
    """The engine in the calling thread (CLI, tests): no budget, no isolation."""

    def __init__(self, engine: CheckEngine) -> None:
        self.engine = engine

    async def check(self, inp: CheckInput, *, emergency: bool) -> CheckResult:
        return self.engine.check(inp)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def problems(self) -> list[str]:
        return []


def unfinished(inp: CheckInput, rule: str, message: str) -> CheckResult:
    """The result of a check that could not finish: one review finding, so a person reads the post."""
    return CheckResult.of([Finding(rule=rule, severity=Severity.REVIEW, clause=inp.municipality.policy_title,
                                   message=message)])


# -- the worker process ---------------------------------------------------------------------------

def _serve(conn: Connection, lexicon_dir: Path | None, alt_text_limits: Mapping[Platform, int | None] | None) -> None:
    """A worker: build the engine once, then answer one pickled CheckInput after another.

    Ends when the gateway closes its end of the pipe (or dies: the pipe closes with it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the gateway's to handle
    try:
        engine = CheckEngine(lexicon_dir, alt_text_limits=alt_text_limits)
    except Exception as exc:  # a broken lexicon file, say: the gateway shows why in /readyz
        conn.send_bytes(f"{type(exc).__name__}: {exc}"[:300].encode())
        return
    conn.send_bytes(b"ready")
    while True:
        try:
            raw = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[str, Any] = ("ok", engine.check(pickle.loads(raw)))
        except Exception as exc:  # a check bug: reported to the gateway, the worker goes on
            reply = ("error", f"{type(exc).__name__}: {exc}"[:500])
        conn.send_bytes(pickle.dumps(reply))


class _Died(Exception):
    pass


def _set_once(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@dataclass(eq=False)
class _Worker:
    lane: str
    process: BaseProcess
    conn: Connection
    checks: int = field(default=0)

    async def receive(self, timeout: float) -> bytes:
        """The next message from the worker; TimeoutError after `timeout`, _Died when it is gone."""
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()
        fd = self.conn.fileno()
        loop.add_reader(fd, _set_once, readable)
        try:
            async with asyncio.timeout(timeout):  # not wait_for: on 3.11 it can swallow a cancellation
                await readable
        finally:
            loop.remove_reader(fd)
        try:
            return self.conn.recv_bytes()  # the whole answer follows its first bytes at once
        except (EOFError, OSError) as exc:
            raise _Died(f"worker exited ({self.process.exitcode})") from exc

    async def check(self, payload: bytes, timeout: float) -> tuple[str, Any]:
        try:
            self.conn.send_bytes(payload)
        except OSError as exc:
            raise _Died(f"worker gone ({exc})") from exc
        reply: tuple[str, Any] = pickle.loads(await self.receive(timeout))
        self.checks += 1
        return reply

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
        with contextlib.suppress(Exception):
            self.process.kill()


class ProcessRunner:
    """Checks in worker processes: `routine` for staff posts, one more kept for emergencies."""

    def __init__(
        self, *, routine: int = 1, budget_s: float = 2.0, queue_s: float = 30.0,
        lexicon_dir: Path | None = None, alt_text_limits: Mapping[Platform, int | None] | None = None,
    ) -> None:
        if routine < 1:
            raise ValueError("at least one routine check worker")
        self.budget_s = budget_s
        self.queue_s = queue_s
        self.emergency_wait_s = max(budget_s, EMERGENCY_WAIT_S)
        self._sizes = {ROUTINE: routine, EMERGENCY: 1}
        self._engine_args = (lexicon_dir, dict(alt_text_limits) if alt_text_limits else None)
        self._context = multiprocessing.get_context("forkserver")
        # The fork server imports the engine and loads the language model (GiNZA, about 2 s) once, before
        # the first worker starts: every worker, the emergency one and each replacement, is forked with
        # the model in memory and is ready in a fraction of a second.
        self._context.set_forkserver_preload(["gateway.pipeline.checks.engine", "gateway.pipeline.checks.preload"])
        self._idle: dict[str, asyncio.Queue[_Worker]] = {}
        self._live: set[_Worker] = set()
        self._spawning: set[asyncio.Task[None]] = set()
        self._failures: dict[str, str] = {}
        self._started = False
        self._closed = False

    # -- life cycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Start every worker (in parallel) and wait until they are ready or have failed."""
        if self._started:
            return
        self._started = True
        self._idle = {lane: asyncio.Queue() for lane in self._sizes}
        first_tries: list[asyncio.Future[None]] = []
        for lane, size in self._sizes.items():
            metrics.CHECK_WORKERS.labels(lane).set(0)
            for _ in range(size):
                first_tries.append(self._replace(lane))
        await asyncio.gather(*first_tries)  # a worker that failed to start keeps being retried

    async def aclose(self) -> None:
        self._closed = True
        for task in list(self._spawning):
            task.cancel()
        for task in list(self._spawning):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        workers = list(self._live)
        self._live.clear()
        for worker in workers:
            worker.kill()
        await asyncio.gather(*(asyncio.to_thread(w.process.join, 5) for w in workers))

    def problems(self) -> list[str]:
        """For /readyz: lanes short of workers, with the last reason a worker could not start."""
        out = []
        for lane, size in self._sizes.items():
            ready = sum(1 for w in self._live if w.lane == lane)
            if self._started and ready < size and lane in self._failures:
                out.append(f"checks ({lane}): 確認用プロセス {ready}/{size} 台（{self._failures[lane]}）")
        return out

    # -- checking -----------------------------------------------------------------------------
    async def check(self, inp: CheckInput, *, emergency: bool) -> CheckResult:
        if not self._started:
            await self.start()
        lane = EMERGENCY if emergency else ROUTINE
        worker = await self._acquire(lane)
        if worker is None:  # no worker could be started: an operator reads the alert instead
            log.error("no check worker for an emergency", extra={"problems": self.problems()})
            return unfinished(inp, "check.unavailable",
                              "自動チェックの処理を起動できないため確認できませんでした。承認者が内容を確かめてください。")
        payload = pickle.dumps(inp)
        started = time.perf_counter()
        try:
            status, value = await worker.check(payload, self.budget_s)
        except TimeoutError:
            self._discard(worker, f"budget of {self.budget_s:g} s exceeded")
            metrics.CHECK_OVERRUNS.labels(lane).inc()
            log.warning("check exceeded its budget; worker replaced",
                        extra={"lane": lane, "budget_s": self.budget_s, "chars": len(inp.message.text)})
            return unfinished(inp, "check.timeout",
                              f"自動チェックが制限時間（{self.budget_s:g}秒）内に終わりませんでした。"
                              "ポリシーに反する内容がないか、承認者が目で確かめてください。")
        except _Died as exc:
            self._discard(worker, str(exc))
            log.error("check worker died", extra={"lane": lane, "reason": str(exc)})
            return unfinished(inp, "check.failed", FAILED)
        except BaseException:  # cancelled while the worker works: its answer would reach the next caller
            self._discard(worker, "abandoned")
            raise
        finally:
            metrics.CHECK_SECONDS.labels(lane).observe(time.perf_counter() - started)
        self._release(worker)
        if status != "ok":
            log.error("check raised in its worker", extra={"lane": lane, "error": value})
            return unfinished(inp, "check.failed", FAILED)
        result: CheckResult = value
        return result

    async def _acquire(self, lane: str) -> _Worker | None:
        """An idle worker of the lane; an emergency takes an idle routine worker rather than wait.

        An emergency waits for its worker at most `emergency_wait_s` (a replacement starts in about
        0.2 s) and then gets None; a routine message that waits `queue_s` is refused with Busy.
        (`asyncio.timeout`, not `wait_for`: a worker taken from the queue just as the wait is
        cancelled would be lost with wait_for on Python 3.11.)"""
        own = self._idle[lane]
        if lane == EMERGENCY and own.empty() and not self._idle[ROUTINE].empty():
            return self._idle[ROUTINE].get_nowait()
        try:
            async with asyncio.timeout(self.emergency_wait_s if lane == EMERGENCY else self.queue_s):
                return await own.get()
        except TimeoutError:
            if lane == EMERGENCY:
                return None
            raise Busy("確認処理が混み合っています。しばらくしてから送り直してください",
                       retry_after_s=max(1, round(self.budget_s))) from None

    def _release(self, worker: _Worker) -> None:
        if worker in self._live:
            self._idle[worker.lane].put_nowait(worker)

    def _discard(self, worker: _Worker, reason: str) -> None:
        log.info("check worker replaced", extra={"lane": worker.lane, "reason": reason, "checks": worker.checks})
        self._live.discard(worker)
        worker.kill()
        metrics.CHECK_WORKERS.labels(worker.lane).set(sum(1 for w in self._live if w.lane == worker.lane))
        metrics.CHECK_WORKER_RESTARTS.labels(worker.lane).inc()
        asyncio.get_running_loop().run_in_executor(None, worker.process.join, 5)  # reap it
        if not self._closed:
            self._replace(worker.lane)

    def _replace(self, lane: str) -> asyncio.Future[None]:
        """Start a worker for `lane` in the background; the future is done after its first try."""
        first_try: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._spawn_until_ready(lane, first_try), name=f"check-worker-{lane}")
        self._spawning.add(task)
        task.add_done_callback(self._spawning.discard)
        return first_try

    async def _spawn_until_ready(self, lane: str, first_try: asyncio.Future[None]) -> None:
        backoff = 0.5
        while not self._closed:
            try:
                worker = await self._spawn(lane)
            except Exception as exc:  # fork refused, worker crashed at start: keep trying, say so
                self._failures[lane] = f"{type(exc).__name__}: {exc}"[:200]
                log.exception("check worker did not start", extra={"lane": lane})
                if not first_try.done():
                    first_try.set_result(None)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RESPAWN_BACKOFF_MAX_S)
                continue
            self._failures.pop(lane, None)
            self._live.add(worker)
            metrics.CHECK_WORKERS.labels(lane).set(sum(1 for w in self._live if w.lane == lane))
            self._idle[lane].put_nowait(worker)
            if not first_try.done():
                first_try.set_result(None)
            return

    async def _spawn(self, lane: str) -> _Worker:
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(target=_serve, args=(child, *self._engine_args), daemon=True,
                                        name=f"gateway-check-{lane}")
        await asyncio.to_thread(process.start)
        child.close()
        worker = _Worker(lane, process, parent)
        try:
            ready = await worker.receive(START_TIMEOUT_S)
        except BaseException:
            worker.kill()
            await asyncio.to_thread(process.join, 5)
            raise
        if ready != b"ready":  # the reason it could not build the engine
            worker.kill()
            await asyncio.to_thread(process.join, 5)
            raise RuntimeError(ready.decode("utf-8", "replace"))
        return worker
