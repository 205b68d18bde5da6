"""Settings from `GATEWAY_*` environment variables and an optional TOML file, built once.

Nested keys use `__`: `GATEWAY_X__BASE_URL`, `GATEWAY_LINE__BASE_URL`,
`GATEWAY_FACEBOOK__BASE_URL`, `GATEWAY_YOUTUBE__BASE_URL`, `GATEWAY_INSTAGRAM__BASE_URL`. The TOML file
(`GATEWAY_SETTINGS_FILE`, default `config/gateway.toml` when it exists) takes the same keys.
The CLI and the web app build one `Settings` and pass it down; no other module reads the
environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/gateway.db"


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


class XSettings(PlatformSettings, OAuthClient):
    base_url: str = "https://api.twitter.com"
    # OAuth 2.0 with PKCE: the consent page (x.com); the token endpoint is base_url + /2/oauth2/token.
    authorize_url: str = "https://x.com/i/oauth2/authorize"
    web_url: str = "https://x.com"  # where people open a post ("投稿を開く"); the sandbox's own in sandbox mode


class LineSettings(PlatformSettings):
    base_url: str = "https://api.line.me"


class FacebookSettings(PlatformSettings, OAuthClient):
    base_url: str = "https://graph.facebook.com"
    web_url: str = "https://www.facebook.com"
    api_version: str = "v26.0"
    # Facebook Login's dialog (client_id is the app id, client_secret the app secret).
    authorize_url: str = "https://www.facebook.com/v26.0/dialog/oauth"


class YoutubeSettings(PlatformSettings, OAuthClient):
    base_url: str = "https://youtube.googleapis.com"
    # Google's consent page and token endpoint (OAuth 2.0 for web server applications).
    authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    token_url: str = "https://oauth2.googleapis.com/token"
    web_url: str = "https://www.youtube.com"


class InstagramSettings(PlatformSettings):
    base_url: str = "https://graph.facebook.com"  # Instagram's Graph API with Facebook Login
    api_version: str = "v26.0"
    poll_interval_s: float = Field(default=2.0, gt=0)  # between container status reads
    max_polls: int = Field(default=60, ge=1)  # then the delivery is retried later


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_nested_delimiter="__", extra="ignore")

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

    x: XSettings = XSettings()
    line: LineSettings = LineSettings()
    facebook: FacebookSettings = FacebookSettings()
    youtube: YoutubeSettings = YoutubeSettings()
    instagram: InstagramSettings = InstagramSettings()

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
    # Also where LINE and Instagram fetch uploaded images and videos (`/media/public/…`, signed): an https
    # address is what lets a console upload reach those platforms.
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
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @property
    def media_root(self) -> Path:
        """The media store's directory: `GATEWAY_MEDIA_DIR`, or `media` under `var_dir`."""
        return self.media_dir if self.media_dir is not None else self.var_dir / "media"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
