"""The building analyser against a real InfluxDB: a hand-made day of roll-ups (energy, weather, indoor)
gives the hand-computed building_kpi point, stored at the day's local midnight; the nearest station's
weather is used, the normal comes from the operator's file or the station's own years."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from energy_core.analysis import BUILDING_KPI, RP, normalised_heat
from energy_core.degreedays import load_normal_year
from energy_core.errors import ConfigError
from energy_core.influx import InfluxClient
from energy_core.lineprotocol import encode_batch
from energy_core.registry import AssetFile, Device, Owner, Registry, Site
from energy_core.rollups import RP_1D, RP_1H, local_midnight_ns, qualified
from energy_core.schema import Point
from energy_core.timeutil import HOUR_NS
from energy_testing.world import Isolation
from ingest.analysis.buildings import BuildingAnalyser, BuildingParams
from ingest.rollup.retention import ensure_policies

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 1, 20)  # 24 local hours; analysed
BASE_KW, SLOPE_KW_PER_K = 4.0, 1.5  # the house follows 4 kW + 1.5 kW/K · degree days
WINDOW = [DAY - dt.timedelta(days=i) for i in range(20)]
NEAR_C = {d: -5.0 + 0.75 * i for i, d in enumerate(WINDOW)}  # DAY: −5 °C, 22 degree days
FAR_C = {d: -20.0 for d in WINDOW}  # a colder station far north
EARLIER_YEARS_C = {dt.date(2023, 1, 20): -6.0, dt.date(2024, 1, 20): -2.0, dt.date(2025, 1, 20): 2.0}

REGISTRY = Registry(
    AssetFile(
        owners=(Owner(id="tb", name="Tunabyggen"),),
        sites=(
            Site(id="wx", name="Borlänge station", owner="tb", latitude=60.48, longitude=15.43),
            Site(id="wx-far", name="A northern station", owner="tb", latitude=65.0, longitude=20.0),
            Site(
                id="house",
                name="Jakobsgårdarna 1",
                owner="tb",
                floor_area_m2=1000.0,
                latitude=60.49,
                longitude=15.42,
            ),
            Site(id="shed", name="No coordinates", owner="tb"),
        ),
        devices=(
            Device(id="t-near", site="wx", kind="weather_station"),
            Device(id="t-far", site="wx-far", kind="weather_station"),
            Device(id="hm", site="house", kind="heat_meter"),
            Device(id="em", site="house", kind="electricity_meter"),
            Device(id="in1", site="house", kind="indoor_sensor"),
            Device(id="in2", site="house", kind="indoor_sensor"),
            Device(id="em-shed", site="shed", kind="electricity_meter"),
        ),
    )
)


def tags(device: str, site: str, **extra: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"device": device, "owner": "tb", "site": site, **extra}.items()))


def daily_points() -> list[Point]:
    points = []
    for site, device, temps in (("wx", "t-near", {**NEAR_C, **EARLIER_YEARS_C}), ("wx-far", "t-far", FAR_C)):
        for day, mean_c in temps.items():
            fields = {"outdoor_temp_c_sum": 96 * mean_c, "outdoor_temp_c_count": 96.0}
            points.append(Point("weather", tags(device, site), fields, local_midnight_ns(day)))
    for day, mean_c in NEAR_C.items():
        heat = 24 * (BASE_KW + SLOPE_KW_PER_K * max(0.0, 17.0 - mean_c))
        points.append(
            Point(
                "energy",
                tags("hm", "house", carrier="district_heat"),
                {"kwh": heat, "count": 96.0},
                local_midnight_ns(day),
            )
        )
    points.append(
        Point("energy", tags("em", "house", carrier="electricity"), {"kwh": 150.0}, local_midnight_ns(DAY))
    )
    points.append(
        Point("energy", tags("em-shed", "shed", carrier="electricity"), {"kwh": 7.5}, local_midnight_ns(DAY))
    )
    return points


def hourly_points() -> list[Point]:
    """The house's two indoor sensors, hour by hour over DAY and one hour either side of it."""
    start = local_midnight_ns(DAY)
    points = []
    for hour in range(-1, 25):
        ts = start + hour * HOUR_NS
        if hour < 0 or hour == 24:  # outside the day: cold and stuffy, must not count
            t1, t2, co2 = 10.0, 10.0, 3000.0
        elif hour < 6:  # site mean (4 · 19 + 2 · 20.5) / 6 = 19.5 °C: below the band
            t1, t2, co2 = 19.0, 20.5, 600.0
        elif hour < 8:  # above it
            t1, t2, co2 = 25.0, 25.0, 700.0
        else:  # inside; CO₂ above 1,000 ppm from 08 to 11
            t1, t2, co2 = 22.0, 21.0, 1200.0 if hour < 11 else 650.0
        in1 = {
            "temperature_c_sum": 4 * t1,
            "temperature_c_count": 4.0,
            "co2_ppm_sum": 4 * co2,
            "co2_ppm_count": 4.0,
        }
        in2 = {"temperature_c_sum": 2 * t2, "temperature_c_count": 2.0}  # no CO₂ sensor
        points.append(Point("indoor_climate", tags("in1", "house"), in1, ts))
        points.append(Point("indoor_climate", tags("in2", "house"), in2, ts))
    return points


