"""Energy after a back-fill: a gateway resends two days of registers in front of live data
(real Mosquitto, real InfluxDB); ingest heals energy and emissions from the stored registers."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from energy_core import lineprotocol
from energy_core.factors import EmissionFactors
from energy_core.influx import InfluxClient
from energy_core.registry import AssetFile, Registry
from energy_core.schema import Point
from energy_testing.world import Isolation
from ingest.derive.backfill import backfill
from ingest.derive.deriver import series_key
from ingest.derive.follow import EnergyFollower
from ingest.derive.heal import Healer, HealStore
from simulators.publisher import Publisher
from tests.helpers import eventually, ingest_settings, running_ingest, sample

pytestmark = pytest.mark.integration

NS = 1_000_000_000
HEAT_G_PER_KWH = 54.9  # borlange-dh, location (the shipped factors file)


@dataclass(frozen=True)
class Timeline:
    """One heat meter's readings (seconds): ``live`` ones ending a few minutes ago, more than the
    64 readings of the live history (so it is floored), and the two days ``back`` before them."""

    live: list[int]
    back: list[int]
    values: dict[int, float]  # the register at each reading: rising by multiples of 0.5 kWh (exact)


@pytest.fixture
def t() -> Timeline:
    """Made when the test starts (not at import: a long suite would age the readings)."""
    live0 = (int(time.time()) // 60 - 75) * 60  # 75 minutes ago, on a minute
    live = [live0 + i * 60 for i in range(70)]
    back = [live0 - (192 - j) * 900 for j in range(192)]  # every 15 minutes, the last 15 min before
    values, value = {}, 10_000.0
    for i, ts in enumerate(back):
        value += 1.5 + (i % 5) * 0.5
        values[ts] = value
    for i, ts in enumerate(live):
        value += 0.5 + (i % 3) * 0.5
        values[ts] = value
    return Timeline(live, back, values)


REGISTRY = Registry(
    AssetFile.model_validate(
        {
            "owners": [{"id": "borlange-energi", "name": "Borlänge Energi"}],
            "sites": [{"id": "sub-1", "name": "Sub 1", "owner": "borlange-energi", "network": "borlange-dh"}],
            "devices": [{"id": "hm-1", "site": "sub-1", "kind": "heat_meter"}],
        }
    )
)


def intervals(t: Timeline, readings: list[int]) -> dict[int, float]:
    """What a clean in-order run stores: at each reading after the first, the register's growth."""
    ordered = sorted(readings)
    return {b * NS: t.values[b] - t.values[a] for a, b in itertools.pairwise(ordered)}


def stored(isolated: Isolation, measurement: str, field: str) -> dict[int, float]:
    where = "\"carrier\" = 'district_heat'" + (
        " AND \"method\" = 'location'" if measurement == "emissions" else ""
    )
    rows = isolated.query(f'SELECT "{field}" FROM "{measurement}" WHERE {where}')  # noqa: S608 (test's own)
    return {int(str(row[0])): float(str(row[1])) for row in rows if row[1] is not None}


def messages(t: Timeline, prefix: str, readings: list[int]) -> list[tuple[str, bytes]]:
    return [
        (f"{prefix}/v1/hm-1", orjson.dumps({"ts": ts, "values": {"energy": t.values[ts]}})) for ts in readings
    ]


async def publish(isolated: Isolation, batch: list[tuple[str, bytes]]) -> None:
    with Publisher(isolated.services.mqtt_url) as publisher:
        await asyncio.to_thread(publisher.publish_many, batch)


def assert_clean(isolated: Isolation, t: Timeline, expected: dict[int, float]) -> None:
    energy = stored(isolated, "energy", "kwh")
    assert energy == expected  # one interval per reading, none overlapping at the seam
    co2 = stored(isolated, "emissions", "co2e_kg")
    assert co2 == pytest.approx({ts: kwh * HEAT_G_PER_KWH / 1000 for ts, kwh in expected.items()})
    # The back-filled range, first back-filled reading to the first live one: its register growth.
    first, live0 = t.back[0], t.live[0]
    seam = [ts for ts in energy if first * NS < ts <= live0 * NS]
    assert len(seam) == len(t.back)
    assert sum(energy[ts] for ts in seam) == t.values[live0] - t.values[first]
    assert sum(co2[ts] for ts in seam) == pytest.approx(
        (t.values[live0] - t.values[first]) * HEAT_G_PER_KWH / 1000
    )


async def assert_backfill_changes_nothing(
    isolated: Isolation, t: Timeline, expected: dict[int, float]
) -> None:
    before = stored(isolated, "emissions", "co2e_kg")
    async with InfluxClient(isolated.services.influx_url, isolated.db) as influx:
        report = await backfill(influx, EmissionFactors.load(), t.back[0] * NS, t.live[-1] * NS)
    assert report.energy_points == len(expected)
    assert stored(isolated, "energy", "kwh") == expected
    assert stored(isolated, "emissions", "co2e_kg") == before


