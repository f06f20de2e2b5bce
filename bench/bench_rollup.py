"""The cost of roll-ups: ingest throughput with and without maintenance, the hot-path share, storage.

    uv run python bench/bench_rollup.py [--readings 100000] [--devices 2000] [--sites 10]
                                        [--skip-storage]

1. hot path: the cost of taking a batch's (measurement, hour) keys from its line protocol
   (``ingest.rollup.keys.keys_of_lines``) next to encoding the same batch, in this process;
2. throughput, in the same run: the same QoS 1 messages queued on three persistent sessions,
   drained by ``python -m ingest`` with INGEST_ROLLUP=off, =on (``--delay``, default 1 s: rounds
   run during the drain), and =off again (a drift check), each into its own database; then how long the last
   roll-ups took after the last ack, and that rollup_1h counts equal the raw counts;
3. storage per site-year: a year of 15-minute heat-meter readings (registers, power, flow,
   temperatures; interval energy and two emissions methods, as ingest derives them) for
   ``--sites`` sites written straight to InfluxDB, rolled with ``python -m ingest rollup``'s code,
   and InfluxDB's own disk figures per retention policy (``SHOW STATS`` shard ``diskBytes``, after
   the cache was snapshotted to TSM).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import subprocess
import tempfile
import time
from pathlib import Path
from unittest.mock import patch

from bench.bench_ingest import fleet_messages, publish
from bench.common import (
    BenchFailure,
    IngestProcess,
    create_session,
    influx_query,
    load_average,
    local_stack,
    machine,
    wait_acked,
)
from energy_core import lineprotocol, rollups
from energy_core.influx import InfluxClient
from energy_core.schema import Point
from energy_core.timeutil import NS
from energy_testing import services as local_services
from ingest.rollup.cli import rebuild
from ingest.rollup.keys import keys_of_lines
from ingest.rollup.retention import ensure_policies


def hot_path(batch: int = 5000, repeat: int = 30, step_ns: int = 30_000_000) -> tuple[float, float]:
    """(µs per line to take the keys, µs per line to encode), the best of ``repeat`` interleaved
    batches (the least disturbed by other load on a shared machine)."""
    t0 = int(time.time()) * NS
    points = [
        Point(
            "district_heating",
            (
                ("device", f"hm-{i % 2000:05d}"),
                ("network", "borlange"),
                ("owner", "o"),
                ("site", f"s{i % 2000}"),
            ),
            {"energy_kwh": 1000.0 + i, "power_kw": 12.5, "flow_m3h": 0.4, "supply_temp_c": 75.1},
            t0 + i * step_ns,
        )
        for i in range(batch)
    ]
    keys_s, encode_s = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        lines = [lineprotocol.encode(p) for p in points]
        encoded = time.perf_counter()
        keys_of_lines(lines)
        done = time.perf_counter()
        encode_s.append(encoded - started)
        keys_s.append(done - encoded)
    return min(keys_s) / batch * 1e6, min(encode_s) / batch * 1e6


def throughput(readings: int, devices: int, delay_s: float = 1.0) -> dict[str, float]:
    """Readings/s of ingest with INGEST_ROLLUP=off, on, off on the same queued messages."""
    out: dict[str, float] = {}
    with local_stack("rollup") as stack:
        prefix = "bench"
        topic_filter = f"{prefix}/v1/+"
        runs = [("off", "bench-off-1"), ("on", "bench-on"), ("off", "bench-off-2")]
        for _, client_id in runs:
            create_session(stack.mqtt_port, client_id, topic_filter)
        messages = fleet_messages(prefix, readings, devices, 1)
        publish(stack.mqtt_url, messages)
        for mode, client_id in runs:
            db = client_id.replace("-", "_")
            ingest = IngestProcess(
                stack,
                prefix=prefix,
                db=db,
                client_id=client_id,
                ingest_unknown_devices="accept",
                ingest_rollup=mode,
                ingest_rollup_delay_s=str(delay_s),
            )
            try:
                first, done = wait_acked([ingest], len(messages))
                out[client_id] = readings / (done - first)
                if mode == "on":
                    deadline = time.monotonic() + 300
                    while ingest.metrics().get("ingest_rollup_dirty_buckets", 1) > 0:
                        if time.monotonic() > deadline:
                            raise BenchFailure("roll-ups not done 300 s after the last ack")
                        time.sleep(0.05)
                    out["lag_after_last_ack_s"] = time.perf_counter() - done
                    out["rollup_points"] = ingest.metrics().get("ingest_rollup_points_written_total", 0)
            finally:
                ingest.stop()
            if mode == "on":
                raw = influx_query(
                    stack.influx_url, db, 'SELECT count("supply_temp_c") FROM "district_heating"'
                )
                rolled = influx_query(
                    stack.influx_url,
                    db,
                    f'SELECT sum("supply_temp_c_count") FROM "{db}"."rollup_1h"."district_heating"',  # noqa: S608
                )
                last = influx_query(
                    stack.influx_url,
                    db,
                    f'SELECT count("energy_kwh_last") FROM "{db}"."rollup_1h"."district_heating"',  # noqa: S608
                )
                out["raw_points"] = float(raw[0]["values"][0][1])
                out["rolled_count"] = float(rolled[0]["values"][0][1]) if rolled else 0.0
                out["rolled_hour_rows"] = float(last[0]["values"][0][1]) if last else 0.0
    return out


def site_year_points(site: int, year_start: dt.datetime) -> list[Point]:
    """One heat meter's year of 15-minute readings and its derived energy and emissions."""
    tags = (("device", f"hm-{site}"), ("network", "borlange"), ("owner", "o1"), ("site", f"s{site}"))
    start = int(year_start.timestamp()) * NS
    points: list[Point] = []
    register = 10_000.0 + site
    step = 15 * 60 * NS
    for i in range(365 * 96):
        ts = start + i * step
        kwh = 2.0 + (i % 96) / 48 + site % 3
        register += kwh
        points.append(
            Point(
                "district_heating",
                tags,
                {
                    "energy_kwh": round(register, 3),
                    "volume_m3": round(register / 40, 3),
                    "power_kw": round(kwh * 4, 3),
                    "flow_m3h": round(kwh / 10, 3),
                    "supply_temp_c": 75.0 + (i % 7) / 10,
                    "return_temp_c": 45.0 + (i % 5) / 10,
                    "delta_t_k": 30.0 + (i % 7 - i % 5) / 10,
                },
                ts,
            )
        )
        energy_tags = tuple(sorted((*tags, ("carrier", "district_heat"))))
        points.append(Point("energy", energy_tags, {"kwh": round(kwh, 3)}, ts))
        for method, factor in (("location", 54.9), ("market", 120.0)):
            fields = {"co2e_kg": round(kwh * factor / 1000, 6), "factor_g_per_kwh": factor}
            points.append(Point("emissions", tuple(sorted((*energy_tags, ("method", method)))), fields, ts))
    return points


