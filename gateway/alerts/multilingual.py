"""Alert posts in the languages other than Japanese: やさしい日本語 and the foreign languages of LANGUAGES.

Templates, not translation: each sentence is a fixed template per language
(data/phrases_multilingual.toml) whose slots are filled from the alert, and every official term
(evacuation levels, warning names, tsunami grades, intensities) comes from
data/terms_multilingual.toml, which records the source of each. Place names stay in Japanese, as on
the signs, with their reading: romaji for languages written in Latin script or Hangul, furigana for
やさしい日本語; Chinese readers read the kanji. The meaning is the Japanese post's (templates.py):
a lifting, an ending or a cancellation never carries an order's call to act, and drills are marked
first and last. Source headlines are never quoted: they are Japanese free text.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from gateway.alerts import romaji, templates, terms
from gateway.alerts.draft import Draft, Items, Line
from gateway.alerts.templates import CLOSING, JST, View
from gateway.policy import LANGUAGES

DATA = Path(__file__).parent / "data"
TERMS_FILE = DATA / "terms_multilingual.toml"
PHRASES_FILE = DATA / "phrases_multilingual.toml"

_LATIN = frozenset({"en", "vi", "pt", "es", "tl", "ne", "id", "ko"})  # name readings in romaji
# Written with capital letters: a sentence or a mark that opens with a term starts with one, though JMA's
# dictionary writes some terms in lower case ("tingkat peringatan", "informasi gempa bumi").
_CASED = frozenset({"en", "vi", "pt", "es", "tl", "id"})
_MONTHS = {
    "en": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec",
    "tl": "Ene Peb Mar Abr May Hun Hul Ago Set Okt Nob Dis",
    "id": "Jan Feb Mar Apr Mei Jun Jul Agu Sep Okt Nov Des",
    "ne": "जनवरी फेब्रुअरी मार्च अप्रिल मे जुन जुलाई अगस्ट सेप्टेम्बर अक्टोबर नोभेम्बर डिसेम्बर",
}


@lru_cache(maxsize=1)
def term_table() -> dict[str, dict[str, Any]]:
    with TERMS_FILE.open("rb") as handle:
        return dict(tomllib.load(handle))


@lru_cache(maxsize=1)
def phrase_table() -> dict[str, dict[str, Any]]:
    with PHRASES_FILE.open("rb") as handle:
        return dict(tomllib.load(handle))


def languages() -> tuple[str, ...]:
    """The languages with templates here (every code of LANGUAGES but "ja")."""
    return tuple(phrase_table())


@dataclass(frozen=True)
class Lang:
    """One language's phrases and terms."""

    code: str

    def say(self, key: str, **slots: object) -> str:
        template = str(phrase_table()[self.code][key])
        text = template.format(**slots)
        return self._capital(text) if template.startswith("{") else text

    def term(self, key: str, **slots: object) -> str:
        return str(term_table()["terms"][key][self.code]).format(**slots)

    def has_term(self, key: str) -> bool:
        return key in term_table()["terms"]

    def mark(self, word: str) -> str:
        phrases = phrase_table()[self.code]
        return f"{phrases['open']}{self._capital(word)}{phrases['close']}"

    def _capital(self, text: str) -> str:
        return text[:1].upper() + text[1:] if self.code in _CASED else text

    @property
    def gap(self) -> str:
        return str(phrase_table()[self.code]["gap"])

    @property
    def act_first(self) -> bool:
        return bool(phrase_table()[self.code]["act_first"])

    def name(self, japanese: str) -> str:
        """A Japanese place name as this language's readers see it."""
        if self.code == "ja-easy":
            return romaji.with_furigana(japanese)
        return romaji.with_romaji(japanese) if self.code in _LATIN else japanese

    def names(self, names: tuple[str, ...]) -> str:
        return self.say("list_sep").join(self.name(n) for n in names)

    def items(self, label_key: str, values: tuple[str, ...]) -> Items:
        return Items(self.say(label_key), tuple(self.name(v) for v in values), sep=self.say("list_sep"),
                     more=str(phrase_table()[self.code]["more"]))

    def time(self, value: datetime, now: datetime | None = None) -> str:
        return _format_time(self.code, value.astimezone(JST) if value.tzinfo else value, now)


@dataclass
class Said:
    """What one alert says in one language: what happened, what to do, and extra lines."""

    head: str
    act: str | None = None
    extra: tuple[Line | None, ...] = ()


