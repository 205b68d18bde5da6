"""OASIS CAP 1.1 / 1.2 → Alerts, one per event (<info> block) that the gateway reads.

The whole message is read, as the standard defines it:
- Required elements (alert: identifier, sender, sent, status, msgType, scope; info: category, event,
  urgency, severity, certainty; area: areaDesc) and enumerated values are checked; a missing or
  unknown one is an InputError naming the element. `references` is required for Update and Cancel
  and must be "sender,identifier,sent" triples.
- status: Actual is real; Exercise and Test are drills (never public); System (network-internal)
  and Draft (not actionable) are withheld. msgType Ack and Error are receipts: withheld.
- scope: only Public may reach a public account. Restricted and Private alerts are parsed, kept
  for operators and withheld.
- info: every block is read. Blocks are grouped by `language` (default "en-US", as CAP says);
  all Japanese blocks are used, otherwise the English ones, otherwise those of the first language.
  Each block becomes one event (`part`), so two Japanese blocks — say 高齢者等避難 for one district
  and 避難指示 for another — are two posts.
- Meaning per block: Cancel → cancel; responseType AllClear, or an event that says 解除 → lift;
  urgency Past → ended (reports of what was observed — earthquakes, record rain — are always in the
  past and stay reports); otherwise Alert → issue and Update → update. `expires` is kept: an alert
  past it is held for an operator (freshness.py).
Municipalities are read from <geocode> whose valueName names JIS X 0402 (JIS, 0402, 団体コード,
LGCode); SAME/UGC/FIPS codes are kept as `other` and never matched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from xml.etree.ElementTree import Element

from gateway.alerts import kinds, terms
from gateway.alerts.areas import code_type_of
from gateway.alerts.model import Action, Alert, AlertArea, AreaStatus, CodeType, Detail, RawInfo, Withheld
from gateway.alerts.xmlsafe import children, path_text, text
from gateway.errors import InputError

NAMESPACES = ("urn:oasis:names:tc:emergency:cap:1.1", "urn:oasis:names:tc:emergency:cap:1.2")

_STATUSES = {"Actual", "Exercise", "System", "Test", "Draft"}
_DRILL_STATUS = {"Exercise", "Test"}
_WITHHELD_STATUS: dict[str, tuple[Withheld, str]] = {
    "System": ("system", "status System はシステム内部の通知です（掲載しません）"),
    "Draft": ("draft", "status Draft は下書きです（掲載しません）"),
}
_MSG_TYPES: dict[str, Action] = {"Alert": "issue", "Update": "update", "Cancel": "cancel"}
_RECEIPTS = {"Ack": "受信確認（Ack）", "Error": "エラー通知（Error）"}
_SCOPES: dict[str, Withheld | None] = {"Public": None, "Restricted": "restricted", "Private": "private"}
_CATEGORIES = {"Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra",
               "CBRNE", "Other"}
_URGENCIES = {"Immediate", "Expected", "Future", "Past", "Unknown"}
_SEVERITIES = {"Extreme", "Severe", "Moderate", "Minor", "Unknown"}
_CERTAINTIES = {"Observed", "Likely", "Possible", "Unlikely", "Unknown", "Very Likely"}  # Very Likely: CAP 1.1
_RESPONSES = {"Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None"}
_INFO_ENUMS = (("urgency", _URGENCIES), ("severity", _SEVERITIES), ("certainty", _CERTAINTIES))
_JIS_NAMES = ("jis", "0402", "団体コード", "地方公共団体", "lgcode")
# Kinds whose information is always about something observed: urgency Past is their normal state.
_REPORT_KINDS = {"seismic", "record_rain"}
_DEFAULT_LANGUAGE = "en-US"
_AREA_STATUS: dict[Action, AreaStatus] = {"issue": "issue", "update": "update", "lift": "lift", "ended": "lift",
                                          "cancel": "none"}


@dataclass(frozen=True)
class _Head:
    """The <alert> element's own fields, shared by every event of the message."""

    identifier: str
    sender: str
    sent: datetime
    sent_text: str
    status: str
    msg_type: str
    references: tuple[tuple[str, str], ...]
    withheld: tuple[Withheld, str] | None

    @property
    def key(self) -> str:
        return f"cap|{self.sender}|{self.identifier}|{self.sent_text}"


