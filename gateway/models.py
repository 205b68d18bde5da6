"""Domain values: Message, Media, Share, Delivery, Receipt, Post, findings and enums.

Values are frozen pydantic models. The message JSON of DESIGN.md is `Message`; it is the API
body of `POST /api/v1/messages` and the input of `gateway check`.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

MAX_TEXT_CHARS = 20_000


class Priority(enum.StrEnum):
    EMERGENCY = "emergency"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        """Smaller is more urgent; dispatch orders by this."""
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {Priority.EMERGENCY: 0, Priority.HIGH: 1, Priority.NORMAL: 2, Priority.LOW: 3}


class Platform(enum.StrEnum):
    X = "x"
    LINE = "line"
    FACEBOOK = "facebook"
    YOUTUBE = "youtube"
    INSTAGRAM = "instagram"

    @property
    def spec(self) -> PlatformSpec:
        """What this platform is: its label, limits, credentials and what it can carry (`PLATFORM_SPECS`)."""
        return PLATFORM_SPECS[self]


class DeliveryState(enum.StrEnum):
    PLANNED = "planned"
    HELD = "held"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    RETRY_WAIT = "retry_wait"
    FAILED = "failed"
    UNCERTAIN = "uncertain"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    RETRACTED = "retracted"

    @property
    def is_final(self) -> bool:
        return self in _FINAL_STATES


_FINAL_STATES = frozenset(
    {DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.SKIPPED, DeliveryState.CANCELLED,
     DeliveryState.RETRACTED}
)


class MessageState(enum.StrEnum):
    PENDING_APPROVAL = "pending_approval"  # waits for a second person
    APPROVED = "approved"  # approved (or exempt); deliveries not yet planned
    PLANNED = "planned"  # deliveries exist
    SENT = "sent"  # every delivery sent (or skipped: not applicable to its platform)
    REJECTED = "rejected"  # sent back by an approver
    CANCELLED = "cancelled"
    RETRACTED = "retracted"


class Verdict(enum.StrEnum):
    PASS = "pass"
    REVIEW = "review"
    BLOCK = "block"


class Severity(enum.StrEnum):
    BLOCK = "block"
    REVIEW = "review"


class Role(enum.StrEnum):
    STAFF = "staff"
    APPROVER = "approver"
    OPERATOR = "operator"
    ALERT_SYSTEM = "alert_system"
    ADMIN = "admin"


# Roles that may be given every city (no --municipality); every other role is scoped to named cities.
GLOBAL_ROLES = frozenset({Role.ADMIN, Role.ALERT_SYSTEM})


@dataclass(frozen=True)
class Scope:
    """For which cities (and, optionally, which of their accounts) a user or token may act.

    `municipalities` None: every city (admin and alert systems only). `accounts` empty: every account
    of those cities. `emergency`: the cities where `priority: "emergency"` is allowed (危機管理課).
    A token's scope is its user's narrowed by the token's own (`narrowed`).
    """

    municipalities: frozenset[str] | None = frozenset()
    accounts: frozenset[str] = frozenset()
    emergency: frozenset[str] = frozenset()

    @classmethod
    def everywhere(cls, *, emergency: frozenset[str] = frozenset()) -> Scope:
        return cls(None, frozenset(), emergency)

    @classmethod
    def of(cls, *municipalities: str, accounts: tuple[str, ...] = (), emergency: tuple[str, ...] = ()) -> Scope:
        return cls(frozenset(municipalities), frozenset(accounts), frozenset(emergency))

    @property
    def is_global(self) -> bool:
        return self.municipalities is None

    def covers(self, municipality: str) -> bool:
        return self.municipalities is None or municipality in self.municipalities

    def covers_account(self, municipality: str, account: str) -> bool:
        """The account (of `municipality`) is in scope: its city is, and no account list leaves it out."""
        if not self.covers(municipality):
            return False
        own = {a for a in self.accounts if a.startswith(municipality + "_")}
        return not own or account in own

    def may_send_emergency(self, municipality: str) -> bool:
        return self.covers(municipality) and municipality in self.emergency

    def narrowed(self, other: Scope | None) -> Scope:
        """This scope limited to `other` (a token's own scope); None leaves it as it is."""
        if other is None:
            return self
        if self.municipalities is None:
            cities = other.municipalities
        elif other.municipalities is None:
            cities = self.municipalities
        else:
            cities = self.municipalities & other.municipalities
        accounts = (self.accounts & other.accounts if self.accounts and other.accounts
                    else self.accounts or other.accounts)
        # A token names cities only: it keeps the user's emergency permission for the cities it keeps.
        emergency = frozenset(e for e in self.emergency if cities is None or e in cities)
        return Scope(cities, accounts, emergency)

    def to_json(self) -> dict[str, object]:
        return {"municipalities": None if self.municipalities is None else sorted(self.municipalities),
                "accounts": sorted(self.accounts), "emergency": sorted(self.emergency)}

    @classmethod
    def from_json(cls, value: object) -> Scope:
        """A stored scope; anything unreadable (or a NULL column) is no scope at all."""
        if not isinstance(value, dict):
            return cls()
        cities = value.get("municipalities", [])
        return cls(None if cities is None else frozenset(str(c) for c in cities or ()),
                   frozenset(str(a) for a in value.get("accounts") or ()),
                   frozenset(str(e) for e in value.get("emergency") or ()))

    def label(self, names: Mapping[str, str] | None = None) -> str:
        """How people read it: 「全自治体」 or the cities (by `names` where given, e.g. 小平市; else ids), with
        accounts and emergency cities."""
        def city(ids: Iterable[str]) -> str:
            return "、".join((names or {}).get(i, i) for i in sorted(ids))

        text = "全自治体" if self.municipalities is None else city(self.municipalities) or "なし"
        if self.accounts:
            text += "（アカウント: " + "、".join(sorted(self.accounts)) + "）"
        if self.emergency:
            text += " ／ 緊急: " + city(self.emergency)
        return text


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (through a token, a console session or the CLI) with its role and scope."""

    name: str
    role: Role
    scope: Scope = field(default_factory=Scope)  # no city unless given


class MediaKind(enum.StrEnum):
    IMAGE = "image"
    VIDEO = "video"


class ShareSourceClass(enum.StrEnum):
    """美祢市 第4-2(4) ア〜カ."""

    SCENERY = "scenery"
    PUBLIC_BODY = "public_body"
    CERTIFIED_BUSINESS = "certified_business"
    LOCAL_JOBS = "local_jobs"
    AMBASSADOR = "ambassador"
    OTHER_APPROVED = "other_approved"


class PreauthorizedKind(enum.StrEnum):
    """逗子市 3-2(1)ウ (ア)〜(エ): kinds that may be posted without the manager's permission."""

    ON_WEBSITE = "on_website"  # (ア) already published on the city website
    ESTABLISHED_FACT = "established_fact"  # (イ) event results and other established facts
    LEGAL_PROCEDURE = "legal_procedure"  # (ウ) procedures set by law
    DISASTER = "disaster"  # (エ) disaster and other time-critical information


def ascii_digits(text: str) -> bool:
    """Only 0-9 (and at least one). `str.isdigit` also accepts "¹" or "①", which `int` refuses."""
    return text.isascii() and text.isdigit()


MAX_ROW_ID = 2**63 - 1  # PostgreSQL BIGINT, SQLite INTEGER


def row_id(text: str) -> int | None:
    """A database row id (1..MAX_ROW_ID) written in 0-9, or None.

    A larger number overflows the column type (PostgreSQL refuses the query), and `int` refuses
    more than 4,300 digits outright, so the length is checked before converting.
    """
    if not ascii_digits(text) or len(text) > len(str(MAX_ROW_ID)):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ROW_ID else None


def storable_text_problem(value: str) -> str | None:
    """Why no database row can hold `value` (NUL, lone surrogates), or None when it can.

    PostgreSQL refuses both even in a comparison; intake refuses them with the field named and the
    store treats lookups with them as not found.
    """
    if "\x00" in value:
        return "nul_character"
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        return "invalid_unicode"
    return None


SHOWN_KEY_CHARS = 100


def shown_key(key: str) -> str:
    """An object key (or any name taken from input) as it may appear in an error or the audit log:
    what cannot be shown or stored (NUL, lone surrogates, controls) as \\u escapes, and no longer
    than SHOWN_KEY_CHARS."""
    shown = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in key[:SHOWN_KEY_CHARS])
    return shown + "…" if len(key) > SHOWN_KEY_CHARS else shown


