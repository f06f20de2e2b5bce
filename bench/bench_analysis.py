"""The cost of the daily substation analysis: one local day for N substations, and how it grows.

    uv run python bench/bench_analysis.py [--sizes 250 1000 3000 7000] [--window-days 28]

For each size, into a database of its own on a fresh InfluxDB (the test harness's influxd): the
roll-ups the analysis reads are written straight as roll-ups (48 hourly ``rollup_1h``
district-heating rows per site: the previous and the analysed day, 15-minute readings' worth of
sums, extremes and registers; three weather stations' day; ``--window-days`` of stored
``substation_kpi`` history per site, so every site fits an energy signature; about 10 % of sites
cool badly), then the analysis of the day is timed as the runner does it:
``SubstationAnalyser.analyse`` (its six concurrent statements for all sites, the KPI formulas
and every rule per site) and the write of its lines into ``rollup_1d``. The baseline, in the
same run on the same rows: the daily roll-up of the same day's district heating
(``Roller.roll_days``: one statement over the same hourly rows, one point per site).
The bar (issue 15): one day of 7,000 substations in under 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import tempfile
import time
from pathlib import Path

from bench.common import load_average, machine
from energy_core import analysis, rollups
from energy_core.influx import InfluxClient
from energy_core.registry import AssetFile, Registry
from energy_core.timeutil import HOUR_NS
from energy_testing import services as local_services
from ingest.analysis.substations import SubstationAnalyser
from ingest.analysis.thresholds import Thresholds
from ingest.rollup.retention import ensure_policies
from ingest.rollup.roller import Roller

DAY = dt.date(2026, 11, 10)
STATIONS = ((60.48, 15.42), (60.50, 15.35), (60.46, 15.48))


def registry_of(sites: int) -> Registry:
    rng = random.Random(sites)
    site_rows: list[dict[str, object]] = [
        {"id": f"wx{i}", "name": f"Station {i}", "owner": "bench", "latitude": lat, "longitude": lon}
        for i, (lat, lon) in enumerate(STATIONS)
    ]
    devices: list[dict[str, object]] = [
        {"id": f"ws{i}", "site": f"wx{i}", "kind": "weather_station"} for i in range(len(STATIONS))
    ]
    for n in range(sites):
        site_rows.append(
            {
                "id": f"s{n}",
                "name": f"Substation {n}",
                "owner": f"o{n % 20}",
                "network": "borlange",
                "latitude": 60.45 + rng.random() * 0.07,
                "longitude": 15.33 + rng.random() * 0.17,
            }
        )
        devices.append({"id": f"hm{n}", "site": f"s{n}", "kind": "heat_meter"})
    owners = [{"id": f"o{i}", "name": f"Owner {i}"} for i in range(20)] + [{"id": "bench", "name": "Bench"}]
    return Registry(AssetFile.model_validate({"owners": owners, "sites": site_rows, "devices": devices}))


def _fields(values: dict[str, float]) -> str:
    return ",".join(f"{k}={v!r}" for k, v in values.items())


def hourly_lines(sites: int) -> list[str]:
    """48 hourly district-heating roll-ups per site (the previous day and DAY), ~10 % cooling badly."""
    start, _ = rollups.day_bounds(DAY - dt.timedelta(days=1))
    _, end = rollups.day_bounds(DAY)
    lines = []
    for n in range(sites):
        rng = random.Random(n)
        bad = n % 10 == 0
        load = 20.0 + rng.random() * 60.0  # kW
        ret = 38.0 + rng.random() * 10.0
        supply = ret + (8.0 if bad else 30.0 + rng.random() * 15.0)
        flow = load / (1.15 * (supply - ret))  # m³/h
        energy, volume = 10_000.0 + n, 500.0 + n
        tags = f"device=hm{n},network=borlange,owner=o{n % 20},site=s{n}"
        for hour in range(start, end, HOUR_NS):
            p = load * (0.8 + 0.4 * rng.random())
            e0, v0 = energy + p / 4, volume + flow / 4
            energy, volume = energy + p, volume + flow
            fields = {"energy_kwh_first": e0, "energy_kwh_last": energy}
            fields |= {"volume_m3_first": v0, "volume_m3_last": volume}
            for name, value in (
                ("power_kw", p),
                ("flow_m3h", flow),
                ("supply_temp_c", supply),
                ("return_temp_c", ret),
            ):
                fields |= {
                    f"{name}_sum": 4 * value,
                    f"{name}_count": 4.0,
                    f"{name}_min": value * 0.98,
                    f"{name}_max": value * 1.02,
                    f"{name}_mean": value,
                }
            fields |= {"info_code_last": 0.0, "info_code_max": 0.0}
            lines.append(f"district_heating,{tags} {_fields(fields)} {hour}")
    return lines


def weather_lines() -> list[str]:
    midnight = rollups.local_midnight_ns(DAY)
    return [
        f"weather,device=ws{i},owner=bench,site=wx{i} "
        f"outdoor_temp_c_sum={-5.0 * 24 - i!r},outdoor_temp_c_count=24.0,"
        f"outdoor_temp_c_mean={-5.0 - i / 24!r} "
        f"{midnight}"
        for i in range(len(STATIONS))
    ]


def history_lines(sites: int, window_days: int) -> list[str]:
    """``window_days`` stored KPIs per site before DAY, outdoor temperatures varying by day."""
    lines = []
    for n in range(sites):
        rng = random.Random(-n - 1)
        base, slope = 5.0 + rng.random() * 10, 1.0 + rng.random() * 2
        tags = f"network=borlange,owner=o{n % 20},site=s{n}"
        for k in range(1, window_days + 1):
            day = DAY - dt.timedelta(days=k)
            outdoor = -10.0 + 15.0 * ((k * 7) % 11) / 10
            heat = 24 * (base + slope * max(0.0, 17.0 - outdoor)) * (0.95 + 0.1 * rng.random())
            volume = heat / (1.15 * 35.0)
            kpi = {
                "heat_kwh": heat,
                "volume_m3": volume,
                "delta_t_k": 35.0,
                "return_temp_c": 42.0,
                "supply_temp_c": 77.0,
                "specific_flow_m3_per_mwh": volume / (heat / 1000),
                "excess_flow_m3": 0.0,
                "peak_load_kw": heat / 20,
                "outdoor_temp_c": outdoor,
                "hours": 24.0,
                "readings": 96.0,
                "from_registers": 1.0,
            }
            lines.append(f"{analysis.SUBSTATION_KPI},{tags} {_fields(kpi)} {rollups.local_midnight_ns(day)}")
    return lines


async def write(influx: InfluxClient, lines: list[str], rp: str) -> None:
    for i in range(0, len(lines), 20_000):
        await influx.write("\n".join(lines[i : i + 20_000]).encode(), rp=rp)


async def one_size(url: str, sites: int, window_days: int) -> dict[str, float]:
    async with InfluxClient(url, f"bench_{sites}", timeout_s=600) as influx:
        await influx.ensure_database()
        await ensure_policies(influx, rollup_days=0, raw_days=None)
        await write(influx, hourly_lines(sites), rollups.RP_1H)
        await write(influx, weather_lines(), rollups.RP_1D)
        await write(influx, history_lines(sites, window_days), analysis.RP)

        started = time.perf_counter()
        await Roller(influx).roll_days("district_heating", [DAY])
        baseline_s = time.perf_counter() - started

        analyser = SubstationAnalyser(
            registry_of(sites),
            Thresholds.load(None),
            window_days=window_days,
            now_ns=rollups.local_midnight_ns(DAY + dt.timedelta(days=1)) + 6 * HOUR_NS,
        )
        started = time.perf_counter()
        stored = await analyser._read(influx, DAY)  # the query share, measured alone
        read_s = time.perf_counter() - started
        del stored
        started = time.perf_counter()
        lines = await analyser.analyse(influx, [DAY])
        analysed = time.perf_counter()
        await write(influx, lines, analysis.RP)
        done = time.perf_counter()
        faults = sum(
            1 for line in lines if line.startswith(analysis.SUBSTATION_FAULT + ",") and " active=1.0," in line
        )
        if sum(1 for line in lines if line.startswith(analysis.SUBSTATION_KPI + ",")) != sites:
            raise RuntimeError(f"expected a KPI point per site ({sites})")
        return {
            "baseline_s": baseline_s,
            "read_s": read_s,
            "analyse_s": analysed - started,
            "write_s": done - analysed,
            "total_s": done - started,
            "lines": float(len(lines)),
            "faults": float(faults),
        }


async def run(sizes: list[int], window_days: int) -> None:
    """Each size in turn on one InfluxDB, a row printed as soon as it is measured."""
    local_services.ensure_installed()
    print(f"one local day, {window_days}-day window; seconds (growth: time ×, sites ×):")
    print(
        f"  {'sites':>6} {'analysis':>9} {'growth':>12} {'per site':>9} {'queries':>8} {'write':>6}"
        f" {'baseline':>9} {'ratio':>6} {'findings':>9}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-analysis-") as tmp:
        server, proc = local_services.start_influxd(Path(tmp) / "influxdb")
        try:
            previous: tuple[int, float] | None = None
            for n in sizes:
                r = await one_size(server.url, n, window_days)
                growth = (
                    "" if previous is None else f"×{r['total_s'] / previous[1]:.2f}/×{n / previous[0]:.1f}"
                )
                print(
                    f"  {n:>6,} {r['total_s']:>8.2f}s {growth:>12} {r['total_s'] / n * 1e3:>7.2f}ms"
                    f" {r['read_s']:>7.2f}s {r['write_s']:>5.2f}s {r['baseline_s']:>8.2f}s"
                    f" {r['total_s'] / r['baseline_s']:>5.1f}× {r['faults']:>9,.0f}",
                    flush=True,
                )
                previous = (n, r["total_s"])
        finally:
            local_services.stop_pid(proc.pid)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 1000, 3000, 7000])
    parser.add_argument("--window-days", type=int, default=28)
    args = parser.parse_args()
    print(f"machine: {machine()}\nload average at start: {load_average()}", flush=True)
    asyncio.run(run(args.sizes, args.window_days))
    print(
        "  analysis: analyse() (6 statements for all sites + KPIs and rules per site) and the write;"
        " queries: the 6 statements alone; baseline: the daily roll-up of the same day (Roller.roll_days)"
    )
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