def start_snapshotting_influxd(directory: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """The harness's InfluxDB 1.x, snapshotting its cache to TSM after 2 s without writes and
    compacting soon after (influxd's environment overrides), so the disk figures are TSM."""
    cold = {
        "INFLUXDB_DATA_CACHE_SNAPSHOT_WRITE_COLD_DURATION": "2s",
        "INFLUXDB_DATA_COMPACT_FULL_WRITE_COLD_DURATION": "4s",
    }
    with patch.dict(os.environ, cold):
        running, proc = local_services.start_influxd(directory)
    return running.url, proc


def disk_bytes(url: str, db: str) -> dict[str, float]:
    """TSM + WAL bytes per retention policy of ``db`` (InfluxDB's own SHOW STATS figures)."""
    out: dict[str, float] = {}
    for series in influx_query(url, db, "SHOW STATS"):
        tags = series.get("tags") or {}
        if series.get("name") not in ("shard", "tsm1_wal") or tags.get("database") != db:
            continue
        row = dict(zip(series["columns"], series["values"][0], strict=True))
        rp = tags.get("retentionPolicy", "?")
        out[rp] = (
            out.get(rp, 0.0)
            + float(row.get("diskBytes", 0) or 0)
            + float(row.get("currentSegmentDiskBytes", 0) or 0)
        )
    return out


async def storage(sites: int) -> tuple[dict[str, float], int, float]:
    """Bytes per retention policy for ``sites`` site-years; raw points; seconds the rebuild took."""
    year_start = dt.datetime(2025, 11, 1, tzinfo=rollups.ZONE)
    with tempfile.TemporaryDirectory(prefix="bench-rollup-storage-") as tmp:
        url, proc = start_snapshotting_influxd(Path(tmp))
        try:
            async with InfluxClient(url, "storage", timeout_s=300) as influx:
                await influx.ensure_database()
                await ensure_policies(influx, rollup_days=0, raw_days=None)
                raw_points = 0
                for site in range(sites):
                    points = site_year_points(site, year_start)
                    raw_points += len(points)
                    for i in range(0, len(points), 20_000):
                        await influx.write(lineprotocol.encode_batch(points[i : i + 20_000]))
                days = [year_start.date() + dt.timedelta(days=d) for d in range(366)]
                started = time.perf_counter()
                await rebuild(influx, days)
                rebuild_s = time.perf_counter() - started
            deadline = time.monotonic() + 120
            previous: dict[str, float] = {}
            while time.monotonic() < deadline:  # until the cache is on disk and the figures settle
                await asyncio.sleep(5)
                current = disk_bytes(url, "storage")
                if current == previous and current:
                    break
                previous = current
            return previous, raw_points, rebuild_s
        finally:
            local_services.stop_pid(proc.pid)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--readings", type=int, default=100_000)
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--skip-storage", action="store_true")
    parser.add_argument(
        "--delay",
        type=float,
        default=1.0,
        help="INGEST_ROLLUP_DELAY_S of the run with roll-ups (default 1: worst case)",
    )
    args = parser.parse_args()
    print(f"machine: {machine()}\nload average at start: {load_average()}")

    for what, step_ns in (("live (150 s of readings)", 30_000_000), ("back-fill (a minute apart)", 60 * NS)):
        keys_us, encode_us = hot_path(step_ns=step_ns)
        print(
            f"hot path, per line of a 5,000-line {what} batch: bucket keys {keys_us:.2f} µs, "
            f"line protocol encoding {encode_us:.2f} µs ({keys_us / encode_us:.0%} of encoding)"
        )

    r = throughput(args.readings, args.devices, args.delay)
    off = (r["bench-off-1"] + r["bench-off-2"]) / 2
    print(
        f"ingest throughput, {args.readings:,} readings from {args.devices:,} devices, QoS 1,"
        " INGEST_ENERGY=live:"
    )
    print(f"  INGEST_ROLLUP=off (first)   {r['bench-off-1']:>10,.0f} readings/s")
    print(
        f"  INGEST_ROLLUP=on (delay {args.delay:g} s) {r['bench-on']:>7,.0f} readings/s"
        f"  ({r['bench-on'] / off:.0%} of off)"
    )
    print(f"  INGEST_ROLLUP=off (again)   {r['bench-off-2']:>10,.0f} readings/s")
    print(
        f"  roll-ups complete {r['lag_after_last_ack_s']:.1f} s after the last ack; "
        f"{r['rollup_points']:,.0f} roll-up points; raw supply_temp_c values {r['raw_points']:,.0f},"
        f" their count in rollup_1h {r['rolled_count']:,.0f} ({r['rolled_hour_rows']:,.0f} hourly rows)"
    )

    if not args.skip_storage:
        by_rp, raw_points, rebuild_s = asyncio.run(storage(args.sites))
        print(f"storage, {args.sites} site-years (15-minute readings, energy and 2 emissions methods):")
        print(f"  {raw_points:,} raw points; rebuild of 366 days took {rebuild_s:.1f} s")
        for rp in ("autogen", rollups.RP_1H, rollups.RP_1D):
            per_site = by_rp.get(rp, 0.0) / args.sites
            print(f"  {rp:<10} {per_site / 1e6:>8.2f} MB per site-year")
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
