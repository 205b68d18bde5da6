"""The area index finds exactly the municipalities that visiting every one of them would find."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.alerts import Alert, AlertArea, parse_alert
from gateway.alerts.areas import addressed_municipalities, addressed_to, concerned_municipalities, matching_areas
from gateway.errors import InputError
from gateway.policy import Alerts, Policies, load_policies

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [*sorted((ROOT / "tests" / "fixtures" / "alerts").iterdir()),
             *sorted(p for p in (ROOT.parent / "shared" / "alert_samples").rglob("*") if p.suffix in (".xml", ".json"))]


@pytest.fixture(scope="module")
def policies() -> Policies:
    return load_policies(ROOT / "config" / "municipalities")


def brute_force(alert: Alert, policies: Policies) -> tuple[list[str], list[str]]:
    return ([m.id for m in policies if addressed_to(alert, m)], [m.id for m in policies if matching_areas(alert, m)])


def indexed(alert: Alert, policies: Policies) -> tuple[list[str], list[str]]:
    return ([m.id for m in addressed_municipalities(alert, policies)],
            [m.id for m in concerned_municipalities(alert, policies)])


def test_every_document_finds_the_same_municipalities(policies: Policies) -> None:
    compared = 0
    for path in DOCUMENTS:
        try:
            alert = parse_alert(path.read_bytes())
        except InputError:
            continue
        assert indexed(alert, policies) == brute_force(alert, policies), path.name
        compared += 1
    assert compared >= 30


def area(code: str = "", name: str = "", code_type: str = "city") -> AlertArea:
    return AlertArea.model_validate({"code": code, "name": name, "code_type": code_type})


def alert_of(kind: str, *areas: AlertArea) -> Alert:
    template = parse_alert((ROOT / "tests" / "fixtures" / "alerts" / "json_evacuation_legacy_kodaira.json").read_bytes())
    return template.model_copy(update={"kind": kind, "areas": areas})


@pytest.mark.parametrize("kind,areas", [
    ("evacuation", [area("1321100")]),  # JMA seven-digit city code
    ("evacuation", [area("132110")]),  # with check digit
    ("evacuation", [area(name="小平市")]),  # a city named without a code
    ("weather_warning", [area("13", code_type="prefecture")]),  # prefecture-wide kind
    ("evacuation", [area("13000", code_type="prefecture")]),  # never prefecture-wide
    ("tsunami", [area("330", "相模湾・三浦半島", "tsunami")]),
    ("record_rain", [area(name="小平市付近", code_type="place")]),
    ("record_rain", [area(name="小平", code_type="place")]),  # shorter than any configured name
    ("evacuation", [area("99999"), area("14208"), area("12206")]),
])
def test_synthetic_areas_match_brute_force(policies: Policies, kind: str, areas: list[AlertArea]) -> None:
    alert = alert_of(kind, *areas)
    assert indexed(alert, policies) == brute_force(alert, policies)


def test_among_thousands_of_municipalities_only_the_addressed_one_is_found(policies: Policies) -> None:
    seed = next(iter(policies))
    many = Policies([*policies, *(seed.model_copy(update={
        "id": f"x{n:04d}", "alerts": Alerts.model_validate({
            **seed.alerts.model_dump(), "area_codes": [f"{60 + n // 100}{n % 100:03d}"], "area_names": [f"第{n}町"]})})
        for n in range(1700))])
    alert = alert_of("evacuation", area("61042"), area(name="第1500町"))
    assert [m.id for m in addressed_municipalities(alert, many)] == ["x0142", "x1500"]
    assert indexed(alert, many) == brute_force(alert, many)