def render(view: View, language: str) -> Draft:
    """The post in `language` ("ja": the Japanese templates)."""
    if language == "ja":
        return templates.render(view)
    lang = Lang(language)
    if view.action == "cancel":
        said = _cancel(view, lang)
    else:
        said = _BUILDERS.get(view.alert.kind or "", _generic)(view, lang)
    kind = lang.term(f"kind.{view.alert.kind}") if lang.has_term(f"kind.{view.alert.kind}") else lang.term("kind.other")
    marks = "".join(lang.mark(w) for w in _marks(view, lang)) + lang.mark(kind)
    # やさしい日本語 says what to do first (「にげて ください」); what ended is said first, though.
    act_first = lang.act_first and view.action in ("issue", "update")
    lines = [said.act, said.head] if act_first else [said.head, said.act]
    required = [line for line in lines if line]
    required[0] = f"{marks}{lang.gap}{required[0]}"
    if view.alert.drill:
        required.append(lang.say("drill_note"))
    draft = Draft(required)
    for line in said.extra:
        draft.add(line)
    sender = _sender(view.alert.sender, lang)
    draft.footer = lang.say("footer", time=lang.time(view.alert.sent, view.now), sender=sender)
    return draft


def drill_mark(language: str) -> str:
    """What every drill post in `language` starts with: 【訓練】, [DRILL], 【くんれん】 ..."""
    return "【訓練】" if language == "ja" else Lang(language).mark(Lang(language).say("drill"))


def correction_mark(language: str) -> str:
    """What a correction in `language` says it is with: 【訂正】, [Correction], 【なおし】 ... (the alerts' words)."""
    if language == "ja":
        return "【訂正】"
    lang = Lang(language)
    return lang.mark(lang.say("mark_correction"))


@lru_cache(maxsize=1)
def correction_prefixes() -> dict[str, str]:
    """language -> what a staff-written correction in it starts with: its mark and the language's gap."""
    return {code: correction_mark(code) + ("" if code == "ja" else Lang(code).gap) for code in LANGUAGES}


def _marks(view: View, lang: Lang) -> list[str]:
    marks = [lang.say("drill")] if view.alert.drill else []
    if view.alert.correction and view.action in ("issue", "update"):
        marks.append(lang.say("mark_correction"))
    elif view.action != "issue":
        marks.append(lang.say(f"mark_{view.action}"))
    return marks


def _sender(sender: str, lang: Lang) -> str:
    if sender.startswith("気象庁"):  # 気象庁本庁 is JMA's headquarters: residents know it as JMA
        sender = "気象庁"
    if lang.has_term(f"sender.{sender}"):
        return lang.term(f"sender.{sender}")
    return lang.name(sender)


def _format_time(code: str, t: datetime, now: datetime | None) -> str:
    year = now is not None and now.astimezone(JST).year != t.year
    if code in ("zh-Hans", "zh-Hant"):
        return f"{f'{t.year}年' if year else ''}{t.month}月{t.day}日{t.hour}时{t.minute:02d}分".replace(
            "时", "時" if code == "zh-Hant" else "时")
    if code == "ko":
        return f"{f'{t.year}년 ' if year else ''}{t.month}월 {t.day}일 {t.hour}시 {t.minute:02d}분"
    if code == "ja-easy":
        return f"{f'{t.year}ねん ' if year else ''}{t.month}がつ {t.day}にち {t.hour}じ {t.minute}ふん"
    clock = f"{t.hour:02d}:{t.minute:02d}"
    if code in _MONTHS:
        month = _MONTHS[code].split()[t.month - 1]
        date = f"{t.day} {month}" if code in ("id", "ne") else f"{month} {t.day}"
    else:  # vi, pt, es: day/month
        date = f"{t.day}/{t.month}"
    return f"{date}{f' {t.year}' if year else ''}, {clock} JST"


# --- per kind ------------------------------------------------------------------------------------


def _cancel(view: View, lang: Lang) -> Said:
    kind = view.alert.kind or "other"
    what = lang.term(f"kind.{kind}") if lang.has_term(f"kind.{kind}") else lang.term("kind.other")
    return Said(lang.say("cancel", what=what, sender=_sender(view.alert.sender, lang)), lang.say("act_cancel"))


def evacuation_term(level: int | None, lang: Lang) -> str:
    if level not in (3, 4, 5):
        return lang.term("kind.evacuation")
    return f"{lang.term(f'evacuation.{level}')} {lang.term('evacuation.level', n=level)}".replace(" 【", "【")


