"""The gateway's error tree.

```
GatewayError
  PublishError
    RetryableError (retry_after)      5xx, timeouts before the request was sent, 429
      RateLimited                     the account pauses until `retry_after`
    UncertainError                    timeout after sending: may have been published
    PermanentError                    4xx content rejected, duplicate
      AuthError                       token invalid/expired: a person must act
  PolicyViolation                     a check blocked the message
  InputError                          bad message / alert / config, with a clear reason
    TooLarge                          an upload or body over its limit (HTTP 413)
    NotFound                          an id that does not exist
    Conflict                          a state change that is not allowed now
  Forbidden                           the caller's role may not do this
  StoreError
```

Adapters and the store translate library errors into this tree at their boundary
(`raise ... from exc`); nothing above them catches aiohttp, the platform SDKs'
or SQLAlchemy errors. Retry decisions read the type, never the message text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.models import Finding


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class PublishError(GatewayError):
    code = "publish_error"


class RetryableError(PublishError):
    code = "retryable"

    def __init__(self, message: str, *, retry_after: datetime | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class RateLimited(RetryableError):
    code = "rate_limited"


class UncertainError(PublishError):
    code = "uncertain"


class PermanentError(PublishError):
    code = "permanent"


class AuthError(PermanentError):
    code = "auth"


class PolicyViolation(GatewayError):
    code = "policy_violation"

    def __init__(self, message: str, findings: Sequence[Finding]) -> None:
        super().__init__(message)
        self.findings = tuple(findings)


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with an input: where (field path or line), a machine code and a Japanese reason."""

    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


class InputError(GatewayError):
    code = "invalid_input"

    def __init__(
        self, message: str, problems: Sequence[FieldProblem] = (), *, code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.problems = tuple(problems)


class TooLarge(InputError):
    code = "too_large"


class NotFound(InputError):
    code = "not_found"


class Conflict(InputError):
    code = "conflict"


class Forbidden(GatewayError):
    code = "forbidden"


class StoreError(GatewayError):
    """The database failed (503; retry later)."""

    code = "store_error"
    retry_after_s = 5


class StorageFull(StoreError):
    """The database's disk is full: nothing was written; retry once an administrator has freed space."""

    code = "storage_full"
    retry_after_s = 30


class Busy(GatewayError):
    """Too much work queued (no check worker came free in time): retry later (503 with Retry-After)."""

    code = "busy"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
