"""The climate contract's view (/climate) over emissions stored and rolled up in a real InfluxDB.

Hand-computed world (g CO2e/kWh: district heat location 50 (a placeholder), market 80;
electricity location 30, market 500), one June day a year, all of it rolled up:

    tunabyggen (tb-1)  heat 1,000 kWh (2023), 800 (2024), 1,200 (2025), 100 (2026)
                       electricity 500 kWh every year
    stora-bo (ot-1)    heat 2,000 kWh every year

Location-based, tunabyggen: 2023 = 1,000·0.05 + 500·0.03 = 65 kg (the baseline); 2024 =
40 + 15 = 55 kg against a target of 65·(1 − 1/7) = 55.714 kg (on track); 2025 = 60 + 15 =
75 kg against 65·(1 − 2/7) = 46.429 kg (not on track).
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from energy_core.influx import InfluxClient
from energy_core.lineprotocol import encode_batch
from energy_core.schema import Point
from tests.integration.api.conftest import (
    STOCKHOLM,
    make_settings,
    ns,
    roll_up,
    serve_in_thread,
    write_world_files,
)

FACTORS = {("district_heat", "location"): 50.0, ("district_heat", "market"): 80.0,
           ("electricity", "location"): 30.0, ("electricity", "market"): 500.0}  # fmt: skip
HEAT = {
    "tb-1": {2023: 1000.0, 2024: 800.0, 2025: 1200.0, 2026: 100.0},
    "ot-1": dict.fromkeys(range(2023, 2027), 2000.0),
}
ELECTRICITY = {"tb-1": dict.fromkeys(range(2023, 2027), 500.0)}
DEVICE = {
    ("tb-1", "district_heat"): "hm-tb-1",
    ("tb-1", "electricity"): "em-tb-1",
    ("ot-1", "district_heat"): "hm-ot-1",
}
OWNER = {"tb-1": "tunabyggen", "ot-1": "stora-bo"}
DAYS = [dt.date(2023, 6, 15), dt.date(2024, 6, 15), dt.date(2025, 6, 15), dt.date(2026, 1, 10)]


def _points() -> list[Point]:
    points = []
    for carrier, per_site in (("district_heat", HEAT), ("electricity", ELECTRICITY)):
        for site, per_year in per_site.items():
            for day in DAYS:
                kwh = per_year[day.year] / 4
                for hour in (10, 11, 12, 13):
                    at = ns(dt.datetime(day.year, day.month, day.day, hour, tzinfo=STOCKHOLM))
                    base = (
                        ("carrier", carrier),
                        ("device", DEVICE[(site, carrier)]),
                        ("network", "borlange"),
                        ("owner", OWNER[site]),
                        ("site", site),
                    )
                    points.append(Point("energy", base, {"kwh": kwh}, at))
                    for method in ("location", "market"):
                        factor = FACTORS[(carrier, method)]
                        tags = tuple(sorted((*base, ("method", method))))
                        points.append(Point("emissions", tags, {"co2e_kg": kwh * factor / 1000,
                                                                "factor_g_per_kwh": factor}, at))  # fmt: skip
    return points


@pytest.fixture(scope="module")
def climate_api(
    services: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    tmp: Path = tmp_path_factory.mktemp("climate")
    db = f"climate_{uuid.uuid4().hex[:10]}"
    keys = write_world_files(tmp)
    factors = {
        "version": "test",
        "defaults": {"district_heat": "borlange", "electricity": "SE3"},
        "factors": [],
    }
    for (carrier, method), g in FACTORS.items():
        area = {"network": "borlange"} if carrier == "district_heat" else {"zone": "SE3"}
        placeholder = carrier == "district_heat" and method == "location"
        factors["factors"].append(  # type: ignore[attr-defined]
            {
                "carrier": carrier,
                **area,
                "method": method,
                "valid_from": "2020-01-01",
                "g_co2e_per_kwh": g,
                "source": f"test {carrier} {method}",
                "placeholder": placeholder,
            }
        )
    (tmp / "factors.yaml").write_text(yaml.safe_dump(factors))
    (tmp / "targets.yaml").write_text(
        "source: test contract\nbaseline_year: 2023\ntarget_year: 2030\ntarget_reduction_pct: 100\n"
    )
    settings = make_settings(services, db, tmp, climate_targets_file=tmp / "targets.yaml")

    async def load() -> None:
        async with InfluxClient(services.influx_url, db) as influx:  # type: ignore[attr-defined]
            await influx.ensure_database()
            await influx.write(encode_batch(_points()))
        await roll_up(services.influx_url, db, DAYS)  # type: ignore[attr-defined]

    asyncio.run(load())
    with serve_in_thread(settings) as url:
        yield url, keys


def _get(climate_api: tuple[str, dict[str, str]], who: str, **params: object) -> httpx.Response:
    url, keys = climate_api
    with httpx.Client(base_url=url, headers={"X-API-Key": keys[who]}, timeout=30) as client:
        return client.get("/climate", params=params)


def _path(body: dict[str, object], owner: str | None, method: str) -> dict[str, object]:
    [found] = [p for p in body["paths"] if p["owner"] == owner and p["method"] == method]  # type: ignore[attr-defined, index]
    return found  # type: ignore[no-any-return]


def test_an_owners_years_meet_or_miss_the_straight_path_from_its_baseline(climate_api) -> None:
    response = _get(climate_api, "tunabyggen", from_year=2023, to_year=2026)
    assert response.status_code == 200, response.text
    path = _path(response.json(), "tunabyggen", "location")
    assert path["baseline_kg"] == pytest.approx(65.0)
    years = {y["year"]: y for y in path["years"]}
    assert years[2024]["co2e_kg"] == pytest.approx(55.0)
    assert years[2024]["target_kg"] == pytest.approx(65.0 * (1 - 1 / 7), abs=1e-3)
    assert years[2024]["on_track"] is True
    assert years[2025]["co2e_kg"] == pytest.approx(75.0)
    assert years[2025]["on_track"] is False
    assert years[2026]["complete"] is False
    assert years[2026]["on_track"] is None
    carriers = {c["carrier"]: c for c in years[2023]["by_carrier"]}
    assert carriers["district_heat"]["co2e_kg"] == pytest.approx(50.0)
    assert carriers["district_heat"]["kwh"] == pytest.approx(1000.0)
    assert carriers["electricity"]["co2e_kg"] == pytest.approx(15.0)
    # Market-based is its own path, from its own baseline: 1,000·0.08 + 500·0.5 = 330 kg.
    assert _path(response.json(), "tunabyggen", "market")["baseline_kg"] == pytest.approx(330.0)


def test_a_placeholder_factor_is_flagged_wherever_its_numbers_appear(climate_api) -> None:
    body = _get(climate_api, "tunabyggen", from_year=2024, to_year=2024).json()
    assert body["placeholder"] is True
    location = _path(body, "tunabyggen", "location")["years"][0]
    carriers = {c["carrier"]: c["placeholder"] for c in location["by_carrier"]}
    assert carriers == {"district_heat": True, "electricity": False}
    assert location["placeholder"] is True
    assert _path(body, "tunabyggen", "market")["years"][0]["placeholder"] is False
    notes = {(f["carrier"], f["method"]): f for f in body["factors"]}
    assert notes[("district_heat", "location")]["placeholder"] is True
    assert notes[("district_heat", "location")]["g_co2e_per_kwh"] == 50.0
    assert notes[("district_heat", "location")]["source"] == "test district_heat location"
    assert notes[("electricity", "market")]["g_co2e_per_kwh"] == 500.0


def test_operators_see_the_city_and_every_owner_and_an_owner_only_itself(climate_api) -> None:
    operator = _get(climate_api, "operator", from_year=2023, to_year=2025).json()
    city = {y["year"]: y["co2e_kg"] for y in _path(operator, None, "location")["years"]}
    # 2024: tunabyggen 55 kg + stora-bo 2,000·0.05 = 100 kg.
    assert city[2024] == pytest.approx(155.0)
    assert {p["owner"] for p in operator["paths"]} >= {None, "tunabyggen", "stora-bo"}
    owner = _get(climate_api, "tunabyggen", from_year=2023, to_year=2025).json()
    assert {p["owner"] for p in owner["paths"]} == {"tunabyggen"}
    stora = _get(climate_api, "stora", from_year=2023, to_year=2025).json()
    assert {p["owner"] for p in stora["paths"]} == {"stora-bo"}
    assert _path(stora, "stora-bo", "location")["baseline_kg"] == pytest.approx(100.0)


def test_the_climate_view_comes_as_swedish_excel_csv_with_the_same_numbers(climate_api) -> None:
    response = _get(climate_api, "tunabyggen", from_year=2024, to_year=2024, format="csv", dialect="excel-sv")
    assert response.status_code == 200, response.text
    text = response.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    total = [r for r in rows if r["method"] == "location" and r["carrier"] == "all"]
    assert [r["co2e_kg"] for r in total] == ["55,0"]
    heat = [r for r in rows if r["method"] == "location" and r["carrier"] == "district_heat"]
    assert heat[0]["kwh"] == "800,0"


@pytest.mark.parametrize(
    ("params", "status"),
    [({"from_year": 2025, "to_year": 2023}, 400), ({"from_year": 1900}, 422), ({"every": "year"}, 400)],
)
def test_bad_years_get_a_json_error(climate_api, params: dict[str, object], status: int) -> None:
    response = _get(climate_api, "operator", **params)
    assert response.status_code == status
    assert "error" in response.json() or "code" in response.json()
