"""History import speed (rows/s) next to live ingest's rate, and the projection for a year of
15-minute readings for 100 buildings (100 × 35,040 = 3.5 M rows).

    uv run python -m bench.bench_import [--buildings 100] [--days 30] [--live-readings 20000]

1. live ingest: bench_ingest's method at a small size (``--live-readings`` heat readings
   from 100 devices, QoS 1, ack after the InfluxDB write, energy derived live), its own stack;
2. import: a CSV of ``--buildings`` heat meters × ``--days`` days of 15-minute readings (energy,
   volume, flow, supply and return temperatures: thermal power is derived as live) ending now, on a
   fresh Mosquitto/InfluxDB pair, through ``ingest.importer`` in this process: rows written, then
   energy and emissions recomputed per meter, then the days' roll-ups rebuilt; each phase timed.

The year is a projection, not a measurement: each phase's time is scaled linearly by
365 / ``--days`` (rows, meter-days and local days all grow linearly with the span). Say so when
quoting it.
"""

from __future__ import annotations

import asyncio
import io
import tempfile
import time
from pathlib import Path

from bench.bench_ingest import measure as measure_live
from bench.common import command_line, count_points, local_stack, on_this_machine, write_assets
from energy_core.deadletters import DeadLetterStore
from energy_core.factors import EmissionFactors
from energy_core.influx import InfluxClient
from energy_core.registry import Registry
from ingest.config import IngestSettings
from ingest.importer.runner import Importer, ImportReport

STEP_S = 15 * 60
YEAR_ROWS_PER_BUILDING = 365 * 96


def write_history(path: Path, buildings: int, days: int) -> int:
    """The CSV (documented header, UTC offsets), time-major as an export of many meters; its row count."""
    import datetime as dt

    steps = days * 96
    end = int(time.time()) // STEP_S * STEP_S - STEP_S
    start = end - (steps - 1) * STEP_S
    with path.open("w", encoding="utf-8") as out:
        out.write("device,ts,energy[MWh],volume[m3],flow[m3/h],supply_temp[°C],return_temp[°C]\n")
        for i in range(steps):
            ts = dt.datetime.fromtimestamp(start + i * STEP_S, tz=dt.UTC).isoformat()
            for b in range(buildings):
                kw = 50 + b % 400 + (i % 96) * 0.5
                energy = (10_000 + b * 7 + i * kw / 4) / 1000
                out.write(f"bh-{b:04d},{ts},{energy:.6f},{100 + i * 0.01:.3f},{kw / 40:.3f},75.0,45.0\n")
    return steps * buildings


def measure_import(buildings: int, days: int) -> tuple[ImportReport, int]:
    """Write the CSV, import it into a fresh stack, check the stored count; the report and rows."""
    with local_stack("import") as stack, tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        root = Path(tmp)
        rows = write_history(root / "history.csv", buildings, days)
        assets = write_assets(root / "assets.yaml", [f"bh-{b:04d}" for b in range(buildings)])
        settings = IngestSettings(
            mqtt_url=stack.mqtt_url,
            influx_url=stack.influx_url,
            influx_db="bench",
            ingest_data_dir=root / "data",
            assets_file=assets,
        )

        async def run() -> ImportReport:
            store = DeadLetterStore(settings.ingest_data_dir / "dead_letters.sqlite")
            try:
                async with InfluxClient.from_settings(settings, timeout_s=120.0) as influx:
                    importer = Importer(
                        settings,
                        Registry.load(assets),
                        EmissionFactors.load(),
                        influx=influx,
                        dead_letters=store,
                        stream=io.StringIO(),
                    )
                    return await importer.run([root / "history.csv"])
            finally:
                store.close()

        cpu = time.process_time()
        report = asyncio.run(run())
        cpu = time.process_time() - cpu
        print(report.summary(dry_run=False, rollups=True))
        print(
            f"import process CPU (its threads; not InfluxDB): {cpu:.1f} s for {report.seconds:.1f} s"
            f" wall ({rows / cpu:,.0f} rows per CPU-second): the rest is waiting on InfluxDB or for the CPU"
        )
        stored = count_points(stack.influx_url, "bench", "district_heating", "energy_kwh")
        if stored != rows or report.dead.total():
            raise SystemExit(f"stored {stored:,} heat readings of {rows:,}, dead letters {dict(report.dead)}")
    return report, rows


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--buildings", type=int, default=100)
    parser.add_argument("--days", type=int, default=30, help="days of 15-minute readings measured (≤ 365)")
    parser.add_argument("--live-readings", type=int, default=20_000)
    args = parser.parse_args()
    if not 1 <= args.days <= 365 or args.buildings < 1:
        parser.error("--days must be 1 to 365, --buildings at least 1")
    with on_this_machine():
        live = measure_live(readings=args.live_readings, devices=100, batch_size=5000)
        report, rows = measure_import(args.buildings, args.days)
    rate = rows / report.seconds
    print(f"{'what':<58}{'rows/s':>12}")
    print(f"{'live ingest end-to-end (QoS 1, energy live, ack after 2xx)':<58}{live.ingest_rate:>12,.0f}")
    print(f"{'import: rows read, normalised, written':<58}{rows / report.raw_seconds:>12,.0f}")
    print(f"{'import: whole (rows + energy + roll-ups)':<58}{rate:>12,.0f}")
    print(f"import / live ingest: {rate / live.ingest_rate:.1f}×")
    scale = 365 / args.days
    year_rows = args.buildings * YEAR_ROWS_PER_BUILDING
    phases = (report.raw_seconds, report.derive_seconds, report.rollup_seconds)
    projected = [p * scale for p in phases]
    print(
        f"projection (linear, ×{scale:.2f}; measured {rows:,} rows = {args.days} days × {args.buildings}"
        f" buildings): a year, {year_rows:,} rows: rows {projected[0] / 60:.1f} min + energy"
        f" {projected[1] / 60:.1f} min + roll-ups {projected[2] / 60:.1f} min = {sum(projected) / 60:.1f} min"
    )


if __name__ == "__main__":
    main()
