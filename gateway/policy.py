"""Municipality policy: accounts, categories, hours, approval, share and link rules, clauses.

One TOML file per municipality under `config/municipalities/`. Every rule carries the text of the
clause it comes from so that findings and refusals can cite it. A bad file stops start-up with
the file, the key and the reason.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from datetime import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from gateway.errors import FieldProblem, InputError
from gateway.models import Platform, PreauthorizedKind, ShareSourceClass
from gateway.policy_notifications import Notifications

CATEGORIES: Mapping[str, str] = {
    "city_news": "お知らせ・市政情報",
    "disaster_prevention": "平時の防災情報",
    "emergency": "災害時等の緊急情報",
    "public_safety": "感染症・重大事故等 生命財産に関わる情報",
    "event": "市主催・共催・後援イベント",
    "tourism": "観光・市の魅力・街の話題・市内風景",
    "regional_event": "近隣・他団体・市外PRイベント",
    "jobs": "市内事業者の求人",
    "share": "他者の発信のシェア・引用",
    "mayor": "市長の活動・メッセージ",
    "other": "運用責任者が必要と認めた情報",
}

ALERT_KINDS: Mapping[str, str] = {
    "evacuation": "避難情報（高齢者等避難・避難指示・緊急安全確保）",
    "shelter": "避難所開設",
    "weather_warning": "気象特別警報・警報",
    "landslide": "土砂災害警戒情報",
    "record_rain": "記録的短時間大雨情報",
    "seismic": "震度情報",
    "tsunami": "津波警報・注意報",
    "flood_forecast": "指定河川洪水予報",
    "volcano": "噴火警報・予報",
    "nankai": "南海トラフ地震臨時情報",
}
# What a city posts when its file names no kinds; the others are subscribed to by name.
DEFAULT_ALERT_KINDS: tuple[str, ...] = (
    "evacuation", "shelter", "weather_warning", "landslide", "record_rain", "seismic", "tsunami")

# How long after its issue time an alert is still posted automatically, per kind (minutes). Older
# ones, and any past their own expiry, are held for an operator (a feed that re-sends a two-year-old
# warning must not reach residents as news). A city may set its own in [alerts.freshness_minutes].
DEFAULT_FRESHNESS_MINUTES: Mapping[str, int] = {
    "evacuation": 180, "shelter": 360, "weather_warning": 180, "landslide": 180, "record_rain": 60,
    "seismic": 60, "tsunami": 60, "flood_forecast": 180, "volcano": 360, "nankai": 720,
}

# The languages an account may post alerts in (DESIGN.md contract), with the names staff read.
# `ja-easy` is やさしい日本語 (Easy Japanese for residents still learning Japanese).
LANGUAGES: Mapping[str, str] = {
    "ja": "日本語", "ja-easy": "やさしい日本語", "en": "英語", "zh-Hans": "中国語（簡体字）",
    "zh-Hant": "中国語（繁体字）", "ko": "韓国語", "vi": "ベトナム語", "pt": "ポルトガル語", "es": "スペイン語",
    "tl": "タガログ語", "ne": "ネパール語", "id": "インドネシア語",
}
_ID_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


class _AtKey(ValueError):
    """A whole-file check that belongs to one key, so that the load error can name that key."""

    def __init__(self, message: str, loc: tuple[int | str, ...]) -> None:
        super().__init__(message)
        self.loc = loc


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Hours(_Config):
    """Office hours in the municipality's local time (Asia/Tokyo)."""

    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)  # Monday = 0
    open: time = time(8, 30)
    close: time = time(17, 15)
    closed_on_holidays: bool = True
    year_end_closure: bool = False  # 12/29 – 1/3
    clause: str

    @model_validator(mode="after")
    def _open_before_close(self) -> Hours:
        if self.open >= self.close:
            raise ValueError("open must be before close")
        if not self.weekdays or any(d < 0 or d > 6 for d in self.weekdays):
            raise ValueError("weekdays must be numbers 0 (Monday) to 6 (Sunday)")
        return self


