"""The derive step inside the pipeline, and its register history across a restart (SQLite, no servers)."""

from __future__ import annotations

import orjson
import pytest

from energy_core.factors import EmissionFactors
from energy_core.registry import AssetFile, Registry
from energy_core.schema import Message, Point
from ingest.adapters import Router, default_routes
from ingest.derive.deriver import Deriver
from ingest.normalise import Normaliser
from ingest.pipeline import Pipeline

T0 = 1_740_000_000  # 2025-02-19, inside the shipped factors' validity
NS = 1_000_000_000

REGISTRY = Registry(
    AssetFile.model_validate(
        {
            "owners": [{"id": "borlange-energi", "name": "Borlänge Energi"}],
            "sites": [{"id": "s1", "name": "Sub 1", "owner": "borlange-energi", "network": "borlange-dh"}],
            "devices": [
                {"id": "hm-1", "site": "s1", "kind": "heat_meter"},
                {"id": "hm-2", "site": "s1", "kind": "heat_meter", "flow_sensor": "supply"},
                {"id": "em-1", "site": "s1", "kind": "electricity_meter"},
            ],
        }
    )
)


def pipeline(deriver: Deriver) -> Pipeline:
    return Pipeline(Router(default_routes("energy")), Normaliser(REGISTRY), deriver=deriver)


def message(device: str, ts: int, **values: float) -> Message:
    return Message(f"energy/v1/{device}", orjson.dumps({"ts": ts, "values": values}), (T0 + 3600) * NS)


def by_measurement(points: list[Point], name: str) -> list[Point]:
    return [p for p in points if p.measurement == name]


def test_heat_meter_registers_become_energy_and_emissions_points_with_device_tags():
    run = pipeline(Deriver(EmissionFactors.load()))
    assert by_measurement(run.process(message("hm-1", T0, energy=1000.0)).points, "energy") == []
    points = run.process(message("hm-1", T0 + 600, energy=1012.5)).points
    [energy] = by_measurement(points, "energy")
    assert energy.fields == {"kwh": 12.5}
    assert energy.ts_ns == (T0 + 600) * NS
    assert dict(energy.tags) == {
        "carrier": "district_heat",
        "device": "hm-1",
        "network": "borlange-dh",
        "owner": "borlange-energi",
        "site": "s1",
    }
    # District heat has a location- and a market-based factor (the supplier's own value): both 54.9.
    emissions = {dict(p.tags)["method"]: p for p in by_measurement(points, "emissions")}
    assert set(emissions) == {"location", "market"}
    for point in emissions.values():
        assert point.fields == {"co2e_kg": pytest.approx(12.5 * 54.9 / 1000), "factor_g_per_kwh": 54.9}
        assert list(point.tags) == sorted(point.tags)


def test_electricity_import_registers_give_one_emissions_point_per_method():
    run = pipeline(Deriver(EmissionFactors.load()))
    run.process(message("em-1", T0, energy_import=10.0))
    points = run.process(message("em-1", T0 + 900, energy_import=12.0)).points
    assert by_measurement(points, "energy")[0].fields == {"kwh": 2.0}
    methods = {dict(p.tags)["method"]: p.fields["co2e_kg"] for p in by_measurement(points, "emissions")}
    assert methods == {"location": pytest.approx(0.072), "market": pytest.approx(1.0482)}


def test_power_is_derived_at_the_registered_flow_sensor_temperature():
    run = pipeline(Deriver(EmissionFactors.load()))
    values = {"flow": 3.6, "supply_temp": 85.0, "return_temp": 45.0}
    [in_return] = by_measurement(run.process(message("hm-1", T0, **values)).points, "district_heating")
    [in_supply] = by_measurement(run.process(message("hm-2", T0, **values)).points, "district_heating")
    assert in_return.fields["power_kw"] == pytest.approx(165.485, abs=0.002)
    assert in_supply.fields["power_kw"] == pytest.approx(162.714, abs=0.002)
    assert in_return.fields["delta_t_k"] == 40.0


async def test_the_register_history_survives_a_restart_and_redelivery_does_not_double_count(tmp_path):
    first = Deriver.open(tmp_path, None)
    run = pipeline(first)
    run.process(message("hm-1", T0, energy=100.0))
    run.process(message("hm-1", T0 + 600, energy=110.0))
    await first.commit()
    first.close()

    second = Deriver.open(tmp_path, None)
    run = pipeline(second)
    # The unacked reading at T0+600 is redelivered: the same interval again, not a second one.
    redelivered = by_measurement(run.process(message("hm-1", T0 + 600, energy=110.0)).points, "energy")
    assert [(p.ts_ns, p.fields["kwh"]) for p in redelivered] == [((T0 + 600) * NS, 10.0)]
    # The next reading continues from the restored history.
    following = by_measurement(run.process(message("hm-1", T0 + 1200, energy=115.0)).points, "energy")
    assert [(p.ts_ns, p.fields["kwh"]) for p in following] == [((T0 + 1200) * NS, 5.0)]
    await second.commit()
    second.close()


async def test_trimmed_history_and_its_floor_are_restored(tmp_path):
    first = Deriver.open(tmp_path, None)
    first.state.max_readings = 3
    run = pipeline(first)
    for i in range(6):
        run.process(message("hm-1", T0 + 60 * i, energy=float(i)))
    await first.commit()
    kept = list(first.state.histories["hm-1\x1fdistrict_heat"].ts_ns)
    first.close()

    second = Deriver.open(tmp_path, None)
    history = second.state.histories["hm-1\x1fdistrict_heat"]
    assert list(history.ts_ns) == kept == [(T0 + 60 * i) * NS for i in (2, 3, 4, 5)]
    assert history.floored
    second.close()
