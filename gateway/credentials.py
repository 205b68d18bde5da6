"""Per-account platform credentials: where adapters get them, never where logs see them.

Implementations: `StaticCredentials` (sandbox and tests) and the encrypted file store
(`gateway credentials set/list`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from pydantic import SecretStr

from gateway.errors import AuthError

AccountCredentials = Mapping[str, SecretStr]


class CredentialSource(Protocol):
    def get(self, account_id: str) -> AccountCredentials:
        """The account's credentials; raises AuthError when there are none."""
        ...


class StaticCredentials:
    """Credentials held in memory (sandbox, tests)."""

    def __init__(self, by_account: Mapping[str, Mapping[str, str]]) -> None:
        self._by_account = {
            account: {k: SecretStr(v) for k, v in fields.items()} for account, fields in by_account.items()
        }

    def get(self, account_id: str) -> AccountCredentials:
        try:
            return self._by_account[account_id]
        except KeyError:
            raise AuthError(f"{account_id}: 認証情報が登録されていません", code="no_credentials") from None


def mask(value: str) -> str:
    """Show just enough of a secret to tell two apart: `abcd…(32)`."""
    if len(value) <= 8:
        return "…" + f"({len(value)})"
    return f"{value[:4]}…({len(value)})"
