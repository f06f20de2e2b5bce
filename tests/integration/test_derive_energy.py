"""Interval energy and emissions end to end: MQTT → ingest (restarted midway) → InfluxDB, then backfill."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import orjson
import pytest

from energy_core.factors import EmissionFactors
from energy_core.influx import InfluxClient
from energy_core.registry import AssetFile, Registry
from ingest.derive.backfill import backfill
from simulators.publisher import Publisher
from tests.helpers import eventually, ingest_settings, running_ingest

pytestmark = pytest.mark.integration

NS = 1_000_000_000
T0 = (int(time.time()) // 600 - 12) * 600  # two hours ago, on a 10-minute boundary
STEP = 600
HEAT = [1000.0, 1010.0, 1025.0, 1031.0, 1050.0, 1052.5]  # hm-1 energy register at T0 + i·STEP
ELEC = [200.0, 204.0, 209.0]  # em-1 energy_import register

REGISTRY = Registry(
    AssetFile.model_validate(
        {
            "owners": [{"id": "borlange-energi", "name": "Borlänge Energi"}],
            "sites": [{"id": "sub-1", "name": "Sub 1", "owner": "borlange-energi", "network": "borlange-dh"}],
            "devices": [
                {"id": "hm-1", "site": "sub-1", "kind": "heat_meter"},
                {"id": "em-1", "site": "sub-1", "kind": "electricity_meter"},
            ],
        }
    )
)


def heat(prefix: str, i: int) -> tuple[str, bytes]:
    return f"{prefix}/v1/hm-1", orjson.dumps({"ts": T0 + i * STEP, "values": {"energy": HEAT[i]}})


def elec(prefix: str, i: int) -> tuple[str, bytes]:
    return f"{prefix}/v1/em-1", orjson.dumps({"ts": T0 + i * STEP, "values": {"energy_import": ELEC[i]}})


def stored(
    isolated, measurement: str, carrier: str, field: str, method: str | None = None
) -> dict[int, float]:
    where = f"\"carrier\" = '{carrier}'" + (f" AND \"method\" = '{method}'" if method else "")
    rows = isolated.query(f'SELECT "{field}" FROM "{measurement}" WHERE {where}')  # noqa: S608 (test's own)
    return {int(row[0]) // NS - T0: row[1] for row in rows}  # seconds after T0 → value


def heat_intervals(indices: list[int]) -> dict[int, float]:
    """Expected interval energy of hm-1 when the readings at ``indices`` have arrived."""
    ordered = sorted(indices)
    return {b * STEP: HEAT[b] - HEAT[a] for a, b in itertools.pairwise(ordered)}


async def publish(isolated, messages: list[tuple[str, bytes]]) -> None:
    with Publisher(isolated.services.mqtt_url) as publisher:
        await asyncio.to_thread(publisher.publish_many, messages)


async def test_out_of_order_duplicated_registers_across_a_restart_store_exact_energy_and_emissions(
    isolated, tmp_path: Path
):
    settings = ingest_settings(isolated, tmp_path / "data")
    prefix = isolated.prefix

    # Before the restart: 3, 1, 1 again, 0 (out of order, one duplicate) and electricity 2, 0.
    async with running_ingest(settings, REGISTRY):
        await publish(isolated, [heat(prefix, 3), heat(prefix, 1), heat(prefix, 1), heat(prefix, 0)])
        await publish(isolated, [elec(prefix, 2), elec(prefix, 0)])
        expected_before = heat_intervals([0, 1, 3])  # {600: 10, 1800: 21}
        assert await eventually(
            lambda: (
                stored(isolated, "energy", "district_heat", "kwh") == expected_before
                and stored(isolated, "energy", "electricity", "kwh") == {1200: 9.0}
            )
        ), stored(isolated, "energy", "district_heat", "kwh")

    # After the restart: 4 first — its predecessor 3 exists only in the restored history —
    # then a redelivered 1, then 5 and 2; and the electricity reading in between.
    async with running_ingest(settings, REGISTRY):
        await publish(isolated, [heat(prefix, 4), heat(prefix, 1), heat(prefix, 5), heat(prefix, 2)])
        await publish(isolated, [elec(prefix, 1), elec(prefix, 1)])
        expected = heat_intervals([0, 1, 2, 3, 4, 5])
        assert await eventually(
            lambda: (
                stored(isolated, "energy", "district_heat", "kwh") == expected
                and stored(isolated, "energy", "electricity", "kwh") == {600: 4.0, 1200: 5.0}
            )
        ), stored(isolated, "energy", "district_heat", "kwh")

    assert expected == {600: 10.0, 1200: 15.0, 1800: 6.0, 2400: 19.0, 3000: 2.5}
    assert sum(expected.values()) == HEAT[-1] - HEAT[0]
    heat_co2 = stored(isolated, "emissions", "district_heat", "co2e_kg", "location")
    assert heat_co2 == pytest.approx({s: kwh * 54.9 / 1000 for s, kwh in expected.items()})
    assert set(stored(isolated, "emissions", "district_heat", "factor_g_per_kwh", "location").values()) == {
        54.9
    }
    assert stored(isolated, "emissions", "electricity", "co2e_kg", "location") == pytest.approx(
        {600: 4.0 * 36.0 / 1000, 1200: 5.0 * 36.0 / 1000}
    )
    assert stored(isolated, "emissions", "electricity", "co2e_kg", "market") == pytest.approx(
        {600: 4.0 * 524.10 / 1000, 1200: 5.0 * 524.10 / 1000}
    )
    rows = isolated.query(
        'SELECT "kwh", "owner", "site", "device", "network" FROM "energy" WHERE "device" = \'hm-1\''
    )
    assert {tuple(row[2:]) for row in rows} == {("borlange-energi", "sub-1", "hm-1", "borlange-dh")}


async def test_backfill_rewrites_emissions_with_changed_factors_and_keeps_energy(isolated, tmp_path: Path):
    settings = ingest_settings(isolated, tmp_path / "data")
    async with running_ingest(settings, REGISTRY):
        await publish(isolated, [heat(isolated.prefix, i) for i in range(len(HEAT))])
        expected = heat_intervals(list(range(len(HEAT))))
        assert await eventually(lambda: stored(isolated, "energy", "district_heat", "kwh") == expected)

    changed = tmp_path / "factors.yaml"
    changed.write_text(
        "version: changed\n"
        "defaults: {district_heat: borlange-dh, electricity: SE3}\n"
        "factors:\n"
        "  - {carrier: district_heat, network: borlange-dh, method: location, valid_from: 2020-01-01,\n"
        "     g_co2e_per_kwh: 100.0, source: Borlänge Energi lokalt miljövärde (test value)}\n",
        encoding="utf-8",
    )
    async with InfluxClient(isolated.services.influx_url, isolated.db) as influx:
        # From the third reading on: the interval ending at T0+2·STEP needs its predecessor before the range.
        report = await backfill(
            influx, EmissionFactors.load(changed), (T0 + 2 * STEP) * NS, (T0 + 10 * STEP) * NS
        )
    assert report.energy_points == 4
    assert stored(isolated, "energy", "district_heat", "kwh") == expected
    co2 = stored(isolated, "emissions", "district_heat", "co2e_kg", "location")
    assert co2 == pytest.approx(
        {s: kwh * (54.9 if s < 2 * STEP else 100.0) / 1000 for s, kwh in expected.items()}
    )
