"""Plausibility of the simulated city: energy balance, registers, ranges, profiles, determinism."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from energy_core.schema import DeviceKind
from simulators.building import ElectricityMeter, IndoorSensor, Use
from simulators.city import build_city
from simulators.faults import FaultRates
from simulators.heat import HeatMeter, rho_cp_kwh_per_m3k
from simulators.simulation import Simulation
from simulators.weather import OutdoorClimate

JAN_15 = datetime(2026, 1, 15, tzinfo=UTC).timestamp()
JUL_15 = datetime(2026, 7, 15, tzinfo=UTC).timestamp()
DAY = 86400.0


def _day_of_readings(model: HeatMeter, start: float, step: float = 60.0) -> list[dict[str, float]]:
    climate, rng = OutdoorClimate(3), random.Random(3)
    n = int(DAY / step) + 1
    return [model.read(start + k * step, climate.temperature_c(start + k * step), rng) for k in range(n)]


@pytest.mark.parametrize("start", [JAN_15, JUL_15], ids=["january", "july"])
def test_heat_meter_energy_register_balances_power_and_flow_over_a_day(start):
    readings = _day_of_readings(HeatMeter("hm", design_load_kw=250.0, energy_kwh=1000.0), start)
    register_kwh = readings[-1]["energy"] - readings[0]["energy"]
    power_kwh = sum(r["power"] for r in readings[:-1]) / 60.0
    # Heat carried by the water: Σ q·ρc_p(T_return)·ΔT·dt, with the flow measured at the return.
    water_kwh = (
        sum(
            r["flow"] * rho_cp_kwh_per_m3k(r["return_temp"]) * (r["supply_temp"] - r["return_temp"])
            for r in readings[:-1]
        )
        / 60.0
    )
    volume_m3 = readings[-1]["volume"] - readings[0]["volume"]
    assert register_kwh == pytest.approx(power_kwh, rel=1e-4)
    assert water_kwh == pytest.approx(register_kwh, rel=1e-3)
    assert volume_m3 == pytest.approx(sum(r["flow"] for r in readings[:-1]) / 60.0, rel=1e-3)


def test_winter_load_is_several_times_summer_load():
    def day_kwh(start: float) -> float:
        readings = _day_of_readings(HeatMeter("hm", design_load_kw=100.0), start)
        return readings[-1]["energy"] - readings[0]["energy"]

    january, july = day_kwh(JAN_15), day_kwh(JUL_15)
    assert 600 < january < 2400  # 100 kW design load at about -7 °C
    assert january > 3 * july > 0


def _city_readings(sites: int = 30, days: float = 2.0, step: float = 600.0, seed: int = 5):
    city = build_city(sites, seed=seed)
    sim = Simulation(city, keep_readings=True)
    for _ in sim.run(JAN_15, step, until_s=JAN_15 + days * DAY):
        pass
    kinds = {d.id: d.kind for d in city.devices}
    return sim.report.good_readings, kinds


def test_registers_of_every_meter_only_grow_without_faults():
    readings, _ = _city_readings()
    last: dict[tuple[str, str], float] = {}
    checked = 0
    for r in sorted(readings, key=lambda r: r.ts_s):
        for quantity in ("energy", "volume", "energy_import", "energy_export"):
            if quantity in r.values:
                previous = last.get((r.device_id, quantity))
                assert previous is None or r.values[quantity] >= previous, (r.device_id, quantity)
                last[(r.device_id, quantity)] = r.values[quantity]
                checked += 1
    assert checked > 1000


def test_every_simulated_value_is_in_its_physical_range():
    readings, kinds = _city_readings()
    ranges = {
        "supply_temp": (68.0, 112.0),
        "return_temp": (35.0, 60.0),
        "power": (-500.0, 2000.0),
        "flow": (0.0, 100.0),
        "temperature": (17.0, 26.0),
        "humidity": (12.0, 80.0),
        "co2": (380.0, 2500.0),
        "outdoor_temp": (-40.0, 35.0),
    }
    seen = set()
    for r in readings:
        for quantity, value in r.values.items():
            if quantity in ranges:
                low, high = ranges[quantity]
                assert low <= value <= high, (r.device_id, quantity, value)
                seen.add(quantity)
        if kinds[r.device_id] is DeviceKind.HEAT_METER:
            assert r.values["supply_temp"] > r.values["return_temp"]
    assert seen == set(ranges)


def test_indoor_co2_rises_when_people_are_in():
    sensor = IndoorSensor("ers", use=Use.SCHOOL, people=25, air_volume_m3=200, air_changes_per_h=3.0)
    climate, rng = OutdoorClimate(1), random.Random(1)
    monday = datetime(2026, 2, 2, tzinfo=UTC).timestamp()
    by_hour = {}
    for minute in range(24 * 60):
        ts = monday + minute * 60
        by_hour[minute // 60] = sensor.read(ts, climate.temperature_c(ts), rng)["co2"]
    assert by_hour[3] < 500  # night: empty classroom, ventilated down to outdoor levels
    assert by_hour[9] > 900  # a lesson under way (09 UTC is 10 local)


def test_electricity_peaks_in_the_evening_at_home():
    meter = ElectricityMeter("em", use=Use.RESIDENTIAL, peak_kw=10.0)
    rng = random.Random(1)
    night = meter.read(JAN_15 + 2 * 3600, 0.0, rng)["power"]
    evening = meter.read(JAN_15 + 18 * 3600, 0.0, rng)["power"]
    assert evening > 2 * night > 0


def _stream(seed: int, faults: FaultRates) -> list[tuple[str, bytes]]:
    sim = Simulation(build_city(25, seed=seed), prefix="p", faults=faults)
    return list(sim.run(JAN_15, 60.0, count=3000))


def test_the_same_seed_gives_the_same_stream_and_another_seed_another():
    faults = FaultRates.parse("malformed=0.02,duplicate=0.02,out_of_order=0.02,burst=0.01,broken_sensor=0.01")
    first, again, other = _stream(7, faults), _stream(7, faults), _stream(8, faults)
    assert first == again
    assert first != other
    assert len({topic.split("/")[0] for topic, _ in first}) >= 5  # the format mix is in it
