"""JMA 防災情報XML (気象庁防災情報XMLフォーマット) → Alert.

Kinds read: 気象警報・注意報 (VPWW54 and the 2026 scheme VPWW55–61, whose element names carry
"レベルN"), 土砂災害警戒情報 (VXWW50), 記録的短時間大雨情報 (VPOA50), 地震情報/震度速報
(VXSE51/53), 津波警報・注意報・予報 (VTSE41). Anything else is parsed with kind None.

Key: `jma|EventID|Serial|InfoKind`. Weather warnings carry no EventID and tsunami telegrams no
Serial, so an empty EventID is replaced by Head/Title (one title per prefecture/region) and an
empty Serial by ReportDateTime; InfoType is appended when it is not 発表, so that a 取消 or 訂正
never collides with the report it corrects. The same telegram always yields the same key.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from gateway.alerts import terms
from gateway.alerts.model import Action, Alert, AlertArea, AreaStatus, Detail, RawInfo
from gateway.alerts.xmlsafe import child, children, descendants, local, path, path_text, text
from gateway.models import ascii_digits

NAMESPACE = "http://xml.kishou.go.jp/jmaxml1/"

_DRILL_STATUS = {"訓練", "試験"}
_ACTIONS: dict[str, Action] = {"発表": "issue", "訂正": "update", "遅延": "update", "取消": "cancel"}

_KINDS: tuple[tuple[str, str], ...] = (
    ("気象特別警報・警報・注意報", "weather_warning"),
    ("気象警報・注意報", "weather_warning"),
    ("土砂災害警戒情報", "landslide"),
    ("記録的短時間大雨情報", "record_rain"),
    ("地震情報", "seismic"),
    ("震度速報", "seismic"),
    ("津波警報・注意報・予報", "tsunami"),
)


def parse_jma(root: Element, raw: RawInfo) -> Alert:
    control, head = path(root, "Control"), path(root, "Head")
    if control is None:
        raise terms.missing("Report/Control", "Control 要素")
    if head is None:
        raise terms.missing("Report/Head", "Head 要素")
    body = child(root, "Body")
    status, info_type, info_kind = (_required(control, "Status", "Control"), _required(head, "InfoType", "Head"),
                                    _required(head, "InfoKind", "Head"))
    if status not in _DRILL_STATUS and status != "通常":
        raise terms.invalid("Control/Status", f"未知の運用種別です（{status}）")
    if info_type not in _ACTIONS:
        raise terms.invalid("Head/InfoType", f"未知の情報形態です（{info_type}）")
    kind = _kind(info_kind, path_text(control, "Title"))
    areas, details = _read_body(kind, body, head) if body is not None and info_type != "取消" else ((), {})
    if info_type == "取消" and body is not None:
        details = {"cancel_text": terms.clean(path_text(body, "Text"))}
    event = path_text(head, "EventID") or path_text(head, "Title")
    serial = path_text(head, "Serial")
    key = f"jma|{event}|{serial or path_text(head, 'ReportDateTime')}|{info_kind}"
    changed = tuple(a for a in areas if a.status in ("issue", "update", "lift"))
    return Alert(
        format="jma", key=key if info_type == "発表" else f"{key}|{info_type}", thread=f"jma|{event}|{info_kind}",
        kind=kind, action=_action(info_type, serial, changed), correction=info_type == "訂正",
        drill=status in _DRILL_STATUS, status=status,
        area_codes=tuple(dict.fromkeys(a.code for a in changed if a.code)),
        area_names=tuple(dict.fromkeys(a.name for a in changed if a.name)), areas=areas,
        headline=path_text(head, "Headline", "Text"),
        sent=terms.parse_datetime(_required(head, "ReportDateTime", "Head"), "Head/ReportDateTime"),
        sender=path_text(control, "PublishingOffice") or path_text(control, "EditorialOffice") or "気象庁",
        title=path_text(head, "Title"), source_kind=info_kind, details=details, sha256=raw.sha256, size=raw.size,
    )


def _required(parent: Element, name: str, where: str) -> str:
    value = path_text(parent, name)
    if not value:
        raise terms.missing(f"{where}/{name}", f"{name} 要素")
    return value


def _kind(info_kind: str, control_title: str) -> str | None:
    for prefix, kind in _KINDS:
        if info_kind.startswith(prefix) or control_title.startswith(prefix):
            return kind
    return None


def _action(info_type: str, serial: str, changed: tuple[AlertArea, ...]) -> Action:
    if info_type != "発表":
        return _ACTIONS[info_type]
    if changed and all(a.status == "lift" for a in changed):
        return "lift"
    if ascii_digits(serial) and int(serial) > 1:
        return "update"
    if changed and all(a.status == "update" for a in changed):
        return "update"
    return "issue"


def _read_body(kind: str | None, body: Element, head: Element) -> tuple[tuple[AlertArea, ...], dict[str, Detail]]:
    if kind == "weather_warning":
        return _weather_areas(body), {}
    if kind == "landslide":
        return _landslide_areas(body), {"level": 4}
    if kind == "record_rain":
        return _record_rain(body, path_text(head, "Headline", "Text"))
    if kind == "seismic":
        return _intensity_areas(body), _earthquake_details(body)
    if kind == "tsunami":
        return _tsunami_areas(body), _earthquake_details(body)
    return (), {}


# --- 気象警報・注意報 -------------------------------------------------------------------------

def _is_warning(name: str) -> bool:
    return "警報" in name and "注意報" not in name


def _warning_items(body: Element, warning_type: str) -> list[Element]:
    return [item for warning in children(body, "Warning") if warning.get("type") == warning_type
            for item in children(warning, "Item")]


def _weather_areas(body: Element) -> tuple[AlertArea, ...]:
    return tuple(_weather_area(item) for item in _warning_items(body, "気象警報・注意報（市町村等）"))


def _weather_area(item: Element) -> AlertArea:
    current: list[str] = []
    lifted: list[str] = []
    new = changed = False
    for kind in children(item, "Kind"):
        name, status, last = path_text(kind, "Name"), path_text(kind, "Status"), path_text(kind, "LastKind", "Name")
        if not name or status.startswith("発表警報・注意報はなし"):
            continue
        if status == "解除" or status.endswith("から注意報"):
            if _is_warning(last or name) or status.endswith("から注意報"):
                lifted.append(last if _is_warning(last) else _lifted_name(name, status))
        elif _is_warning(name):
            current.append(name)
            downgrade = _is_warning(last) and (_warning_level(name) or 0) < (_warning_level(last) or 0)
            new = new or (status == "発表" and not downgrade)
            changed = changed or downgrade
            if status == "特別警報から警報":
                changed = True
                lifted.append(last or "特別警報")
    levels = [lv for lv in (_warning_level(n) for n in current) if lv is not None]
    return AlertArea(code=path_text(item, "Area", "Code"), name=path_text(item, "Area", "Name"),
                     status=_weather_status(new, changed, current, lifted), labels=tuple(current),
                     lifted=tuple(lifted), level=max(levels) if levels else None)


def _lifted_name(name: str, status: str) -> str:
    """What ended when an item reads 大雨注意報 with status 警報から注意報 (H27 scheme has no LastKind)."""
    if status == "解除":
        return name
    return name.replace("注意報", "特別警報" if status.startswith("特別警報") else "警報")


def _weather_status(new: bool, changed: bool, current: list[str], lifted: list[str]) -> AreaStatus:
    if new:
        return "issue"
    if changed or (lifted and current):
        return "update"
    if lifted:
        return "lift"
    return "continue" if current else "none"


def _warning_level(name: str) -> int | None:
    return terms.level_in(name) or (5 if "特別警報" in name else None)


# --- 土砂災害警戒情報 / 記録的短時間大雨情報 ------------------------------------------------------

_SIMPLE_STATUS: dict[str, AreaStatus] = {"発表": "issue", "継続": "continue", "解除": "lift"}


def _landslide_areas(body: Element) -> tuple[AlertArea, ...]:
    areas = []
    for item in _warning_items(body, "土砂災害警戒情報"):
        status = _SIMPLE_STATUS.get(path_text(item, "Kind", "Status"), "none")
        areas.append(AlertArea(code=path_text(item, "Area", "Code"), name=path_text(item, "Area", "Name"),
                               status=status, labels=("土砂災害警戒情報",) if status != "none" else (), level=4))
    return tuple(areas)


def _record_rain(body: Element, headline: str) -> tuple[tuple[AlertArea, ...], dict[str, Detail]]:
    """Places come from the headline ("小平市付近で約１００ミリ"): the body names only 細分区域."""
    lines = [terms.clean(line.strip()) for line in headline.splitlines() if line.strip()]
    places: list[AlertArea] = []
    for line in lines:
        place, sep, amount = line.partition("付近で")
        if sep and place:
            places.append(AlertArea(name=place, code_type="place", labels=(amount,)))
    items = _warning_items(body, "記録的短時間大雨情報（発表細分）")
    regions = [AlertArea(code=path_text(i, "Area", "Code"), name=path_text(i, "Area", "Name"), code_type="forecast")
               for i in items if path_text(i, "Kind", "Status") == "発表"]
    observed = next((line for line in lines if "付近で" not in line), "")
    return (*places, *regions), {"observed": observed, "observations": tuple(lines[1:] if observed else lines)}


# --- 地震 / 津波 ----------------------------------------------------------------------------

def _intensity_areas(body: Element) -> tuple[AlertArea, ...]:
    observation = path(body, "Intensity", "Observation")
    if observation is None:
        return ()
    areas: list[AlertArea] = []
    for pref in children(observation, "Pref"):
        for area in children(pref, "Area"):
            areas.append(_intensity_area(area, "seismic_area"))
            areas.extend(_intensity_area(city, "city") for city in children(area, "City"))
    return tuple(areas)


def _intensity_area(element: Element, code_type: str) -> AlertArea:
    code = terms.intensity_code(path_text(element, "MaxInt"))
    return AlertArea(code=path_text(element, "Code"), name=path_text(element, "Name"),
                     code_type="city" if code_type == "city" else "seismic_area",
                     status="issue" if code else "none", intensity=code,
                     labels=(f"震度{terms.intensity_label(code)}",) if code else ())


def _earthquake_details(body: Element) -> dict[str, Detail]:
    quake = child(body, "Earthquake")
    details: dict[str, Detail] = {}
    if quake is not None:
        hypo = path(quake, "Hypocenter", "Area")
        details["hypocenter"] = terms.clean(path_text(hypo, "Name"))
        details["origin_time"] = path_text(quake, "OriginTime")
        magnitude = next((m for m in quake if local(m.tag) == "Magnitude"), None)
        if magnitude is not None:
            details["magnitude"] = terms.clean(magnitude.get("description") or text(magnitude))
    max_int = terms.intensity_code(path_text(body, "Intensity", "Observation", "MaxInt"))
    if max_int:
        details["max_intensity"] = max_int
    comment = path_text(body, "Comments", "ForecastComment", "Text")
    if comment:
        details["comment"] = comment
    return details


_GRADES = ("大津波警報", "津波警報", "津波注意報")


def _grade(name: str) -> str:
    return next((g for g in _GRADES if g in name), "")


def _tsunami_areas(body: Element) -> tuple[AlertArea, ...]:
    forecast = path(body, "Tsunami", "Forecast")
    if forecast is None:
        return ()
    return tuple(_tsunami_area(item) for item in children(forecast, "Item"))


def _tsunami_area(item: Element) -> AlertArea:
    name = path_text(item, "Category", "Kind", "Name")
    last = _grade(path_text(item, "Category", "LastKind", "Name"))
    grade = "" if "解除" in name else _grade(name)
    status: AreaStatus
    if "解除" in name:
        status = "lift"
    elif not grade:
        status = "none"
    else:
        status = "continue" if grade == last else "update" if last else "issue"
    labels = (grade, *_tsunami_facts(item)) if grade else ()
    lifted = (last or _grade(name.replace("解除", "")),) if status == "lift" else ()
    return AlertArea(code=path_text(item, "Area", "Code"), name=path_text(item, "Area", "Name"), code_type="tsunami",
                     status=status, labels=labels, lifted=lifted)


def _tsunami_facts(item: Element) -> list[str]:
    facts = []
    arrival = path_text(item, "FirstHeight", "ArrivalTime")
    condition = path_text(item, "FirstHeight", "Condition")
    if arrival:
        facts.append(f"到達予想 {arrival[11:16]}")
    elif condition:
        facts.append(condition)
    height = next(descendants(item, "TsunamiHeight"), None)
    if height is not None:
        label = terms.clean(height.get("description") or "")
        if label:
            facts.append(f"予想される高さ {label}")
    return facts