def parse_cap(root: Element, raw: RawInfo) -> tuple[Alert, ...]:
    head = _read_head(root)
    every = list(children(root, "info"))
    for index, info in enumerate(every):
        _check_info(info, index)
    infos = _chosen_infos(every)
    if head.msg_type == "Cancel":  # one cancel per message; an <info> only says what is cancelled
        return (_alert(head, infos[0] if infos else None, 0, raw),)
    if not infos:
        if head.withheld is None:
            raise terms.missing("alert/info", "info 要素")
        return (_alert(head, None, 0, raw),)
    return tuple(_alert(head, info, part, raw) for part, info in enumerate(infos))


def _read_head(root: Element) -> _Head:
    identifier, sender, sent_text, status, msg_type, scope = (
        _required(root, name) for name in ("identifier", "sender", "sent", "status", "msgType", "scope"))
    _enum("alert/status", status, _STATUSES)
    _enum("alert/msgType", msg_type, {*_MSG_TYPES, *_RECEIPTS})
    _enum("alert/scope", scope, set(_SCOPES))
    if scope == "Restricted" and not path_text(root, "restriction"):
        raise terms.missing("alert/restriction", "scope が Restricted の場合に必要な restriction 要素")
    if scope == "Private" and not path_text(root, "addresses"):
        raise terms.missing("alert/addresses", "scope が Private の場合に必要な addresses 要素")
    references = _references(path_text(root, "references"))
    if msg_type in ("Update", "Cancel") and not references:
        raise terms.missing("alert/references", f"msgType が {msg_type} の場合に必要な references 要素")
    return _Head(identifier, sender, terms.parse_datetime(sent_text, "alert/sent"), sent_text, status, msg_type,
                 tuple(references), _withheld(status, msg_type, scope))


def _withheld(status: str, msg_type: str, scope: str) -> tuple[Withheld, str] | None:
    if msg_type in _RECEIPTS:
        return "receipt", f"{_RECEIPTS[msg_type]}は警報ではありません（掲載しません）"
    scoped = _SCOPES[scope]
    if scoped is not None:
        return scoped, (f"scope {scope} の警報は限られた受信者向けです。公開アカウントには掲載せず、"
                        "運用担当者に表示します")
    return _WITHHELD_STATUS.get(status)


def _required(parent: Element, name: str, where: str = "alert") -> str:
    value = path_text(parent, name)
    if not value:
        raise terms.missing(f"{where}/{name}", f"{name} 要素")
    return value


def _enum(field: str, value: str, allowed: set[str]) -> None:
    if value not in allowed:
        shown = "、".join(sorted(allowed))
        raise terms.invalid(field, f"値 {value!r} は CAP で定義されていません（{shown}）")


def _language(info: Element) -> str:
    return path_text(info, "language") or _DEFAULT_LANGUAGE


def _chosen_infos(infos: list[Element]) -> list[Element]:
    if not infos:
        return []
    for wanted in ("ja", "en"):
        chosen = [i for i in infos if _language(i).lower().split("-")[0] == wanted]
        if chosen:
            return chosen
    first = _language(infos[0]).lower()
    return [i for i in infos if _language(i).lower() == first]


def _check_info(info: Element, index: int) -> None:
    where = f"alert/info[{index + 1}]"
    for name in ("category", "event", "urgency", "severity", "certainty"):
        _required(info, name, where)
    for category in children(info, "category"):
        _enum(f"{where}/category", text(category), _CATEGORIES)
    for name, allowed in _INFO_ENUMS:
        _enum(f"{where}/{name}", path_text(info, name), allowed)
    for response in children(info, "responseType"):
        _enum(f"{where}/responseType", text(response), _RESPONSES)
    for position, area in enumerate(children(info, "area")):
        _required(area, "areaDesc", f"{where}/area[{position + 1}]")
    expires = path_text(info, "expires")
    if expires:
        terms.parse_datetime(expires, f"{where}/expires")


def _references(value: str) -> list[tuple[str, str]]:
    """CAP references "sender,identifier,sent ..." → [(key, sent)]."""
    found = []
    for item in value.split():
        parts = item.split(",")
        if len(parts) != 3 or not all(parts):
            raise terms.invalid("alert/references", f"references の形式が不正です（{item!r}: sender,identifier,sent）")
        terms.parse_datetime(parts[2], "alert/references")
        found.append((f"cap|{parts[0]}|{parts[1]}|{parts[2]}", parts[2]))
    return found


def _thread(head: _Head) -> str:
    """The earliest referenced message: the first alert of the chain when the sender lists them all."""
    if not head.references:
        return head.key
    try:
        return min(head.references, key=lambda r: terms.parse_datetime(r[1], "alert/references"))[0]
    except InputError:  # pragma: no cover - references were validated in _references
        return head.references[0][0]


