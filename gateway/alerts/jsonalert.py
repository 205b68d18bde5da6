"""The gateway's own alert JSON → Alert.

```json
{"format": "koho-alert/1", "id": "kodaira-20261121-001", "revision": 1, "sender": "kodaira-bousai",
 "sent": "2026-11-21T10:00:00+09:00", "expires": "2026-11-22T10:00:00+09:00", "status": "actual",
 "action": "issue", "kind": "evacuation",
 "areas": [{"code": "13211", "name": "小平市", "subareas": ["小川町一丁目"]}],
 "headline": "…", "details": {"evacuation_type": "避難指示"}}
```
status exercise/test are drills; system and draft are withheld (never posted). action is one of
issue, update, lift (解除), ended (the event is over) and cancel (取消). `expires`, when given, is the
alert's expiry. Key `json|sender|id|revision`; a revision > 1 refers to revision - 1 of the same
id (thread `json|sender|id`). `details` keys: evacuation_type, level,
shelters, warnings, intensity, hypocenter, magnitude, tsunami_grade, observations, comment.
An unknown `kind` string parses to kind None (rejected as unsupported by the planner).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.alerts import terms
from gateway.alerts.areas import code_type_of
from gateway.alerts.model import Action, Alert, AlertArea, CodeType, Detail, RawInfo
from gateway.errors import FieldProblem, InputError
from gateway.models import shown_key
from gateway.policy import ALERT_KINDS

FORMAT = "koho-alert/1"
_DRILL_STATUS = {"exercise", "test"}
_WITHHELD_STATUS = {"system": "status system はシステム内部の通知です（掲載しません）",
                    "draft": "status draft は下書きです（掲載しません）"}

_Text = Field(default="", max_length=2000)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JsonArea(_Strict):
    code: str = Field(default="", max_length=16, pattern=r"^[0-9]*$")
    name: str = Field(default="", max_length=200)
    subareas: tuple[str, ...] = Field(default=(), max_length=200)


class JsonDetails(_Strict):
    evacuation_type: str | None = Field(default=None, max_length=50)
    level: int | None = Field(default=None, ge=1, le=5)
    shelters: tuple[str, ...] = Field(default=(), max_length=200)
    closed_shelters: tuple[str, ...] = Field(default=(), max_length=200)
    warnings: tuple[str, ...] = Field(default=(), max_length=50)
    intensity: str | None = Field(default=None, max_length=10)
    hypocenter: str | None = Field(default=None, max_length=200)
    magnitude: str | None = Field(default=None, max_length=20)
    tsunami_grade: Literal["大津波警報", "津波警報", "津波注意報"] | None = None
    observations: tuple[str, ...] = Field(default=(), max_length=50)
    comment: str | None = Field(default=None, max_length=2000)


class JsonAlert(_Strict):
    format: Literal["koho-alert/1"] = "koho-alert/1"
    id: str = Field(min_length=1, max_length=128)
    revision: int = Field(default=1, ge=1)
    sender: str = Field(min_length=1, max_length=200)
    sent: AwareDatetime
    expires: AwareDatetime | None = None
    status: Literal["actual", "exercise", "test", "system", "draft"] = "actual"
    action: Literal["issue", "update", "cancel", "lift", "ended"] = "issue"
    correction: bool = False
    kind: str | None = Field(default=None, max_length=64)
    areas: tuple[JsonArea, ...] = Field(default=(), max_length=500)
    headline: str = _Text
    details: JsonDetails = JsonDetails()

    @field_validator("sent", "expires")
    @classmethod
    def _in_range(cls, value: datetime | None) -> datetime | None:
        """2000-2100: an offset at the calendar's edge (9999-12-31T23:00-12:00) has no UTC time at all."""
        if value is None:
            return value
        try:
            year = value.astimezone(UTC).year
        except OverflowError:
            year = 0
        if not 2000 <= year <= 2100:
            raise ValueError("日時が範囲外です（2000年〜2100年）")
        return value


def parse_json(raw: bytes, info: RawInfo) -> Alert:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise terms.invalid("document", f"JSON として解析できません: {exc}", code="json_malformed") from exc
    if not isinstance(data, dict):
        raise terms.invalid("document", "JSON の最上位はオブジェクトである必要があります", code="json_malformed")
    try:
        body = JsonAlert.model_validate(data)
    except ValidationError as exc:
        # A key from the document may hold NUL or a lone surrogate: shown escaped, it cannot fail
        # the audit row of the rejection (PostgreSQL refuses both) or the answer's encoding.
        problems = [FieldProblem(".".join(shown_key(str(p)) for p in err["loc"]) or "document", err["type"],
                                 str(err["msg"]).removeprefix("Value error, ")) for err in exc.errors()]
        detail = "; ".join(f"{p.field}: {p.message}" for p in problems)
        raise InputError(f"アラート JSON が不正です: {detail}", problems, code="alert_invalid") from exc
    return _to_alert(body, info)


def _to_alert(body: JsonAlert, info: RawInfo) -> Alert:
    kind = body.kind if body.kind in ALERT_KINDS else None
    base = f"json|{body.sender}|{body.id}"
    status = "lift" if body.action in ("lift", "ended") else "update" if body.action == "update" else "issue"
    areas = tuple(AlertArea(code=a.code, name=a.name, code_type=_code_type(a.code), status=status,
                            subareas=a.subareas, intensity=terms.intensity_code(body.details.intensity or ""))
                  for a in body.areas)
    action: Action = body.action
    return Alert(
        format="json", key=f"{base}|{body.revision}", thread=base, kind=kind, action=action,
        correction=body.correction, drill=body.status in _DRILL_STATUS, status=body.status,
        references=(f"{base}|{body.revision - 1}",) if body.revision > 1 else (),
        area_codes=tuple(a.code for a in body.areas if a.code), area_names=tuple(a.name for a in body.areas if a.name),
        areas=areas, headline=terms.clean(body.headline), sent=body.sent, expires=body.expires,
        withheld="system" if body.status == "system" else "draft" if body.status == "draft" else None,
        withheld_reason=_WITHHELD_STATUS.get(body.status, ""), sender=body.sender,
        title=body.kind or "", source_kind=body.kind or "", details=_details(body.details),
        sha256=info.sha256, size=info.size,
    )


def _code_type(code: str) -> CodeType:
    kind = code_type_of(code) if code else "city"
    if kind == "city":
        return "city"
    return "prefecture" if kind == "prefecture" else "other"


def _details(details: JsonDetails) -> dict[str, Detail]:
    out: dict[str, Detail] = {}
    term = terms.evacuation_type(details.evacuation_type or "")
    if term:
        out["evacuation_type"] = term
        out["level"] = terms.LEVEL_OF[term]
    elif details.level is not None:
        out["level"] = details.level
    for name in ("shelters", "closed_shelters", "warnings", "observations"):
        values = getattr(details, name)
        if values:
            out[name] = tuple(terms.clean(v) for v in values)
    intensity = terms.intensity_code(details.intensity or "")
    if intensity:
        out["max_intensity"] = intensity
    for name in ("hypocenter", "magnitude", "tsunami_grade", "comment"):
        value = getattr(details, name)
        if value:
            out[name] = terms.clean(value)
    return out
