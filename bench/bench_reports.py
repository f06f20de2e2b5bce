#!/usr/bin/env python3
"""Report generation time for an owner with 100 buildings (issue 16), next to a baseline measured
in the same run.

    uv run --frozen python -m bench.bench_reports [--sites 100] [--runs 5]

Starts its own InfluxDB (and Mosquitto, unused) in a temporary folder, writes for ``--sites``
buildings of one owner two years of daily ``building_kpi`` points straight into ``rollup_1d`` (the
contract layout of energy_core/analysis.py, as ingest's building analyser writes them) and a year
of 6-hourly ``energy``/``emissions`` points (as ingest's deriver writes them), rebuilt into the
roll-ups by ``python -m ingest rollup``'s function. Then ``python -m api`` serves the database and
each request runs once to warm up and ``--runs`` times; the figure is the median.

Requests: the owner's monthly report for the last whole month as JSON, CSV (excel-sv) and HTML,
the owner's ranked portfolio (two 12-month periods of every building), one building's
performance (with its signature fit), and the baseline ``/sites/{id}/energy?every=month`` of
one building over the same year (the existing endpoint the report's monthly figures compare to).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass

from bench.bench_rollup_queries import Api, api_process, city, load, owner, roll_up
from bench.common import BenchFailure, command_line, local_stack, on_this_machine
from energy_core import analysis, rollups
from energy_core.influx import InfluxClient
from energy_core.lineprotocol import encode_batch
from energy_core.schema import Point
from energy_core.timeutil import STOCKHOLM

DB = "reports"


def kpi_days(sites: int, first: dt.date, last_excl: dt.date) -> Iterator[list[Point]]:
    """A building_kpi point per building and local day, a year of days per batch."""
    batch: list[Point] = []
    day, i = first, 0
    while day < last_excl:
        outdoor = 5.0 + 12.0 * ((i * 7919) % 31 - 15) / 15  # -7 … 17 °C, uneven
        dd = max(0.0, 17.0 - outdoor)
        for s in range(sites):
            base = 40.0 + s % 13
            fields = {
                "heat_kwh": base + (6.0 + s % 5) * dd,
                "electricity_kwh": 20.0 + s % 7,
                "degree_days": dd,
                "normal_degree_days": 10.0,
                "base_kwh": base,
                "outdoor_temp_c": outdoor,
                "comfort_low_h": float((i + s) % 3),
                "comfort_high_h": 0.0,
                "co2_high_h": float((i * s) % 2),
                "indoor_hours": 24.0,
            }
            tags = (("owner", owner(s, 1)), ("site", f"site-{s:04d}"))
            batch.append(Point(analysis.BUILDING_KPI, tags, fields, rollups.local_midnight_ns(day)))
        if len(batch) >= 20_000:
            yield batch
            batch = []
        day += dt.timedelta(days=1)
        i += 1
    if batch:
        yield batch


async def write_kpis(influx_url: str, batches: Iterator[list[Point]]) -> int:
    written = 0
    async with InfluxClient(influx_url, DB, timeout_s=300) as influx:
        for batch in batches:
            await influx.write(encode_batch(batch), rp=analysis.RP)
            written += len(batch)
    return written


def timed(api: Api, path: str, params: dict[str, str], runs: int) -> tuple[float, int]:
    """Median milliseconds of ``runs`` GETs after one warm-up, and the answer's size in bytes."""
    first = api.client.get(path, params=params)
    if first.status_code != 200:
        raise BenchFailure(f"{path}: {first.status_code} {first.text[:200]}")
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        api.client.get(path, params=params).raise_for_status()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), len(first.content)


@dataclass
class Figure:
    what: str
    ms: float
    size: int


def measure(sites: int = 100, runs: int = 5) -> list[Figure]:
    today = dt.datetime.now(STOCKHOLM).date()
    first_kpi = today.replace(day=1) - dt.timedelta(days=730)
    month_start = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    month = f"{month_start.year:04d}-{month_start.month:02d}"
    now_s = int(time.time()) // 3600 * 3600
    start_s = now_s - 365 * 86400
    figures = []
    with local_stack("reports") as stack:
        t0 = time.perf_counter()
        energy_points = asyncio.run(
            load(stack.influx_url, DB, city(sites, 1, start_s, now_s, 6 * 3600, readings=False))
        )
        rolled = asyncio.run(roll_up(stack.influx_url, DB, start_s, now_s))
        kpis = asyncio.run(write_kpis(stack.influx_url, kpi_days(sites, first_kpi, today)))
        print(
            f"  wrote {energy_points:,} energy/emissions points (rolled up: {rolled:,}) and {kpis:,}"
            f" building_kpi days for {sites} buildings in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        requests = {
            f"baseline: /sites/{{id}}/energy?every=month, one building, {365} days": (
                "/sites/site-0001/energy",
                {"every": "month", "start": dt.datetime.fromtimestamp(start_s, dt.UTC).isoformat()},
            ),
            f"owner report {month}, {sites} buildings, JSON": (f"/owners/owner-00/reports/{month}", {}),
            f"owner report {month}, {sites} buildings, CSV excel-sv": (
                f"/owners/owner-00/reports/{month}",
                {"format": "csv", "dialect": "excel-sv"},
            ),
            f"owner report {month}, {sites} buildings, HTML": (
                f"/owners/owner-00/reports/{month}",
                {"format": "html"},
            ),
            f"building report {month}, HTML": (f"/sites/site-0001/reports/{month}", {"format": "html"}),
            f"owner performance (ranking), {sites} buildings × 2 years": ("/owners/owner-00/performance", {}),
            "building performance (with signature fit), 2 years": ("/sites/site-0001/performance", {}),
        }
        with api_process(stack.root, stack.influx_url, DB, sites, 1, rollups=True) as api:
            for what, (path, params) in requests.items():
                ms, size = timed(api, path, params, runs)
                figures.append(Figure(what, ms, size))
                print(f"  {what:<66} {ms:8.1f} ms  ({size / 1024:,.0f} KiB)", flush=True)
    return figures


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with on_this_machine():
        figures = measure(args.sites, args.runs)
    print("\n| request | median | answer |\n| --- | --- | --- |")
    for f in figures:
        print(f"| {f.what} | {f.ms:,.1f} ms | {f.size / 1024:,.0f} KiB |")


if __name__ == "__main__":
    main()
