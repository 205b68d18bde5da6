"""JMA seismological and volcanological bodies: 震度, 津波, 噴火警報・予報, 南海トラフ地震臨時情報.

Intensity: 震源・震度に関する情報 (VXSE53) lists municipalities (City) inside each 地震情報／細分区域
(Area); 震度速報 (VXSE51) lists only the regions. A telegram with municipalities is addressed by
them; one with regions only is addressed by region, which seismic_regions maps to municipalities.
噴火警報・予報 names the municipalities it concerns; 南海トラフ地震臨時情報 names none and concerns
every municipality that subscribes to it (code_type "nation").
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from gateway.alerts import terms
from gateway.alerts.model import AlertArea, AreaStatus, CodeType, Detail
from gateway.alerts.xmlsafe import child, children, descendants, local, path, path_text, text

# --- 地震 ------------------------------------------------------------------------------------


def seismic(body: Element, head: Element) -> tuple[tuple[AlertArea, ...], dict[str, Detail]]:
    return _intensity_areas(body), _earthquake_details(body)


def _intensity_areas(body: Element) -> tuple[AlertArea, ...]:
    observation = path(body, "Intensity", "Observation")
    if observation is None:
        return ()
    regions = [area for pref in children(observation, "Pref") for area in children(pref, "Area")]
    by_city = any(True for region in regions for _ in children(region, "City"))
    areas: list[AlertArea] = []
    for region in regions:
        # With municipalities listed, a region's maximum says nothing of a municipality not listed in it.
        areas.append(_intensity_area(region, "seismic_area", addressed=not by_city))
        areas.extend(_intensity_area(city, "city", addressed=True) for city in children(region, "City"))
    return tuple(areas)


def _intensity_area(element: Element, code_type: CodeType, *, addressed: bool) -> AlertArea:
    code = terms.intensity_code(path_text(element, "MaxInt"))
    return AlertArea(code=path_text(element, "Code"), name=path_text(element, "Name"), code_type=code_type,
                     status="issue" if code and addressed else "none", intensity=code,
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


# --- 津波 ------------------------------------------------------------------------------------

_GRADES = ("大津波警報", "津波警報", "津波注意報")


def _grade(name: str) -> str:
    return next((g for g in _GRADES if g in name), "")


def tsunami(body: Element, head: Element) -> tuple[tuple[AlertArea, ...], dict[str, Detail]]:
    forecast = path(body, "Tsunami", "Forecast")
    areas = tuple(_tsunami_area(item) for item in children(forecast, "Item")) if forecast is not None else ()
    return areas, _earthquake_details(body)


def _tsunami_area(item: Element) -> AlertArea:
    name = path_text(item, "Category", "Kind", "Name")
    last = _grade(path_text(item, "Category", "LastKind", "Name"))
    grade = "" if "解除" in name else _grade(name)
    status: AreaStatus
    if grade:
        status = "continue" if grade == last else "update" if last else "issue"
        # A downgrade (津波警報 → 津波注意報) ends the higher grade here.
        lifted = (last,) if last and _GRADES.index(grade) > _GRADES.index(last) else ()
    else:  # 解除, or a warning/advisory that became 津波予報（若干の海面変動）
        ended = last or _grade(name.replace("解除", ""))
        status = "lift" if ended else "none"
        lifted = (ended,) if ended else ()
    labels = (grade, *_tsunami_facts(item)) if grade else ()
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


# --- 噴火警報・予報 ----------------------------------------------------------------------------

_VOLCANO_WARNINGS = {"01", "02", "03"}  # 噴火警報, 火口周辺警報, 噴火警報（周辺海域）
_VOLCANO_LIFTED = "04"  # 噴火予報：警報解除


def volcano(body: Element, head: Element) -> tuple[tuple[AlertArea, ...], dict[str, Detail]]:
    infos = [i for i in descendants(body, "VolcanoInfo")]
    target = next((i for i in infos if i.get("type") == "噴火警報・予報（対象火山）"), None)
    item = path(target, "Item")
    details: dict[str, Detail] = {"volcano": path_text(item, "Areas", "Area", "Name"),
                                  "volcano_level": terms.clean(path_text(item, "Kind", "Name"))}
    level = terms.level_in(path_text(item, "Kind", "Name"))
    if level is not None:
        details["volcano_level_number"] = level
    areas = [_volcano_area(area, city_item, level)
             for info in infos if info.get("type") == "噴火警報・予報（対象市町村等）"
             for city_item in children(info, "Item")
             for group in children(city_item, "Areas") for area in children(group, "Area")]
    return tuple(areas), details


def _volcano_area(area: Element, item: Element, level: int | None) -> AlertArea:
    name, code = path_text(item, "Kind", "Name"), path_text(item, "Kind", "Code")
    condition, last = path_text(item, "Kind", "Condition"), path_text(item, "LastKind", "Name")
    last_code = path_text(item, "LastKind", "Code")
    status: AreaStatus
    if code in _VOLCANO_WARNINGS:
        status = "continue" if condition == "継続" else "update" if condition == "引下げ" else "issue"
    elif code == _VOLCANO_LIFTED or last_code in _VOLCANO_WARNINGS:
        status = "lift"
    else:
        status = "none"
    lifted = (last,) if status == "lift" and last else ()
    return AlertArea(code=path_text(area, "Code"), name=path_text(area, "Name"), status=status,
                     labels=(terms.clean(name),) if code in _VOLCANO_WARNINGS else (), lifted=lifted, level=level)


# --- 南海トラフ地震臨時情報 ---------------------------------------------------------------------

_NANKAI_ENDED = "調査終了"


def nankai(body: Element, head: Element) -> tuple[tuple[AlertArea, ...], dict[str, Detail]]:
    info = next(descendants(body, "EarthquakeInfo"), None)
    keyword = path_text(info, "InfoSerial", "Name") if info is not None else ""
    status: AreaStatus = "lift" if keyword == _NANKAI_ENDED else "issue"
    area = AlertArea(name="南海トラフ地震の想定震源域に関係する地域", code_type="nation", status=status,
                     labels=(keyword,) if keyword else ())
    details: dict[str, Detail] = {"keyword": keyword, "ended": keyword == _NANKAI_ENDED}
    return (area,), details