class ApprovalStep(_Config):
    """One step of an approval route (SHIRASAGI's 承認ルート): who may approve at this step.

    `roles` (approver, admin) or `users` (names), or `manager`: the 運用責任者 of the target accounts
    (their `manager_users`). Anyone approving must also have the city (and accounts) in scope.
    """

    name: str = Field(min_length=1, max_length=200)
    roles: tuple[Literal["approver", "admin"], ...] = ()
    users: tuple[str, ...] = ()
    manager: bool = False

    @model_validator(mode="after")
    def _names_someone(self) -> ApprovalStep:
        if not (self.roles or self.users or self.manager):
            raise ValueError("a step needs roles, users or manager = true")
        return self


class Approval(_Config):
    """Who must approve a post before it goes out.

    `four_eyes`: every routine post needs an approver other than the submitter, except the
    pre-authorised kinds listed. `official_view_only` (美祢 第4-6): routine posts go out without
    approval; a post the author sends with `official_view` waits for the department head, who decides
    whether it is the city's official view. `steps`: the approval route, in order (none: one approver);
    `manager_last` adds the target accounts' 運用責任者 as the last step.
    """

    mode: Literal["four_eyes", "official_view_only"] = "four_eyes"
    clause: str
    preauthorized: tuple[PreauthorizedKind, ...] = ()
    preauthorized_clause: str | None = None
    shares_need_approval: bool = True
    shares_clause: str | None = None
    steps: tuple[ApprovalStep, ...] = ()
    manager_last: bool = False

    @model_validator(mode="after")
    def _preauthorized_has_clause(self) -> Approval:
        if self.preauthorized and not self.preauthorized_clause:
            raise ValueError("preauthorized kinds need a preauthorized_clause")
        return self


class Credentials(_Config):
    rotation_days: int = Field(default=365, ge=1)
    min_length: int = Field(default=8, ge=1)
    rotate_on_staff_change: bool = True
    clause: str


class Shares(_Config):
    allowed_classes: tuple[ShareSourceClass, ...] = ()
    allowed_sources: tuple[str, ...] = ()  # @handles or domains
    public_bodies_only: bool = False  # 小平 3(6)
    review_classes: tuple[ShareSourceClass, ...] = (ShareSourceClass.OTHER_APPROVED,)
    clause: str


class Links(_Config):
    allowed_domains: tuple[str, ...] = ()  # "example.jp" matches it and its subdomains
    # The city's own site: a pre-authorised post (逗子 3-2(1)ウ) must link there.
    own_domains: tuple[str, ...] = ()
    shorteners_review: bool = True
    clause: str


class Contacts(_Config):
    """The municipality's own contact details, which the personal-information check allows."""

    phone_numbers: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    email_domains: tuple[str, ...] = ()


class Alerts(_Config):
    area_codes: tuple[str, ...] = ()  # JIS X 0402, 5 or 6 digits; prefecture codes (2 digits) too
    area_names: tuple[str, ...] = ()
    kinds: tuple[str, ...] = DEFAULT_ALERT_KINDS
    accounts: tuple[str, ...] = ()  # empty: every account that allows `emergency`
    drill_accounts: tuple[str, ...] = ()  # accounts that may carry drills; empty: sandbox only
    freshness_minutes: dict[str, int] = Field(default_factory=dict)  # per kind, over the defaults
    # The same content re-sent under new identifiers within this window is recorded, not re-posted.
    duplicate_window_minutes: int = Field(default=720, ge=1, le=10_080)

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [k for k in kinds if k not in ALERT_KINDS]
        if unknown:
            raise ValueError(f"unknown alert kinds {unknown}; known: {sorted(ALERT_KINDS)}")
        return kinds

    @field_validator("freshness_minutes")
    @classmethod
    def _known_windows(cls, windows: dict[str, int]) -> dict[str, int]:
        unknown = [k for k in windows if k not in ALERT_KINDS]
        if unknown:
            raise ValueError(f"unknown alert kinds {unknown}; known: {sorted(ALERT_KINDS)}")
        bad = [k for k, minutes in windows.items() if not 1 <= minutes <= 10_080]
        if bad:
            raise ValueError(f"freshness_minutes must be 1 to 10080 (one week): {bad}")
        return windows

    def freshness(self, kind: str) -> int:
        """Minutes after its issue time that an alert of `kind` is still posted automatically."""
        return self.freshness_minutes.get(kind, DEFAULT_FRESHNESS_MINUTES.get(kind, 180))


