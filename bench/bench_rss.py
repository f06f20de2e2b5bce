"""Ingest's peak memory with 10,000 registered devices (SPEC §10: RSS ≤ 200 MB).

    uv run python -m bench.bench_rss [--devices 10000] [--readings-per-device 5]

Writes an ASSETS_FILE with ``devices`` heat meters (one substation site each), queues
``devices × readings-per-device`` native v1 readings on ingest's persistent session, then starts
``python -m ingest`` with that registry (unknown devices rejected, so a registry mismatch shows
up as lost points) and lets it drain the queue. Reported: the peak resident set (VmHWM from
/proc) and the resident set at the end. The drain is the worst case for memory: ingest reads as
fast as it can (bounded to a few batches ahead of InfluxDB by its backpressure) and keeps every
device's register history (for interval energy) in memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bench.bench_ingest import preload_fleet
from bench.common import (
    BenchFailure,
    IngestProcess,
    command_line,
    create_session,
    expect_stored,
    heat_fleet,
    local_stack,
    on_this_machine,
    wait_acked,
    write_assets,
)

PREFIX = DB = "bench"
CLIENT_ID = "bench-rss"


@dataclass(frozen=True)
class RssResult:
    devices: int
    readings: int
    peak_rss_mb: float  # VmHWM
    end_rss_mb: float  # VmRSS after the drain
    stored: int


def current_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(devices: int = 10_000, readings_per_device: int = 5) -> RssResult:
    """Queue the readings, drain them through ingest with the registry, read /proc."""
    readings = devices * readings_per_device
    device_ids = [f"hm-{i:05d}" for i in range(devices)]
    with local_stack("rss") as stack:
        assets = write_assets(stack.root / "assets.yaml", device_ids)
        create_session(stack.mqtt_port, CLIENT_ID, f"{PREFIX}/v1/+")
        fleet = heat_fleet(device_ids)
        preload_fleet(stack.mqtt_url, PREFIX, fleet, readings, time.time() - 86400, 60.0)
        ingest = IngestProcess(stack, prefix=PREFIX, db=DB, client_id=CLIENT_ID, assets_file=str(assets))
        try:
            wait_acked([ingest], readings)
            dead = sum(v for k, v in ingest.metrics().items() if k.startswith("ingest_dead_letters"))
            peak, end = ingest.peak_rss_mb(), current_rss_mb(ingest.proc.pid)
        finally:
            ingest.stop()
        if dead:
            raise BenchFailure(f"rss: {dead:.0f} readings dead-lettered; registry and stream disagree")
        stored = expect_stored(stack.influx_url, DB, readings, "rss")
    return RssResult(devices, readings, peak, end, stored)


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--readings-per-device", type=int, default=5)
    args = parser.parse_args()
    with on_this_machine():
        r = measure(args.devices, args.readings_per_device)
    print(
        f"{r.devices:,} registered devices, {r.readings:,} readings: peak RSS {r.peak_rss_mb:.0f} MB"
        f" (VmHWM), {r.end_rss_mb:.0f} MB at the end; stored {r.stored:,}"
    )


if __name__ == "__main__":
    main()
