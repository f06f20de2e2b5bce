"""The whole benchmark suite in one command, as one table (SPEC §10's quality bars).

    uv run python -m bench            # full sizes from the spec (about 5 minutes on 2 cores)
    uv run python -m bench --quick    # smaller sizes, under 3 minutes
    uv run python -m bench --only ingest latency

Each benchmark starts its own Mosquitto and InfluxDB in a temporary folder and stops them, runs
ingest (and the API) as separate processes, and checks its own results (stored = published);
a failed check is printed in the table and makes the command exit with status 1.
See bench/README.md for what each row measures and how to read it.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from bench import bench_api, bench_ingest, bench_latency, bench_rollup_queries, bench_rss, bench_scaleout
from bench.common import BenchFailure, load_average, machine


@dataclass(frozen=True)
class Sizes:
    ingest_readings: int
    ingest_devices: int
    latency_seconds: float
    rss_readings_per_device: int
    scaleout_readings: int
    api_requests: int


FULL = Sizes(200_000, 10_000, 30, 5, 100_000, 300)
QUICK = Sizes(20_000, 5_000, 8, 2, 30_000, 100)
LATENCY_RATE = 5000  # msg/s, SPEC §10
RSS_DEVICES = 10_000  # SPEC §10

Row = tuple[str, str, str, str]  # what, figure, baseline / target, verdict


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def ingest_rows(s: Sizes) -> list[Row]:
    rows = []
    for energy, what in (
        ("live", "with energy + emissions derived"),
        ("off", "readings only, INGEST_ENERGY=off"),
    ):
        r = bench_ingest.measure(s.ingest_readings, s.ingest_devices, energy=energy)
        rows.append(
            (
                f"ingest throughput, {r.readings:,} readings, QoS 1, ack after write; {what}",
                f"{r.ingest_rate:,.0f} readings/s",
                f"bare paho drain {r.bare_rate:,.0f}/s ({r.ingest_rate / r.bare_rate:.0%}), bare asyncio"
                f" consumer drain {r.consumer_rate:,.0f}/s ({r.ingest_rate / r.consumer_rate:.0%})"
                "; SPEC ≥ 25,000/s"
                f"; {r.batches} batches, {r.batch_write_s / max(1, r.batches) * 1000:,.0f} ms each to commit",
                verdict(r.ingest_rate >= 25_000),
            )
        )
    return rows


def latency_rows(s: Sizes) -> list[Row]:
    r = bench_latency.measure(LATENCY_RATE, s.latency_seconds)
    sustained = r.achieved_rate >= 0.95 * r.target_rate
    return [
        (
            f"publish→queryable, {r.probes} probes over {s.latency_seconds:.0f} s",
            f"p50 {r.p50_ms:,.0f} ms / p99 {r.p99_ms:,.0f} ms",
            f"SPEC p99 ≤ 1,000 ms at {r.target_rate:,.0f} msg/s; publisher achieved {r.achieved_rate:,.0f}/s",
            verdict(r.p99_ms <= 1000) + ("" if sustained else " (rate NOT sustained)"),
        )
    ]


def rss_rows(s: Sizes) -> list[Row]:
    r = bench_rss.measure(RSS_DEVICES, s.rss_readings_per_device)
    return [
        (
            f"ingest peak RSS, {r.devices:,} registered devices, {r.readings:,} readings",
            f"{r.peak_rss_mb:,.0f} MB",
            f"SPEC ≤ 200 MB (VmHWM; {r.end_rss_mb:,.0f} MB at the end)",
            verdict(r.peak_rss_mb <= 200),
        )
    ]


def scaleout_rows(s: Sizes) -> list[Row]:
    rows: list[Row] = []
    for r in bench_scaleout.measure(s.scaleout_readings):
        per_process = "/".join(f"{rate:,.0f}" for rate in r.drain_per_process)
        rows.append(
            (
                f"scale-out ×{r.processes} (shared group), {r.readings:,} readings live + drained",
                f"live {r.live_rate:,.0f}/s; drain {r.drain_rate:,.0f}/s",
                f"live ≤ publisher {r.publish_rate:,.0f}/s; drain per process {per_process}/s",
                "n/a (2 cores)",
            )
        )
    return rows


def api_rows(s: Sizes) -> list[Row]:
    r = bench_api.measure(s.api_requests, 30)
    return [
        (
            f"API 30-day hourly energy query, 1-min data, n={r.requests}",
            f"p50 {r.api_p50_ms:,.1f} ms / p99 {r.api_p99_ms:,.1f} ms",
            f"SPEC p99 ≤ 100 ms; InfluxDB alone p50 {r.influx_p50_ms:,.1f} / p99 {r.influx_p99_ms:,.1f} ms",
            verdict(r.api_p99_ms <= 100),
        )
    ]


def rollup_rows(s: Sizes) -> list[Row]:
    """Query time over 30 vs 365 days, raw vs roll-ups (bench/bench_rollup_queries.py)."""
    quick = s == QUICK
    r = bench_rollup_queries.measure(5 if quick else 20, 365, 0 if quick else 200)
    rows: list[Row] = []
    for name in [*bench_rollup_queries.QUERIES, bench_rollup_queries.YEARLY]:
        month, year = r.figure(name, 30), r.figure(name, 365)
        rows.append(
            (
                f"{name}, {r.sites} sites, 30 → 365 days",
                f"roll-ups {month.rollup_ms:,.1f} → {year.rollup_ms:,.1f} ms",
                f"raw {month.raw_ms:,.1f} → {year.raw_ms:,.1f} ms; goal 365 d ≤ 1.5 × 30 d",
                verdict(year.rollup_ms <= 1.5 * month.rollup_ms),
            )
        )
    projected, raw = bench_rollup_queries.projected_ms(r)
    rows.append(
        (
            "operator-wide yearly emissions projected to Borlänge",
            f"roll-ups {projected:,.0f} ms",
            f"raw ≈ {raw / 1000:,.0f} s; goal < 200 ms",
            verdict(projected < 200),
        )
    )
    return rows


BENCHES: dict[str, Callable[[Sizes], list[Row]]] = {
    "ingest": ingest_rows,
    "latency": latency_rows,
    "rss": rss_rows,
    "scaleout": scaleout_rows,
    "api": api_rows,
    "rollups": rollup_rows,
}


def print_table(rows: list[Row]) -> None:
    headers: Row = ("what", "figure", "baseline / target", "verdict")
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(4)]
    line = "  ".join("-" * w for w in widths)
    print(line)
    for row in [headers, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if row is headers:
            print(line)
    print(line)


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, under 3 minutes")
    parser.add_argument("--only", nargs="+", choices=list(BENCHES), help="run only these benchmarks")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    started = time.monotonic()
    print(f"machine: {machine()}")
    print(f"date:    {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"mode:    {'quick' if args.quick else 'full'}")
    print(f"load average at start: {load_average()}", flush=True)
    rows: list[Row] = []
    failed = False
    for name in args.only or list(BENCHES):
        print(f"running {name} …", flush=True)
        t0 = time.monotonic()
        try:
            rows.extend(BENCHES[name](sizes))
        except (BenchFailure, Exception) as exc:  # one failure must not hide the other rows
            failed = True
            if not isinstance(exc, BenchFailure):
                traceback.print_exc()
            rows.append((name, "FAILED", str(exc).splitlines()[0][:100], "FAILED"))
        print(f"  {name} took {time.monotonic() - t0:.0f} s", flush=True)
    print()
    print_table(rows)
    print(f"load average at end:   {load_average()}")
    print(f"total: {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