async def test_a_two_day_back_fill_in_front_of_live_data_heals_energy_and_emissions_like_a_clean_run(
    isolated: Isolation, tmp_path: Path, t: Timeline
):
    settings = ingest_settings(
        isolated, tmp_path / "data", ingest_heal_delay_s=2.0, ingest_rollup_delay_s=0.2
    )
    async with running_ingest(settings, REGISTRY) as service:
        await publish(isolated, messages(t, isolated.prefix, t.live))
        live = intervals(t, t.live)
        assert await eventually(lambda: stored(isolated, "energy", "kwh") == live), "live energy"

        await publish(isolated, messages(t, isolated.prefix, t.back))  # oldest first, as gateways resend
        expected = intervals(t, t.back + t.live)
        healed = await eventually(lambda: stored(isolated, "energy", "kwh") == expected, deadline_s=90)
        energy = stored(isolated, "energy", "kwh")
        assert healed, (
            f"{len(energy)} intervals of {len(expected)}; missing {sorted(set(expected) - set(energy))[:3]}"
        )
        assert await eventually(lambda: sample(service, "ingest_energy_heals_pending") == 0)
        assert sample(service, "ingest_energy_heals_done_total") >= 1
        assert sample(service, "ingest_energy_heals_failed_total") == 0
        assert sample(service, "ingest_energy_heal_intervals_total") >= len(t.back)
        assert await eventually(lambda: stored(isolated, "emissions", "co2e_kg").keys() == expected.keys())

        # The roll-up maintainer heard of the healed buckets: hourly sums equal the raw ones.
        def rolled(measurement: str, field: str) -> float | None:
            rows = isolated.query(
                f'SELECT sum("{field}") FROM "{isolated.db}"."rollup_1h"."{measurement}" '  # noqa: S608
                "WHERE \"device\" = 'hm-1'"
                + (" AND \"method\" = 'location'" if measurement == "emissions" else "")
            )
            return float(str(rows[0][1])) if rows and rows[0][1] is not None else None

        total = sum(expected.values())
        assert await eventually(lambda: rolled("energy", "kwh") == pytest.approx(total)), rolled(
            "energy", "kwh"
        )
        assert await eventually(
            lambda: rolled("emissions", "co2e_kg") == pytest.approx(total * HEAT_G_PER_KWH / 1000)
        ), rolled("emissions", "co2e_kg")
    assert_clean(isolated, t, expected)
    await assert_backfill_changes_nothing(isolated, t, expected)


async def test_with_energy_off_ingest_heals_a_back_fill_older_than_the_followers_window(
    isolated: Isolation, tmp_path: Path, t: Timeline
):
    # Readings older than 80 minutes when they arrive are healed: the back-fill (90 minutes to two
    # days old), not the live readings (up to 76 minutes old), which are the follower's.
    settings = ingest_settings(
        isolated,
        tmp_path / "data",
        ingest_energy="off",
        ingest_heal_delay_s=2.0,
        ingest_heal_older_than_s=4800,
    )
    async with (
        running_ingest(settings, REGISTRY),
        InfluxClient(isolated.services.influx_url, isolated.db) as influx,
    ):
        follower = EnergyFollower(influx, EmissionFactors.load())
        await publish(isolated, messages(t, isolated.prefix, t.live))
        assert await eventually(lambda: isolated.count("district_heating", "energy_kwh") == len(t.live))
        await follower.run_once()
        live = intervals(t, t.live)
        assert stored(isolated, "energy", "kwh") == live

        await publish(
            isolated, messages(t, isolated.prefix, t.back)
        )  # 1.5 h to 2 days old: outside the window
        expected = intervals(t, t.back + t.live)
        assert await eventually(lambda: stored(isolated, "energy", "kwh") == expected, deadline_s=90)
        await follower.run_once()  # the follower's next pass agrees at the seam (the window's first reading)
        assert await eventually(lambda: stored(isolated, "emissions", "co2e_kg").keys() == expected.keys())
    assert_clean(isolated, t, expected)
    await assert_backfill_changes_nothing(isolated, t, expected)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_heal_that_influxdb_fails_stays_pending_across_a_restart_and_is_done_when_it_answers(
    isolated: Isolation, tmp_path: Path, t: Timeline
):
    readings = t.back[:20]
    lines = [
        Point(
            "district_heating",
            (("device", "hm-1"), ("network", "borlange-dh"), ("owner", "borlange-energi"), ("site", "sub-1")),
            {"energy_kwh": t.values[ts]},
            ts * NS,
        )
        for ts in readings
    ]
    path = tmp_path / "heal.sqlite"
    key = series_key("hm-1", "district_heat")
    factors = EmissionFactors.load()
    async with (
        InfluxClient(isolated.services.influx_url, isolated.db) as influx,
        InfluxClient(f"http://127.0.0.1:{closed_port()}", isolated.db) as down,
    ):
        await influx.ensure_database()
        await influx.write(lineprotocol.encode_batch(lines))
        failing = Healer(HealStore(path), down, factors, delay_s=0)
        for ts in readings:
            failing.note(key, ts * NS)
        await failing.save()
        assert await failing.heal_due() == 0
        assert failing.metrics.registry.get_sample_value("ingest_energy_heals_failed_total") == 1
        assert list(failing.pending) == [key]
        assert failing.due() == []  # retried after a backoff, not in a tight loop
        assert await failing.heal_due(time.time_ns() + 120 * NS) == 0  # still down: still pending
        assert failing.metrics.registry.get_sample_value("ingest_energy_heals_failed_total") == 2
        failing.close()  # a restart: nothing was written, so nothing was marked done

        healer = Healer(HealStore(path), influx, factors, delay_s=0)
        try:
            assert list(healer.pending) == [key]
            assert await healer.heal_due() == 1
            assert healer.pending == {}
            assert healer.metrics.registry.get_sample_value("ingest_energy_heals_done_total") == 1
        finally:
            healer.close()
    assert stored(isolated, "energy", "kwh") == intervals(t, readings)
    store = HealStore(path)
    try:
        assert store.load() == {}
    finally:
        store.close()
