"""The daily substation analysis against a real InfluxDB: raw points → roll-ups → analysis → stored KPIs
and faults; late data that clears a fault; idempotence; the runner's durability, outage and clock;
and the live path through Mosquitto and the ingest service."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from pathlib import Path
from time import time_ns
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from energy_core import analysis, rollups
from energy_core.influx import InfluxClient
from energy_core.registry import AssetFile, Registry
from energy_core.rollups import RP_1D
from energy_core.timeutil import HOUR_NS, NS
from energy_testing.world import Isolation
from ingest.analysis.cli import analyse_command
from ingest.analysis.runner import AnalysisRunner
from ingest.analysis.store import DayStore
from ingest.analysis.substations import SubstationAnalyser
from ingest.analysis.thresholds import Thresholds
from ingest.derive.water import volumetric_heat_kwh_per_m3_k
from ingest.rollup import RollupMaintainer
from ingest.rollup.cli import rebuild
from ingest.rollup.retention import ensure_policies
from simulators.publisher import Publisher
from tests.helpers import eventually, ingest_settings, running_ingest, sample

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 11, 10)  # a heating-season Tuesday, 24 h in Stockholm
PREVIOUS = DAY - dt.timedelta(days=1)
STEP_NS = 15 * 60 * NS
OUTDOOR_C = -5.0

REGISTRY = Registry(
    AssetFile.model_validate(
        {
            "owners": [{"id": "o1", "name": "Owner 1"}],
            "sites": [
                {
                    "id": "s1",
                    "name": "Good",
                    "owner": "o1",
                    "network": "n1",
                    "latitude": 60.48,
                    "longitude": 15.42,
                },
                {
                    "id": "s2",
                    "name": "Bad",
                    "owner": "o1",
                    "network": "n1",
                    "latitude": 60.49,
                    "longitude": 15.43,
                },
                {"id": "wx", "name": "Weather", "owner": "o1", "latitude": 60.48, "longitude": 15.41},
            ],
            "devices": [
                {"id": "hm1", "site": "s1", "kind": "heat_meter"},
                {"id": "hm2", "site": "s2", "kind": "heat_meter"},
                {"id": "ws1", "site": "wx", "kind": "weather_station"},
            ],
        }
    )
)


def _tags(device: str, site: str) -> str:
    return f"device={device},network=n1,owner=o1,site={site}"


def heat_lines(
    device: str,
    site: str,
    day: dt.date,
    *,
    volume_step: float,
    return_c: float,
    energy0: float,
    volume0: float,
    supply_c: float = 80.0,
) -> list[str]:
    """A heat meter every 15 minutes over local ``day``: 10 kWh and ``volume_step`` m³ per reading
    (40 kW; registers start at ``energy0``/``volume0`` + one step at the day's first reading)."""
    start, end = rollups.day_bounds(day)
    lines = []
    for i, ts in enumerate(range(start, end, STEP_NS)):
        fields = {
            "energy_kwh": energy0 + 10.0 * (i + 1),
            "volume_m3": volume0 + volume_step * (i + 1),
            "power_kw": 40.0,
            "flow_m3h": volume_step * 4,
            "supply_temp_c": supply_c,
            "return_temp_c": return_c,
        }
        body = ",".join(f"{k}={v!r}" for k, v in fields.items())
        lines.append(f"district_heating,{_tags(device, site)} {body} {ts}")
    return lines


def weather_lines(day: dt.date) -> list[str]:
    start, end = rollups.day_bounds(day)
    return [
        f"weather,device=ws1,owner=o1,site=wx outdoor_temp_c={OUTDOOR_C!r} {ts}"
        for ts in range(start, end, HOUR_NS)
    ]


def city_lines(*, bad_volume_step: float = 1.0, bad_return_c: float = 48.0) -> list[str]:
    """Two meters on PREVIOUS and DAY: s1 cools well (24 m³ for 960 kWh a day), s2 cools badly on DAY
    (``bad_volume_step`` m³ per 10 kWh); both cool well on PREVIOUS."""
    lines = weather_lines(PREVIOUS) + weather_lines(DAY)
    for device, site in (("hm1", "s1"), ("hm2", "s2")):
        lines += heat_lines(
            device, site, PREVIOUS, volume_step=0.25, return_c=45.0, energy0=1000.0, volume0=100.0
        )
    lines += heat_lines("hm1", "s1", DAY, volume_step=0.25, return_c=45.0, energy0=1960.0, volume0=124.0)
    lines += heat_lines(
        "hm2",
        "s2",
        DAY,
        volume_step=bad_volume_step,
        return_c=bad_return_c,
        energy0=1960.0,
        volume0=124.0,
        supply_c=bad_return_c + 8.0 if bad_volume_step > 0.25 else 80.0,  # a leaking bypass: 8 K
    )
    return lines


def now_after(day: dt.date) -> int:
    """Noon of the day after ``day``: the fixed clock of these tests."""
    return rollups.local_midnight_ns(day + dt.timedelta(days=1)) + 12 * HOUR_NS


async def store_and_roll(influx: InfluxClient, lines: list[str], days: list[dt.date]) -> None:
    """Write raw lines as ingest does, then roll the days up (`python -m ingest rollup`'s code path)."""
    await influx.ensure_database()
    await influx.write("\n".join(lines).encode())
    await ensure_policies(influx, rollup_days=0, raw_days=None)
    await rebuild(influx, days)


async def analysed(influx: InfluxClient, lines: list[str]) -> None:
    await influx.write("\n".join(lines).encode(), rp=analysis.RP)


def kpi_rows(isolated: Isolation, site: str) -> list[dict[str, Any]]:
    source = rollups.qualified(isolated.db, RP_1D, analysis.SUBSTATION_KPI)
    got = isolated_query(isolated, f"SELECT * FROM {source} WHERE \"site\" = '{site}'")  # noqa: S608
    return got


def fault_rows(isolated: Isolation, site: str) -> dict[str, dict[str, Any]]:
    """code → the stored fault point of ``site`` on DAY."""
    source = rollups.qualified(isolated.db, RP_1D, analysis.SUBSTATION_FAULT)
    start = rollups.local_midnight_ns(DAY)
    rows = isolated_query(isolated, f"SELECT * FROM {source} WHERE \"site\" = '{site}' AND time = {start}")  # noqa: S608
    return {str(r["code"]): r for r in rows}


def isolated_query(isolated: Isolation, q: str) -> list[dict[str, Any]]:
    import httpx

    r = httpx.get(
        f"{isolated.services.influx_url}/query", params={"q": q, "db": isolated.db, "epoch": "ns"}, timeout=60
    )
    r.raise_for_status()
    out = []
    for series in r.json()["results"][0].get("series") or ():
        for row in series["values"]:
            out.append(dict(zip(series["columns"], row, strict=True)))
    return out


def analyser(now_ns: int) -> SubstationAnalyser:
    return SubstationAnalyser(REGISTRY, Thresholds.load(None), window_days=28, now_ns=now_ns)


async def test_a_simple_site_s_day_kpis_equal_the_hand_computed_values_through_the_analyse_command(
    isolated: Isolation, tmp_path: Path
) -> None:
    settings = ingest_settings(isolated, tmp_path / "data")
    async with InfluxClient(isolated.services.influx_url, isolated.db, timeout_s=60.0) as influx:
        await store_and_roll(influx, city_lines(), [PREVIOUS, DAY])
    out, err = io.StringIO(), io.StringIO()
    start = dt.datetime(PREVIOUS.year, PREVIOUS.month, PREVIOUS.day)  # zoneless: Stockholm
    end = dt.datetime(DAY.year, DAY.month, DAY.day, 12)
    code = await analyse_command(settings, REGISTRY, start, end, stream=err, out=out, now_ns=now_after(DAY))
    assert code == 0, err.getvalue()
    assert out.getvalue().startswith("analyse: 2 days (2026-11-09 to 2026-11-10, Europe/Stockholm), 2 sites")
    assert out.getvalue().rstrip().endswith("findings (site-days) by code: low_delta_t 1")

    rows = {int(r["time"]): r for r in kpi_rows(isolated, "s1")}
    row = rows[rollups.local_midnight_ns(DAY)]
    # Registers: the day's last reading minus the previous day's last: 2920 − 1960 = 960 kWh,
    # 148 − 124 = 24 m³; 96 readings in 24 hours; all from registers.
    assert row["heat_kwh"] == pytest.approx(960.0)
    assert row["volume_m3"] == pytest.approx(24.0)
    assert row["hours"] == 24.0
    assert row["readings"] == 96.0
    assert row["from_registers"] == 1.0
    # ΔT = E / (V·ρc_p) at the 45 °C return: 960 / (24 · ≈1.1508) ≈ 34.76 K.
    assert row["delta_t_k"] == pytest.approx(960.0 / (24.0 * volumetric_heat_kwh_per_m3_k(45.0)), rel=1e-6)
    assert row["delta_t_k"] == pytest.approx(34.76, abs=0.05)
    assert row["return_temp_c"] == pytest.approx(45.0)
    assert row["supply_temp_c"] == pytest.approx(80.0)
    assert row["specific_flow_m3_per_mwh"] == pytest.approx(24.0 / 0.96)  # 25 m³/MWh
    assert row["peak_load_kw"] == pytest.approx(40.0)
    assert row["outdoor_temp_c"] == pytest.approx(OUTDOOR_C)
    assert (row["owner"], row["network"]) == ("o1", "n1")
    assert fault_rows(isolated, "s1") == {}


async def test_a_badly_cooling_site_gets_a_low_delta_t_fault_and_late_data_that_fixes_it_clears_it(
    isolated: Isolation,
) -> None:
    async with InfluxClient(isolated.services.influx_url, isolated.db, timeout_s=60.0) as influx:
        await store_and_roll(influx, city_lines(), [PREVIOUS, DAY])
        await analysed(influx, await analyser(now_after(DAY)).analyse(influx, [PREVIOUS, DAY]))
        faults = fault_rows(isolated, "s2")
        low = faults["low_delta_t"]
        # 960 kWh over 96 m³: ΔT ≈ 8.7 K, far below the threshold (the rules' at −5 °C; its value is
        # tested with the rules, tests/unit/test_fault_rules.py).
        assert low["active"] == 1.0
        assert low["value"] == pytest.approx(960.0 / (96.0 * volumetric_heat_kwh_per_m3_k(48.0)), rel=1e-6)
        assert low["threshold"] > 15.0
        assert low["severity"] == "warning"
        assert low["since_s"] == rollups.local_midnight_ns(DAY) // NS
        assert "K" in low["text"]

        # Late, corrected readings of the same timestamps: the site cooled well after all.
        late = [line for line in city_lines(bad_volume_step=0.25, bad_return_c=45.0) if "site=s2" in line]
        await influx.write("\n".join(late).encode())
        await rebuild(influx, [DAY])
        await analysed(influx, await analyser(now_after(DAY)).analyse(influx, [DAY]))
    faults = fault_rows(isolated, "s2")
    assert faults, "the cleared faults stay stored, as inactive"
    assert {code: row["active"] for code, row in faults.items()} == dict.fromkeys(faults, 0.0)
    assert faults["low_delta_t"]["text"], "the evidence of what was cleared is kept"


async def test_analysing_a_range_twice_writes_the_same_lines(isolated: Isolation) -> None:
    async with InfluxClient(isolated.services.influx_url, isolated.db, timeout_s=60.0) as influx:
        await store_and_roll(influx, city_lines(), [PREVIOUS, DAY])
        first = await analyser(now_after(DAY)).analyse(influx, [PREVIOUS, DAY])
        await analysed(influx, first)
        stored = f'SELECT * FROM "{isolated.db}"."rollup_1d"./substation_.*/'  # noqa: S608
        before = isolated_query(isolated, stored)
        second = await analyser(now_after(DAY)).analyse(influx, [PREVIOUS, DAY])
        await analysed(influx, second)
    assert second == first
    assert any(line.startswith("substation_fault,") for line in first)
    assert isolated_query(isolated, stored) == before


async def test_the_runner_keeps_the_days_while_influxdb_is_down_and_analyses_them_when_it_is_back(
    isolated: Isolation,
) -> None:
    registry = CollectorRegistry()
    down = InfluxClient("http://127.0.0.1:9", isolated.db, timeout_s=2.0)  # nothing listens on port 9
    runner = AnalysisRunner(down, [analyser(now_after(DAY))], registry, clock_ns=lambda: now_after(DAY))
    async with InfluxClient(isolated.services.influx_url, isolated.db, timeout_s=60.0) as influx, down:
        await store_and_roll(influx, city_lines(), [PREVIOUS, DAY])
        await runner.mark([("substations", PREVIOUS), ("substations", DAY)])
        assert await runner.run_pass(clock=False) is False
        assert runner.pending == [("substations", PREVIOUS), ("substations", DAY)]
        labels = {"analyser": "substations"}
        assert registry.get_sample_value("ingest_analysis_failures_total", labels) == 1.0
        assert registry.get_sample_value("ingest_analysis_days_total", labels) == 0.0

        runner.influx = influx  # InfluxDB is back
        assert await runner.run_pass(clock=False) is True
    assert runner.pending == []
    # PREVIOUS, DAY, and the following day (today by the runner's clock: episodes follow a change).
    assert registry.get_sample_value("ingest_analysis_days_total", labels) == 3.0
    assert (
        registry.get_sample_value("ingest_analysis_points_written_total") or 0
    ) >= 7  # 3 days × 2 KPIs, 1 fault
    assert fault_rows(isolated, "s2")["low_delta_t"]["active"] == 1.0


async def test_the_roll_up_maintainer_tells_the_runner_its_days_and_they_are_on_disk_before_analysed(
    isolated: Isolation, tmp_path: Path
) -> None:
    store = DayStore(tmp_path / "analysis.sqlite")
    try:
        async with InfluxClient(isolated.services.influx_url, isolated.db, timeout_s=60.0) as influx:
            lines = city_lines()
            await store_and_roll(influx, lines, [PREVIOUS])  # DAY's raw points are written, not rolled
            maintainer = RollupMaintainer(influx, CollectorRegistry(), delay_s=0.0)
            runner = AnalysisRunner(
                influx,
                [analyser(now_after(DAY))],
                CollectorRegistry(),
                store=store,
                clock_ns=lambda: now_after(DAY),
            )
            maintainer.on_rolled.append(runner.rolled)
            start, end = rollups.day_bounds(DAY)
            await maintainer.mark_range(start, end - 1, ["district_heating", "electricity"])
            await maintainer.run_round()
            # Electricity feeds no substation analysis; district heating of DAY does.
            assert runner.pending == [("substations", DAY)]
            assert store.load() == [("substations", DAY)]
            assert await runner.run_pass(clock=False) is True
            assert runner.pending == []
            assert store.load() == []
    finally:
        store.close()
    assert fault_rows(isolated, "s2")["low_delta_t"]["active"] == 1.0


async def test_the_clock_catches_a_silent_meter_that_sends_nothing_and_the_findings_gauge_counts_it(
    isolated: Isolation,
) -> None:
    today = DAY + dt.timedelta(days=1)  # nothing at all arrives on it
    now_ns = rollups.local_midnight_ns(today) + 12 * HOUR_NS
    registry = CollectorRegistry()
    async with InfluxClient(isolated.services.influx_url, isolated.db, timeout_s=60.0) as influx:
        await store_and_roll(influx, city_lines(bad_volume_step=0.25, bad_return_c=45.0), [PREVIOUS, DAY])
        # The history: two normal days, analysed when DAY was over.
        await analysed(influx, await analyser(now_after(DAY)).analyse(influx, [PREVIOUS, DAY]))
        runner = AnalysisRunner(influx, [analyser(now_ns)], registry, clock_ns=lambda: now_ns)
        assert runner.pending == []
        assert await runner.run_pass(clock=True) is True  # nothing changed: the clock alone, today
    assert registry.get_sample_value("ingest_analysis_days_total", {"analyser": "substations"}) == 1.0
    source = rollups.qualified(isolated.db, RP_1D, analysis.SUBSTATION_FAULT)
    midnight = rollups.local_midnight_ns(today)
    rows = isolated_query(
        isolated,
        f"SELECT * FROM {source} WHERE \"code\" = 'silent_meter' AND time = {midnight}",  # noqa: S608
    )
    assert sorted((r["site"], r["active"]) for r in rows) == [("s1", 1.0), ("s2", 1.0)]
    assert registry.get_sample_value("ingest_analysis_findings", {"code": "silent_meter"}) == 2.0
    assert registry.get_sample_value("ingest_analysis_findings", {"code": "low_delta_t"}) == 0.0


async def test_the_service_lists_a_substation_that_cools_badly_from_its_mqtt_readings(
    isolated: Isolation, tmp_path: Path
) -> None:
    settings = ingest_settings(
        isolated, tmp_path / "data", ingest_rollup_delay_s=0.2, ingest_analysis_interval_s=1.0
    )
    now_s = int(dt.datetime.now(dt.UTC).timestamp())
    t0 = now_s - now_s % 900 - 48 * 3600  # two days back: yesterday (local) is whole
    readings = [
        (
            t0 + i * 900,
            {
                "energy": 5000.0 + 10.0 * i,
                "volume": 300.0 + 1.0 * i,  # 1 m³ per 10 kWh: ΔT ≈ 8.7 K
                "power": 40.0,
                "flow": 4.0,
                "supply_temp": 56.0,
                "return_temp": 48.0,
            },
        )
        for i in range(48 * 4)
    ]
    messages = [(f"{isolated.prefix}/v1/hm2", orjson.dumps({"ts": ts, "values": v})) for ts, v in readings]
    source = rollups.qualified(isolated.db, RP_1D, analysis.SUBSTATION_FAULT)
    async with running_ingest(settings, REGISTRY) as service:
        assert service.analysis is not None
        with Publisher(isolated.services.mqtt_url) as publisher:
            await asyncio.to_thread(publisher.publish_many, messages)

        def listed() -> list[dict[str, Any]]:
            rows = isolated_query(
                isolated,
                f"SELECT * FROM {source} WHERE \"code\" = 'low_delta_t' AND \"site\" = 's2'",  # noqa: S608
            )
            return [r for r in rows if r["active"] == 1.0]

        found = await eventually(listed, deadline_s=120)
        assert found, "the badly cooling substation is in the fault listing"
        labels = {"analyser": "substations"}
        assert (service.metrics.registry.get_sample_value("ingest_analysis_days_total", labels) or 0) >= 1


async def test_the_energy_follower_analyses_today_after_its_roll_ups_when_replicas_run_with_energy_off(
    isolated: Isolation, tmp_path: Path
) -> None:
    from energy_core.factors import EmissionFactors
    from ingest.derive.follow import EnergyFollower

    settings = ingest_settings(isolated, tmp_path / "data", ingest_energy="off")
    now_ns = dt.datetime.now(dt.UTC).timestamp() * NS
    start = int(now_ns) - int(now_ns) % HOUR_NS - HOUR_NS  # the last hour and the current one
    lines = [
        f"district_heating,{_tags('hm1', 's1')} energy_kwh={100.0 + 5 * i!r},volume_m3={10.0 + 0.1 * i!r},"
        f"power_kw=30.0,return_temp_c=40.0,supply_temp_c=75.0 {start + i * 600 * NS}"
        for i in range(6)
    ]
    days_before = rollups.local_day_of(time_ns())
    async with InfluxClient(isolated.services.influx_url, isolated.db, timeout_s=60.0) as influx:
        await influx.ensure_database()
        await influx.write("\n".join(lines).encode())  # as the replicas would, marking nothing
        follower = EnergyFollower(influx, EmissionFactors.load(None))
        follower.rollups = RollupMaintainer.for_settings(
            settings, follower.metrics.registry, role="follower", influx=influx
        )
        follower.analysis = AnalysisRunner.for_settings(
            settings,
            REGISTRY,
            follower.metrics.registry,
            role="follower",
            rollups=follower.rollups,
            influx=influx,
        )
        assert follower.analysis is not None
        assert follower.analysis.store is None  # the follower's days are its window, redone every pass
        await follower.run_once()
    days_after = rollups.local_day_of(time_ns())
    midnights = {rollups.local_midnight_ns(days_before), rollups.local_midnight_ns(days_after)}
    stored = {int(r["time"]) for r in kpi_rows(isolated, "s1")}
    assert stored & midnights, "today's KPIs of the site were written by the follower's pass"
    labels = {"analyser": "substations"}
    assert (follower.metrics.registry.get_sample_value("ingest_analysis_days_total", labels) or 0) >= 1


async def test_a_damaged_analysis_store_is_moved_aside_counted_and_the_service_runs(
    isolated: Isolation, tmp_path: Path
) -> None:
    garbage = b"this is not an SQLite database " * 200
    (tmp_path / "analysis.sqlite").write_bytes(garbage)
    async with running_ingest(ingest_settings(isolated, tmp_path), REGISTRY) as service:
        assert service.analysis is not None
        assert service.analysis.store is not None
        assert sample(service, "ingest_store_quarantined_total", store="analysis") == 1
        assert service.analysis.pending == []
    [moved] = await asyncio.to_thread(lambda: sorted(tmp_path.glob("analysis.sqlite.corrupt-*")))
    assert await asyncio.to_thread(moved.read_bytes) == garbage


@pytest.mark.parametrize("together", [True, False], ids=["in-one-call", "day-by-day"])
async def test_a_fault_that_goes_on_the_next_day_keeps_the_start_of_its_episode(
    isolated: Isolation, together: bool
) -> None:
    lines = weather_lines(PREVIOUS) + weather_lines(DAY)
    for day, energy0, volume0 in ((PREVIOUS, 1000.0, 100.0), (DAY, 1960.0, 196.0)):
        lines += heat_lines(
            "hm2", "s2", day, volume_step=1.0, return_c=48.0, energy0=energy0, volume0=volume0, supply_c=56.0
        )
    async with InfluxClient(isolated.services.influx_url, isolated.db, timeout_s=60.0) as influx:
        await store_and_roll(influx, lines, [PREVIOUS, DAY])
        if together:
            await analysed(influx, await analyser(now_after(DAY)).analyse(influx, [PREVIOUS, DAY]))
        else:
            await analysed(influx, await analyser(now_after(DAY)).analyse(influx, [PREVIOUS]))
            await analysed(influx, await analyser(now_after(DAY)).analyse(influx, [DAY]))
    low = fault_rows(isolated, "s2")["low_delta_t"]
    assert low["active"] == 1.0
    assert low["since_s"] == rollups.local_midnight_ns(PREVIOUS) // NS
