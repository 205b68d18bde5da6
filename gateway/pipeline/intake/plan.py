"""Plan: one Delivery per target account and post language (`languages.py`: LINE sends an account's
languages in one broadcast, other platforms one post each), with `not_before` from the office-hours window."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import datetime, timedelta

from gateway.hours import describe, next_open
from gateway.models import DeliveryState, Message, Platform, Priority
from gateway.pipeline.intake.languages import language_posts, missing_reason
from gateway.policy import Account, Municipality
from gateway.store.records import NewDelivery

# Intake refuses a not_before further ahead than a year; a stored one from before that rule (or
# edited in) is held until then rather than making the message unplannable.
_HORIZON = timedelta(days=366)


def plan_deliveries(
    message: Message, municipality: Municipality, accounts: Collection[Account], *,
    now: datetime, platforms: Collection[Platform],
) -> list[NewDelivery]:
    """The deliveries of an approved message; emergencies ignore office hours. An account whose languages
    the message does not carry gets one skipped delivery that says so."""
    planned = []
    for account in accounts:
        posts = language_posts(message, account)
        if not posts:
            planned.append(NewDelivery(account.id, account.platform, DeliveryState.SKIPPED, None,
                                       reason=missing_reason(message, account), language=account.languages[0]))
        for post in posts:
            one = _plan_one(message, municipality, account, now=now, platforms=platforms)
            planned.append(replace(one, language=post.language))
    return planned


def _plan_one(
    message: Message, municipality: Municipality, account: Account, *, now: datetime,
    platforms: Collection[Platform],
) -> NewDelivery:
    if account.platform not in platforms:
        return NewDelivery(account.id, account.platform, DeliveryState.SKIPPED, None,
                           reason=f"{account.platform.value} への送信機能はまだありません")
    earliest = min(max(message.not_before or now, now), now + _HORIZON)
    if message.priority is Priority.EMERGENCY:
        return NewDelivery(account.id, account.platform, DeliveryState.QUEUED, earliest, reason="緊急情報")
    not_before = next_open(earliest, municipality.hours)
    if account.stopped:
        # No not_before: a stopped account's deliveries stay held until an operator resumes it.
        return NewDelivery(account.id, account.platform, DeliveryState.HELD, None,
                           reason="アカウント停止中のため保留")
    if not_before > now:
        hours = describe(municipality.hours)
        why = "指定日時まで保留" if not_before == earliest else f"勤務時間外のため保留（{hours}）"
        return NewDelivery(account.id, account.platform, DeliveryState.HELD, not_before, reason=why)
    return NewDelivery(account.id, account.platform, DeliveryState.QUEUED, not_before)
