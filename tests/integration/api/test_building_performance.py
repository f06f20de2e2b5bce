"""GET /sites/{id}/performance and GET /owners/{owner}/performance (issue 16) over hand-made daily
building_kpi points (tests/integration/api/building_world.py says what every day holds)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.api import building_world
from tests.integration.api.building_world import BuildingWorld

END = "2026-03-01"  # the current 12 months: 2025-03-01 … 2026-02-28; the previous: 2024-03-01 … 2025-02-28


@pytest.fixture(scope="module")
def world(services: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuildingWorld]:
    with building_world.serve(services, tmp_path_factory.mktemp("perf")) as found:
        yield found


def get(world: BuildingWorld, who: str | None, path: str, **params: Any) -> Any:
    with world.client(who) as client:
        return client.get(path, params=params)


def test_a_buildings_twelve_months_are_summed_and_degree_day_normalised(world: BuildingWorld) -> None:
    body = get(world, "tunabyggen", "/sites/tb-1/performance", end=END).json()
    now = body["current"]
    assert (now["start"], now["end"], now["days"], now["coverage"]) == ("2025-03-01", "2026-03-01", 365, 1.0)
    # 73 cycles of 5 days. Degree days per cycle 20+15+10+5+0 = 50 → Σdd = 73·50 = 3650.
    # Heat per cycle 5·48 + 12·50 = 840 → Σheat = 73·840 = 61320; Σbase = 365·48 = 17520.
    # Σnormal dd = 365·11 = 4015. Normalised = 17520 + (61320 − 17520) · 4015 / 3650 = 17520 + 48180 = 65700.
    assert now["degree_days"] == 3650.0
    assert now["normal_degree_days"] == 4015.0
    assert now["heat_kwh"] == 61320.0
    assert now["base_kwh"] == 17520.0
    assert now["heat_normalised_kwh"] == 65700.0
    assert now["electricity_kwh"] == 10950.0  # 365·30
    # Atemp 1000 m²: (61320 + 10950) / 1000 = 72.27; normalised (65700 + 10950) / 1000 = 76.65.
    assert now["kwh_per_m2"] == 72.27
    assert now["kwh_per_m2_normalised"] == 76.65
    assert now["heat_kwh_per_m2"] == 61.32
    assert now["heat_kwh_per_m2_normalised"] == 65.7
    # Comfort: 1 h too cold on 73 days, 0.5 h too warm on 365, 2 h CO₂ high on 73, 24 h of readings a day.
    assert (now["comfort_low_h"], now["comfort_high_h"], now["co2_high_h"], now["indoor_hours"]) == (
        73.0,
        182.5,
        146.0,
        8760.0,
    )
    assert body["floor_area_m2"] == 1000.0


def test_a_colder_year_before_shows_as_a_drop_in_actual_energy_but_none_when_normalised(
    world: BuildingWorld,
) -> None:
    body = get(world, "tunabyggen", "/sites/tb-1/performance", end=END).json()
    before = body["previous"]
    assert (before["start"], before["end"], before["days"]) == ("2024-03-01", "2025-03-01", 365)
    # 5 K colder: dd per cycle 25+20+15+10+5 = 75 → Σdd = 5475; heat per cycle 240 + 12·75 = 1140 → 83220.
    # Normalised = 17520 + (83220 − 17520) · 4015 / 5475 = 17520 + 65700 · 11/15 = 65700: the same building.
    assert before["heat_kwh"] == 83220.0
    assert before["heat_normalised_kwh"] == 65700.0
    # Actual: (72270 − 94170) / 94170 = −23.2558 %; normalised (76650 − 76650) / 76650 = 0 %.
    assert body["change"] == {"actual_pct": -23.26, "normalised_pct": 0.0}


def test_the_signature_is_fitted_on_daily_heat_over_24_hours_against_outdoor_temperature(
    world: BuildingWorld,
) -> None:
    signature = get(world, "tunabyggen", "/sites/tb-1/performance", end=END).json()["signature"]
    # heat/24 = 2 + 0.5 · max(0, 17 − T) exactly.
    assert signature["base_kw"] == 2.0
    assert signature["slope_kw_per_k"] == 0.5
    assert signature["balance_c"] == 17.0
    assert signature["r2"] == 1.0
    assert signature["days"] == 365
    flat = get(world, "tunabyggen", "/sites/tb-2/performance", end=END).json()
    assert flat["signature"] is None  # the same outdoor temperature every day: nothing to fit


def test_a_building_without_a_year_before_has_no_change_and_empty_figures_are_null(
    world: BuildingWorld,
) -> None:
    body = get(world, "tunabyggen", "/sites/tb-2/performance", end=END).json()
    assert body["change"] == {"actual_pct": None, "normalised_pct": None}
    assert body["previous"]["days"] == 0
    assert body["previous"]["heat_kwh"] is None
    assert body["previous"]["kwh_per_m2"] is None
    # Σheat 73000, Σbase 18250, Σdd 3650, Σnormal 4015: 18250 + 54750 · 1.1 = 78475; (78475 + 7300) / 500.
    assert body["current"]["heat_normalised_kwh"] == 78475.0
    assert body["current"]["kwh_per_m2_normalised"] == 171.55
    no_area = get(world, "tunabyggen", "/sites/tb-3/performance", end=END).json()
    assert no_area["current"]["heat_kwh"] == 3100.0  # 31 days of January
    assert no_area["current"]["coverage"] == round(31 / 365, 4)
    assert no_area["current"]["kwh_per_m2"] is None


def test_the_portfolio_is_ranked_worst_first_by_normalised_kwh_per_m2(world: BuildingWorld) -> None:
    body = get(world, "tunabyggen", "/owners/tunabyggen/performance", end=END).json()
    assert (body["sort"], body["order"]) == ("kwh_per_m2_normalised", "desc")
    ranking = [(b["rank"], b["site"], b["current"]["kwh_per_m2_normalised"]) for b in body["buildings"]]
    assert ranking == [(1, "tb-2", 171.55), (2, "tb-1", 76.65), (3, "tb-3", None)]  # no area: last
    for b in body["buildings"]:
        assert b["signature"] is None
    totals = body["totals"]
    # Σ over tb-1 and tb-2 (tb-3 has no floor area): 1500 m².
    assert totals["buildings"] == 2
    assert totals["floor_area_m2"] == 1500.0
    assert totals["heat_kwh"] == 134320.0  # 61320 + 73000
    assert totals["heat_normalised_kwh"] == 144175.0  # 65700 + 78475
    assert totals["electricity_kwh"] == 18250.0  # 10950 + 7300
    assert totals["kwh_per_m2"] == 101.7133  # (134320 + 18250) / 1500 = 101.71333…
    assert totals["kwh_per_m2_normalised"] == 108.2833  # (144175 + 18250) / 1500 = 108.28333…
    assert totals["without_floor_area"] == ["tb-3"]
    # Only tb-1 has two complete years: the portfolio's change is tb-1's.
    assert totals["change"] == {"actual_pct": -23.26, "normalised_pct": 0.0}
    assert totals["change_buildings"] == 1


def test_the_ranking_sorts_by_any_kpi_in_either_order(world: BuildingWorld) -> None:
    def order(**params: str) -> list[str]:
        body = get(world, "operator", "/owners/tunabyggen/performance", end=END, **params).json()
        return [b["site"] for b in body["buildings"]]

    assert order(order="asc") == ["tb-1", "tb-2", "tb-3"]
    assert order(sort="change_actual_pct") == ["tb-1", "tb-2", "tb-3"]  # nulls last, then by id
    assert order(sort="heat_kwh") == ["tb-2", "tb-1", "tb-3"]  # 73000 > 61320 > 3100
    assert order(sort="heat_kwh", order="asc") == ["tb-3", "tb-1", "tb-2"]
    assert order(sort="comfort_low_h") == ["tb-1", "tb-2", "tb-3"]  # 73 h > 0 h = 0 h


def test_an_owner_key_sees_only_its_own_buildings_and_portfolio(world: BuildingWorld) -> None:
    unknown_site = get(world, "tunabyggen", "/sites/nope/performance", end=END)
    other_site = get(world, "tunabyggen", "/sites/ot-1/performance", end=END)
    assert other_site.status_code == unknown_site.status_code == 404
    assert other_site.json() == {"error": "unknown_site", "message": "no site 'ot-1'"}
    unknown_owner = get(world, "tunabyggen", "/owners/nobody/performance", end=END)
    other_owner = get(world, "tunabyggen", "/owners/stora-bo/performance", end=END)
    assert other_owner.status_code == unknown_owner.status_code == 404
    assert other_owner.json() == {"error": "unknown_owner", "message": "no owner 'stora-bo'"}
    own = get(world, "stora", "/owners/stora-bo/performance", end=END).json()
    assert [b["site"] for b in own["buildings"]] == ["ot-1"]
    by_operator = get(world, "operator", "/owners/stora-bo/performance").json()
    assert [b["site"] for b in by_operator["buildings"]] == ["ot-1"]
    tb = get(world, "tunabyggen", "/owners/tunabyggen/performance", end=END).json()
    assert "ot-1" not in {b["site"] for b in tb["buildings"]}
    for path in ("/sites/tb-1/performance", "/owners/tunabyggen/performance"):
        missing = get(world, None, path)
        assert missing.status_code == 401
        assert missing.json()["error"] == "missing_api_key"


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/owners/tunabyggen/performance", {"sort": "name"}, 422, "invalid_parameter"),
        ("/owners/tunabyggen/performance", {"order": "worst"}, 422, "invalid_parameter"),
        ("/owners/tunabyggen/performance", {"sorting": "heat_kwh"}, 400, "unknown_parameter"),
        ("/sites/tb-1/performance", {"end": "2026-02-30"}, 422, "invalid_parameter"),
        ("/sites/tb-1/performance", {"end": "1999-12-31"}, 400, "bad_end"),
        ("/sites/tb-1/performance", {"end": "2999-01-01"}, 400, "end_in_future"),
        ("/owners/tunabyggen/performance", {"end": "2999-01-01"}, 400, "end_in_future"),
    ],
)
def test_bad_sorts_and_ends_get_a_4xx_json_error(
    world: BuildingWorld, path: str, params: dict[str, str], status: int, code: str
) -> None:
    answer = get(world, "operator", path, **params)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["error"] == code
