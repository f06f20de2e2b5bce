#!/usr/bin/env python3
"""Query time over 30 and 365 days, raw points vs roll-ups, in the same run (issue 14).

    uv run --frozen python -m bench --only rollups          # in the suite's table
    uv run --frozen python bench/bench_rollup_queries.py [--sites 20] [--days 365] [--scale-sites 200]

Starts its own InfluxDB (energy_testing/services.py) in a temporary folder, and writes a city of
``--sites`` substations with ``--days`` of 15-minute readings ending now, **directly as ingest
writes them** (energy_core.lineprotocol into the default policy: each heat meter's
``district_heating`` point, the interval ``energy`` derived from its register and the
``emissions`` of both methods; no MQTT, because a year of back-fill through the broker takes an
hour here and measures ingest, not queries). Then ``python -m ingest rollup``'s rebuild builds
the roll-ups (timed), and two ``python -m api`` processes serve the same database: one with
``API_ROLLUPS=false`` (every answer from raw points: the path before issue 14, the baseline) and
one with roll-ups. Each query runs once to warm up, then 5 times; the figure is the median.

The queries: ``/sites/{id}/energy?every=month``, ``/emissions?every=month`` (all sites, operator
key), ``/sites/{id}/series?measurement=district_heating&field=power_kw&every=1d&aggregate=mean``,
over the last 30 and 365 days, and the operator-wide yearly emissions (``every=year``). Each pair
of answers is checked equal (a difference fails the benchmark). A second city of
``--scale-sites`` substations of 20 owners (6-hourly energy and emissions only) shows that the operator-wide
query reads the across-site roll-up, whose rows are owners × networks × carriers × methods ×
days whatever the number of sites. Storage: the shard folders of each retention policy on disk,
after InfluxDB has written its cache to TSM files (``INFLUXDB_DATA_CACHE_SNAPSHOT_WRITE_COLD_DURATION``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent

# Before InfluxDB starts: write the cache to TSM files after 5 s without writes (default 10 min),
# and compact fully soon after, so the folder sizes are what the data takes at rest.
os.environ.setdefault("INFLUXDB_DATA_CACHE_SNAPSHOT_WRITE_COLD_DURATION", "5s")
os.environ.setdefault("INFLUXDB_DATA_COMPACT_FULL_WRITE_COLD_DURATION", "15s")

from api.auth import hash_key  # noqa: E402 (after the path set-up above)
from bench.bench_api import _wait_healthy as wait_healthy  # noqa: E402
from bench.common import BenchFailure, load_average, local_services, local_stack, machine  # noqa: E402
from energy_core.influx import InfluxClient  # noqa: E402
from energy_core.lineprotocol import encode_batch  # noqa: E402
from energy_core.rollups import DEFAULT_ROLLUP_RETENTION_DAYS, RP_1D, local_day_of  # noqa: E402
from energy_core.schema import Point  # noqa: E402
from energy_core.timeutil import NS  # noqa: E402
from ingest.rollup.cli import rebuild  # noqa: E402
from ingest.rollup.retention import ensure_policies  # noqa: E402

DB = "bench"
OWNERS = 2  # the city's owners (its sites take turns); the second city has SCALE_OWNERS
SCALE_OWNERS = 20
FACTORS = {"location": 54.9, "market": 120.0}  # g CO2e/kWh: the shipped Borlänge placeholder, a market value
RUNS = 5
SPANS = (30, 365)
# Borlänge, for the projection: ~7,000 substations with 1-minute readings (the issue), and the
# across-site roll-up's rows per day: owners (API tenants: the utility and the housing companies;
# 20 assumed, generously) × 2 networks × 2 carriers × 2 methods.
BORLANGE_SITES, BORLANGE_STEP_S = 7000, 60
BORLANGE_SERIES = 20 * 2 * 2 * 2


def owner(site: int, owners: int) -> str:
    return f"owner-{site % owners:02d}"


def tags(site: int, owners: int) -> tuple[tuple[str, str], ...]:
    return (
        ("device", f"hm-{site:04d}"),
        ("network", "borlange"),
        ("owner", owner(site, owners)),
        ("site", f"site-{site:04d}"),
    )


def derived(site_tags: tuple[tuple[str, str], ...], kwh: float, ts_ns: int) -> list[Point]:
    """The ``energy`` and ``emissions`` points ingest's deriver writes for one interval."""
    base = (*site_tags, ("carrier", "district_heat"))
    points = [Point("energy", tuple(sorted(base)), {"kwh": kwh}, ts_ns)]
    for method, factor in FACTORS.items():
        fields = {"co2e_kg": kwh * factor / 1000, "factor_g_per_kwh": factor}
        points.append(Point("emissions", tuple(sorted((*base, ("method", method)))), fields, ts_ns))
    return points


