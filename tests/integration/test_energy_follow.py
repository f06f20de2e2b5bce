"""Energy in a round-robin shared group: ingest replicas with INGEST_ENERGY=off, one follower pass.

Each replica sees only some of a meter's readings, so none may derive its intervals; the follower
derives them from the registers stored in InfluxDB (real Mosquitto, real InfluxDB).
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import httpx
import orjson
import pytest

from energy_core.factors import EmissionFactors
from energy_core.influx import InfluxClient
from energy_core.registry import AssetFile, Registry
from energy_testing.world import Isolation
from ingest.derive.follow import EnergyFollower
from simulators.publisher import Publisher
from tests.helpers import eventually, ingest_settings, running_ingest, sample

pytestmark = pytest.mark.integration

NS = 1_000_000_000
WINDOW_S = 7200  # the follower's default window
STEP_S = 600
READINGS = 12
HEAT = [f"hm-{i:02d}" for i in range(30)]
ELEC = [f"em-{i:02d}" for i in range(10)]
FACTORS = {("district_heat", "location"): 54.9, ("electricity", "location"): 36.0}
FACTORS[("electricity", "market")] = 524.10
FACTORS[("district_heat", "market")] = 54.9  # the supplier's own value (shipped placeholder)

REGISTRY = Registry(
    AssetFile.model_validate(
        {
            "owners": [{"id": "borlange-energi", "name": "Borlänge Energi"}],
            "sites": [{"id": "sub-1", "name": "Sub 1", "owner": "borlange-energi", "network": "borlange-dh"}],
            "devices": [{"id": d, "site": "sub-1", "kind": "heat_meter"} for d in HEAT]
            + [{"id": d, "site": "sub-1", "kind": "electricity_meter"} for d in ELEC],
        }
    )
)


def registers(seed: int = 7) -> dict[str, list[tuple[int, float]]]:
    """Per meter, READINGS rising register readings; the first one lies before the window."""
    rng = random.Random(seed)
    first = int(time.time()) - WINDOW_S - 300
    out: dict[str, list[tuple[int, float]]] = {}
    for device in HEAT + ELEC:
        value = rng.uniform(100.0, 50_000.0)
        series = []
        for i in range(READINGS):
            series.append((first + i * STEP_S, round(value, 3)))
            value += rng.uniform(0.0, 40.0)
        out[device] = series
    return out


def message(prefix: str, device: str, ts: int, kwh: float) -> tuple[str, bytes]:
    field = "energy" if device.startswith("hm") else "energy_import"
    return f"{prefix}/v1/{device}", orjson.dumps({"ts": ts, "values": {field: kwh}})


def sums(isolated: Isolation, q: str) -> dict[tuple[str, ...], float]:
    """{(tag values…): value} of a GROUP BY query over every series (isolated.query returns one)."""
    r = httpx.get(f"{isolated.services.influx_url}/query", params={"q": q, "db": isolated.db})
    r.raise_for_status()
    series = r.json()["results"][0].get("series", [])
    return {tuple(s["tags"].values()): s["values"][0][1] for s in series}


def stored_registers(isolated: Isolation) -> int:
    return isolated.count("district_heating", "energy_kwh") + isolated.count(
        "electricity", "energy_import_kwh"
    )


async def publish(isolated: Isolation, messages: list[tuple[str, bytes]]) -> None:
    with Publisher(isolated.services.mqtt_url) as publisher:
        await asyncio.to_thread(publisher.publish_many, messages)


def assert_energy_is_last_minus_first_and_emissions_follow(
    isolated: Isolation, readings: dict[str, list[tuple[int, float]]]
) -> None:
    energy = sums(isolated, 'SELECT sum("kwh") FROM "energy" GROUP BY "device"')
    expected = {(d,): max(v for _, v in r) - min(v for _, v in r) for d, r in readings.items()}
    assert energy.keys() == expected.keys()
    for device, kwh in expected.items():
        assert energy[device] == pytest.approx(kwh, rel=1e-9, abs=1e-9), device
    co2 = sums(isolated, 'SELECT sum("co2e_kg") FROM "emissions" GROUP BY "carrier", "device", "method"')
    assert len(co2) == 2 * len(HEAT) + 2 * len(ELEC)  # both methods for both carriers
    for (carrier, device, method), kg in co2.items():
        assert kg == pytest.approx(energy[(device,)] * FACTORS[(carrier, method)] / 1000, rel=1e-9), device


async def test_two_replicas_with_energy_off_and_one_follower_pass_store_each_meters_energy_once(
    isolated, tmp_path: Path
):
    readings = registers()
    now_ns = time.time_ns()
    settings = [
        ingest_settings(
            isolated,
            tmp_path / name,
            ingest_shared_group="g1",
            ingest_client_id=f"{name}-{isolated.db}",
            ingest_energy="off",
        )
        for name in ("a", "b")
    ]
    # Time-major order: the broker deals each meter's consecutive readings to both replicas.
    stream = [message(isolated.prefix, d, *readings[d][i]) for i in range(READINGS) for d in readings]
    async with running_ingest(settings[0], REGISTRY) as a, running_ingest(settings[1], REGISTRY) as b:
        await publish(isolated, stream)
        assert await eventually(lambda: stored_registers(isolated) == len(stream))
        assert sample(a, "ingest_messages_acked_total") > 0
        assert sample(b, "ingest_messages_acked_total") > 0
        assert isolated.count("energy", "kwh") == 0, "INGEST_ENERGY=off must write no energy"
        assert isolated.count("emissions", "co2e_kg") == 0

        async with InfluxClient(isolated.services.influx_url, isolated.db) as influx:
            follower = EnergyFollower(influx, EmissionFactors.load())
            first = await follower.run_once(now_ns)
            # Every interval, including the one whose predecessor lies before the window (the seed).
            assert first.energy_points == len(readings) * (READINGS - 1)
            assert_energy_is_last_minus_first_and_emissions_follow(isolated, readings)

            again = await follower.run_once(now_ns)
            assert (again.energy_points, again.unchanged) == (0, first.energy_points)

            # A late reading between two stored ones, and a redelivered one: the next pass places it.
            (t3, v3), (t4, v4) = readings["hm-00"][3:5]
            late = (t3 + STEP_S // 2, round((v3 + v4) / 2, 3))
            await publish(
                isolated,
                [message(isolated.prefix, "hm-00", *late), message(isolated.prefix, "hm-00", t4, v4)],
            )
            assert await eventually(lambda: stored_registers(isolated) == len(stream) + 1)
            readings["hm-00"].insert(4, late)
            third = await follower.run_once(now_ns + STEP_S * NS)
            assert third.energy_points == 2  # the late reading's interval and its successor's
            assert_energy_is_last_minus_first_and_emissions_follow(isolated, readings)
            assert isolated.count("energy", "kwh") == len(readings) * (READINGS - 1) + 1
