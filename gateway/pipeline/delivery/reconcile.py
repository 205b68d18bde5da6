"""Reconcile: settle deliveries whose outcome is unknown before anything is sent again.

- A `sending` delivery whose worker stopped beating (killed, crashed: `workers` table, within
  seconds) or whose lease expired (the last resort) belonged to a worker that died. If the platform
  has an idempotency key (LINE), resending with the same key is safe, so it goes back to the queue;
  otherwise it becomes `uncertain`.
- An `uncertain` delivery is looked for on the account's recent timeline (exact text, time window).
  Found: `sent` with the platform's id. Not found after the settle time (shorter for emergencies):
  queued again. The timeline cannot be read: it stays `uncertain` and is tried on the next round.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway.adapters.base import Adapter
from gateway.errors import Conflict, PublishError
from gateway.models import Delivery, DeliveryState, Post, Priority, RemotePost
from gateway.pipeline.delivery.progress import ledger_progress
from gateway.pipeline.intake.languages import message_in
from gateway.policy import Policies
from gateway.store.base import Store

log = logging.getLogger("gateway.reconcile")

LOOKBACK = timedelta(minutes=10)


@dataclass
class Reconciler:
    store: Store
    policies: Policies
    adapters: Mapping[Any, Adapter]
    settle_seconds: float = 30.0
    actor: str = "reconciler"
    emergency_settle_seconds: float = 5.0
    worker_stale_seconds: float = 10.0

    async def run_once(self, now: datetime) -> int:
        """One round over orphaned and expired leases and uncertain deliveries; returns how many changed."""
        changed = 0
        orphaned = await self.store.orphaned_leases(now - timedelta(seconds=self.worker_stale_seconds))
        expired = await self.store.expired_leases(now)
        for delivery in {d.id: d for d in (*orphaned, *expired)}.values():
            changed += await self._expired(delivery, now)
        uncertain = await self.store.list_deliveries(states=[DeliveryState.UNCERTAIN], limit=200)
        for delivery in uncertain:
            changed += await self._uncertain(delivery, now)
        return changed

    async def _expired(self, delivery: Delivery, now: datetime) -> int:
        if delivery.platform.spec.deduplicates:
            new, why = DeliveryState.RETRY_WAIT, "担当ワーカーが停止したため再送（再送キーにより二重送信なし）"
            fields: dict[str, Any] = {"retry_at": now}
        else:
            new, why = DeliveryState.UNCERTAIN, "担当ワーカーが停止したため送信済みか確認します"
            fields = {}
        return await self._move(delivery, (DeliveryState.SENDING,), new, why,
                                {"lease_owner": None, "lease_expires": None, **fields})

    async def _uncertain(self, delivery: Delivery, now: datetime) -> int:
        found = self.policies.account(delivery.account)
        adapter = self.adapters.get(delivery.platform)
        if found is None or adapter is None:
            return 0
        if delivery.platform.spec.deduplicates:
            return await self._move(delivery, (DeliveryState.UNCERTAIN,), DeliveryState.RETRY_WAIT,
                                    "再送キーで再送します", {"retry_at": now})
        account = found[1]
        message = message_in((await self.store.get_message(delivery.message_id)).body, account, delivery.language)
        post = adapter.render(message, account)
        try:
            recent = await adapter.recent(account, delivery.updated_at - LOOKBACK)
        except PublishError as exc:
            log.warning("recent() failed; delivery stays uncertain: %s", exc.code,
                        extra={"delivery_id": delivery.id, "account": delivery.account})
            return 0
        if len(post.parts) > 1:
            settled = await self._uncertain_thread(delivery, post, recent, now)
            if settled is not None:
                return settled
        match = _find(recent, post.text)
        if match is not None:
            fields = {"remote_id": match.remote_id, "remote_url": match.url, "sent_at": match.created_at or now,
                      "error_code": None, "error_text": None}
            return await self._move(delivery, (DeliveryState.UNCERTAIN,), DeliveryState.SENT,
                                    "投稿が確認できたため送信済みとしました", fields)
        settle = self.emergency_settle_seconds if delivery.priority is Priority.EMERGENCY else self.settle_seconds
        if (now - delivery.updated_at).total_seconds() < settle:
            return 0
        return await self._move(delivery, (DeliveryState.UNCERTAIN,), DeliveryState.RETRY_WAIT,
                                "投稿が見つからないため再送します", {"retry_at": now})

    async def _uncertain_thread(
        self, delivery: Delivery, post: Post, recent: list[RemotePost], now: datetime,
    ) -> int | None:
        """A thread cut short: the parts the ledger knows are out, plus the one in flight if the
        timeline shows it. All out: sent. Some out: the rest is sent, after them. None: as a post."""
        progress = await ledger_progress(self.store, delivery, self.actor)
        done = list(progress.done)
        if len(done) < len(post.parts) and post.parts[len(done)].text:
            match = _find(recent, post.parts[len(done)].text)
            if match is not None:
                await progress.record(len(done), match.remote_id)
                done.append(match.remote_id)
        if len(done) == len(post.parts):
            fields = {"remote_id": done[0], "sent_at": now, "error_code": None, "error_text": None}
            return await self._move(delivery, (DeliveryState.UNCERTAIN,), DeliveryState.SENT,
                                    "スレッドのすべての投稿が確認できたため送信済みとしました", fields,
                                    {"extra_ids": done[1:]})
        if done:
            return await self._move(delivery, (DeliveryState.UNCERTAIN,), DeliveryState.RETRY_WAIT,
                                    f"スレッドの続き（{len(done) + 1}件目から）を送信します", {"retry_at": now})
        return None

    async def _move(
        self, delivery: Delivery, expected: tuple[DeliveryState, ...], new: DeliveryState, reason: str,
        fields: Mapping[str, Any], detail: Mapping[str, Any] | None = None,
    ) -> int:
        try:
            await self.store.transition_delivery(delivery.id, expected=expected, new=new, actor=self.actor,
                                                 reason=reason, fields=fields, detail=detail)
        except Conflict:
            return 0  # someone else settled it first
        log.info("reconciled to %s", new.value, extra={"delivery_id": delivery.id, "account": delivery.account})
        return 1


def _find(recent: list[RemotePost], expected: str) -> RemotePost | None:
    wanted = _normal(expected)
    return next((post for post in recent if _normal(post.text) == wanted), None)


def _normal(text: str) -> str:
    return " ".join(text.split())