async def stored(influx: InfluxClient) -> dict[str, list[dict[str, Any]]]:
    results = await influx.query(f"SELECT * FROM {qualified(influx.db, RP, BUILDING_KPI)} GROUP BY *")  # noqa: S608
    out: dict[str, list[dict[str, Any]]] = {}
    for series in results[0].get("series") or ():
        series_tags = series["tags"]
        out[series_tags["site"]] = [
            {**series_tags, **dict(zip(series["columns"], row, strict=True))} for row in series["values"]
        ]
    return out


async def prepared(isolated: Isolation) -> InfluxClient:
    influx = InfluxClient(isolated.services.influx_url, isolated.db, timeout_s=60.0)
    await influx.ensure_database()
    assert await ensure_policies(influx, rollup_days=0, raw_days=None) == "done"
    await influx.write(encode_batch(daily_points()), rp=RP_1D)
    await influx.write(encode_batch(hourly_points()), rp=RP_1H)
    return influx


async def test_a_hand_made_day_gives_the_hand_computed_building_kpis(isolated: Isolation) -> None:
    influx = await prepared(isolated)
    async with influx:
        analyser = BuildingAnalyser(REGISTRY)
        lines = await analyser.analyse(influx, [DAY])
        await influx.write("\n".join(lines).encode(), rp=RP)
        kpis = await stored(influx)
        assert await analyser.analyse(influx, [DAY]) == lines  # idempotent

    assert sorted(kpis) == ["house", "shed"]  # the stations have no energy: no KPIs
    [house] = kpis["house"]
    assert house["time"] == local_midnight_ns(DAY)
    assert house["owner"] == "tb"
    assert house["heat_kwh"] == pytest.approx(24 * (4.0 + 1.5 * 22))  # 888 kWh
    assert house["electricity_kwh"] == pytest.approx(150.0)
    assert house["outdoor_temp_c"] == pytest.approx(-5.0)  # the nearest station, not the far one
    assert house["degree_days"] == pytest.approx(22.0)
    # Derived normal of 20 January: degree days 23, 19, 15 (2023–2025) and 22 (2026): mean 19.75.
    assert house["normal_degree_days"] == pytest.approx(19.75)
    assert house["base_kwh"] == pytest.approx(24 * 4.0)  # the signature's base: 96 kWh
    assert house["comfort_low_h"] == 6.0
    assert house["comfort_high_h"] == 2.0
    assert house["co2_high_h"] == 3.0
    assert house["indoor_hours"] == 24.0
    assert house["floor_area_m2"] == 1000.0  # the registry's Atemp, for kWh/m² in Grafana
    # The day normalised: 96 + (888 − 96) · 19.75 / 22 = 807 kWh = 24 · (4 + 1.5 · 19.75).
    normalised = normalised_heat(house["heat_kwh"], house["base_kwh"], house["degree_days"],
                                 house["normal_degree_days"])  # fmt: skip
    assert normalised == pytest.approx(24 * (4.0 + 1.5 * 19.75))

    [shed] = kpis["shed"]  # no coordinates: the mean of both stations, (−5 + −20) / 2
    assert shed["electricity_kwh"] == pytest.approx(7.5)
    assert shed["outdoor_temp_c"] == pytest.approx(-12.5)
    assert shed["degree_days"] == pytest.approx(29.5)
    assert shed.get("heat_kwh") is None
    assert shed.get("base_kwh") is None
    assert shed.get("floor_area_m2") is None  # the registry gives it none
    assert shed.get("indoor_hours") is None
    assert shed.get("comfort_low_h") is None


