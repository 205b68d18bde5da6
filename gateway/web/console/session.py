"""Console sessions: a signed cookie (HMAC-SHA256) carrying user, expiry, the CSRF token and the
user's session epoch.

Every request re-reads the user, whose row holds the only server-side state: its session epoch.
Sign-out, a new password and disabling the user move the epoch on, which ends every cookie issued
before, copies included (a cookie alone cannot be withdrawn from a browser that kept it). The cookie
also carries a fingerprint of the password hash, so that a password set outside the store's
`set_password` still ends older sessions. Several processes share sessions through the secret and
the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from gateway.private_files import load_or_create_secret
from gateway.settings import Settings

COOKIE = "kgw_session"
LIFETIME_S = 8 * 3600  # one working day


@dataclass(frozen=True)
class Session:
    user: str
    expires: float
    csrf: str
    fingerprint: str
    epoch: int


def fingerprint(password_hash: str | None) -> str:
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


class SessionCodec:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("session secret must be at least 32 bytes")
        self._secret = secret

    def issue(self, user: str, password_hash: str | None, epoch: int, now: float) -> Session:
        return Session(user=user, expires=now + LIFETIME_S, csrf=secrets.token_urlsafe(24),
                       fingerprint=fingerprint(password_hash), epoch=epoch)

    def encode(self, session: Session) -> str:
        payload = json.dumps({"u": session.user, "e": session.expires, "c": session.csrf,
                              "f": session.fingerprint, "g": session.epoch}, separators=(",", ":")).encode()
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return f"{body}.{self._sign(body)}"

    def decode(self, value: str, now: float) -> Session | None:
        body, _, signature = value.partition(".")
        if not body or not body.isascii() or not same_token(self._sign(body), signature):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            session = Session(user=str(data["u"]), expires=float(data["e"]), csrf=str(data["c"]),
                              fingerprint=str(data["f"]), epoch=int(data["g"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > now else None

    def _sign(self, body: str) -> str:
        return hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()


def csrf_ok(session: Session, presented: str | None) -> bool:
    return same_token(session.csrf, presented)


def same_token(expected: str, presented: str | None) -> bool:
    """Constant-time equality of two non-empty ASCII tokens (`compare_digest` raises on other text)."""
    if not expected or not presented or not (expected.isascii() and presented.isascii()):
        return False
    return hmac.compare_digest(expected, presented)


def console_secret(settings: Settings) -> bytes:
    if settings.session_secret is not None:
        return hashlib.sha256(settings.session_secret.get_secret_value().encode()).digest()
    return load_or_create_secret(settings.var_dir / "session.key")
