"""Every alert meaning the gateway posts, as a sample alert: what docs/alert-texts.md shows and the table
test renders in every language (issue 17). Run `python -m gateway.alerts.catalog > docs/alert-texts.md`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.alerts import fit, multilingual
from gateway.alerts.model import Action, Alert, AlertArea, Detail
from gateway.alerts.templates import JST, View
from gateway.models import Platform
from gateway.policy import LANGUAGES

SENT = datetime(2026, 9, 1, 12, 3, tzinfo=JST)
WIDEST_SENT = datetime(2026, 12, 31, 23, 59, tzinfo=JST)  # two-digit month, day and hour: the longest date line
PLACE = "木更津市"
WARNINGS = ("大雨", "洪水", "暴風", "暴風雪", "大雪", "波浪", "高潮")
SPECIALS = ("大雨", "暴風", "暴風雪", "大雪", "波浪", "高潮")
DANGERS = ("大雨", "土砂災害", "高潮", "氾濫")  # 危険警報 (level 4) since 2026


@dataclass(frozen=True)
class Meaning:
    """One thing an alert can say, e.g. 避難指示 issued, or 津波注意報 lifted."""

    name: str
    kind: str
    action: Action
    area: AlertArea
    details: tuple[tuple[str, Detail], ...] = ()
    sender: str = "気象庁"

    def alert(self, drill: bool = False, correction: bool = False, sent: datetime = SENT) -> Alert:
        return Alert(format="json", key=f"catalog|{self.name}|{drill}|{correction}", thread=f"catalog|{self.name}",
                     kind=self.kind, action=self.action, drill=drill, correction=correction,
                     status="Exercise" if drill else "Actual", areas=(self.area,), area_codes=(self.area.code,),
                     area_names=(self.area.name,), sent=sent, sender=self.sender, details=dict(self.details),
                     sha256="0" * 64, size=0)

    def view(self, drill: bool = False, correction: bool = False, sent: datetime = SENT) -> View:
        """The meaning as an alert sent at `sent` (the catalog's date, or the widest: 12/31 23:59)."""
        return View(self.alert(drill, correction, sent), self.action, PLACE, (self.area,), matched=True, now=sent)


def _city(**kw: Any) -> AlertArea:
    return AlertArea(code="12206", name=PLACE, **kw)


def _evacuation() -> list[Meaning]:
    found = []
    for level, term in ((3, "高齢者等避難"), (4, "避難指示"), (5, "緊急安全確保")):
        details = (("evacuation_type", term), ("level", level))
        for action in ("issue", "lift"):
            area = _city(status=action, subareas=("中央一丁目", "富士見二丁目"))
            found.append(Meaning(f"{term}（{action}）", "evacuation", action, area, details, sender="木更津市"))
    return found


def _weather() -> list[Meaning]:
    names = [f"{h}警報" for h in WARNINGS] + [f"{h}特別警報" for h in SPECIALS]
    names += [f"レベル４{h}危険警報" for h in DANGERS]
    found = []
    for name in names:
        found.append(Meaning(f"{name}（issue）", "weather_warning", "issue", _city(labels=(name,))))
        found.append(Meaning(f"{name}（lift）", "weather_warning", "lift", _city(status="lift", lifted=(name,))))
    return found


def _tsunami() -> list[Meaning]:
    found = []
    for grade in ("大津波警報", "津波警報", "津波注意報"):
        area = AlertArea(code="312", name="東京湾内湾", code_type="tsunami", labels=(grade, "到達予想時刻 12時30分"))
        found.append(Meaning(f"{grade}（issue）", "tsunami", "issue", area))
        lifted = AlertArea(code="312", name="東京湾内湾", code_type="tsunami", status="lift", lifted=(grade,))
        found.append(Meaning(f"{grade}（lift）", "tsunami", "lift", lifted))
    return found


def _seismic() -> list[Meaning]:
    details = (("origin_time", "2026-09-01T12:00:00+09:00"), ("hypocenter", "千葉県北西部"), ("magnitude", "M5.6"))
    return [Meaning(f"震度{code}", "seismic", "issue", _city(intensity=code), details)
            for code in ("3", "4", "5-", "5+", "6-", "6+", "7")]


def _volcano() -> list[Meaning]:
    found = []
    for label, level in (("噴火警報（居住地域）", "レベル5（避難）"), ("噴火警報（火口周辺）", "レベル3（入山規制）")):
        details = (("volcano", "浅間山"), ("volcano_level", level))
        found.append(Meaning(f"{label}（issue）", "volcano", "issue", _city(labels=(label,)), details))
        found.append(Meaning(f"{label}（lift）", "volcano", "lift", _city(status="lift", lifted=(label,)), details))
    return found


def _others() -> list[Meaning]:
    shelters = (("shelters", ("木更津第一小学校", "中央公民館")),)
    found = [
        Meaning("避難所開設", "shelter", "issue", _city(), shelters, sender="木更津市"),
        Meaning("避難所閉鎖", "shelter", "lift", _city(status="lift"), shelters, sender="木更津市"),
        Meaning("避難指示（取消）", "evacuation", "cancel", _city(), (("evacuation_type", "避難指示"),),
                sender="木更津市"),
        Meaning("津波警報（取消）", "tsunami", "cancel", _city()),
    ]
    for kind, name in (("landslide", "土砂災害警戒情報"), ("record_rain", "記録的短時間大雨情報"),
                       ("flood_forecast", "指定河川洪水予報"), ("nankai", "南海トラフ地震臨時情報")):
        found.append(Meaning(f"{name}（issue）", kind, "issue", _city(labels=(name,))))
        found.append(Meaning(f"{name}（lift）", kind, "lift", _city(status="lift", lifted=(name,))))
    return found


def meanings() -> list[Meaning]:
    return [*_evacuation(), *_weather(), *_tsunami(), *_seismic(), *_volcano(), *_others()]


def text(meaning: Meaning, language: str, platform: Platform | None = None, drill: bool = False,
         correction: bool = False) -> str:
    """The text as posted on `platform`; without one, whole (no platform's limit applied)."""
    draft = multilingual.render(meaning.view(drill, correction), language)
    return draft.full_text() if platform is None else fit.fit(draft, platform)


def markdown() -> str:
    """docs/alert-texts.md: every meaning in every language, unshortened."""
    lines = ["# Alert texts in every language", "",
             "Generated by `python -m gateway.alerts.catalog > docs/alert-texts.md` (a test keeps it up to date).",
             f"Sample alerts for {PLACE}, issued {SENT:%Y-%m-%d %H:%M} JST. Japanese comes from "
             "`gateway/alerts/templates.py`, the other languages from `gateway/alerts/data/phrases_multilingual.toml` "
             "and the terms in `gateway/alerts/data/terms_multilingual.toml` (sources at the end).", ""]
    example = meanings()[2]  # 避難指示: how a drill and a correction (訂正) read in every language
    samples = [*((m, False, False) for m in meanings()), (example, True, False), (example, False, True)]
    for meaning, drill, correction in samples:
        lines += [f"## {meaning.name}{'（訓練）' if drill else ''}{'（訂正）' if correction else ''}", ""]
        for language in LANGUAGES:
            body = text(meaning, language, drill=drill, correction=correction).replace("\n", "<br>")
            lines.append(f"- **{language}**: {body}")
        lines.append("")
    return "\n".join([*lines, *_sources()]) + "\n"


def _sources() -> list[str]:
    table = multilingual.term_table()
    lines = ["## Term sources", "", "| term | ja | source | wording seen in a retrieved page |", "|---|---|---|---|"]
    for key, term in table["terms"].items():
        seen = ", ".join(f"{lang} ({table['seen_at'][where]})" for lang, where in term.get("seen", {}).items())
        lines.append(f"| {key} | {term['ja']} | {table['sources'][term['source']]} | {seen or '—（要確認）'} |")
    return [*lines, "", "Languages not listed as seen were written by the project in the style of the named "
            "source and must be checked against it.", ""]


if __name__ == "__main__":
    sys.stdout.write(markdown())