async def test_the_operators_normal_year_wins_over_the_derived_one_and_the_comfort_band_is_a_setting(
    isolated: Isolation, tmp_path: Path
) -> None:
    monthly = [620.0, 560.0, 530.0, 390.0, 250.0, 90.0, 31.0, 62.0, 180.0, 341.0, 450.0, 589.0]
    path = tmp_path / "normal.yaml"
    path.write_text(f"stations:\n  wx:\n    monthly_degree_days: {monthly}\n", encoding="utf-8")
    params = BuildingParams(comfort_low_c=19.0, comfort_high_c=24.5, co2_limit_ppm=1300.0)
    analyser = BuildingAnalyser(REGISTRY, params, load_normal_year(path))
    influx = await prepared(isolated)
    async with influx:
        lines = await analyser.analyse(influx, [DAY, DAY + dt.timedelta(days=1)])
        await influx.write("\n".join(lines).encode(), rp=RP)
        kpis = await stored(influx)

    house, next_day = kpis["house"]
    assert house["normal_degree_days"] == pytest.approx(620.0 / 31)  # January's 620 over 31 days
    assert house["comfort_low_h"] == 0.0  # 19.5 °C is inside 19–24.5
    assert house["comfort_high_h"] == 2.0
    assert house["co2_high_h"] == 0.0
    # The next day holds only its first indoor hour (10 °C, 3,000 ppm): no energy, no weather.
    assert next_day["time"] == local_midnight_ns(DAY + dt.timedelta(days=1))
    assert (next_day["indoor_hours"], next_day["comfort_low_h"], next_day["co2_high_h"]) == (1.0, 1.0, 1.0)
    assert next_day.get("heat_kwh") is None
    assert next_day.get("degree_days") is None
    assert next_day["normal_degree_days"] == pytest.approx(620.0 / 31)


def test_a_normal_year_file_naming_no_station_of_the_registry_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "normal.yaml"
    path.write_text(f"stations:\n  house:\n    monthly_mean_temp_c: {[0.0] * 12}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="NORMAL_YEAR_FILE names 'house', which is no weather-station site"):
        BuildingAnalyser(REGISTRY, normal_year=load_normal_year(path))


async def test_late_heat_reaches_the_analysed_day_and_the_signature_window_of_the_days_after_it(
    isolated: Isolation,
) -> None:
    """The analyser keeps the window's heat between calls (the runner re-analyses today every few
    minutes); the analysed days are always read afresh, and after the runner has passed a day whose
    energy changed, the days after it see the new heat as a fresh analyser does."""
    influx = await prepared(isolated)
    late_day = DAY - dt.timedelta(days=3)
    heat = tags("hm", "house", carrier="district_heat")
    async with influx:
        analyser = BuildingAnalyser(REGISTRY)
        before = await analyser.analyse(influx, [DAY])
        late = [
            Point("energy", heat, {"kwh": 5000.0}, local_midnight_ns(late_day)),
            Point("energy", heat, {"kwh": 1000.0}, local_midnight_ns(DAY)),
        ]
        await influx.write(encode_batch(late), rp=RP_1D)
        today = await analyser.analyse(influx, [DAY])  # the clock
        await analyser.analyse(
            influx, [late_day + dt.timedelta(days=i) for i in range(4)]
        )  # the changed days
        after = await analyser.analyse(influx, [DAY])  # the clock again
        assert after == await BuildingAnalyser(REGISTRY).analyse(influx, [DAY])
    assert "heat_kwh=1000" in next(line for line in today if "site=house" in line)
    assert after != before  # the late heat moved the house's base
    assert [line for line in after if "site=shed" in line] == [line for line in before if "site=shed" in line]


async def test_the_autumn_dst_day_has_25_indoor_hours_and_its_midnight_is_local(isolated: Isolation) -> None:
    autumn = dt.date(2026, 10, 25)  # clocks go back: 25 local hours
    start, end = local_midnight_ns(autumn), local_midnight_ns(autumn + dt.timedelta(days=1))
    hours = [
        Point(
            "indoor_climate",
            tags("in1", "house"),
            {"temperature_c_sum": 21.0, "temperature_c_count": 1.0},
            ts,
        )
        for ts in range(start - HOUR_NS, end + HOUR_NS, HOUR_NS)
    ]
    async with InfluxClient(isolated.services.influx_url, isolated.db, timeout_s=60.0) as influx:
        await influx.ensure_database()
        assert await ensure_policies(influx, rollup_days=0, raw_days=None) == "done"
        await influx.write(encode_batch(hours), rp=RP_1H)
        lines = await BuildingAnalyser(REGISTRY).analyse(influx, [autumn])
    assert (end - start) // HOUR_NS == 25
    assert lines == [
        f"building_kpi,owner=tb,site=house comfort_low_h=0.0,comfort_high_h=0.0,indoor_hours=25.0,floor_area_m2=1000.0 {start}"
    ]
