"""Who hears of an event in a city: e-mail addresses (roles resolved through the file and the user
directory) and the webhooks that take it. Pure: the caller brings the users."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.models import Role
from gateway.policy_notifications import Notifications, is_email
from gateway.store.records import User


@dataclass(frozen=True)
class Destination:
    key: str  # stable: recorded in the outbox row once told (`kodaira:mail:a@b.jp`, `kodaira:webhook:koho`)
    kind: str  # "mail" or "webhook"
    target: str  # the address, or the webhook's id
    label: str  # what errors and logs may name (never a URL)


def destinations(city: str, config: Notifications, event: str, users: Iterable[User],
                 author: str | None) -> list[Destination]:
    """Every destination of `event` in `city`, in order, each once."""
    found: dict[str, Destination] = {}
    if config.smtp is not None:
        for address in mail_addresses(city, config, event, list(users), author):
            found.setdefault(f"{city}:mail:{address}", Destination(f"{city}:mail:{address}", "mail", address, address))
    for hook in config.webhooks:
        if event in hook.events:
            key = f"{city}:webhook:{hook.id}"
            found.setdefault(key, Destination(key, "webhook", hook.id, hook.id))
    return list(found.values())


def mail_addresses(city: str, config: Notifications, event: str, users: list[User], author: str | None) -> list[str]:
    addresses: list[str] = []
    for who in config.roles_for(event):
        if is_email(who):
            addresses.append(who)
        elif who == "author":
            addresses += [u.email for u in users if u.name == author and u.email and not u.disabled]
        else:
            addresses += config.recipients.get(who, ())
            if config.users:
                addresses += [u.email for u in users if _acts_for(u, who, city) and u.email]
    return list(dict.fromkeys(addresses))


def _acts_for(user: User, role: str, city: str) -> bool:
    return user.role is Role(role) and not user.disabled and user.scope.covers(city)
