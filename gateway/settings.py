"""Settings from `GATEWAY_*` environment variables and an optional TOML file, built once.

Nested keys use `__`: each platform's section is `GATEWAY_<PLATFORM>__<KEY>` (`GATEWAY_<PLATFORM>__BASE_URL`
for every platform of `Platform`), its keys declared by the platform's adapter (`settings_type`). The TOML
file (`GATEWAY_SETTINGS_FILE`, default `config/gateway.toml` when it exists) takes the same keys.
The CLI and the web app build one `Settings` and pass it down; no other module reads the
environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from gateway.errors import FieldProblem, InputError
from gateway.models import Platform

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/gateway.db"


def settings_error(exc: ValidationError, prefix: str = "GATEWAY_") -> InputError:
    """A settings value refused, naming the environment variable (or the same key in the file) and what is wrong."""
    problems = [FieldProblem(prefix + "__".join(str(part) for part in e["loc"]).upper(), e["type"], e["msg"])
                for e in exc.errors()]
    return InputError("設定値が正しくありません: " + ", ".join(p.field for p in problems), problems,
                      code="settings_invalid")


class PlatformSections(PydanticBaseSettingsSource):
    """`GATEWAY_<PLATFORM>__<KEY>` environment variables, one section per platform (`Platform`), its keys
    lower-cased: `GATEWAY_X__BASE_URL` → `{"x": {"base_url": ...}}`. Each platform's adapter declares its keys."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # the sections are not fields: __call__ gives them whole

    def __call__(self) -> dict[str, Any]:
        found: dict[str, dict[str, str]] = {}
        for platform in Platform:
            prefix = f"GATEWAY_{platform.value.upper()}__"
            section = {key[len(prefix):].lower(): value for key, value in os.environ.items()
                       if key.upper().startswith(prefix) and len(key) > len(prefix)}
            if section:
                found[platform.value] = section
        return found


class PlatformSettings(BaseModel):
    base_url: str
    timeout_s: float = Field(default=20.0, gt=0)

    def served_at(self, base_url: str) -> Self:
        """These settings with the API and every other endpoint URL (`*_url`: consent pages, token
        endpoints on their own hosts) moved onto `base_url`, keeping their paths: the sandbox."""
        moved = {name: base_url + urlsplit(value).path for name, value in self.model_dump().items()
                 if name.endswith("_url") and name != "base_url" and isinstance(value, str)}
        return self.model_copy(update={"base_url": base_url, **moved})


class OAuthClient(BaseModel):
    """The gateway's own app registration on a platform (connecting accounts from the console)."""

    client_id: str | None = None
    client_secret: SecretStr | None = None


class Settings(BaseSettings):
    # extra: each platform's section (`GATEWAY_<PLATFORM>__<KEY>`, or a `[<platform>]` table in the file) is
    # kept as it was given; its adapter declares and validates the keys (`platform_section`).
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_nested_delimiter="__", extra="allow")

    database_url: str = DEFAULT_DATABASE_URL
    # PostgreSQL connections per process (never more): processes x this < the server's max_connections.
    database_pool_size: int = Field(default=10, ge=1, le=500)
    config_dir: Path = Path("config/municipalities")
    var_dir: Path = Path("var")
    # Files sent to platforms live here and only here (uploads, and files an operator placed); unset: <var_dir>/media.
    media_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    platforms: Literal["sandbox", "live"] = "sandbox"
    sandbox_port: int = Field(default=0, ge=0, le=65535)  # 0: any free port (make run uses 8090)

    # Dispatch
    routine_workers: int = Field(default=4, ge=1)
    # Publishes in flight at once per lane; the emergency lane's are reserved for alerts.
    emergency_workers: int = Field(default=16, ge=1)
    lease_seconds: float = Field(default=120.0, gt=0, le=86400)
    poll_seconds: float = Field(default=1.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    backoff_base_seconds: float = Field(default=5.0, gt=0)
    backoff_max_seconds: float = Field(default=3600.0, gt=0)
    reconcile_after_seconds: float = Field(default=30.0, ge=0)
    # An emergency's uncertain delivery is resent sooner when the platform does not show it.
    reconcile_emergency_after_seconds: float = Field(default=5.0, ge=0)
    # A worker that has not beaten for this long is gone: its deliveries in flight are settled.
    worker_stale_seconds: float = Field(default=10.0, gt=1)

    # Intake
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    token_ttl_days: int = Field(default=365, ge=1)
    # Checks run in worker processes: this many for staff posts, plus one kept for emergencies.
    # 0 runs them in the gateway process (debugging only: a slow text then holds up everything).
    check_workers: int = Field(default=1, ge=0, le=64)
    # A message whose checks take longer gets a `check.timeout` review finding (its worker is replaced).
    check_budget_seconds: float = Field(default=2.0, gt=0, le=600)
    # A staff post that waits longer than this for a free check worker is refused with 503 (retry).
    check_queue_seconds: float = Field(default=30.0, gt=0, le=3600)

    # Secrets
    credentials_file: Path = Path("var/credentials.enc")
    # Per-account credentials from the environment, e.g. GATEWAY_ACCOUNT_CREDENTIALS__KODAIRA_X__ACCESS_TOKEN;
    # they take precedence over the encrypted file (for secret stores that inject environment variables).
    account_credentials: dict[str, dict[str, SecretStr]] = {}
    # Secrets the city files name by reference in [notifications] (SMTP passwords, webhook URLs), e.g.
    # GATEWAY_NOTIFICATION_SECRETS__KODAIRA_SLACK=https://hooks.slack.com/services/...
    notification_secrets: dict[str, SecretStr] = {}
    # Notifications: how often the outbox is read, and for how long a failing send keeps being retried.
    notification_poll_seconds: float = Field(default=2.0, gt=0)
    notification_give_up_hours: float = Field(default=48.0, gt=0)
    credentials_key: SecretStr | None = None
    credentials_key_file: Path | None = None
    alert_hmac_secret: SecretStr | None = None
    alert_replay_window_s: int = Field(default=300, ge=1)
    # Signs console session cookies; when unset, one is generated into var/session.key on first start.
    session_secret: SecretStr | None = None

    log_level: str = "INFO"
    # Where people reach the console (the OAuth redirect URI is built from it); unset: the request's own origin.
    # Also where platforms that fetch media themselves get uploaded images and videos (`/media/public/…`,
    # signed): an https address is what lets a console upload reach those platforms.
    public_url: str | None = None
    # Signs those media addresses; unset: a key of its own in var/media-links.key (replicas share var/).
    media_links_secret: SecretStr | None = None
    # Connected accounts' tokens are renewed this often (each when it is close to expiry).
    token_refresh_seconds: float = Field(default=60.0, gt=0)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get("GATEWAY_SETTINGS_FILE", "config/gateway.toml"))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, PlatformSections(settings_cls)]
        if toml_file.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    def platform_section(self, platform: str) -> dict[str, Any]:
        """What was given for `platform` (environment, file or keyword), as its adapter's settings class reads it."""
        given = (self.__pydantic_extra__ or {}).get(platform, {})
        if isinstance(given, BaseModel):
            return given.model_dump(exclude_unset=True)
        if not isinstance(given, dict):
            raise ValueError(f"settings: {platform} must be a table of keys "
                             f"(e.g. GATEWAY_{platform.upper()}__BASE_URL)")
        return dict(given)

    @property
    def media_root(self) -> Path:
        """The media store's directory: `GATEWAY_MEDIA_DIR`, or `media` under `var_dir`."""
        return self.media_dir if self.media_dir is not None else self.var_dir / "media"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
