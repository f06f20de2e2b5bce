"""Impossible energy is not booked: the issue's +7,877 kWh in 19 s through real ingest, InfluxDB, backfill.

A heat meter on a 259 m² building (limit 259 m² × 250 W/m² = 64.75 kW) reads 1000 kWh, then
8877 kWh 19 s later (a restored old register), then grows by 1 and 1.5 kWh in ten-minute steps.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest

from energy_core.errors import Reason
from energy_core.factors import EmissionFactors
from energy_core.influx import InfluxClient
from energy_core.registry import AssetFile, Registry
from energy_testing import services as local_services
from ingest.config import IngestSettings
from ingest.derive.backfill import backfill
from ingest.derive.follow import EnergyFollower
from ingest.derive.plausible import energy_limits
from simulators.publisher import Publisher
from tests.helpers import ROOT, eventually, ingest_settings, running_ingest, sample

pytestmark = pytest.mark.integration

NS = 1_000_000_000
T0 = int(time.time()) // 60 * 60 - 3600  # an hour ago, on a minute boundary
# (seconds after T0, energy register kWh): the jump is the reading at +19 s.
READINGS = [(0, 1000.0), (19, 8877.0), (600, 8878.0), (1200, 8879.5)]
BOOKED = {19: 0.0, 600: 1.0, 1200: 1.5}  # the jump's interval written as 0; the next from the new baseline
HEAT_LOCATION_G_PER_KWH = 54.9  # the shipped factors' borlange-dh location factor

REGISTRY = Registry(
    AssetFile.model_validate(
        {
            "owners": [{"id": "borlange-energi", "name": "Borlänge Energi"}],
            "sites": [
                {
                    "id": "villa-1",
                    "name": "Villa",
                    "owner": "borlange-energi",
                    "network": "borlange-dh",
                    "floor_area_m2": 259,
                }
            ],
            "devices": [{"id": "hm-1", "site": "villa-1", "kind": "heat_meter"}],
        }
    )
)


def heat(prefix: str, offset_s: int, kwh: float) -> tuple[str, bytes]:
    payload = {"ts": T0 + offset_s, "values": {"energy": kwh, "power": 6.0}}
    return f"{prefix}/v1/hm-1", orjson.dumps(payload)


def stored(isolated, measurement: str, field: str, method: str | None = None) -> dict[int, float | None]:
    where = "\"carrier\" = 'district_heat'" + (f" AND \"method\" = '{method}'" if method else "")
    rows = isolated.query(f'SELECT "{field}" FROM "{measurement}" WHERE {where}')  # noqa: S608 (test's own)
    return {int(row[0]) // NS - T0: row[1] for row in rows}  # seconds after T0 → value


async def publish(isolated, messages: list[tuple[str, bytes]]) -> None:
    with Publisher(isolated.services.mqtt_url) as publisher:
        await asyncio.to_thread(publisher.publish_many, messages)


def energy_sum(isolated) -> float | None:
    rows = isolated.query('SELECT sum("kwh") FROM "energy" WHERE "carrier" = \'district_heat\'')
    return rows[0][1] if rows else None  # type: ignore[return-value]


async def test_a_7877_kwh_jump_in_19_s_goes_to_dead_letters_not_energy_and_the_next_interval_is_booked(
    isolated, tmp_path: Path
):
    settings = ingest_settings(isolated, tmp_path / "data")
    messages = [heat(isolated.prefix, s, kwh) for s, kwh in READINGS]
    async with running_ingest(settings, REGISTRY) as service:
        await publish(isolated, messages)
        assert await eventually(
            lambda: (
                stored(isolated, "energy", "kwh") == BOOKED
                and service.dead_letters.counts().get(Reason.IMPLAUSIBLE_ENERGY.value) == 1
                # polled too: the counter moves just after the letter is stored
                and sample(service, "ingest_dead_letters_total", reason="implausible_energy") == 1.0
            )
        ), (stored(isolated, "energy", "kwh"), service.dead_letters.counts())
        [letter] = service.dead_letters.list(reason=Reason.IMPLAUSIBLE_ENERGY.value)
        assert service.dead_letters.counts() == {"implausible_energy": 1}

    # The letter is the jump's own message, replayable, with the evidence.
    assert (letter.topic, letter.payload) == messages[1]
    assert letter.device == "hm-1"
    for evidence in ("7877.000 kWh in 19.0 s", "1492484.2 kW on average", "64.8 kW limit", "floor_area"):
        assert evidence in letter.detail, letter.detail
    # The register itself is stored as it came; only the derived energy is withheld.
    assert stored_register(isolated) == dict(READINGS)
    assert energy_sum(isolated) == pytest.approx(2.5)
    co2 = stored(isolated, "emissions", "co2e_kg", "location")
    assert co2 == pytest.approx({s: kwh * HEAT_LOCATION_G_PER_KWH / 1000 for s, kwh in BOOKED.items()})


def stored_register(isolated) -> dict[int, float | None]:
    rows = isolated.query('SELECT "energy_kwh" FROM "district_heating"')
    return {int(row[0]) // NS - T0: row[1] for row in rows}


async def store_registers_and_the_old_booking(isolated, tmp_path: Path) -> None:
    """Registers stored by replicas that derive no energy (INGEST_ENERGY=off), and the jump as the
    code before the rule booked it: 7877 kWh, 432 kg CO₂e."""
    settings = ingest_settings(isolated, tmp_path / "data", ingest_energy="off")
    async with running_ingest(settings, REGISTRY):
        await publish(isolated, [heat(isolated.prefix, s, kwh) for s, kwh in READINGS])
        assert await eventually(lambda: len(stored_register(isolated)) == len(READINGS))
    tags = "carrier=district_heat,device=hm-1,network=borlange-dh,owner=borlange-energi,site=villa-1"
    forged_ns = (T0 + 19) * NS
    async with InfluxClient(isolated.services.influx_url, isolated.db) as influx:
        await influx.write(
            f"energy,{tags} kwh=7877 {forged_ns}\n"
            f"emissions,{tags},method=location co2e_kg=432.4473,factor_g_per_kwh=54.9 {forged_ns}"
        )
    assert stored(isolated, "energy", "kwh") == {19: 7877.0}


async def test_backfill_and_follower_write_the_jump_as_zero_over_energy_booked_before_the_rule(
    isolated, tmp_path: Path
):
    await store_registers_and_the_old_booking(isolated, tmp_path)
    limits = energy_limits(IngestSettings(influx_url=isolated.services.influx_url), REGISTRY)
    factors = EmissionFactors.load()
    async with InfluxClient(isolated.services.influx_url, isolated.db) as influx:
        report = await backfill(influx, factors, T0 * NS, (T0 + 1800) * NS, limits=limits)
        assert (report.energy_points, report.implausible) == (3, 1)
        assert stored(isolated, "energy", "kwh") == BOOKED
        assert stored(isolated, "emissions", "co2e_kg", "location")[19] == 0.0

        # The follower applies the same rule and reports the interval once, not at every pass.
        follower = EnergyFollower(influx, factors, limits=limits)
        first = await follower.run_once(now_ns=(T0 + 1800) * NS)
        again = await follower.run_once(now_ns=(T0 + 1800) * NS)
        assert (first.energy_points, first.implausible) == (3, 1)
        assert (again.energy_points, again.implausible, again.unchanged) == (0, 0, 3)
        assert follower.metrics.registry.get_sample_value("ingest_energy_implausible_intervals_total") == 1
        assert follower.metrics.registry.get_sample_value("ingest_energy_follow_passes_total") == 2
    assert stored(isolated, "energy", "kwh") == BOOKED
    assert energy_sum(isolated) == pytest.approx(2.5)


def spawn_follower(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """``python -m ingest energy --follow`` serving its metrics, dying with this test run."""
    # A day's window: the readings are an hour old when the module is imported, more if the suite is long.
    argv = [
        sys.executable,
        "-m",
        "ingest",
        "energy",
        "--follow",
        "--every",
        "0.5",
        "--window-minutes",
        "1440",
    ]
    with open(log_path, "ab") as log:
        return local_services.track(
            subprocess.Popen(
                [*argv, "--metrics-port", str(port)],
                env=env,
                stderr=log,
                cwd=ROOT,
                preexec_fn=local_services.child_preexec(signal.SIGKILL),  # PR_SET_PDEATHSIG
            )
        )


def metric(port: int, name: str) -> float | None:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None  # not listening yet
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def status(port: int, path: str) -> int:
    return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5).status_code


async def test_the_follower_process_repairs_the_jump_and_counts_it_on_its_metrics_port(
    isolated, tmp_path: Path
):
    await store_registers_and_the_old_booking(isolated, tmp_path)
    assets = tmp_path / "assets.json"
    assets.write_bytes(orjson.dumps(REGISTRY.assets.model_dump(mode="json")))
    port = local_services.free_port()
    env = {
        **os.environ,
        "INFLUX_URL": isolated.services.influx_url,
        "INFLUX_DB": isolated.db,
        "ASSETS_FILE": str(assets),
        "INGEST_HTTP_HOST": "127.0.0.1",
    }
    follower = spawn_follower(env, port, tmp_path / "follower.log")
    try:
        # Two passes done: the jump was counted at the first, and not again at the second.
        assert await eventually(lambda: (metric(port, "ingest_energy_follow_passes_total") or 0) >= 2), (
            tmp_path / "follower.log"
        ).read_text()
        assert await asyncio.to_thread(metric, port, "ingest_energy_implausible_intervals_total") == 1.0
        assert await asyncio.to_thread(status, port, "/readyz") == 200
        assert stored(isolated, "energy", "kwh") == BOOKED
        follower.send_signal(signal.SIGTERM)
        assert follower.wait(timeout=30) == 0
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert '"energy_implausible"' in (tmp_path / "follower.log").read_text()
