"""Login throttling: failures count per (user name, client address), with a higher cap per address.

Five wrong passwords for one user from one address lock that user out from that address for 15
minutes; thirty failures from one address, whatever the names, lock the address (a city office
signs in from one address, so one person's typos must not lock out the others). An attempt is
counted before its password is checked, so concurrent guesses cannot pass the limit; a right
password uncounts only its own user's failures from that address. The counts live in the database
(`store/logins.py`): every replica shares them and `gateway user unlock` clears them.
"""

from __future__ import annotations

import hashlib

from gateway.models import storable_text_problem
from gateway.store.base import UserDirectory
from gateway.store.records import LoginAttempt, LoginLimits

MAX_NAME = 128  # users.name
MAX_ADDRESS = 64


class LoginThrottle:
    def __init__(self, limits: LoginLimits | None = None) -> None:
        self.limits = limits or LoginLimits()

    async def reserve(self, store: UserDirectory, user: str, address: str | None) -> LoginAttempt:
        """Count the attempt as failed now, or refuse it (then check no password)."""
        return await store.reserve_login(user_key(user), address_key(address), self.limits)

    async def succeeded(self, store: UserDirectory, attempt: LoginAttempt, user: str, address: str | None) -> None:
        await store.login_succeeded(attempt, user_key(user), address_key(address))


def user_key(user: str) -> str:
    """The name as stored; one no user could have (too long, control characters) by its digest."""
    if len(user) <= MAX_NAME and storable_text_problem(user) is None:
        return user
    return "#" + hashlib.sha256(user.encode("utf-8", "surrogatepass")).hexdigest()


def address_key(address: str | None) -> str:
    return (address or "-")[:MAX_ADDRESS]