class Account(_Config):
    id: str
    platform: Platform
    handle: str
    purpose: str = "main"
    manager: str
    # The people (user names) who are this account's 運用責任者, for an approval route's manager step.
    manager_users: tuple[str, ...] = ()
    categories: tuple[str, ...]
    categories_clause: str
    x_overflow: Literal["truncate", "thread"] = "truncate"
    line_mode: Literal["broadcast", "multicast", "narrowcast"] = "broadcast"
    line_recipients: tuple[str, ...] = ()
    # Who may see the account's posts where its platform lets a post be unlisted or private.
    visibility: Literal["public", "unlisted", "private"] = "public"
    stopped: bool = False
    # The languages this account posts alerts in, in order (LINE: one message each in one broadcast;
    # other platforms: one post each).
    languages: tuple[str, ...] = ("ja",)

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, categories: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in categories if c not in CATEGORIES]
        if unknown:
            raise ValueError(f"unknown categories {unknown}; known: {sorted(CATEGORIES)}")
        return categories

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, languages: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [code for code in languages if code not in LANGUAGES]
        if unknown:
            raise ValueError(f"unknown languages {unknown}; known: {list(LANGUAGES)}")
        if not languages:
            raise ValueError("languages must name at least one language (default: [\"ja\"])")
        if len(set(languages)) != len(languages):
            raise ValueError(f"languages {list(languages)} names a language twice")
        return languages

    @model_validator(mode="after")
    def _post_fits_languages(self) -> Account:
        declared = self.platform.spec
        if 1 < declared.languages_per_post < len(self.languages):
            raise ValueError(f"a {declared.label} account sends its languages together in one post, at most "
                             f"{declared.languages_per_post} ({declared.label} takes {declared.limits.max_parts} "
                             f"messages per request): {list(self.languages)}")
        return self

    def allows(self, category: str) -> bool:
        return category in self.categories

    def posts_in(self, carried: Iterable[str]) -> list[tuple[str, ...]]:
        """The posts this account makes of a message carried in `carried` languages: its own languages
        among them, in its order, grouped as its platform posts them (`PlatformSpec.language_groups`; an account
        with ["ja"] gets Japanese only)."""
        offered = set(carried)
        return self.platform.spec.language_groups(tuple(code for code in self.languages if code in offered))


class Municipality(_Config):
    id: str
    name: str
    policy_title: str
    policy_date: str | None = None
    hours: Hours
    approval: Approval
    credentials: Credentials
    shares: Shares
    links: Links
    contacts: Contacts = Contacts()
    alerts: Alerts = Alerts()
    accounts: tuple[Account, ...]
    clauses: dict[str, str] = Field(default_factory=dict)  # check family -> clause text
    notifications: Notifications = Notifications()  # who is told of what (gateway/notifications)

    @model_validator(mode="after")
    def _account_ids(self) -> Municipality:
        if not _ID_RE.match(self.id):
            raise _AtKey(f"municipality id {self.id!r} must be lower-case letters and digits", ("id",))
        seen: set[str] = set()
        for index, account in enumerate(self.accounts):
            where = ("accounts", index, "id")
            try:
                _check_account_id(self.id, account)
            except ValueError as exc:
                raise _AtKey(str(exc), where) from None
            if account.id in seen:
                raise _AtKey(f"account id {account.id!r} appears twice", where)
            seen.add(account.id)
        if self.approval.manager_last:
            for index, account in enumerate(self.accounts):
                if not account.manager_users:
                    raise _AtKey("approval.manager_last needs manager_users on every account",
                                 ("accounts", index, "manager_users"))
        if self.approval.preauthorized and not self.links.own_domains:
            raise _AtKey("preauthorized kinds need links.own_domains (the city's own site)", ("links", "own_domains"))
        for key in ("accounts", "drill_accounts"):
            for ref in getattr(self.alerts, key):
                if ref not in seen:
                    raise _AtKey(f"alerts refers to unknown account {ref!r}", ("alerts", key))
        return self

    def account(self, account_id: str) -> Account | None:
        return next((a for a in self.accounts if a.id == account_id), None)

    def accounts_for(self, category: str) -> tuple[Account, ...]:
        return tuple(a for a in self.accounts if a.allows(category))

    def clause(self, family: str) -> str:
        return self.clauses.get(family) or self.policy_title


