"""The parsed alert: one value every intake format (JMA, L-Alert/EDXL, CAP, JSON) turns into.

Identity and lifecycle (DESIGN.md, issues 5 and 11):
- `key` is the dedupe identity of the document. CAP: `cap|sender|identifier|sent`; JMA:
  `jma|EventID|Serial|InfoKind|Control/Title` (+ `|取消`/`|訂正`; an empty EventID is replaced by
  Head/Title and an empty Serial by ReportDateTime, see jma.py); L-Alert: `edxl|documentID|revision`;
  gateway JSON: `json|sender|id|revision`. The same document delivered twice has the same key.
- `part` numbers the events of one document (CAP: one per chosen <info> block); `unit_key` is the
  identity of one event.
- `thread` groups an alert with its follow-ups: JMA `jma|EventID|InfoKind`, L-Alert
  `edxl|documentID`, JSON `json|sender|id`, CAP the earliest referenced message's key (or its own
  key for a first message). An Update/Cancel finds its predecessor by `references` (exact keys of
  earlier messages: CAP references, L-Alert/JSON previous revision) and otherwise by `thread`
  (JMA names no predecessor key: the latest alert of the same thread is the one it follows).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

AlertFormat = Literal["jma", "edxl", "cap", "json"]
# issue: new; update: changed or re-stated; lift: an order or warning was lifted (解除, CAP AllClear);
# ended: the source says the event is over (CAP urgency Past) without lifting anything; cancel: the
# earlier message was wrong (取消, CAP Cancel).
Action = Literal["issue", "update", "cancel", "lift", "ended"]
# Why a parsed document must never be posted by itself, whatever city it names.
Withheld = Literal["restricted", "private", "receipt", "system", "draft"]
# Per area: new (issue), changed (update), unchanged (continue), ended (lift), nothing in force (none).
AreaStatus = Literal["issue", "update", "continue", "lift", "none"]
# city: JIS X 0402 municipality code (5/6/7 digits); prefecture: 2 digits or XX000(check);
# tsunami: JMA 津波予報区; forecast: JMA 府県予報区・細分区域; place: a name only (記録的短時間大雨).
# seismic_area: JMA 地震情報／細分区域 (mapped to its municipalities by seismic_regions); nation: no
# area of its own (南海トラフ地震臨時情報), for every municipality that subscribes to the kind.
CodeType = Literal["city", "prefecture", "tsunami", "forecast", "seismic_area", "place", "nation", "other"]

Detail = str | int | bool | tuple[str, ...]


@dataclass(frozen=True)
class RawInfo:
    """What the audit keeps of the raw document besides the bytes the caller stores."""

    sha256: str
    size: int


class AlertArea(BaseModel):
    """One area an alert speaks about, with what it says for that area."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = ""
    name: str = ""
    code_type: CodeType = "city"
    status: AreaStatus = "issue"
    labels: tuple[str, ...] = ()  # warning names, tsunami grade, 震度, rainfall ... as posted
    lifted: tuple[str, ...] = ()  # what ended here (warning names, tsunami grade)
    level: int | None = None  # 警戒レベル (or 相当)
    intensity: str | None = None  # JMA intensity code: 1 2 3 4 5- 5+ 6- 6+ 7
    subareas: tuple[str, ...] = ()  # 町丁目 / shelters named for this area


class Alert(BaseModel):
    """A parsed, validated alert (frozen). Kind-specific facts live in `details` and `areas`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: AlertFormat
    key: str
    part: int = 0  # the event's position among the document's events (CAP <info> blocks)
    thread: str
    kind: str | None  # ALERT_KINDS key; None when the content is not a kind we publish
    action: Action
    correction: bool = False  # JMA 訂正 / CAP-JSON correction: the follow-up says 【訂正】
    drill: bool
    status: str  # the source's own status word (Actual, 通常, 訓練, Test ...), for the audit
    references: tuple[str, ...] = ()
    area_codes: tuple[str, ...] = ()  # codes of the areas the alert changes something for
    area_names: tuple[str, ...] = ()
    areas: tuple[AlertArea, ...] = ()
    headline: str = ""
    sent: datetime  # the issue time: CAP sent, JMA ReportDateTime, EDXL dateTimeSent, JSON sent
    expires: datetime | None = None  # CAP info/expires, JMA/L-Alert Head/ValidDateTime, JSON expires
    withheld: Withheld | None = None  # never posted automatically (restricted scope, receipts ...)
    withheld_reason: str = ""
    telegram: str = ""  # JMA Control/Title: the telegram type (気象警報・注意報（Ｈ２７）...)
    scheme_rank: int = 0  # richer schemes of one JMA issuance rank higher (VPWW53 over VPWW50)
    sender: str
    title: str = ""  # JMA InfoKind/Title, CAP event, L-Alert category: what the source calls it
    source_kind: str = ""  # e.g. "VPWW54-style 気象警報・注意報", "EvacuationOrder", CAP event
    details: dict[str, Detail] = {}
    sha256: str
    size: int

    @property
    def unit_key(self) -> str:
        """The identity of this event: the document key, with the part number after the first."""
        return self.key if self.part == 0 else f"{self.key}|part{self.part}"

    def detail_str(self, name: str) -> str:
        value = self.details.get(name)
        return value if isinstance(value, str) else ""

    def detail_int(self, name: str) -> int | None:
        value = self.details.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def detail_tuple(self, name: str) -> tuple[str, ...]:
        value = self.details.get(name)
        return value if isinstance(value, tuple) else ()
