"""Per-account platform credentials: where adapters get them, never where logs see them.

Implementations: `StaticCredentials` (sandbox and tests) and the encrypted file store
(`gateway credentials set/list`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from gateway.errors import AuthError, FieldProblem, InputError
from gateway.logs import register_secrets
from gateway.models import Platform
from gateway.private_files import PRIVATE_FILE, make_private_dir, tighten

if TYPE_CHECKING:
    from gateway.settings import Settings

AccountCredentials = Mapping[str, SecretStr]


def _masked_in_logs(fields: Mapping[str, str]) -> None:
    """Have the logs mask these values wherever they appear (ids are not secrets, and stay readable)."""
    register_secrets(value for name, value in fields.items() if not name.endswith("_id"))


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
        for fields in by_account.values():
            _masked_in_logs(fields)

    def get(self, account_id: str) -> AccountCredentials:
        try:
            return self._by_account[account_id]
        except KeyError:
            raise AuthError(f"{account_id}: 認証情報が登録されていません", code="no_credentials") from None


class EnvironmentCredentials:
    """Credentials given through settings (GATEWAY_ACCOUNT_CREDENTIALS__<ACCOUNT>__<FIELD>)."""

    def __init__(self, by_account: Mapping[str, Mapping[str, SecretStr]]) -> None:
        self._by_account = {account.lower(): dict(fields) for account, fields in by_account.items()}
        for fields in by_account.values():
            _masked_in_logs({k: v.get_secret_value() for k, v in fields.items()})

    def __repr__(self) -> str:
        return f"EnvironmentCredentials(accounts={sorted(self._by_account)})"

    def get(self, account_id: str) -> AccountCredentials:
        try:
            return self._by_account[account_id]
        except KeyError:
            raise AuthError(f"{account_id}: 認証情報が登録されていません", code="no_credentials") from None

    def accounts(self) -> list[str]:
        return sorted(self._by_account)


class ChainedCredentials:
    """The first source that has the account's credentials wins."""

    def __init__(self, *sources: CredentialSource) -> None:
        self._sources = sources

    def get(self, account_id: str) -> AccountCredentials:
        for source in self._sources[:-1]:
            try:
                return source.get(account_id)
            except AuthError:
                continue
        return self._sources[-1].get(account_id)


def mask(value: str) -> str:
    """Show just enough of a secret to tell two apart: `abcd…(32)`."""
    if len(value) <= 8:
        return "…" + f"({len(value)})"
    return f"{value[:4]}…({len(value)})"


# --- Required fields per platform: what each declares (models.PLATFORM_SPECS) ----------------------------

def required_fields(platform: Platform | str) -> tuple[tuple[str, ...], ...]:
    """The alternative complete field sets for `platform`."""
    return _platform(platform).spec.credential_fields


def validate_fields(platform: Platform | str, fields: Mapping[str, object]) -> None:
    """Raise InputError naming the missing (or empty, or non-text) fields of the closest field set."""
    bad_type = sorted(name for name, value in fields.items() if not isinstance(value, str))
    if bad_type:
        problems = [FieldProblem(name, "not_text", "文字列で指定してください") for name in bad_type]
        raise InputError(f"認証情報の値は文字列にしてください: {', '.join(bad_type)}", problems,
                         code="credentials_invalid")
    present = {name for name, value in fields.items() if isinstance(value, str) and value.strip()}
    options = required_fields(platform)
    gaps = [[name for name in option if name not in present] for option in options]
    if any(not gap for gap in gaps):
        return
    missing = min(gaps, key=len)
    alternatives = " / ".join("・".join(option) for option in options)
    problems = [FieldProblem(name, "missing", "必須の項目です") for name in missing]
    raise InputError(
        f"{_platform(platform).spec.label} の認証情報に必要な項目がありません: {', '.join(missing)}"
        f"（必要な組み合わせ: {alternatives}）",
        problems, code="credentials_missing_fields",
    )


def platform_of(account_id: str) -> Platform:
    """An account id ends with its platform (`kodaira_mayor_x` → x)."""
    try:
        return Platform(account_id.rsplit("_", 1)[-1])
    except ValueError:
        raise InputError(f"{account_id}: アカウントIDの末尾がプラットフォーム名ではありません",
                         code="credentials_bad_account") from None


def _platform(platform: Platform | str) -> Platform:
    try:
        return Platform(platform)
    except ValueError:
        raise InputError(f"不明なプラットフォームです: {platform}", code="credentials_bad_platform") from None


# --- Keys ---------------------------------------------------------------------------------------------

_NO_KEY = (
    "認証情報の暗号鍵が設定されていません。GATEWAY_CREDENTIALS_KEY（Fernet鍵、複数はカンマ区切り）"
    "または GATEWAY_CREDENTIALS_KEY_FILE を設定してください。鍵は `python -c \"from gateway.credentials "
    "import new_key; print(new_key())\"` で作れます。"
)


