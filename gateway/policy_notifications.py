"""The city TOML's `[notifications]` table: who is told of what, by e-mail and by webhook.

Secrets never appear here: the SMTP password and each webhook URL (its path carries a token) are
named by reference (`password_secret`, `url_secret`) and come from the environment
(`GATEWAY_NOTIFICATION_SECRETS__<NAME>`) through settings. A file that writes a URL or a password
itself is refused with the file and the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Events the gateway tells people about, with the words staff read.
EVENTS: Mapping[str, str] = {
    "approval_waiting": "承認待ちの投稿",
    "sent_back": "差し戻された投稿",
    "delivery_failed": "配信の失敗",
    "alert_held": "要確認の防災情報",
    "hijack": "乗っ取りの疑い",
    "account_auth": "アカウントの認証の更新の失敗",
}
# Roles a recipient list may name; `author` is the person who wrote the post (their user's e-mail).
ROLES: Mapping[str, str] = {"approver": "承認者", "operator": "運用担当", "admin": "管理者", "author": "投稿者"}
DEFAULT_EVENTS: Mapping[str, tuple[str, ...]] = {
    "approval_waiting": ("approver",),
    "sent_back": ("author",),
    "delivery_failed": ("operator",),
    "alert_held": ("operator",),
    "hijack": ("operator",),
    "account_auth": ("admin", "operator"),  # the city admin reconnects the account
}

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
_SECRET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
SECRET_ENV_PREFIX = "GATEWAY_NOTIFICATION_SECRETS__"


def is_email(value: str) -> bool:
    """A plain address (`local@domain.tld`), at most 254 characters; no display name."""
    return len(value) <= 254 and _EMAIL.match(value) is not None


def secret_env(name: str) -> str:
    """The environment variable that holds the secret `name`."""
    return SECRET_ENV_PREFIX + name.upper()


def _secret_name(value: str | None) -> str | None:
    if value is not None and not _SECRET_NAME.match(value):
        raise ValueError(f"秘密情報の参照名 {value!r} は英小文字・数字・_ で書いてください"
                         f"（値は環境変数 {SECRET_ENV_PREFIX}<名前> に設定します）")
    return value


def _no_literal(data: Any, key: str, instead: str, why: str) -> None:
    if isinstance(data, dict) and key in data:
        raise ValueError(f"{key} をファイルに直接書かないでください（{why}）。代わりに {instead} = \"参照名\" "
                         f"と書き、値は環境変数 {SECRET_ENV_PREFIX}<参照名> に設定します")


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Smtp(_Config):
    """The city's mail server; `password_secret` names the password, never holds it."""

    host: str = Field(min_length=1, max_length=255)
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password_secret: str | None = None
    sender: str
    timeout_s: float = Field(default=20.0, gt=0, le=300)

    @model_validator(mode="before")
    @classmethod
    def _no_password(cls, data: Any) -> Any:
        _no_literal(data, "password", "password_secret", "パスワードは設定ファイルに置きません")
        return data

    @field_validator("password_secret")
    @classmethod
    def _reference(cls, value: str | None) -> str | None:
        return _secret_name(value)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        if not is_email(value):
            raise ValueError(f"送信元 {value!r} はメールアドレスではありません（例: koho@city.example.lg.jp）")
        return value

    @model_validator(mode="after")
    def _user_with_password(self) -> Smtp:
        if self.password_secret is not None and not self.username:
            raise ValueError("password_secret を使うときは username も指定してください")
        return self


class Webhook(_Config):
    """A Slack/Teams-style incoming webhook; `url_secret` names its URL (which carries a token)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    url_secret: str
    events: tuple[str, ...] = tuple(EVENTS)
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="before")
    @classmethod
    def _no_url(cls, data: Any) -> Any:
        _no_literal(data, "url", "url_secret", "Webhook の URL にはトークンが含まれます")
        return data

    @field_validator("url_secret")
    @classmethod
    def _reference(cls, value: str) -> str:
        checked = _secret_name(value)
        assert checked is not None
        return checked

    @field_validator("events")
    @classmethod
    def _known(cls, events: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [e for e in events if e not in EVENTS]
        if unknown:
            raise ValueError(f"不明なイベント {unknown}（指定できるもの: {', '.join(EVENTS)}）")
        return events


class Notifications(_Config):
    """`[notifications]`: e-mail (`smtp`, `recipients` per role, `events` per event) and `webhooks`.

    `events` maps each event to roles (`approver`, `operator`, `admin`, `author`) and/or addresses;
    a role means the addresses in `recipients.<role>` plus, with `users = true`, the e-mail of every
    enabled user of that role whose scope covers the city (`author`: the post's author).
    """

    smtp: Smtp | None = None
    recipients: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    events: dict[str, tuple[str, ...]] = Field(default_factory=lambda: dict(DEFAULT_EVENTS))
    users: bool = True
    webhooks: tuple[Webhook, ...] = ()
    # Where people open the console, for the links in texts; unset: GATEWAY_PUBLIC_URL, else the served address.
    console_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/\S*)?$")

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, recipients: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for role, addresses in recipients.items():
            if role not in ROLES or role == "author":
                raise ValueError(f"recipients の {role!r} は役割ではありません（approver, operator, admin）")
            bad = [a for a in addresses if not is_email(a)]
            if bad:
                raise ValueError(f"recipients.{role} にメールアドレスでないものがあります: {bad}")
        return recipients

    @field_validator("events")
    @classmethod
    def _events(cls, events: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for event, who in events.items():
            if event not in EVENTS:
                raise ValueError(f"不明なイベント {event!r}（指定できるもの: {', '.join(EVENTS)}）")
            bad = [w for w in who if w not in ROLES and not is_email(w)]
            if bad:
                raise ValueError(f"events.{event} の {bad} は役割（{', '.join(ROLES)}）"
                                 "でもメールアドレスでもありません")
        return {**DEFAULT_EVENTS, **events}

    @model_validator(mode="after")
    def _unique_webhooks(self) -> Notifications:
        ids = [w.id for w in self.webhooks]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"webhooks の id {twice} が重複しています")
        return self

    @property
    def secret_names(self) -> tuple[str, ...]:
        """Every secret this table refers to."""
        names = [w.url_secret for w in self.webhooks]
        if self.smtp is not None and self.smtp.password_secret is not None:
            names.append(self.smtp.password_secret)
        return tuple(names)

    def roles_for(self, event: str) -> tuple[str, ...]:
        return self.events.get(event, ())

    @property
    def configured(self) -> bool:
        return self.smtp is not None or bool(self.webhooks)
