"""Healing after a back-fill, the pure parts: range coalescing, the settle delay, noting late
readings in the deriver, and the pending heals surviving a restart (SQLite, no servers)."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import orjson
import pytest

from energy_core.factors import EmissionFactors
from energy_core.influx import InfluxClient
from energy_core.registry import AssetFile, Registry
from energy_core.schema import Message
from ingest.adapters import Router, default_routes
from ingest.derive.deriver import Deriver, parse_series_key, series_key
from ingest.derive.energy import EnergyState
from ingest.derive.heal import Healer, HealStore, PendingHeal, coalesce
from ingest.normalise import Normaliser
from ingest.pipeline import Pipeline

NS = 1_000_000_000
T0 = 1_740_000_000
REGISTRY = Registry(
    AssetFile.model_validate(
        {
            "owners": [{"id": "borlange-energi", "name": "Borlänge Energi"}],
            "sites": [{"id": "s1", "name": "Sub 1", "owner": "borlange-energi", "network": "borlange-dh"}],
            "devices": [{"id": "hm-1", "site": "s1", "kind": "heat_meter"}],
        }
    )
)


def test_a_reading_inside_or_next_to_a_range_extends_it_and_far_ones_start_their_own():
    ranges = coalesce([], 100, 100, merge_gap_ns=10, max_ranges=4)
    assert ranges == [(100, 100)]
    assert coalesce(ranges, 105, 105, merge_gap_ns=10, max_ranges=4) == [(100, 105)]
    assert coalesce([(100, 200)], 150, 150, merge_gap_ns=10, max_ranges=4) == [(100, 200)]
    assert coalesce([(100, 200)], 50, 95, merge_gap_ns=10, max_ranges=4) == [(50, 200)]
    assert coalesce([(100, 200)], 300, 300, merge_gap_ns=10, max_ranges=4) == [(100, 200), (300, 300)]
    assert coalesce([(100, 200), (300, 300)], 0, 0, merge_gap_ns=10, max_ranges=4) == [
        (0, 0),
        (100, 200),
        (300, 300),
    ]


def test_a_reading_that_bridges_two_ranges_merges_them_into_one():
    assert coalesce([(100, 200), (215, 300)], 207, 207, merge_gap_ns=10, max_ranges=4) == [(100, 300)]
    assert coalesce([(100, 200), (400, 500)], 150, 450, merge_gap_ns=0, max_ranges=4) == [(100, 500)]


def test_beyond_the_bound_the_two_closest_ranges_merge_so_a_series_holds_a_bounded_list():
    ranges: list[tuple[int, int]] = []
    for ts in (0, 1000, 1100, 5000, 9000):
        ranges = coalesce(ranges, ts, ts, merge_gap_ns=10, max_ranges=3)
    assert ranges == [(0, 1100), (5000, 5000), (9000, 9000)]
    for ts in range(20_000, 2_000_000, 10_000):  # 198 far-apart readings
        ranges = coalesce(ranges, ts, ts, merge_gap_ns=10, max_ranges=3)
    assert len(ranges) == 3
    assert ranges[0][0] == 0
    assert ranges[-1][1] == 1_990_000
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))


def test_coalescing_refuses_a_range_that_ends_before_it_starts():
    with pytest.raises(ValueError, match="before start"):
        coalesce([], 10, 5, merge_gap_ns=0, max_ranges=1)


def test_a_heal_is_due_a_delay_after_its_last_reading_and_at_the_latest_ten_delays_after_its_first():
    pending = PendingHeal([(1, 1)], 1, first_ns=1000, updated_ns=1000, seq=1)
    assert pending.due_ns(60) == 1060
    pending.updated_ns = 1500
    assert pending.due_ns(60) == 1560
    pending.updated_ns = 1580  # a steady trickle of late readings does not postpone it for ever
    assert pending.due_ns(60) == 1600
    pending.retry_at_ns = 2000  # after a failure: not before its retry time
    assert pending.due_ns(60) == 2000


def test_series_keys_give_back_their_device_and_carrier():
    assert parse_series_key(series_key("hm-1", "district_heat")) == ("hm-1", "district_heat")


class Recorder:
    def __init__(self) -> None:
        self.noted: list[tuple[str, int]] = []
        self.saves = 0

    def note(self, series: str, ts_ns: int) -> None:
        self.noted.append((series, ts_ns))

    async def save(self) -> None:
        self.saves += 1


def run_messages(deriver: Deriver, readings: list[tuple[int, float]], received_s: int = T0 + 86400) -> None:
    pipeline = Pipeline(Router(default_routes("energy")), Normaliser(REGISTRY), deriver=deriver)
    for ts, kwh in readings:
        payload = orjson.dumps({"ts": ts, "values": {"energy": kwh}})
        outcome = pipeline.process(Message("energy/v1/hm-1", payload, received_s * NS))
        assert not outcome.rejections


async def test_the_deriver_notes_readings_older_than_the_floor_and_saves_them_at_commit():
    deriver = Deriver(EmissionFactors.load(), EnergyState(max_readings=3))
    sink = Recorder()
    deriver.late_sink = sink
    run_messages(deriver, [(T0 + i * 600, 1000.0 + i) for i in range(5)])  # in order: floored, none late
    assert sink.noted == []
    run_messages(deriver, [(T0 + 3 * 600, 1003.0), (T0 - 600, 999.0), (T0 - 1200, 998.0)])
    key = series_key("hm-1", "district_heat")
    assert sink.noted == [(key, (T0 - 600) * NS), (key, (T0 - 1200) * NS)]  # placeable: not noted
    await deriver.commit()
    assert sink.saves == 1


def test_with_energy_off_the_deriver_notes_readings_older_than_the_followers_reach():
    deriver = Deriver(EmissionFactors.load(), energy=False)
    sink = Recorder()
    deriver.late_sink, deriver.late_before_ns = sink, 3600 * NS
    now = int(time.time())
    run_messages(deriver, [(now - 60, 1000.0), (now - 7200, 990.0)], received_s=now)
    assert sink.noted == [(series_key("hm-1", "district_heat"), (now - 7200) * NS)]


async def test_pending_heals_survive_a_restart_and_a_burst_of_readings_is_one_coalesced_heal(tmp_path: Path):
    path = tmp_path / "heal.sqlite"
    key = series_key("hm-1", "district_heat")
    async with InfluxClient("http://127.0.0.1:9", "unused") as influx:  # never asked: nothing is due
        healer = Healer(HealStore(path), influx, EmissionFactors.load(), delay_s=3600)
        for i in range(200):
            healer.note(key, (T0 + i * 900) * NS)
        healer.note(key, (T0 + 30 * 86400) * NS)  # a month later: a range of its own
        assert healer.due() == []
        await healer.save()
        assert healer.metrics.registry.get_sample_value("ingest_energy_heals_pending") == 1
        healer.close()

        restored = Healer(HealStore(path), influx, EmissionFactors.load(), delay_s=3600)
        try:
            [(series, pending)] = restored.pending.items()
            assert series == key
            assert pending.ranges == [((T0) * NS, (T0 + 199 * 900) * NS), ((T0 + 30 * 86400) * NS,) * 2]
            assert pending.last_ts_ns == (T0 + 30 * 86400) * NS
            assert restored.due(pending.updated_ns + 3600 * NS) == [key]
        finally:
            restored.close()


async def test_a_stored_heal_of_a_carrier_without_a_register_is_dropped_and_logged_not_retried(
    tmp_path: Path,
):
    path = tmp_path / "heal.sqlite"
    async with InfluxClient("http://127.0.0.1:9", "unused") as influx:  # never asked
        healer = Healer(HealStore(path), influx, EmissionFactors.load(), delay_s=0)
        try:
            healer.note(series_key("hm-1", "steam"), T0 * NS)
            await healer.save()
            assert await healer.heal_due() == 0
            await healer.save()
            assert healer.pending == {}
            assert healer.store.load() == {}
        finally:
            healer.close()