def new_key() -> str:
    """A fresh Fernet key (URL-safe base64 of 32 random bytes)."""
    return Fernet.generate_key().decode("ascii")


def keys_from(settings: Settings) -> MultiFernet:
    """The key list from settings: `credentials_key` (SecretStr) or else `credentials_key_file`."""
    raw = settings.credentials_key.get_secret_value() if settings.credentials_key is not None else ""
    if not raw.strip() and settings.credentials_key_file is not None:
        raw = _read_key_file(settings.credentials_key_file)
    if not raw.strip():
        raise InputError(_NO_KEY, code="credentials_no_key")
    return parse_keys(raw)


def parse_keys(raw: str) -> MultiFernet:
    """Comma/whitespace-separated Fernet keys; the first encrypts, every one decrypts."""
    fernets: list[Fernet] = []
    for index, part in enumerate((p for p in re.split(r"[,\s]+", raw) if p), start=1):
        try:
            fernets.append(Fernet(part))
        except (ValueError, TypeError):
            # `from None`: the cause could echo key material.
            raise InputError(f"暗号鍵の{index}番目が Fernet 鍵として不正です（32バイトの URL-safe base64）",
                             code="credentials_bad_key") from None
    if not fernets:
        raise InputError(_NO_KEY, code="credentials_no_key")
    return MultiFernet(fernets)


def _read_key_file(path: Path) -> str:
    try:
        tighten(path)
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: 暗号鍵ファイルを読めません（{type(exc).__name__}）",
                         code="credentials_no_key") from None


# --- The encrypted file ----------------------------------------------------------------------------------

