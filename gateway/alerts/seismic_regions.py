"""JMA 地震情報／細分区域 (the regions 震度速報 names) and the municipalities each contains.

震度速報 (VXSE51) reports the maximum intensity per region ("東京都多摩東部 震度4"), not per
municipality, so a city finds itself through this table: the municipalities with a seismic
intensity station in each region, from JMA's code table (see data/seismic_regions.json for the
source). Codes are JIS X 0402 without the check digit (5 digits); designated cities appear by ward.
A municipality may lie in two regions (islands: 佐世保市, 薩摩川内市).
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    cities: frozenset[str]


@functools.cache
def _regions() -> dict[str, Region]:
    raw = resources.files("gateway.alerts").joinpath("data", "seismic_regions.json").read_text(encoding="utf-8")
    data = json.loads(raw)["regions"]
    return {code: Region(code, entry["name"], frozenset(entry["cities"])) for code, entry in data.items()}


@functools.cache
def _by_city() -> dict[str, tuple[str, ...]]:
    found: defaultdict[str, list[str]] = defaultdict(list)
    for region in _regions().values():
        for city in region.cities:
            found[city].append(region.code)
    return {city: tuple(codes) for city, codes in found.items()}


def cities_in(region_code: str) -> frozenset[str]:
    """Five-digit municipality codes in the region (empty for an unknown region code)."""
    region = _regions().get(region_code)
    return region.cities if region else frozenset()


def regions_of(city: str) -> tuple[str, ...]:
    """The region codes a five-digit municipality code belongs to."""
    return _by_city().get(city, ())


def region(code: str) -> Region | None:
    return _regions().get(code)