def _alert(head: _Head, info: Element | None, part: int, raw: RawInfo) -> Alert:
    kind = _kind(info) if info is not None else None
    action = _action(_MSG_TYPES.get(head.msg_type, "issue"), info, kind)
    areas = _areas(info, _AREA_STATUS[action]) if info is not None else ()
    expires = path_text(info, "expires") if info is not None else ""
    withheld = head.withheld
    return Alert(
        format="cap", key=head.key, part=part, thread=_thread(head), kind=kind, action=action,
        drill=head.status in _DRILL_STATUS, status=head.status, references=tuple(r for r, _ in head.references),
        area_codes=tuple(dict.fromkeys(a.code for a in areas if a.code)),
        area_names=tuple(dict.fromkeys(a.name for a in areas if a.name)), areas=areas,
        headline=path_text(info, "headline") if info is not None else "",
        sent=head.sent, expires=terms.parse_datetime(expires, "alert/info/expires") if expires else None,
        withheld=withheld[0] if withheld else None, withheld_reason=withheld[1] if withheld else "",
        sender=(path_text(info, "senderName") if info is not None else "") or head.sender,
        title=path_text(info, "event") if info is not None else head.msg_type,
        source_kind=path_text(info, "event") if info is not None else "", details=_details(kind, info),
        sha256=raw.sha256, size=raw.size,
    )


def _action(action: Action, info: Element | None, kind: str | None) -> Action:
    if action == "cancel" or info is None:
        return action
    responses = {text(r) for r in children(info, "responseType")}
    if "AllClear" in responses or "解除" in path_text(info, "event"):
        return "lift"
    if path_text(info, "urgency") == "Past" and kind not in _REPORT_KINDS:
        return "ended"
    return action


def _kind(info: Element) -> str | None:
    codes = tuple(path_text(c, "value") for c in children(info, "eventCode"))
    texts = (path_text(info, "event"), path_text(info, "headline"))
    meteorological = any(text(c) == "Met" for c in children(info, "category"))
    return kinds.kind_of(texts, codes, meteorological=meteorological)


def _areas(info: Element, status: AreaStatus) -> tuple[AlertArea, ...]:
    areas: list[AlertArea] = []
    for area in children(info, "area"):
        name = path_text(area, "areaDesc")
        codes = [path_text(g, "value") for g in children(area, "geocode")
                 if any(n in path_text(g, "valueName").lower() for n in _JIS_NAMES)]
        if not codes:
            areas.append(AlertArea(name=name, code_type="other", status=status))
        for code in codes:
            found = code_type_of(code)
            code_type: CodeType = "city" if found == "city" else "prefecture" if found == "prefecture" else "other"
            areas.append(AlertArea(code=code, name=name, code_type=code_type, status=status))
    return tuple(areas)


def _parameters(info: Element) -> dict[str, str]:
    return {path_text(p, "valueName"): path_text(p, "value") for p in children(info, "parameter")}


def _details(kind: str | None, info: Element | None) -> dict[str, Detail]:
    if info is None:
        return {}
    event, headline = path_text(info, "event"), path_text(info, "headline")
    details: dict[str, Detail] = {"event": event}
    description = path_text(info, "description")
    if description:
        details["description"] = description
    if kind == "evacuation":
        term = terms.evacuation_type(event, headline) or terms.evacuation_type(description)
        if term:
            details["evacuation_type"] = term
            details["level"] = terms.LEVEL_OF[term]
    elif kind == "seismic":
        _seismic_details(details, _parameters(info))
    elif kind == "tsunami":
        details["tsunami_grade"] = _tsunami_grade(f"{event} {headline}")
    elif kind == "weather_warning" and "警報" in event:
        details["warnings"] = (terms.clean(event.replace("解除", "")),)
    return details


def _seismic_details(details: dict[str, Detail], params: dict[str, str]) -> None:
    for name, value in params.items():
        lowered = name.lower()
        if "magnitude" in lowered or name == "マグニチュード":
            details["magnitude"] = value if value.upper().startswith("M") else f"M{value}"
        elif "震度" in name or "intensity" in lowered:
            code = terms.intensity_code(value)
            if code:
                details["max_intensity"] = code


def _tsunami_grade(value: str) -> str:
    lowered = value.lower()
    for word, grade in (("大津波警報", "大津波警報"), ("津波警報", "津波警報"), ("津波注意報", "津波注意報"),
                        ("tsunami warning", "津波警報"), ("tsunami advisory", "津波注意報")):
        if word in lowered:
            return grade
    return ""