_FORMAT_VERSION = 1
# How often a publish looks whether the file changed (a rotation by `gateway credentials set`).
RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class _Entry:
    platform: Platform
    fields: Mapping[str, SecretStr]
    set_at: datetime
    history: tuple[Mapping[str, object], ...]

    def to_json(self) -> dict[str, object]:
        return {
            "platform": self.platform.value,
            "fields": {k: v.get_secret_value() for k, v in self.fields.items()},
            "set_at": self.set_at.isoformat(),
            "history": [dict(h) for h in self.history],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _Entry:
        return cls(
            platform=Platform(data["platform"]),
            fields={str(k): SecretStr(str(v)) for k, v in dict(data["fields"]).items()},
            set_at=datetime.fromisoformat(data["set_at"]),
            history=tuple(dict(h) for h in data.get("history", ())),
        )


def _utcnow() -> datetime:
    return datetime.now(UTC)


class EncryptedCredentialFile:
    """Every account's credentials in one Fernet-encrypted JSON document.

    Key rotation without downtime: put a new key first in the key list (all keys decrypt, the first
    encrypts), call `rotate()`, then drop the old key. Each change is recorded per account with who,
    when, why and the changed field names — never the values.
    """

    def __init__(self, path: Path, keys: MultiFernet, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.path = Path(path)
        self._keys = keys
        self._clock = clock
        self._cache: tuple[tuple[int, int, int], dict[str, _Entry]] | None = None
        self._checked_at = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> EncryptedCredentialFile:
        return cls(settings.credentials_file, keys_from(settings))

    def __repr__(self) -> str:
        return f"EncryptedCredentialFile({str(self.path)!r})"

    def get(self, account_id: str) -> AccountCredentials:
        try:
            entries = self._current(max_age=RECHECK_SECONDS)
        except InputError as exc:
            # Adapters handle the publish error tree: an unreadable store is a person's job, like a bad token.
            raise AuthError(exc.message, code=exc.code) from None
        entry = entries.get(account_id)
        if entry is None:
            raise AuthError(f"{account_id}: 認証情報が登録されていません", code="no_credentials")
        return dict(entry.fields)

    def set(self, account_id: str, fields: Mapping[str, str], *, actor: str, reason: str) -> None:
        """Replace the account's credentials (validated for its platform) and record the change."""
        self.set_many({account_id: fields}, actor=actor, reason=reason)

    def set_many(self, by_account: Mapping[str, Mapping[str, str]], *, actor: str, reason: str) -> None:
        """`set` for many accounts in one rewrite of the file (provisioning many municipalities)."""
        _require_text(actor=actor, reason=reason)
        for account_id, fields in by_account.items():
            validate_fields(platform_of(account_id), fields)
        with self._locked():
            entries = self._load()
            now = self._clock()
            for account_id, fields in by_account.items():
                entries[account_id] = self._changed_entry(entries.get(account_id), account_id, fields, now,
                                                          actor=actor, reason=reason)
            self._save(entries)

    @staticmethod
    def _changed_entry(
        old: _Entry | None, account_id: str, fields: Mapping[str, str], now: datetime, *, actor: str, reason: str,
    ) -> _Entry:
        new_fields = {k: SecretStr(v) for k, v in fields.items()}
        changed = _changed_names(old.fields if old else {}, new_fields)
        record = {"at": now.isoformat(), "actor": actor, "reason": reason, "action": "set", "fields": changed}
        history = (*(old.history if old else ()), record)
        return _Entry(platform_of(account_id), new_fields, now, history)

    def delete(self, account_id: str, *, actor: str, reason: str) -> None:
        """Remove the account's credentials (e.g. after a hijack, before new ones are set)."""
        _require_text(actor=actor, reason=reason)
        with self._locked():
            entries = self._load()
            if entries.pop(account_id, None) is None:
                raise InputError(f"{account_id}: 認証情報が登録されていません", code="no_credentials")
            self._save(entries)

    def list_masked(self) -> list[dict[str, object]]:
        """One row per account: masked values, age and history length; safe to print."""
        now = self._clock()
        return [_masked_row(account_id, entry, now) for account_id, entry in sorted(self._current().items())]

    def history(self, account_id: str) -> list[dict[str, object]]:
        entry = self._current().get(account_id)
        return [dict(h) for h in entry.history] if entry else []

    def rotate(self) -> None:
        """Re-encrypt the file with the first key, so older keys can be retired."""
        with self._locked():
            if not self.path.exists():
                return
            try:
                token = self._keys.rotate(self.path.read_bytes())
            except InvalidToken:
                raise self._undecryptable() from None
            _write_atomic(self.path, token)
            self._cache = None

    # -- file I/O --

    def _load(self) -> dict[str, _Entry]:
        """A copy of the entries, for changing them."""
        return dict(self._current())

    def _current(self, *, max_age: float = 0.0) -> Mapping[str, _Entry]:
        """The entries as last read, read again when the file has changed (looked at no more often
        than every `max_age` seconds); not to be changed."""
        if self._cache is not None and time.monotonic() - self._checked_at < max_age:
            return self._cache[1]
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._cache = None
            return {}
        self._checked_at = time.monotonic()
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if self._cache is None or self._cache[0] != stamp:
            self._cache = (stamp, self._decrypt(self.path.read_bytes()))
        return self._cache[1]

    def _decrypt(self, token: bytes) -> dict[str, _Entry]:
        try:
            document = json.loads(self._keys.decrypt(token))
            if document.get("version") != _FORMAT_VERSION:
                raise ValueError("unknown version")
            entries = {str(k): _Entry.from_json(v) for k, v in document["accounts"].items()}
        except InvalidToken:
            raise self._undecryptable() from None
        except (ValueError, KeyError, TypeError, AttributeError):
            raise InputError(f"{self.path}: 認証情報ファイルの内容が壊れています",
                             code="credentials_corrupt") from None
        for entry in entries.values():
            _masked_in_logs({k: v.get_secret_value() for k, v in entry.fields.items()})
        return entries

    def _save(self, entries: Mapping[str, _Entry]) -> None:
        accounts = {k: e.to_json() for k, e in sorted(entries.items())}
        document = {"version": _FORMAT_VERSION, "accounts": accounts}
        _write_atomic(self.path, self._keys.encrypt(json.dumps(document, ensure_ascii=False).encode("utf-8")))
        self._cache = None

    def _undecryptable(self) -> InputError:
        return InputError(
            f"{self.path}: 認証情報ファイルを復号できません。暗号鍵が違うか、ファイルが壊れています"
            "（GATEWAY_CREDENTIALS_KEY に、このファイルを暗号化した鍵が含まれているか確認してください）",
            code="credentials_key_mismatch",
        )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise read-modify-write between processes (CLI and server) on this host."""
        make_private_dir(self.path.parent)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with os.fdopen(os.open(lock_path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE), "r+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _masked_row(account_id: str, entry: _Entry, now: datetime) -> dict[str, object]:
    return {
        "account": account_id,
        "platform": entry.platform.value,
        "fields": {k: mask(v.get_secret_value()) for k, v in sorted(entry.fields.items())},
        "field_names": sorted(entry.fields),
        "set_at": entry.set_at.isoformat(),
        "age_days": max(0, (now - entry.set_at).days),
        "history_length": len(entry.history),
    }


def _changed_names(old: Mapping[str, SecretStr], new: Mapping[str, SecretStr]) -> list[str]:
    names = set(old) | set(new)
    return sorted(n for n in names if n not in old or n not in new or old[n] != new[n])


def _require_text(**values: str) -> None:
    empty = [name for name, value in values.items() if not value or not value.strip()]
    if empty:
        problems = [FieldProblem(name, "required", "変更の記録に必要です") for name in empty]
        raise InputError(f"変更の記録に必要な項目が空です: {', '.join(empty)}", problems,
                         code="invalid_input")


def _write_atomic(path: Path, data: bytes) -> None:
    """Write to a 0600 temp file beside `path`, fsync, then rename over it: never a half-written file."""
    make_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