def _strip_nonempty(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError("空にはできません")
    return stripped


NonEmpty = Annotated[str, AfterValidator(_strip_nonempty)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)


# Errors of the id/path rule carry the field to name in this context key (see validation.problems_from).
MEDIA_FIELD = "media_field"


class Media(_Frozen):
    """One attached file, named by `id` (from `POST /api/v1/media`) or by `path` in the media store, not both.

    Nothing here opens a file: `gateway check` judges media from these fields alone; intake and the
    adapters find the file through `gateway.media.MediaStore`.
    """

    kind: MediaKind
    path: NonEmpty | None = Field(default=None, max_length=1024,
                                  description="path relative to the gateway's media store (var/media/ by default)")
    id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$", description="media id from POST /api/v1/media")
    alt_text: str | None = Field(default=None, max_length=5000)
    url: str | None = Field(default=None, max_length=2000, description="public HTTPS URL (LINE needs one)")

    @model_validator(mode="after")
    def _one_source(self) -> Media:
        if self.path is None and self.id is None:
            raise PydanticCustomError("missing", "必須項目です（id または path のどちらか一方を指定してください）",
                                      {MEDIA_FIELD: "path"})
        if self.path is not None and self.id is not None:
            raise PydanticCustomError("conflict", "id と path はどちらか一方だけを指定してください",
                                      {MEDIA_FIELD: "id"})
        return self

    @property
    def label(self) -> str:
        """How staff see the item: its path, or its id."""
        return self.path or self.id or ""


class Share(_Frozen):
    url: NonEmpty = Field(max_length=2000)
    source: NonEmpty = Field(max_length=200)
    source_class: ShareSourceClass


# A message's versions in other languages: at most one per language of the contract but Japanese.
MAX_TRANSLATIONS = 11


class Translation(_Frozen):
    """The same message in another language, sent with it: a version staff wrote (やさしい日本語, English ...)
    or an alert's other languages for an account that sends them together (LINE)."""

    language: NonEmpty = Field(max_length=16)
    text: NonEmpty = Field(max_length=MAX_TEXT_CHARS)


class Message(_Frozen):
    """The message JSON of DESIGN.md."""

    municipality: NonEmpty = Field(max_length=64)
    accounts: tuple[str, ...] | None = Field(default=None, max_length=50)
    category: NonEmpty = Field(max_length=64)
    text: NonEmpty = Field(max_length=MAX_TEXT_CHARS)
    title: str | None = Field(default=None, max_length=500)
    link: str | None = Field(default=None, max_length=2000)
    media: tuple[Media, ...] = Field(default=(), max_length=10)
    share: Share | None = None
    priority: Priority = Priority.NORMAL
    not_before: datetime | None = None
    # Approval hints (policy.md): 美祢 第4-6 city's official view; 逗子 3-2(1)ウ pre-authorised kind.
    official_view: bool = False
    preauthorized: PreauthorizedKind | None = None
    # Follow-ups: a correction (逗子 3-5(1)) or an alert update posts as a reply/correction of another.
    correction_of: str | None = Field(default=None, max_length=64)
    drill: bool = False
    # Why a person sends priority "emergency" (required then; only users with the city's emergency permission).
    emergency_reason: str | None = Field(default=None, max_length=2000)
    # The language of `text`: Japanese for every message staff write (parse_message refuses another); an
    # alert template's post in another language (one message per language) says which it is.
    language: str = Field(default="ja", max_length=16)
    # The same message in other languages. Each target account gets the versions in its `languages` only:
    # LINE all of them in one broadcast (one text message each), other platforms one post per language.
    translations: tuple[Translation, ...] = Field(default=(), max_length=MAX_TRANSLATIONS)


def message_digest(message: Message) -> str:
    """SHA-256 of the message's canonical JSON: sorted keys, defaults left out, so the same message
    has the same digest however its JSON was written (key order, spacing, defaults spelled out)."""
    canonical = json.dumps(message.model_dump(mode="json", exclude_defaults=True), sort_keys=True,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


class Finding(_Frozen):
    rule: str
    severity: Severity
    start: int | None = None
    end: int | None = None
    clause: str
    message: str
    account: str | None = None
    # The field a finding is about when it is not the Japanese text, e.g. "translations[0].text" (its
    # start/end are then None: they are offsets into `text`).
    field: str | None = None


class CheckResult(_Frozen):
    verdict: Verdict
    findings: tuple[Finding, ...] = ()

    @classmethod
    def of(cls, findings: list[Finding] | tuple[Finding, ...]) -> CheckResult:
        severities = {f.severity for f in findings}
        if Severity.BLOCK in severities:
            verdict = Verdict.BLOCK
        elif Severity.REVIEW in severities:
            verdict = Verdict.REVIEW
        else:
            verdict = Verdict.PASS
        return cls(verdict=verdict, findings=tuple(findings))

    def jsonl_dict(self) -> dict[str, object]:
        """The `gateway check --jsonl` line (DESIGN.md), plus `field`: null for the Japanese text, else the
        field a finding is about (e.g. "translations[0].text"), whose offsets `start`/`end` are then null."""
        return {
            "verdict": self.verdict.value,
            "findings": [
                {"rule": f.rule, "severity": f.severity.value, "start": f.start, "end": f.end,
                 "clause": f.clause, "message": f.message, "field": f.field}
                for f in self.findings
            ],
        }


class Receipt(_Frozen):
    platform: Platform
    account: str
    remote_id: str
    url: str | None = None
    published_at: datetime | None = None
    extra_ids: tuple[str, ...] = ()  # further posts of a thread, LINE request ids, photo ids


class PostPart(_Frozen):
    """One platform request's worth of content (a thread has several)."""

    text: str
    media: tuple[Media, ...] = ()


class Post(_Frozen):
    """What one adapter sends for one delivery, rendered without I/O."""

    platform: Platform
    account: str
    parts: tuple[PostPart, ...]
    title: str | None = None
    link: str | None = None
    reply_to: str | None = None  # remote id to reply to (X thread / alert follow-up)
    quote_of: str | None = None  # remote id of the post a share quotes (X: quote_tweet_id)
    skip_reason: str | None = None  # set when the message does not apply (YouTube without video)

    @property
    def text(self) -> str:
        return self.parts[0].text if self.parts else ""


class RemotePost(_Frozen):
    remote_id: str
    text: str
    created_at: datetime | None = None
    url: str | None = None


class Delivery(_Frozen):
    id: str
    message_id: str
    municipality: str
    account: str
    platform: Platform
    priority: Priority
    state: DeliveryState
    not_before: datetime | None = None
    retry_at: datetime | None = None
    attempts: int = 0
    idempotency_key: str
    lease_owner: str | None = None
    lease_expires: datetime | None = None
    remote_id: str | None = None
    remote_url: str | None = None
    error_code: str | None = None
    error_text: str | None = None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None
    # The language of the post (LINE: the first of the languages its broadcast carries); one delivery per
    # account and language, each with its own idempotency key.
    language: str = "ja"


ApprovalDecision = Literal["approved", "rejected"]


# -- Platforms: what each one is, declared once ----------------------------------------------------------
# The facts the rest of the gateway asks about a platform (the checks, the console, the notifications, the
# alert planner, the city policy and the credential store), so that none of them names a platform; how a
# post is rendered, measured and sent is each platform's adapter module (gateway/adapters/).

@dataclass(frozen=True)
class Limits:
    max_text: int  # X: weighted length (twitter-text v3); LINE: UTF-16 units; others: characters
    max_media: int
    alt_text_max: int | None  # None: the platform has no alt-text field
    max_title: int | None = None
    max_description_bytes: int | None = None
    max_parts: int = 1  # requests per post (X thread) or messages per request (LINE: 5)


@dataclass(frozen=True)
class PlatformSpec:
    platform: Platform
    label: str  # as staff read it
    limits: Limits
    # How `limits.max_text` is counted: twitter-text's weighted length, UTF-16 code units, or characters.
    counted_in: Literal["x_weighted", "utf16", "characters"]
    # Alternative complete credential field sets; one of them is enough.
    credential_fields: tuple[tuple[str, ...], ...]
    # Media the platform fetches itself from a public HTTPS address (never file bytes), and that address's cap.
    fetched_media: frozenset[MediaKind] = frozenset()
    max_media_url: int = 2_000
    # The platform drops a resent request itself (LINE's X-Line-Retry-Key): an uncertain send is simply resent.
    deduplicates: bool = False
    # More than 1: an account's languages go out together in one post (one message each), at most this many.
    languages_per_post: int = 1
    # Carries a text-only post (an alert without a picture); False: such a post is skipped with a reason.
    carries_text_only: bool = True
    # The post has a title of its own (sent apart from the text).
    titled: bool = False
    # A published post can be deleted through the API (retracting removes it); False: it stays until removed by hand.
    deletes: bool = True
    # Where the platform's own posts and pages live (a share from there is a share of a post on it).
    hosts: tuple[str, ...] = ()
    # Loggers of the platform's SDK, which print requests with their credentials at DEBUG or INFO.
    sdk_loggers: tuple[str, ...] = ()
    # The largest image and video file the platform takes from an upload (None: no lower cap than others').
    max_image_bytes: int | None = None
    max_video_bytes: int | None = None

    def fetchable(self, media: Media) -> bool:
        """Whether the platform can fetch `media` itself: an HTTPS address within its length cap."""
        url = media.url or ""
        return url.startswith("https://") and len(url) <= self.max_media_url

    def unfetchable(self, media: Media) -> bool:
        """Media of a kind the platform fetches by address, without an address it can fetch."""
        return media.kind in self.fetched_media and not self.fetchable(media)

    def language_groups(self, languages: tuple[str, ...]) -> list[tuple[str, ...]]:
        """How an account posts a message in `languages` (its own, in its order): all of them in one post where
        the platform carries several, else one post per language. Alerts and staff-written versions go by it."""
        if self.languages_per_post > 1:
            return [languages] if languages else []
        return [(language,) for language in languages]


LINE_MAX_MESSAGES = 5  # per request

PLATFORM_SPECS: dict[Platform, PlatformSpec] = {
    Platform.X: PlatformSpec(  # 280: twitter-text v3's weighted length (render.x_length); threads of 25 at most
        Platform.X, "X", Limits(max_text=280, max_media=4, alt_text_max=1000, max_parts=25), "x_weighted",
        (("consumer_key", "consumer_secret", "access_token", "access_token_secret", "user_id"),
         ("bearer_token", "user_id")),  # OAuth 1.0a user context, or an OAuth 2 user token
        hosts=("x.com", "twitter.com"), sdk_loggers=("tweepy", "oauthlib", "requests_oauthlib"),
        # docs.x.com, "Media types & size restrictions": images 5 MB (GIFs 15 MB), video 512 MB.
        max_image_bytes=5 * 1024 * 1024, max_video_bytes=512 * 1024 * 1024,
    ),
    Platform.LINE: PlatformSpec(
        # Image messages have no alt-text field: the descriptions go in the text (【画像の説明】), each held
        # to the 1,500 characters of LINE's altText field.
        Platform.LINE, "LINE",
        Limits(max_text=5000, max_media=LINE_MAX_MESSAGES - 1, alt_text_max=1_500, max_parts=LINE_MAX_MESSAGES),
        "utf16",
        (("channel_access_token",),),
        fetched_media=frozenset({MediaKind.IMAGE}), deduplicates=True, languages_per_post=LINE_MAX_MESSAGES,
        hosts=("line.me",), sdk_loggers=("linebot",),
    ),
    Platform.FACEBOOK: PlatformSpec(  # Meta documents no maximum for alt_text_custom: 1,000 as the others
        Platform.FACEBOOK, "Facebook", Limits(max_text=63_206, max_media=10, alt_text_max=1_000), "characters",
        (("page_id", "page_access_token"),),
        hosts=("facebook.com",),
    ),
    Platform.YOUTUBE: PlatformSpec(
        Platform.YOUTUBE, "YouTube",
        Limits(max_text=5_000, max_media=1, alt_text_max=None, max_title=100, max_description_bytes=5_000),
        "characters",
        (("access_token", "refresh_token", "client_id", "client_secret", "channel_id"),),
        carries_text_only=False, titled=True,
        hosts=("youtube.com", "youtu.be"), max_video_bytes=256 * 1024 ** 3,
        sdk_loggers=("googleapiclient", "google.auth", "google_auth_httplib2", "google_auth_oauthlib", "httplib2"),
    ),
    Platform.INSTAGRAM: PlatformSpec(
        # Caption 2,200 characters, a carousel of 10, alt text 1,000 (Meta's figure).
        Platform.INSTAGRAM, "Instagram", Limits(max_text=2_200, max_media=10, alt_text_max=1_000), "characters",
        (("ig_user_id", "access_token"),),
        fetched_media=frozenset({MediaKind.IMAGE, MediaKind.VIDEO}), carries_text_only=False, deletes=False,
        hosts=("instagram.com",),
    ),
}
