"""JMA 防災情報XML (気象庁防災情報XMLフォーマット) → Alert.

The telegram type is Control/Title, matched exactly (a prefix would take 気象警報・注意報時系列情報,
a forecast of possibilities, for a warning):
- 気象警報・注意報 (VPWW50), 気象特別警報・警報・注意報 (VPWW53), 気象警報・注意報（Ｈ２７）
  (VPWW54) and the 2026 scheme 気象警報・注意報（Ｒ０６）（大雨…） (VPWW55–61) → weather_warning;
- 土砂災害警戒情報 (VXWW50) → landslide; 記録的短時間大雨情報 (VPOA50) → record_rain;
- 指定河川洪水予報 (VXKO5x) → flood_forecast (jma_weather.py);
- 震度速報 (VXSE51), 震源・震度に関する情報 (VXSE53) → seismic; 津波警報・注意報・予報 (VTSE41) →
  tsunami; 噴火警報・予報 (VFVO50) → volcano; 南海トラフ地震臨時情報 (VYSE50) → nankai (jma_earth.py).
Every other telegram parses with kind None (the caller refuses it as a kind that is not posted).

Key: `jma|EventID|Serial|InfoKind|Control/Title`. One issuance of weather warnings is sent as several
telegrams of different schemes (VPWW50, VPWW53, VPWW54 share EventID, ReportDateTime and InfoKind),
so the telegram type is part of the identity: the 大雨特別警報 of VPWW53 is not a duplicate of the
大雨警報 of VPWW50. `scheme_rank` orders the schemes of one issuance (the ledger keeps a poorer
telegram from following a richer one). Weather warnings carry no EventID and tsunami telegrams no
Serial: an empty EventID is replaced by Head/Title (one title per prefecture/region) and an empty
Serial by ReportDateTime; InfoType is appended when it is not 発表, so that a 取消 or 訂正 never
collides with the report it corrects. Head/ValidDateTime, where present, is the alert's expiry.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from xml.etree.ElementTree import Element

from gateway.alerts import jma_earth, jma_weather, terms
from gateway.alerts.model import Action, Alert, AlertArea, Detail, RawInfo
from gateway.alerts.xmlsafe import child, path, path_text
from gateway.models import ascii_digits

NAMESPACE = "http://xml.kishou.go.jp/jmaxml1/"

_DRILL_STATUS = {"訓練", "試験"}
_ACTIONS: dict[str, Action] = {"発表": "issue", "訂正": "update", "遅延": "update", "取消": "cancel"}

_TITLES: dict[str, str] = {
    "気象警報・注意報": "weather_warning",
    "気象特別警報・警報・注意報": "weather_warning",
    "気象警報・注意報（Ｈ２７）": "weather_warning",
    "土砂災害警戒情報": "landslide",
    "記録的短時間大雨情報": "record_rain",
    "指定河川洪水予報": "flood_forecast",
    "震度速報": "seismic",
    "震源・震度に関する情報": "seismic",
    "津波警報・注意報・予報a": "tsunami",
    "津波警報・注意報・予報": "tsunami",
    "噴火警報・予報": "volcano",
    "南海トラフ地震臨時情報": "nankai",
}
# The 2026 scheme sends one telegram per hazard: 気象警報・注意報（Ｒ０６）（大雨） …（その他注意報）.
_R06_WEATHER = re.compile(r"^気象警報・注意報（Ｒ０６）（[^）]+）$")
# Schemes of one weather issuance, poorest first: VPWW50 has no special warnings.
SCHEME_RANKS = {"気象警報・注意報": 0, "気象特別警報・警報・注意報": 1, "気象警報・注意報（Ｈ２７）": 1}

Body = Callable[[Element, Element], tuple[tuple[AlertArea, ...], dict[str, Detail]]]
_BODIES: dict[str, Body] = {
    "weather_warning": jma_weather.weather, "landslide": jma_weather.landslide,
    "record_rain": jma_weather.record_rain, "flood_forecast": jma_weather.flood,
    "seismic": jma_earth.seismic, "tsunami": jma_earth.tsunami, "volcano": jma_earth.volcano,
    "nankai": jma_earth.nankai,
}


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
    telegram = path_text(control, "Title")
    kind = kind_of(telegram, info_kind)
    areas, details = _read_body(kind, body, head) if body is not None and info_type != "取消" else ((), {})
    if info_type == "取消" and body is not None:
        details = {"cancel_text": terms.clean(path_text(body, "Text"))}
    event = path_text(head, "EventID") or path_text(head, "Title")
    serial = path_text(head, "Serial")
    key = f"jma|{event}|{serial or path_text(head, 'ReportDateTime')}|{info_kind}|{telegram}"
    changed = tuple(a for a in areas if a.status in ("issue", "update", "lift"))
    valid = path_text(head, "ValidDateTime")
    return Alert(
        format="jma", key=key if info_type == "発表" else f"{key}|{info_type}", thread=f"jma|{event}|{info_kind}",
        kind=kind, action=_action(info_type, serial, changed, details), correction=info_type == "訂正",
        drill=status in _DRILL_STATUS, status=status,
        area_codes=tuple(dict.fromkeys(a.code for a in changed if a.code)),
        area_names=tuple(dict.fromkeys(a.name for a in changed if a.name)), areas=areas,
        headline=path_text(head, "Headline", "Text"),
        sent=terms.parse_datetime(_required(head, "ReportDateTime", "Head"), "Head/ReportDateTime"),
        expires=terms.parse_datetime(valid, "Head/ValidDateTime") if valid else None,
        telegram=telegram, scheme_rank=SCHEME_RANKS.get(telegram, 0),
        sender=path_text(control, "PublishingOffice") or path_text(control, "EditorialOffice") or "気象庁",
        title=path_text(head, "Title"), source_kind=info_kind, details=details, sha256=raw.sha256, size=raw.size,
    )


def kind_of(telegram: str, info_kind: str) -> str | None:
    """The kind a telegram type carries (None: not one the gateway posts)."""
    if telegram in _TITLES:
        return _TITLES[telegram]
    if _R06_WEATHER.match(telegram):
        return "weather_warning"
    return _TITLES.get(info_kind) if not telegram else None


def _required(parent: Element, name: str, where: str) -> str:
    value = path_text(parent, name)
    if not value:
        raise terms.missing(f"{where}/{name}", f"{name} 要素")
    return value


def _action(info_type: str, serial: str, changed: tuple[AlertArea, ...], details: dict[str, Detail]) -> Action:
    if info_type != "発表":
        return _ACTIONS[info_type]
    if details.get("ended") is True:
        return "ended"
    if changed and all(a.status == "lift" for a in changed):
        return "lift"
    if ascii_digits(serial) and int(serial) > 1:
        return "update"
    if changed and all(a.status == "update" for a in changed):
        return "update"
    return "issue"


def _read_body(kind: str | None, body: Element, head: Element) -> tuple[tuple[AlertArea, ...], dict[str, Detail]]:
    reader = _BODIES.get(kind or "")
    return reader(body, head) if reader is not None else ((), {})
