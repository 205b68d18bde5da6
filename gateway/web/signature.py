"""HMAC-SHA256 signatures on pushed alerts, with a replay window.

Header: `X-Koho-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`.
A signature older or newer than the window is refused, and so is one already seen inside it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections import OrderedDict

from gateway.errors import GatewayError
from gateway.models import ascii_digits

HEADER = "X-Koho-Signature"
MAX_HEADER_CHARS = 200  # "t=" + 10 digits + ",v1=" + 64 hex digits, with room
_DIGEST = re.compile(r"[0-9a-f]{64}")


class SignatureError(GatewayError):
    code = "bad_signature"


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class SignatureVerifier:
    def __init__(self, secret: bytes, window_s: int = 300) -> None:
        self._secret = secret
        self._window_s = window_s
        self._seen: OrderedDict[str, float] = OrderedDict()

    def verify(self, header: str | None, body: bytes, *, now: float | None = None) -> None:
        now = time.time() if now is None else now
        if not header:
            raise SignatureError(f"署名がありません（{HEADER} ヘッダーが必要です）")
        timestamp, digest = _fields(header)
        if abs(now - int(timestamp)) > self._window_s:
            raise SignatureError(f"署名の時刻が許容範囲（±{self._window_s}秒）の外です")
        expected = sign(self._secret, body, int(timestamp)).split("v1=", 1)[1]
        if not hmac.compare_digest(expected, digest):
            raise SignatureError("署名が一致しません")
        self._remember(digest, now)

    def _remember(self, digest: str, now: float) -> None:
        while self._seen and next(iter(self._seen.values())) < now - self._window_s:
            self._seen.popitem(last=False)
        if digest in self._seen:
            raise SignatureError("同じ署名の要求が再送されました（リプレイ）")
        self._seen[digest] = now


def _fields(header: str) -> tuple[str, str]:
    """(t, v1) of a well-formed header: a time of at most 12 digits and 64 lower-case hex digits.

    Anything else is refused before `int` (which fails beyond 4,300 digits) or `compare_digest`
    (which fails on non-ASCII text, and a header that was not UTF-8 arrives as lone surrogates).
    """
    parts = dict(item.split("=", 1) for item in header[:MAX_HEADER_CHARS].split(",") if "=" in item)
    timestamp, digest = parts.get("t", ""), parts.get("v1", "")
    if len(header) > MAX_HEADER_CHARS or not (ascii_digits(timestamp) and len(timestamp) <= 12
                                               and _DIGEST.fullmatch(digest)):
        raise SignatureError(f"{HEADER} の形式が正しくありません（t=...,v1=...）")
    return timestamp, digest