def _evacuation(view: View, lang: Lang) -> Said:
    kind = view.alert.detail_str("evacuation_type")
    level = view.alert.detail_int("level") or terms.LEVEL_OF.get(kind)
    what = evacuation_term(level, lang)
    subareas = tuple(dict.fromkeys(s for a in view.areas for s in a.subareas))
    place = lang.name(view.place)
    extra = (lang.items("areas", tuple(terms.clean(s) for s in subareas)) if subareas else None,)
    if view.action == "lift":
        return Said(lang.say("city_lifted", place=place, what=what), None, extra)
    if view.action == "ended":
        return Said(lang.say("ended_info", what=what, where=place), lang.say("act_after"), extra)
    act = lang.say(f"act_evac{level}") if level in (3, 4, 5) else lang.say("act_watch", place=place)
    return Said(lang.say("city_issued", place=place, what=what), act, extra)


def _shelter(view: View, lang: Lang) -> Said:
    opened = view.alert.detail_tuple("shelters") or tuple(s for a in view.areas for s in a.subareas)
    closed = view.alert.detail_tuple("closed_shelters")
    place = lang.name(view.place)
    if view.action in ("lift", "ended"):
        return Said(lang.say("shelter_close", place=place), None, (_list(lang, "shelters", closed or opened),))
    return Said(lang.say("shelter_open", place=place), lang.say("act_shelter"), (_list(lang, "shelters", opened),))


def _list(lang: Lang, label: str, values: tuple[str, ...]) -> Items | None:
    return lang.items(label, values) if values else None


def warning_term(label: str, lang: Lang) -> str:
    """大雨特別警報 → Emergency Warning (Heavy Rain), レベル４大雨危険警報 → Level 4 Urgent Warning (Heavy Rain);
    a name with no term keeps its Japanese and reading."""
    hazard = next((h for h in _HAZARDS if h in label), None)
    level = terms.warning_level(label)
    if hazard is None:
        return f"{lang.term('warning.generic')} ({lang.name(label)})" if lang.code != "ja-easy" else lang.name(label)
    pattern = ("special.pattern" if "特別警報" in label else "danger.pattern" if "危険警報" in label
               else "warning.pattern")
    named = lang.term(pattern, h=lang.term(f"hazard.{hazard}"), n=level)
    if lang.code not in ("zh-Hans", "zh-Hant", "ja-easy"):
        named = named[:1].upper() + named[1:]
    # a 特別警報 carries no level mark, a 危険警報's name says its level (the dictionary's 「Level 4 …」)
    return f"{named} {lang.term('evacuation.level', n=level)}" if level and pattern == "warning.pattern" else named


_HAZARDS = ("暴風雪", "大雨", "洪水", "暴風", "大雪", "波浪", "高潮", "土砂災害", "氾濫")


def _weather(view: View, lang: Lang) -> Said:
    current = tuple(dict.fromkeys(label for a in view.areas for label in a.labels))
    current = current or view.alert.detail_tuple("warnings")
    lifted = tuple(dict.fromkeys(label for a in view.areas for label in a.lifted))
    place = lang.name(view.place)
    sep = lang.say("list_sep")
    if view.action in ("lift", "ended"):
        ended = sep.join(warning_term(w, lang) for w in (lifted or current))
        key = "lifted" if view.action == "lift" else "ended_info"
        return Said(lang.say(key, what=ended, where=place), lang.say("act_after"))
    what = sep.join(warning_term(w, lang) for w in current)
    head = lang.say("in_effect" if view.action == "update" else "issued", what=what, where=place)
    extra = (lang.say("lifted", what=sep.join(warning_term(w, lang) for w in lifted), where=place) if lifted else None,)
    return Said(head, _weather_act(current, lang, place), extra)


def _weather_act(current: tuple[str, ...], lang: Lang, place: str) -> str:
    if any("特別警報" in w for w in current):
        return lang.say("act_special")
    levels = [lv for lv in (terms.warning_level(w) for w in current) if lv]
    if levels and max(levels) >= 4:
        return lang.say("act_level4", place=place)
    return lang.say("act_watch", place=place)


def tsunami_term(grade: str, lang: Lang) -> str:
    key = f"tsunami.{grade}"
    return lang.term(key) if lang.has_term(key) else lang.term("kind.tsunami")


