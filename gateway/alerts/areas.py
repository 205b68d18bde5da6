"""Which municipality an alert is addressed to.

Codes are JIS X 0402 団体コード: 5 digits without the check digit (13211 小平市), 6 with it
(132110), or JMA's 7-digit 市町村等 codes (1321100, or 3620701 for part of a city). All are matched
on their first five digits.

Prefecture-level areas (13, 13000, 130001) apply to the prefecture's cities only for
`weather_warning` (a sender may announce a 特別警報 for the whole prefecture). They never apply to
evacuation/shelter (each municipality issues its own), landslide (issued per municipality),
seismic (intensity is per place: 震度 in one corner of a prefecture says nothing of another),
record_rain (named places) or tsunami (coastal forecast regions: an inland city must not post a
tsunami warning). JMA's own telegrams always list the municipalities, so they never need it.

Intensity reports by region (震度速報) name JMA 地震情報／細分区域: a municipality matches the regions
that contain it (seismic_regions). 南海トラフ地震臨時情報 has no area (code_type "nation"): it concerns
every municipality, and the city's subscription to the kind decides.

Tsunami telegrams name JMA 津波予報区, not municipalities. TSUNAMI_REGIONS maps the coastal seed
cities to their region; a municipality may also list a region's exact name in `area_names`.
Record-rain telegrams name places ("小平市付近"): matched against `area_names` by prefix.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable

from gateway.alerts import seismic_regions
from gateway.alerts.model import Alert, AlertArea
from gateway.models import ascii_digits
from gateway.policy import Municipality, Policies

PREFECTURE_WIDE_KINDS = frozenset({"weather_warning"})

# 津波予報区 (JMA code) of the coastal seed municipalities. 木更津市 lies north of 富津岬 and so in
# 東京湾内湾; 逗子市 is on 相模湾. 厚木市・小平市・美祢市 have no coast.
TSUNAMI_REGIONS: dict[str, tuple[str, ...]] = {
    "12206": ("312",),  # 木更津市: 東京湾内湾
    "14208": ("330",),  # 逗子市: 相模湾・三浦半島
}


def city_key(code: str) -> str:
    """Five-digit municipality part of a JIS/JMA code; '' when the code is not numeric."""
    return code[:5] if ascii_digits(code) and len(code) >= 5 else ""


def is_prefecture_code(code: str) -> bool:
    return ascii_digits(code) and (len(code) == 2 or (len(code) in (5, 6) and code[2:5] == "000"))


def code_type_of(code: str) -> str:
    if not ascii_digits(code):
        return "other"
    if is_prefecture_code(code):
        return "prefecture"
    return "city" if len(code) in (5, 6, 7) else "other"


def matching_areas(alert: Alert, municipality: Municipality) -> list[AlertArea]:
    """The alert's areas that concern `municipality` (any status)."""
    return [area for area in alert.areas if _area_matches(alert, area, municipality)]


def addressed_to(alert: Alert, municipality: Municipality) -> bool:
    """True when the alert changes something for one of the municipality's areas."""
    return any(a.status in ("issue", "update", "lift") for a in matching_areas(alert, municipality))


def _area_matches(alert: Alert, area: AlertArea, municipality: Municipality) -> bool:
    config = municipality.alerts
    cities = {city_key(c) for c in config.area_codes} - {""}
    if area.code_type == "city":
        return city_key(area.code) in cities or (not area.code and area.name in config.area_names)
    if area.code_type == "prefecture":
        prefectures = {c[:2] for c in config.area_codes if ascii_digits(c)}
        return alert.kind in PREFECTURE_WIDE_KINDS and area.code[:2] in prefectures
    if area.code_type == "tsunami":
        regions = {r for c in cities for r in TSUNAMI_REGIONS.get(c, ())}
        return area.code in regions or area.name in config.area_names
    if area.code_type == "place":
        return any(area.name.startswith(name) for name in config.area_names)
    if area.code_type == "seismic_area":
        return bool(cities & seismic_regions.cities_in(area.code))
    return area.code_type == "nation"


class AreaIndex:
    """The municipalities an alert could concern, looked up by its areas' codes and names.

    A vendor may serve every municipality in Japan (1,741) and receive an alert for each of them
    at once; visiting every municipality for every alert would make that night quadratic. The
    index returns a superset of the municipalities `_area_matches` accepts (in configuration
    order); `matching_areas` and `addressed_to` still decide.
    """

    def __init__(self, municipalities: Iterable[Municipality]) -> None:
        self._order: dict[str, int] = {}
        self._by_city: defaultdict[str, list[Municipality]] = defaultdict(list)
        self._by_prefecture: defaultdict[str, list[Municipality]] = defaultdict(list)
        self._by_region: defaultdict[str, list[Municipality]] = defaultdict(list)
        self._by_name: defaultdict[str, list[Municipality]] = defaultdict(list)
        self._by_seismic_region: defaultdict[str, list[Municipality]] = defaultdict(list)
        self._all: list[Municipality] = []
        for position, municipality in enumerate(municipalities):
            self._order[municipality.id] = position
            self._all.append(municipality)
            config = municipality.alerts
            for city in {city_key(c) for c in config.area_codes} - {""}:
                self._by_city[city].append(municipality)
                for region in TSUNAMI_REGIONS.get(city, ()):
                    self._by_region[region].append(municipality)
            for region in {r for c in config.area_codes for r in seismic_regions.regions_of(city_key(c))}:
                self._by_seismic_region[region].append(municipality)
            for prefecture in {c[:2] for c in config.area_codes if ascii_digits(c)}:
                self._by_prefecture[prefecture].append(municipality)
            for name in set(config.area_names):
                self._by_name[name].append(municipality)

    def candidates(self, alert: Alert) -> list[Municipality]:
        found: dict[str, Municipality] = {}
        for area in alert.areas:
            for municipality in self._for_area(area):
                found[municipality.id] = municipality
        return sorted(found.values(), key=lambda m: self._order[m.id])

    def _for_area(self, area: AlertArea) -> Iterable[Municipality]:
        if area.code_type == "city":
            return self._by_city.get(city_key(area.code), []) if area.code else self._by_name.get(area.name, [])
        if area.code_type == "prefecture":
            return self._by_prefecture.get(area.code[:2], [])
        if area.code_type == "tsunami":
            return [*self._by_region.get(area.code, []), *self._by_name.get(area.name, [])]
        if area.code_type == "place":  # a configured name that the place's name starts with
            return [m for end in range(1, len(area.name) + 1) for m in self._by_name.get(area.name[:end], [])]
        if area.code_type == "seismic_area":
            return self._by_seismic_region.get(area.code, [])
        return self._all if area.code_type == "nation" else []


@functools.lru_cache(maxsize=4)
def _index_of(policies: Policies) -> AreaIndex:
    return AreaIndex(policies)


def addressed_municipalities(alert: Alert, policies: Policies) -> list[Municipality]:
    """Every municipality the alert changes something for (`addressed_to`), in configuration order."""
    return [m for m in _index_of(policies).candidates(alert) if addressed_to(alert, m)]


def concerned_municipalities(alert: Alert, policies: Policies) -> list[Municipality]:
    """Every municipality one of the alert's areas concerns, whatever its status (`matching_areas`)."""
    return [m for m in _index_of(policies).candidates(alert) if matching_areas(alert, m)]
