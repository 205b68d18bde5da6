"""Which ALERT_KINDS key a free-text event (CAP event/headline, L-Alert category) names.

Japanese words are matched first, most specific first (津波警報 before 警報). English matches are
kept to clear equivalents; a foreign "Child Abduction" or "Tropical Cyclone Alert" stays None
(unsupported) rather than being forced into a Japanese legal category.
"""

from __future__ import annotations

from gateway.policy import ALERT_KINDS

_JAPANESE: tuple[tuple[str, str], ...] = (
    ("南海トラフ", "nankai"),
    ("噴火", "volcano"),
    ("火口周辺警報", "volcano"),
    ("氾濫", "flood_forecast"),
    ("洪水予報", "flood_forecast"),
    ("土砂災害警戒情報", "landslide"),
    ("記録的短時間大雨", "record_rain"),
    ("津波", "tsunami"),
    ("震度", "seismic"),
    ("地震", "seismic"),
    ("避難所", "shelter"),
    ("緊急安全確保", "evacuation"),
    ("避難指示", "evacuation"),
    ("避難勧告", "evacuation"),
    ("高齢者等避難", "evacuation"),
    ("避難準備", "evacuation"),
    ("特別警報", "weather_warning"),
    ("警報", "weather_warning"),
)
_ENGLISH: tuple[tuple[str, str], ...] = (
    ("tsunami", "tsunami"),
    ("earthquake", "seismic"),
    ("volcan", "volcano"),
    ("landslide", "landslide"),
    ("debris flow", "landslide"),
    ("evacuat", "evacuation"),
)
# SAME / NWS event codes that have a Japanese equivalent.
_SAME = {"TSW": "tsunami", "TSA": "tsunami", "EQW": "seismic", "EVI": "evacuation"}


def kind_of(texts: tuple[str, ...], codes: tuple[str, ...] = (), *, meteorological: bool = False) -> str | None:
    """The kind named by `codes` (an ALERT_KINDS key or SAME code) or else by the first text that names one."""
    for code in codes:
        if code in ALERT_KINDS:
            return code
        if code.upper() in _SAME:
            return _SAME[code.upper()]
    for text in texts:
        found = _japanese(text) or _english(text.lower(), meteorological)
        if found:
            return found
    return None


def _japanese(text: str) -> str | None:
    if "注意報" in text and "警報" not in text.replace("注意報", "") and "津波" not in text:
        return None  # advisories alone (大雨注意報) are not a kind we publish
    return next((kind for word, kind in _JAPANESE if word in text), None)


def _english(text: str, meteorological: bool) -> str | None:
    found = next((kind for word, kind in _ENGLISH if word in text), None)
    if found is None and meteorological and "warning" in text:
        return "weather_warning"
    return found