def _tsunami(view: View, lang: Lang) -> Said:
    names = tuple(dict.fromkeys(a.name for a in view.areas if a.name)) or (view.place,)
    where = lang.names(names)
    if view.action in ("lift", "ended"):
        lifted = tuple(dict.fromkeys(g for a in view.areas for g in a.lifted if g))
        grades = lifted or ((view.alert.detail_str("tsunami_grade"),) if view.alert.detail_str("tsunami_grade") else ())
        what = lang.say("list_sep").join(tsunami_term(g, lang) for g in grades) or lang.term("kind.tsunami")
        key = "lifted" if view.action == "lift" else "ended_info"
        return Said(lang.say(key, what=what, where=where), lang.say("act_after"))
    grades_in = [a.labels[0] for a in view.areas if a.labels] or [view.alert.detail_str("tsunami_grade")]
    order = ("大津波警報", "津波警報", "津波注意報")
    grade = min((g for g in grades_in if g), key=lambda g: order.index(g) if g in order else 3, default="")
    head = lang.say("in_effect" if view.action == "update" else "issued", what=tsunami_term(grade, lang), where=where)
    act = lang.say("act_tsunami_advisory" if grade == "津波注意報" else "act_tsunami")
    return Said(head, act)


def intensity_term(code: str, lang: Lang) -> str:
    if code.endswith("-"):
        return lang.term("intensity.lower", n=code[0])
    if code.endswith("+"):
        return lang.term("intensity.upper", n=code[0])
    return code


def _seismic(view: View, lang: Lang) -> Said:
    alert = view.alert
    origin = alert.detail_str("origin_time")
    when = terms.parse_datetime(origin, "origin_time") if origin else alert.sent
    head = lang.say("quake", time=lang.time(when, view.now))
    code = _intensity(view)
    if code:
        intensity = intensity_term(code, lang)
        observed = (lang.say("quake_intensity", intensity=intensity, where=lang.name(view.place)) if view.matched
                    else lang.say("quake_max", intensity=intensity))
        head = f"{head}{' ' if lang.gap else ''}{observed}"
    if view.action in CLOSING:
        return Said(head)
    strong = terms.intensity_rank(code) >= terms.intensity_rank("5-")
    return Said(head, lang.say("act_quake_strong" if strong else "act_quake"))


def _intensity(view: View) -> str | None:
    codes = [a.intensity for a in view.areas if a.intensity]
    if codes and view.matched:
        return max(codes, key=terms.intensity_rank)
    return view.alert.detail_str("max_intensity") or (max(codes, key=terms.intensity_rank) if codes else None)


def volcano_term(labels: tuple[str, ...], level: str, lang: Lang) -> str:
    label = "・".join(labels)
    key = "volcano.residential" if "居住地域" in label else "volcano.crater" if "火口" in label else "volcano.generic"
    number = terms.level_in(level.replace("レベル", "警戒レベル")) if level else None
    return f"{lang.term(key)} ({lang.term('volcano.level', n=number)})" if number else lang.term(key)


def _volcano(view: View, lang: Lang) -> Said:
    volcano = lang.name(view.alert.detail_str("volcano") or "火山")
    level = view.alert.detail_str("volcano_level")
    if view.action in ("lift", "ended"):
        lifted = tuple(dict.fromkeys(g for a in view.areas for g in a.lifted))
        return Said(lang.say("lifted", what=volcano_term(lifted, level, lang), where=volcano), lang.say("act_after"))
    labels = tuple(dict.fromkeys(label for a in view.areas for label in a.labels))
    head = lang.say("in_effect" if view.action == "update" else "issued", what=volcano_term(labels, level, lang),
                    where=volcano)
    return Said(head, lang.say("act_volcano", place=lang.name(view.place)))


def _generic(view: View, lang: Lang) -> Said:
    """Landslide, record rain, river flood forecasts, Nankai: the kind's official name, where, what to watch."""
    kind = view.alert.kind or "other"
    what = lang.term(f"kind.{kind}") if lang.has_term(f"kind.{kind}") else lang.term("kind.other")
    place = lang.name(view.place)
    if view.action in CLOSING:
        key = "lifted" if view.action == "lift" else "ended_info"
        return Said(lang.say(key, what=what, where=place), lang.say("act_after"))
    key = "in_effect" if view.action == "update" else "issued"
    level4 = kind == "landslide" or (view.alert.detail_int("level") or 0) >= 4
    act = lang.say("act_level4" if level4 else "act_watch", place=place)
    return Said(lang.say(key, what=what, where=place), act)


_BUILDERS: dict[str, Callable[[View, Lang], Said]] = {
    "evacuation": _evacuation, "shelter": _shelter, "weather_warning": _weather, "seismic": _seismic,
    "tsunami": _tsunami, "volcano": _volcano,
}