def _check_account_id(municipality: str, account: Account) -> None:
    main = f"{municipality}_{account.platform.value}"
    other = f"{municipality}_{account.purpose}_{account.platform.value}"
    expected = main if account.purpose == "main" else other
    if account.id != expected:
        raise ValueError(f"account id {account.id!r} must be {expected!r} (purpose {account.purpose!r})")


class Policies:
    """Every municipality's policy, by id."""

    def __init__(self, municipalities: Iterable[Municipality]) -> None:
        self._by_id = {m.id: m for m in municipalities}
        # Account ids start with their municipality's id, so they are unique across municipalities.
        self._accounts = {a.id: (m, a) for m in self._by_id.values() for a in m.accounts}

    def __contains__(self, municipality_id: object) -> bool:
        return municipality_id in self._by_id

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, municipality_id: str) -> Municipality | None:
        return self._by_id.get(municipality_id)

    def ids(self) -> list[str]:
        return sorted(self._by_id)

    def account(self, account_id: str) -> tuple[Municipality, Account] | None:
        return self._accounts.get(account_id)

    def account_label(self, account_id: str) -> str:
        """An account as people know it (小平市 X kodaira_tokyo); an id no city has, as it is."""
        found = self._accounts.get(account_id)
        return account_label(*found) if found is not None else account_id


def account_label(municipality: Municipality, account: Account) -> str:
    """An account as people know it: its city, its platform and its handle (小平市 X kodaira_tokyo)."""
    return f"{municipality.name} {account.platform.spec.label} {account.handle}"


def load_municipality(path: Path) -> Municipality:
    """Parse and validate one municipality file; errors name the file, key and reason."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: 読み込めません: {exc}", code="config_unreadable") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: TOMLとして不正です: {exc}", code="config_syntax") from exc
    try:
        municipality = Municipality.model_validate(data)
    except ValidationError as exc:
        problems = [FieldProblem(_loc(_err_loc(err), data), err["type"], err["msg"]) for err in exc.errors()]
        detail = "; ".join(f"{p.field}: {p.message}" for p in problems)
        raise InputError(f"{path}: {detail}", problems, code="config_invalid") from exc
    if municipality.id != path.stem:
        problem = FieldProblem("id", "config_id_mismatch", f"id {municipality.id!r} must match file name")
        raise InputError(f"{path}: id: {problem.message}", [problem], code="config_invalid")
    return municipality


def _err_loc(err: ErrorDetails) -> tuple[int | str, ...]:
    """The error's location; a model-level `_AtKey` carries the key it is about."""
    cause = err.get("ctx", {}).get("error")
    return cause.loc if isinstance(cause, _AtKey) else err["loc"]


def _loc(loc: tuple[int | str, ...], data: object) -> str:
    """Render a pydantic location as a TOML key path, naming accounts by id rather than index."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int) and isinstance(node, list) and item < len(node):
            node = node[item]
            label = node.get("id") if isinstance(node, dict) else None
            parts[-1] = f"{parts[-1]}[{label or item}]" if parts else f"[{item}]"
            continue
        parts.append(str(item))
        node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts)


def load_policies(directory: Path) -> Policies:
    """Load every `*.toml` under `directory`; an empty or missing directory is an error."""
    files = sorted(directory.glob("*.toml")) if directory.is_dir() else []
    if not files:
        raise InputError(f"{directory}: 自治体の設定ファイル (*.toml) がありません", code="config_missing")
    return Policies(load_municipality(path) for path in files)
