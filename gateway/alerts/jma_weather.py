"""JMA meteorological bodies: 気象警報・注意報, 土砂災害警戒情報, 記録的短時間大雨情報, 指定河川洪水予報.

Weather warnings are read per municipality (Warning type 気象警報・注意報（市町村等）): what is in force
(warnings and special warnings only; advisories are not posted), what is new, and what ended. An
item that now reads an advisory with status 警報から注意報 names the warning that ended in LastKind;
older telegrams without LastKind name only the advisory, and the ended warning is its real
counterpart (強風注意報 → 暴風警報, 風雪注意報 → 暴風雪警報): never a warning JMA does not issue.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element

from gateway.alerts import terms
from gateway.alerts.model import AlertArea, AreaStatus, Detail
from gateway.alerts.xmlsafe import children, descendants, path, path_text

# The warnings JMA issues (code table WeatherWarning, and the 2026 scheme's 土砂災害・氾濫 warnings).
WARNING_HAZARDS = frozenset({"暴風雪", "大雨", "洪水", "暴風", "大雪", "波浪", "高潮", "土砂災害", "氾濫"})
SPECIAL_WARNING_HAZARDS = frozenset({"暴風雪", "大雨", "暴風", "大雪", "波浪", "高潮", "土砂災害"})
# An advisory whose warning goes by another name.
_WARNING_OF_ADVISORY = {"強風": "暴風", "風雪": "暴風雪"}
_LEVEL_PREFIX = re.compile(r"^レベル[0-9０-９]")


def is_warning(name: str) -> bool:
    return "警報" in name and "注意報" not in name


def _warning_items(body: Element, warning_type: str) -> list[Element]:
    return [item for warning in children(body, "Warning") if warning.get("type") == warning_type
            for item in children(warning, "Item")]


# --- 気象警報・注意報 -------------------------------------------------------------------------

def weather(body: Element, head: Element) -> tuple[tuple[AlertArea, ...], dict[str, Detail]]:
    return tuple(_weather_area(item) for item in _warning_items(body, "気象警報・注意報（市町村等）")), {}


def _weather_area(item: Element) -> AlertArea:
    current: list[str] = []
    lifted: list[str] = []
    new = changed = False
    for kind in children(item, "Kind"):
        name, status, last = path_text(kind, "Name"), path_text(kind, "Status"), path_text(kind, "LastKind", "Name")
        if not name or status.startswith("発表警報・注意報はなし"):
            continue
        if status == "解除" or status.endswith("から注意報"):
            ended = last if is_warning(last) else ended_warning(name, status)
            if ended:
                lifted.append(ended)
        elif is_warning(name):
            current.append(name)
            downgrade = is_warning(last) and (terms.warning_level(name) or 0) < (terms.warning_level(last) or 0)
            new = new or (status == "発表" and not downgrade)
            changed = changed or downgrade
            if status == "特別警報から警報":
                changed = True
                ended = last if is_warning(last) else ended_warning(name, status)
                if ended:
                    lifted.append(ended)
    levels = [lv for lv in (terms.warning_level(n) for n in current) if lv is not None]
    return AlertArea(code=path_text(item, "Area", "Code"), name=path_text(item, "Area", "Name"),
                     status=_weather_status(new, changed, current, lifted), labels=tuple(dict.fromkeys(current)),
                     lifted=tuple(dict.fromkeys(lifted)), level=max(levels) if levels else None)


def ended_warning(name: str, status: str) -> str:
    """The warning that ended when an item reads `name` with `status`, or '' when none did.

    解除 names what was lifted; 警報から注意報 / 特別警報から注意報 / 特別警報から警報 name what is in force
    now, so the ended warning is derived from it and checked against the warnings JMA issues.
    """
    if status == "解除":
        return name if is_warning(name) else ""
    hazard = _hazard(name)
    if status.startswith("特別警報"):
        return f"{hazard}特別警報" if hazard in SPECIAL_WARNING_HAZARDS else ""
    return f"{hazard}警報" if hazard in WARNING_HAZARDS else ""


def _hazard(name: str) -> str:
    """大雨注意報 → 大雨, レベル２大雨注意報 → 大雨, 強風注意報 → 暴風 (the warning's hazard)."""
    base = _LEVEL_PREFIX.sub("", name)
    for suffix in ("特別警報", "危険警報", "警報", "注意報"):
        if base.endswith(suffix):
            base = base.removesuffix(suffix)
            break
    return _WARNING_OF_ADVISORY.get(base, base)


def _weather_status(new: bool, changed: bool, current: list[str], lifted: list[str]) -> AreaStatus:
    if new:
        return "issue"
    if changed or (lifted and current):
        return "update"
    if lifted:
        return "lift"
    return "continue" if current else "none"


# --- 土砂災害警戒情報 / 記録的短時間大雨情報 ------------------------------------------------------

_SIMPLE_STATUS: dict[str, AreaStatus] = {"発表": "issue", "継続": "continue", "解除": "lift"}


def landslide(body: Element, head: Element) -> tuple[tuple[AlertArea, ...], dict[str, Detail]]:
    areas = []
    for item in _warning_items(body, "土砂災害警戒情報"):
        status = _SIMPLE_STATUS.get(path_text(item, "Kind", "Status"), "none")
        areas.append(AlertArea(code=path_text(item, "Area", "Code"), name=path_text(item, "Area", "Name"),
                               status=status, labels=("土砂災害警戒情報",) if status != "none" else (), level=4,
                               lifted=("土砂災害警戒情報",) if status == "lift" else ()))
    return tuple(areas), {"level": 4}


def record_rain(body: Element, head: Element) -> tuple[tuple[AlertArea, ...], dict[str, Detail]]:
    """Places come from the headline ("小平市付近で約１００ミリ"): the body names only 細分区域."""
    headline = path_text(head, "Headline", "Text")
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


# --- 指定河川洪水予報 ------------------------------------------------------------------------

# Posted from 氾濫警戒情報 (警戒レベル3相当) up; 氾濫注意情報 (2相当) is an advisory.
FLOOD_MIN_LEVEL = 3


def flood(body: Element, head: Element) -> tuple[tuple[AlertArea, ...], dict[str, Detail]]:
    """The forecast's kind is in the headline; the municipalities are the 浸水想定地区 of the body."""
    forecast = next((i for i in descendants(head, "Information") if i.get("type") == "指定河川洪水予報（予報区域）"),
                    None)
    kind_name = path_text(path(forecast, "Item"), "Kind", "Name") if forecast is not None else ""
    section = path_text(path(forecast, "Item"), "Areas", "Area", "Name") if forecast is not None else ""
    level = terms.level_in(path_text(head, "Headline", "Text"))
    status = _flood_status(kind_name, level)
    details: dict[str, Detail] = {"river": section, "flood_kind": kind_name.replace("解除", "")}
    if level is not None:
        details["level"] = level
    main = next((path_text(p, "Text") for p in descendants(body, "Property") if path_text(p, "Type") == "主文"), "")
    if main:
        details["comment"] = terms.clean(main)
    return _flood_areas(body, kind_name, status, level), details


def _flood_status(kind_name: str, level: int | None) -> AreaStatus:
    if "解除" in kind_name:
        return "lift"
    if not kind_name.startswith("氾濫"):
        return "none"
    return "issue" if (level or 0) >= FLOOD_MIN_LEVEL else "none"


def _flood_areas(body: Element, kind_name: str, status: AreaStatus, level: int | None) -> tuple[AlertArea, ...]:
    areas: dict[str, AlertArea] = {}
    lifted = (kind_name.replace("解除", ""),) if status == "lift" else ()
    labels = (kind_name,) if status != "lift" else ()
    for item in (i for w in children(body, "Warning") for i in children(w, "Item")):
        if not path_text(item, "Kind", "Name").startswith("浸水想定地区"):
            continue
        for area in (a for group in children(item, "Areas") for a in children(group, "Area")):
            code, name = path_text(area, "CityCode"), path_text(area, "City")
            districts = tuple(d for d in path_text(area, "SubCityList").split() if d != "-")
            known = areas.get(code or name)
            subareas = (*known.subareas, *districts) if known else districts
            areas[code or name] = AlertArea(code=code, name=name, status=status, labels=labels, lifted=lifted,
                                            level=level, subareas=tuple(dict.fromkeys(subareas)))
    return tuple(areas.values())