def city(
    sites: int, owners: int, start_s: int, end_s: int, step_s: int, *, readings: bool
) -> Iterator[list[Point]]:
    """A day of points at a time: per site and step a heat reading (with ``readings``) and the
    interval energy and emissions derived from its register."""
    registers = [100_000.0 * (s + 1) for s in range(sites)]
    for day_start in range(start_s, end_s, 86400):
        batch: list[Point] = []
        for ts_s in range(day_start, min(day_start + 86400, end_s), step_s):
            hour = (ts_s // 3600) % 24
            for s in range(sites):
                site_tags = tags(s, owners)
                power = 50.0 + 3 * s + 40.0 * (6 <= hour < 22) + (ts_s // step_s * 7919 % 97) / 10
                kwh = power * step_s / 3600
                registers[s] += kwh
                ts_ns = ts_s * NS
                if readings:
                    supply, ret = 80.0 + (s % 7), 42.0 + (ts_s // step_s % 5)
                    fields = {"energy_kwh": registers[s], "power_kw": power, "supply_temp_c": supply,
                              "return_temp_c": ret, "delta_t_k": supply - ret}  # fmt: skip
                    batch.append(Point("district_heating", site_tags, fields, ts_ns))
                batch.extend(derived(site_tags, kwh, ts_ns))
        yield batch


async def load(influx_url: str, db: str, batches: Iterator[list[Point]]) -> int:
    written = 0
    async with InfluxClient(influx_url, db, timeout_s=300) as influx:
        await influx.ensure_database()
        for batch in batches:
            for i in range(0, len(batch), 20_000):
                await influx.write(encode_batch(batch[i : i + 20_000]))
            written += len(batch)
    return written


async def roll_up(influx_url: str, db: str, start_s: int, end_s: int) -> int:
    """``python -m ingest rollup``'s rebuild of every local day holding [start, end)."""
    first, last = local_day_of(start_s * NS), local_day_of((end_s - 1) * NS)
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    async with InfluxClient(influx_url, db, timeout_s=300) as influx:
        await ensure_policies(influx, rollup_days=DEFAULT_ROLLUP_RETENTION_DAYS, raw_days=None)
        report = await rebuild(influx, days)
    return report.points


@dataclass
class Api:
    """A ``python -m api`` process and a client with an operator key."""

    proc: subprocess.Popen[bytes]
    client: httpx.Client


@contextmanager
def api_process(
    root: Path, influx_url: str, db: str, sites: int, owners: int, *, rollups: bool
) -> Iterator[Api]:
    name = f"api-{db}-{'rollups' if rollups else 'raw'}"
    key = "bench-" + os.urandom(16).hex()
    (root / f"{name}-keys.yaml").write_text(
        yaml.safe_dump({"keys": [{"name": "bench", "hash": hash_key(key), "scope": "operator"}]})
    )
    assets = {
        "owners": [{"id": owner(o, owners), "name": f"Owner {o}"} for o in range(owners)],
        "sites": [{"id": f"site-{s:04d}", "name": f"Site {s}", "owner": owner(s, owners),
                   "network": "borlange", "floor_area_m2": 2000.0 + s} for s in range(sites)],
        "devices": [{"id": f"hm-{s:04d}", "site": f"site-{s:04d}", "kind": "heat_meter"}
                    for s in range(sites)],
    }  # fmt: skip
    (root / f"{name}-assets.yaml").write_text(yaml.safe_dump(assets))
    port = local_services.free_port()
    env = {
        **os.environ,
        "ENERGY_ENV_FILE": str(root / "none.env"),
        "INFLUX_URL": influx_url,
        "INFLUX_DB": db,
        "API_PORT": str(port),
        "API_KEYS_FILE": str(root / f"{name}-keys.yaml"),
        "ASSETS_FILE": str(root / f"{name}-assets.yaml"),
        "INGEST_DATA_DIR": str(root / "ingest"),
        "API_ROLLUPS": "true" if rollups else "false",
    }
    with open(root / f"{name}.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "api"], env=env, cwd=ROOT, stdout=log, stderr=log)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}, timeout=600)
    try:
        wait_healthy(client, proc)
        yield Api(proc, client)
    finally:
        client.close()
        local_services.stop_pid(proc.pid)


def timed(api: Api, path: str, params: dict[str, str]) -> tuple[float, Any]:
    """Median milliseconds of ``RUNS`` GETs after one warm-up, and the answer."""
    first = api.client.get(path, params=params)
    if first.status_code != 200:
        raise BenchFailure(f"{path}: {first.status_code} {first.text[:200]}")
    samples = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        api.client.get(path, params=params).raise_for_status()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), first.json()


def totals(answer: Any) -> list[float]:
    """The numbers an answer adds up: bucket totals, or each series point's value."""
    if "buckets" in answer:
        return [b.get("kwh", b.get("co2e_kg")) for b in answer["buckets"]]
    return [p["value"] for s in answer["series"] for p in s["points"]]


def check_equal(what: str, raw: Any, rolled: Any) -> None:
    a, b = totals(raw), totals(rolled)
    if len(a) != len(b) or any(
        abs(x - y) > 1e-6 * max(1.0, abs(x)) + 0.0011 for x, y in zip(a, b, strict=True)
    ):
        raise BenchFailure(
            f"{what}: roll-ups answer {sum(b):,.3f} over {len(b)} values, raw {sum(a):,.3f}/{len(a)}"
        )


@dataclass
class Figure:
    query: str
    days: int
    raw_ms: float
    rollup_ms: float


@dataclass
class Result:
    sites: int
    days: int
    points: int
    load_s: float
    rollup_s: float
    rollup_points: int
    figures: list[Figure] = field(default_factory=list)
    yearly_rows: int = 0
    storage_mb: dict[str, float] = field(default_factory=dict)
    scale_sites: int = 0
    scale_yearly: Figure | None = None
    scale_yearly_rows: int = 0

    def figure(self, query: str, days: int) -> Figure:
        return next(f for f in self.figures if f.query == query and f.days == days)


QUERIES = {
    "/sites/{id}/energy?every=month": ("/sites/site-0001/energy", {"every": "month"}),
    "/emissions?every=month (all sites)": ("/emissions", {"every": "month"}),
    "/sites/{id}/series?…&every=1d&aggregate=mean": (
        "/sites/site-0001/series",
        {"measurement": "district_heating", "field": "power_kw", "every": "1d", "aggregate": "mean"},
    ),
}
YEARLY = "/emissions?every=year (operator-wide)"


def since(days: int, now_s: int) -> str:
    return dt.datetime.fromtimestamp(now_s - days * 86400, dt.UTC).isoformat()


def yearly_rows(influx_url: str, db: str, now_s: int) -> int:
    """The across-site roll-up rows the operator-wide yearly query reads."""
    q = (
        f'SELECT count("co2e_kg") FROM "{db}"."{RP_1D}"."emissions_total"'  # noqa: S608 (our own constants)
        f" WHERE time >= {(now_s - 366 * 86400) * NS} GROUP BY *"
    )
    r = httpx.get(f"{influx_url}/query", params={"db": db, "q": q}, timeout=60).json()
    return sum(int(s["values"][0][1] or 0) for s in r["results"][0].get("series", []))


Queries = dict[str, tuple[str, dict[str, str]]]


@dataclass(frozen=True)
class Town:
    """One database of the run: its name, sites and owners."""

    db: str
    sites: int
    owners: int


def measure_pair(
    root: Path, influx_url: str, town: Town, queries: Queries, spans: tuple[int, ...], now_s: int
) -> list[Figure]:
    figures = []
    db, sites, owners = town.db, town.sites, town.owners
    with (
        api_process(root, influx_url, db, sites, owners, rollups=False) as raw,
        api_process(root, influx_url, db, sites, owners, rollups=True) as rolled,
    ):
        for name, (path, params) in queries.items():
            for days in spans:
                asked = {**params, "start": since(days, now_s)}
                raw_ms, raw_answer = timed(raw, path, asked)
                rollup_ms, rolled_answer = timed(rolled, path, asked)
                check_equal(f"{name} over {days} days", raw_answer, rolled_answer)
                figures.append(Figure(name, days, raw_ms, rollup_ms))
                print(
                    f"  {name:<48} {days:>3} d: raw {raw_ms:8.1f} ms, roll-ups {rollup_ms:6.1f} ms",
                    flush=True,
                )
    return figures


def disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20 if path.exists() else 0.0


def storage(influx_dir: Path, db: str) -> dict[str, float]:
    """MiB on disk per retention policy once the WAL is written out (waits up to 120 s for that)."""
    wal = influx_dir / "wal" / db
    deadline = time.monotonic() + 120
    while disk_mb(wal) > 0.1 and time.monotonic() < deadline:
        time.sleep(2)
    time.sleep(20)  # a full compaction after the snapshot (INFLUXDB_DATA_COMPACT_FULL_WRITE_COLD_DURATION)
    data = influx_dir / "data" / db
    sizes = {rp.name: disk_mb(rp) for rp in sorted(data.iterdir()) if rp.is_dir()}
    sizes["wal (not yet written out)"] = disk_mb(wal)
    return sizes


def measure(sites: int = 20, days: int = 365, scale_sites: int = 200) -> Result:
    now_s = int(time.time()) // 900 * 900
    start_s = now_s - days * 86400
    with local_stack("rollups") as stack, ExitStack():
        t0 = time.perf_counter()
        points = asyncio.run(
            load(stack.influx_url, DB, city(sites, OWNERS, start_s, now_s, 900, readings=True))
        )
        load_s = time.perf_counter() - t0
        print(f"  wrote {points:,} points ({sites} sites × {days} days × 96) in {load_s:.0f} s", flush=True)
        t0 = time.perf_counter()
        rolled_points = asyncio.run(roll_up(stack.influx_url, DB, start_s, now_s))
        rollup_s = time.perf_counter() - t0
        print(f"  rebuilt the roll-ups: {rolled_points:,} points in {rollup_s:.0f} s", flush=True)
        result = Result(sites, days, points, load_s, rollup_s, rolled_points)
        queries = {**QUERIES, YEARLY: ("/emissions", {"every": "year"})}
        spans = tuple(d for d in SPANS if d <= days)
        result.figures = measure_pair(
            stack.root, stack.influx_url, Town(DB, sites, OWNERS), queries, spans, now_s
        )
        result.yearly_rows = yearly_rows(stack.influx_url, DB, now_s)
        result.storage_mb = storage(stack.root / "influxdb", DB)
        if scale_sites:
            scale_db = f"{DB}_{scale_sites}"
            scaled = city(scale_sites, SCALE_OWNERS, start_s, now_s, 6 * 3600, readings=False)
            n = asyncio.run(load(stack.influx_url, scale_db, scaled))
            print(f"  wrote {n:,} points ({scale_sites} sites, 6-hourly energy and emissions)", flush=True)
            asyncio.run(roll_up(stack.influx_url, scale_db, start_s, now_s))
            yearly = {YEARLY: ("/emissions", {"every": "year"})}
            span = (max(spans),)
            town = Town(scale_db, scale_sites, SCALE_OWNERS)
            [result.scale_yearly] = measure_pair(stack.root, stack.influx_url, town, yearly, span, now_s)
            result.scale_sites = scale_sites
            result.scale_yearly_rows = yearly_rows(stack.influx_url, scale_db, now_s)
    return result


def projected_ms(r: Result) -> tuple[float, float]:
    """The operator-wide yearly query at Borlänge's size: (roll-ups, raw).

    Roll-ups: the query reads the across-site roll-up, rows = series (owner × network × carrier ×
    method) × days, independent of the number of sites and of the reading interval. Its time is
    fitted as fixed + per-row cost through the two cities' measurements (different row counts),
    and taken at Borlänge's rows. Raw: the points grow with sites × readings per day; time in
    proportion to points (the fixed cost scaled too: generous to raw).
    """
    yearly = r.figure(YEARLY, max(d for d in SPANS if d <= r.days))
    rows_borlange = BORLANGE_SERIES * 365
    rollups = yearly.rollup_ms
    if r.scale_yearly is not None and r.scale_yearly_rows != r.yearly_rows:
        per_row = (r.scale_yearly.rollup_ms - yearly.rollup_ms) / (r.scale_yearly_rows - r.yearly_rows)
        fixed = yearly.rollup_ms - per_row * r.yearly_rows
        rollups = max(yearly.rollup_ms, r.scale_yearly.rollup_ms, fixed + max(0.0, per_row) * rows_borlange)
    raw = yearly.raw_ms * (BORLANGE_SITES / r.sites) * (900 / BORLANGE_STEP_S)
    return rollups, raw


def report(r: Result) -> list[str]:
    lines = [f"{r.sites} sites × {r.days} days of 15-minute readings, written as ingest writes them:"
             f" {r.points:,} points in {r.load_s:.0f} s; roll-ups rebuilt in {r.rollup_s:.0f} s"
             f" ({r.rollup_points:,} points)", "",
             f"| query | raw 30 d | raw {r.days} d | raw growth | roll-ups 30 d | roll-ups {r.days} d"
             " | growth |",
             "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    long = max(d for d in SPANS if d <= r.days)
    for name in [*QUERIES, YEARLY]:
        short, year = r.figure(name, 30), r.figure(name, long)
        lines.append(
            f"| `{name}` | {short.raw_ms:,.1f} ms | {year.raw_ms:,.1f} ms | ×{year.raw_ms / short.raw_ms:.1f}"
            f" | {short.rollup_ms:,.1f} ms | {year.rollup_ms:,.1f} ms"
            f" | ×{year.rollup_ms / short.rollup_ms:.2f} |"
        )
    rollups, raw = projected_ms(r)
    lines += [
        "",
        f"operator-wide yearly emissions, {r.sites} sites of {OWNERS} owners: {r.yearly_rows:,} across-site"
        f" roll-up rows ({OWNERS} owners × 1 network × 1 carrier × 2 methods × days)",
    ]
    if r.scale_yearly is not None:
        lines.append(
            f"  {r.scale_sites} sites of {SCALE_OWNERS} owners: {r.scale_yearly_rows:,} rows,"
            f" roll-ups {r.scale_yearly.rollup_ms:,.1f} ms"
            f" (raw {r.scale_yearly.raw_ms:,.1f} ms on 6-hourly data)"
        )
    lines.append(
        f"  projected to Borlänge ({BORLANGE_SITES:,} substations, 1-minute readings, {BORLANGE_SERIES}"
        f" owner×network×carrier×method series = {BORLANGE_SERIES * 365:,} rows):"
        f" roll-ups ≤ {rollups:,.0f} ms,"
        f" raw ≈ {raw / 1000:,.0f} s"
    )
    raw_mb = r.storage_mb.get("autogen", 0.0)
    rolled_mb = sum(v for k, v in r.storage_mb.items() if k.startswith("rollup"))
    site_years = r.sites * r.days / 365
    lines.append(
        "storage on disk (MiB): "
        + ", ".join(f"{k} {v:,.1f}" for k, v in r.storage_mb.items())
        + f"; per site-year: raw {raw_mb / site_years:,.2f} MiB, roll-ups {rolled_mb / site_years:,.2f} MiB"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--scale-sites", type=int, default=200, help="0: skip the second city")
    args = parser.parse_args()
    print(f"machine: {machine()}\nload average at start: {load_average()}", flush=True)
    result = measure(args.sites, args.days, args.scale_sites)
    print("\n".join(report(result)))
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
