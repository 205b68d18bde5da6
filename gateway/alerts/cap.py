"""OASIS CAP 1.1 / 1.2 → Alert.

status Exercise/System/Test/Draft are drills (never public). msgType Alert → issue, Update →
update (or lift when the info's responseType is AllClear or the event says 解除), Cancel → cancel
(a Cancel may have no <info>); Ack and Error are refused: they are receipts, not alerts.
Municipalities are read from <geocode> whose valueName names JIS X 0402 (JIS, 0402, 団体コード,
LGCode); SAME/UGC/FIPS codes are kept as `other` and never matched. The Japanese <info> is used
when there are several languages.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from gateway.alerts import kinds, terms
from gateway.alerts.areas import code_type_of
from gateway.alerts.model import Action, Alert, AlertArea, CodeType, Detail, RawInfo
from gateway.alerts.xmlsafe import children, path_text, text
from gateway.errors import InputError

NAMESPACES = ("urn:oasis:names:tc:emergency:cap:1.1", "urn:oasis:names:tc:emergency:cap:1.2")

_DRILL_STATUS = {"Exercise", "System", "Test", "Draft"}
_MSG_TYPES: dict[str, Action] = {"Alert": "issue", "Update": "update", "Cancel": "cancel"}
_JIS_NAMES = ("jis", "0402", "団体コード", "地方公共団体", "lgcode")


def parse_cap(root: Element, raw: RawInfo) -> Alert:
    identifier, sender, sent_text, status, msg_type = (
        _required(root, name) for name in ("identifier", "sender", "sent", "status", "msgType"))
    if status not in _DRILL_STATUS and status != "Actual":
        raise terms.invalid("alert/status", f"未知の status です（{status}）")
    if msg_type not in _MSG_TYPES:
        raise terms.invalid("alert/msgType", f"掲載できない msgType です（{msg_type}: 応答・エラー通知は掲載しません）",
                            code="alert_unsupported")
    info = _choose_info(root)
    if info is None and msg_type != "Cancel":
        raise terms.missing("alert/info", "info 要素")
    references = _references(path_text(root, "references"))
    key = f"cap|{sender}|{identifier}|{sent_text}"
    areas = _areas(info) if info is not None else ()
    kind = _kind(info) if info is not None else None
    changed = tuple(a for a in areas if a.status != "none")
    return Alert(
        format="cap", key=key, thread=_thread(references) or key, kind=kind,
        action=_action(_MSG_TYPES[msg_type], info), drill=status in _DRILL_STATUS, status=status,
        references=tuple(r for r, _ in references),
        area_codes=tuple(dict.fromkeys(a.code for a in changed if a.code)),
        area_names=tuple(dict.fromkeys(a.name for a in changed if a.name)), areas=areas,
        headline=path_text(info, "headline") if info is not None else "",
        sent=terms.parse_datetime(sent_text, "alert/sent"),
        sender=(path_text(info, "senderName") if info is not None else "") or sender,
        title=path_text(info, "event") if info is not None else msg_type,
        source_kind=path_text(info, "event") if info is not None else "", details=_details(kind, info),
        sha256=raw.sha256, size=raw.size,
    )


def _required(root: Element, name: str) -> str:
    value = path_text(root, name)
    if not value:
        raise terms.missing(f"alert/{name}", f"{name} 要素")
    return value


def _choose_info(root: Element) -> Element | None:
    infos = list(children(root, "info"))
    japanese = [i for i in infos if path_text(i, "language").lower().startswith("ja")]
    chosen = japanese or infos
    return chosen[0] if chosen else None


def _references(value: str) -> list[tuple[str, str]]:
    """CAP references "sender,identifier,sent ..." → [(key, sent)]."""
    found = []
    for item in value.split():
        parts = item.split(",")
        if len(parts) != 3 or not all(parts):
            raise terms.invalid("alert/references", f"references の形式が不正です（{item!r}: sender,identifier,sent）")
        found.append((f"cap|{parts[0]}|{parts[1]}|{parts[2]}", parts[2]))
    return found


def _thread(references: list[tuple[str, str]]) -> str:
    """The earliest referenced message: the first alert of the chain when the sender lists them all."""
    if not references:
        return ""
    try:
        return min(references, key=lambda r: terms.parse_datetime(r[1], "alert/references"))[0]
    except InputError:  # an unparseable sent in a reference: keep the first as listed
        return references[0][0]


def _action(action: Action, info: Element | None) -> Action:
    if action != "update" or info is None:
        return action
    response = {text(r) for r in children(info, "responseType")}
    if "AllClear" in response or "解除" in path_text(info, "event"):
        return "lift"
    return action


def _kind(info: Element) -> str | None:
    codes = tuple(path_text(c, "value") for c in children(info, "eventCode"))
    texts = (path_text(info, "event"), path_text(info, "headline"))
    meteorological = any(text(c) == "Met" for c in children(info, "category"))
    return kinds.kind_of(texts, codes, meteorological=meteorological)


def _areas(info: Element) -> tuple[AlertArea, ...]:
    areas: list[AlertArea] = []
    for area in children(info, "area"):
        name = path_text(area, "areaDesc")
        codes = [path_text(g, "value") for g in children(area, "geocode")
                 if any(n in path_text(g, "valueName").lower() for n in _JIS_NAMES)]
        if not codes:
            areas.append(AlertArea(name=name, code_type="other"))
        for code in codes:
            code_type: CodeType = "city" if code_type_of(code) == "city" else (
                "prefecture" if code_type_of(code) == "prefecture" else "other")
            areas.append(AlertArea(code=code, name=name, code_type=code_type))
    return tuple(areas)


def _parameters(info: Element) -> dict[str, str]:
    return {path_text(p, "valueName"): path_text(p, "value") for p in children(info, "parameter")}


def _details(kind: str | None, info: Element | None) -> dict[str, Detail]:
    if info is None:
        return {}
    event, headline = path_text(info, "event"), path_text(info, "headline")
    params = _parameters(info)
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
        _seismic_details(details, params)
    elif kind == "tsunami":
        details["tsunami_grade"] = _tsunami_grade(f"{event} {headline}")
    elif kind == "weather_warning" and "警報" in event:
        details["warnings"] = (event,)
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

