"""Structured JSON logs, configured once; ids travel in `extra={...}`; no credential reaches a record.

Secrets are masked where records are made (a log record factory), so every handler sees masked
text, ours and any other: OAuth parameters and signatures, bearer tokens, Authorization headers,
`access_token=`-style parameters in every spelling a library prints (query string, percent-encoded
signature base string, JSON, a repr of tuples), passwords in URLs, and every credential value the
gateway has loaded (the credential sources register them). Extra fields and tracebacks are masked
by `RedactingFilter` on the handler. Besides, the libraries that dump signed requests at DEBUG
(the platform SDKs, urllib3 ...) are held at WARNING whatever the root level.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from gateway.errors import StoreError
from gateway.models import PLATFORM_SPECS

_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
_SECRET_HINTS = ("token", "secret", "password", "authorization", "key")
MASK = "***"

# Loggers of libraries that print requests with their credentials (signed headers, OAuth parameters,
# tokens in URLs) at DEBUG or INFO: the HTTP clients, and each platform's SDK as its spec names them.
CHATTY = ("urllib3", "requests", "aiohttp.client",
          *dict.fromkeys(name for declared in PLATFORM_SPECS.values() for name in declared.sdk_loggers))
_QUIET = ("aiohttp.access", "sqlalchemy", "alembic", "googleapiclient.discovery_cache", *CHATTY)

_PARAMETERS = (
    "oauth_signature", "oauth_token_secret", "oauth_token", "oauth_consumer_key", "oauth_verifier",
    "access_token_secret", "channel_access_token", "page_access_token", "access_token", "refresh_token",
    "id_token", "bearer_token", "client_secret", "consumer_secret", "consumer_key", "channel_secret",
    "app_secret", "api_key", "password", "session_secret", "alert_hmac_secret", "credentials_key",
    "media_links_secret",
)
# name, then = : %3D or the ", " of a repr'd pair (with any quotes), then the value up to a delimiter;
# a value may hold percent escapes, except %26 (an encoded & that starts the next parameter).
_PARAMETER = re.compile(
    r"(?<![A-Za-z])(" + "|".join(_PARAMETERS) + r")(?![A-Za-z0-9_])"
    r"(\\?[\"']?\s*(?:=|:|,|%3[Dd]|%253[Dd])\s*\\?[\"']?)"
    r"((?:%(?!26)[0-9A-Fa-f]{2}|[^\s\"'\\&,;)\]}%<>])+)",
    re.IGNORECASE,
)
_AUTHORIZATION = re.compile(r"(authorization\\?[\"']?\s*[:=]\s*\\?[\"']?)[^\"'\\\r\n]+", re.IGNORECASE)
_SIGNATURE = re.compile(r"(\bsignature:\s*)[A-Za-z0-9%+/=_\-]{8,}", re.IGNORECASE)  # oauthlib: "Signature: ..."
_BEARER = re.compile(r"(\bbearer\s+)[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(://[^/\s:@]+:)[^@\s/]+(@)")
# Runs of the characters tokens are made of, each starting at a delimiter or after a %XX escape.
_RUN = re.compile(r"(?:(?<=%[0-9A-Fa-f]{2})|(?<![A-Za-z0-9_\-.~+/%]))[A-Za-z0-9_\-.~+/]{8,}=*")
MIN_KNOWN = 8  # shorter values would mask ordinary words
_known: set[str] = set()


def register_secrets(values: Iterable[str]) -> None:
    """Mask these values (credentials loaded by the gateway) wherever they appear in a log record."""
    _known.update(v for v in values if len(v) >= MIN_KNOWN)


def redact(text: str) -> str:
    """`text` with every secret-shaped part and every registered secret replaced by ***."""
    text = _PARAMETER.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    text = _AUTHORIZATION.sub(lambda m: m.group(1) + MASK, text)
    text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
    text = _SIGNATURE.sub(lambda m: m.group(1) + MASK, text)
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(2), text)
    return _RUN.sub(_known_run, text) if _known else text


def _known_run(match: re.Match[str]) -> str:
    run = match.group()
    word = run.rstrip(".")  # a sentence's full stop is not part of the value
    return MASK + run[len(word):] if word in _known or run in _known else run


def redact_record(record: logging.LogRecord) -> None:
    """Mask the record's message (with its arguments) and traceback in place, once."""
    if getattr(record, "_redacted", False):
        return
    record._redacted = True
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it later, with msg and args
        message = f"{record.msg!r} {record.args!r}"
    masked = redact(message)
    if masked != message:
        record.msg, record.args = masked, None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message, traceback and string extra fields; lets every record through."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact(value))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_"):
                continue
            # Ids and states only: anything named like a secret is never written.
            out[key] = MASK if any(h in key.lower() for h in _SECRET_HINTS) and key != "idempotency" else value
        if record.exc_info or record.exc_text:
            out["exc"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(out, ensure_ascii=False, default=str)


def _install_record_factory() -> None:
    """Mask every record as it is made, whoever handles it (idempotent)."""
    current = logging.getLogRecordFactory()
    if getattr(current, "gateway_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        redact_record(record)
        return record

    factory.gateway_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    _install_record_factory()
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in _QUIET:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log_failure(logger: logging.Logger, message: str, exc: BaseException, **extra: object) -> None:
    """Log a caught failure: the database being down or full is an operational fault, logged as
    one line with its code; anything else is a bug and keeps its traceback."""
    if isinstance(exc, StoreError):
        logger.error("%s: %s (%s)", message, exc.code, exc.message, extra=extra)
    else:
        logger.error(message, exc_info=exc, extra=extra)
