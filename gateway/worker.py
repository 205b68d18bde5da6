"""The running process: start and stop the background work, housekeeping rounds, warm-up and heartbeats.

`Worker` runs what a `Gateway` (the message commands, `services/messages.py`) leaves to time: the
dispatcher's lanes, releasing held posts, planning what a crash left unplanned, reconciling uncertain
outcomes, the SQLite checkpoint and this process's heartbeat. Its `supervisor` restarts a failed loop and
reports it (/readyz).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import socket
import time
from datetime import datetime, timedelta

from gateway.background import Beat, Supervisor
from gateway.errors import GatewayError
from gateway.logs import log_failure
from gateway.models import Message, MessageState, Priority
from gateway.pipeline.delivery.reconcile import Reconciler
from gateway.policy import Policies
from gateway.services.messages import Gateway

log = logging.getLogger("gateway.service")

PLAN_GRACE = timedelta(seconds=5)
HEARTBEAT_SECONDS = 1.0
CHECKPOINT_SECONDS = 5.0


class Worker:
    def __init__(self, gateway: Gateway, *, reconciler: Reconciler, housekeeping_seconds: float = 1.0) -> None:
        self.gateway = gateway
        self.reconciler = reconciler
        self.housekeeping_seconds = housekeeping_seconds
        self.supervisor = Supervisor()
        self._next_checkpoint = 0.0
        self._started_at = gateway.clock()

    async def plan_pending(self, *, include_recent: bool = False) -> int:
        """Plan approved messages that have no deliveries yet (a crash between accept and plan).

        The periodic sweep leaves messages approved in the last few seconds to the request that is
        planning them; at start-up (`include_recent`) every one is taken. A message that cannot be
        planned is logged and counted and the others are planned all the same: no stored value may
        stop the sweep, or the start-up.
        """
        count = 0
        settled_before = self.gateway.clock() - (timedelta(0) if include_recent else PLAN_GRACE)
        for record in await self.gateway.store.list_messages(states=[MessageState.APPROVED], limit=500):
            if record.updated_at > settled_before:  # leave in-flight submissions to their own request
                continue
            try:
                await self.gateway.plan(record)
            except Exception as exc:  # one message must not block the others
                log_failure(log, "planning a stored message failed", exc, message_id=record.id)
                self.supervisor.failed("plan_pending", exc)
                continue
            count += 1
        return count

    async def housekeeping_once(self) -> list[str]:
        """One round of upkeep; each step runs even when another fails. Returns the failed steps."""
        now = self.gateway.clock()
        failed: list[str] = []
        for name, step in (("release_held", lambda: self._release_held(now)), ("plan_pending", self.plan_pending),
                           ("reconcile", lambda: self.reconciler.run_once(now)), ("checkpoint", self._checkpoint)):
            try:
                await step()
            except Exception as exc:  # the other steps must still run
                log_failure(log, "housekeeping step failed", exc, step=name)
                self.supervisor.failed("housekeeping", exc)
                failed.append(name)
        return failed

    async def _release_held(self, now: datetime) -> None:
        for delivery in await self.gateway.store.release_held(now):
            self.gateway.dispatcher.wake(delivery.priority)

    async def _checkpoint(self) -> None:
        if time.monotonic() >= self._next_checkpoint:
            self._next_checkpoint = time.monotonic() + CHECKPOINT_SECONDS
            await self.gateway.store.checkpoint()

    async def warm_up(self) -> None:
        """Pay first-use costs (statement compilation, dictionary loading) at start-up, not on the first alert."""
        await self.gateway.store.warm_up()
        _warm_alert_path(self.gateway.policies)
        for municipality in self.gateway.policies:
            account = next(iter(municipality.accounts_for("emergency")), None)
            if account is not None:
                probe = Message(municipality=municipality.id, accounts=(account.id,), category="emergency",
                                text="【避難指示】警戒レベル4 起動時の確認です。", priority=Priority.EMERGENCY)
                await self.gateway.check(probe, generated=True)
                await self.gateway.check(probe)  # a staff-written emergency post takes the linguistic layer too
                adapter = self.gateway.adapters.get(account.platform)
                if adapter is not None:
                    adapter.render(probe, account)
        for adapter in self.gateway.adapters.values():
            warm = getattr(adapter, "warm_up", None)  # optional: an SDK with costly first-call set-up
            if warm is not None:
                await warm()

    async def start(self) -> None:
        """Start the background work. Nothing stored can stop this: failures are logged, counted and
        shown in /readyz, and the loops that failed keep being retried."""
        try:
            await self.gateway.checks.start()
            await self.warm_up()
        except Exception as exc:  # a slower first alert is better than no gateway
            log.exception("warm-up failed")
            self.supervisor.failed("warm_up", exc)
        # Everything built so far (dictionaries, compiled statements, SDK models) lives as long as
        # the process: keep it out of the cyclic collector, whose full passes over it would
        # otherwise pause the event loop at random, alerts included.
        gc.freeze()
        try:
            await self.plan_pending(include_recent=True)
        except Exception as exc:  # the housekeeping loop tries again every round
            log_failure(log, "planning at start-up failed", exc)
            self.supervisor.failed("plan_pending", exc)
        self._started_at = self.gateway.clock()
        try:  # registered before the first claim, so a kill right after start is recovered too
            await self._beat()
        except GatewayError as exc:
            self.supervisor.failed("heartbeat", exc)
        self.supervisor.run("heartbeat", self._heartbeat_loop, every=HEARTBEAT_SECONDS)
        await self.gateway.dispatcher.start(self.supervisor)
        self.supervisor.run("housekeeping", self._housekeeping_loop, every=self.housekeeping_seconds)

    async def stop(self) -> None:
        await self.supervisor.stop()
        await self.gateway.dispatcher.stop()
        with contextlib.suppress(GatewayError):  # a stop without the database: the heartbeat goes stale
            await self.gateway.store.worker_stopped(self.gateway.dispatcher.worker_id)

    async def _heartbeat_loop(self, beat: Beat) -> None:
        """This process is alive: others settle its deliveries in flight only once it stops beating."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self._beat()
                beat()
            except GatewayError as exc:
                self.supervisor.failed("heartbeat", exc)

    async def _beat(self) -> None:
        await self.gateway.store.heartbeat(self.gateway.dispatcher.worker_id, host=socket.gethostname(),
                                           pid=os.getpid(), started_at=self._started_at)

    async def _housekeeping_loop(self, beat: Beat) -> None:
        while True:
            if not await self.housekeeping_once():
                beat()
            await asyncio.sleep(self.housekeeping_seconds)


def _warm_alert_path(policies: Policies) -> None:
    """Parse and plan one alert (never stored): the JSON and template code paths load now."""
    from gateway.alerts import parse_alert, plan_for

    cities = sorted((m for m in policies if m.alerts.area_codes),  # one with other languages first (issue 17)
                    key=lambda m: all(a.languages == ("ja",) for a in m.accounts))
    municipality = next(iter(cities), None)
    if municipality is None:
        return
    document = {"format": "koho-alert/1", "id": "warm-up", "revision": 1, "sender": "gateway",
                "sent": "2026-01-01T00:00:00+09:00", "kind": "evacuation", "headline": "起動時の確認",
                "areas": [{"code": municipality.alerts.area_codes[0], "name": municipality.name}],
                "details": {"evacuation_type": "避難指示"}}
    plan_for(parse_alert(json.dumps(document, ensure_ascii=False).encode()), municipality)
