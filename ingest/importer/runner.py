"""The import: rows → the live normalisation → InfluxDB; then energy, emissions and roll-ups of the range.

1. **Every header first.** Each file's header is read and checked (columns, units, the mapping)
   before anything is written: a file that cannot be imported refuses the whole run (exit 2).
2. **Raw points.** Rows are read in chunks on a worker thread while the previous chunk is being
   written. Each row becomes a :class:`~energy_core.schema.RawReading` and goes through the
   same :class:`~ingest.normalise.Normaliser` as live readings (registry → owner/site tags,
   units, plausibility, ``INGEST_UNKNOWN_DEVICES``) and the live :class:`~ingest.derive.Deriver`'s
   thermal power; the points are written as they come. A row that cannot be stored is
   dead-lettered (``INGEST_DATA_DIR/dead_letters.sqlite``) with the file name and row number in
   its detail, the row itself as payload and ``import/<file name>`` as topic; a letter already
   there for the same row is not added again.
3. **Energy and emissions.** For each meter series that got registers (``energy_kwh``,
   ``energy_import_kwh``), the healer's code path (:func:`ingest.derive.backfill.backfill`)
   recomputes every interval ending in [first imported reading, first stored reading after the
   last imported one] from the stored registers: the same interval function, plausibility rule
   and factors as live ingest, and the seam with the readings around the range recomputed, not
   added to. Up to four meters at once.
4. **Roll-ups.** Every Europe/Stockholm day of that range is rebuilt as ``python -m ingest rollup``
   does (:func:`ingest.rollup.cli.rebuild`), for the measurements the import wrote (raw, ``energy``,
   ``emissions`` and their across-site totals), unless ``INGEST_ROLLUP=off``.

Idempotent: InfluxDB keeps one value per series and timestamp, so the same file again writes the
same points over themselves and recomputes the same energy. Readings older than the raw retention
policy (``INGEST_RAW_RETENTION_DAYS``) are dead-lettered as ``timestamp_out_of_range``: InfluxDB
would drop them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import structlog

from energy_core import lineprotocol, rollups
from energy_core.deadletters import DeadLetter, DeadLetterStore
from energy_core.errors import ConfigError, InfluxError, InfluxUnavailable, Reason
from energy_core.factors import EmissionFactors
from energy_core.influx import InfluxClient
from energy_core.registry import Registry
from energy_core.schema import Measurement
from energy_core.timeutil import DAY_NS, NS, STOCKHOLM
from ingest.adapters import DEFAULT_VENDOR_MAPS
from ingest.config import IngestSettings
from ingest.derive.backfill import BackfillReport, backfill, influxql_string
from ingest.derive.deriver import REGISTERS, Deriver
from ingest.derive.plausible import EnergyLimits, energy_limits
from ingest.importer.layout import MappingFile
from ingest.importer.rows import MAX_LINE_BYTES, CsvFile, Row
from ingest.normalise import Normaliser
from ingest.rollup.cli import Progress, days_between
from ingest.rollup.retention import ensure_policies
from ingest.rollup.roller import Roller, RollReport, hours_of_day

log = structlog.get_logger("ingest.importer")

CHUNK_ROWS = 5000  # rows read (and points written) at a time
BACKFILL_CHUNK_NS = 7 * DAY_NS  # registers read per query when recomputing a meter's energy
CONCURRENT_METERS = 4
ROLLUP_DAYS_PER_UNIT = 7  # local days rolled per set of queries (as ingest.rollup.cli.rebuild)
_TOPIC_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(slots=True)
class ImportReport:
    files: int = 0
    rows: int = 0  # data rows read (blank lines not counted)
    points: int = 0  # raw points written (with --dry-run: that would be written)
    dead: Counter[str] = field(default_factory=Counter)  # rows (or parts of rows) dead-lettered, by reason
    letters_known: int = 0  # of those, already in the store from an earlier import (not added again)
    meters: int = 0  # meter series whose energy and emissions were recomputed
    energy_points: int = 0
    emissions_points: int = 0
    implausible: int = 0  # intervals written as 0 kWh (the live rule)
    days: int = 0  # local days whose roll-ups were rebuilt
    rollup_points: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    seconds: float = 0.0
    raw_seconds: float = 0.0  # reading, normalising and writing the rows
    derive_seconds: float = 0.0  # recomputing energy and emissions
    rollup_seconds: float = 0.0  # rebuilding the roll-ups

    def summary(self, *, dry_run: bool, rollups: bool) -> str:
        dead = ", ".join(f"{reason} {count:,}" for reason, count in sorted(self.dead.items())) or "none"
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        head = "import (dry run: nothing written)" if dry_run else "import"
        text = (
            f"{head}: {self.files} file(s), {self.rows:,} rows read, {self.points:,} points "
            f"{'to write' if dry_run else 'written'}, {sum(self.dead.values()):,} dead-lettered ({dead})"
        )
        if self.letters_known:
            text += f", {self.letters_known:,} of them already dead-lettered by an earlier import"
        if self.first_ns is not None and self.last_ns is not None:
            text += f"; readings from {_local(self.first_ns)} to {_local(self.last_ns)} (Europe/Stockholm)"
        if not dry_run:
            text += (
                f"; energy of {self.meters:,} meter series recomputed: {self.energy_points:,} energy and "
                f"{self.emissions_points:,} emissions points ({self.implausible:,} implausible intervals "
                "written as 0 kWh)"
            )
            text += (
                f"; roll-ups of {self.days:,} days rebuilt ({self.rollup_points:,} points)"
                if rollups
                else "; roll-ups not rebuilt (INGEST_ROLLUP=off)"
            )
        text += f"; {self.seconds:.1f} s, {rate:,.0f} rows/s"
        if not dry_run:
            text += (
                f" (rows {self.raw_seconds:.1f} s, energy {self.derive_seconds:.1f} s, "
                f"roll-ups {self.rollup_seconds:.1f} s)"
            )
        return text


def _local(ts_ns: int) -> str:
    return (
        dt.datetime.fromtimestamp(ts_ns / NS, tz=dt.UTC).astimezone(STOCKHOLM).isoformat(timespec="minutes")
    )


@dataclass(slots=True)
class _Chunk:
    lines: list[str] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)
    rows: int = 0


class RowProgress:
    """One line redrawn on a terminal: the share of the bytes read, rows, elapsed, rows/s."""

    def __init__(self, total_bytes: int, stream: TextIO, *, enabled: bool) -> None:
        self.total = max(total_bytes, 1)
        self.stream = stream
        self.enabled = enabled
        self.started = time.monotonic()

    def line(self, done_bytes: int, rows: int, name: str) -> str:
        width = 30
        share = min(done_bytes / self.total, 1.0)
        filled = int(width * share)
        elapsed = time.monotonic() - self.started
        rate = rows / elapsed if elapsed > 0 else 0.0
        return (
            f"\r[{'#' * filled}{'.' * (width - filled)}] {share:4.0%}  {rows:,} rows  {elapsed:,.1f} s"
            f"  {rate:,.0f} rows/s  {name} "
        )

    def update(self, done_bytes: int, rows: int, name: str) -> None:
        if self.enabled:
            self.stream.write(self.line(done_bytes, rows, name))
            self.stream.flush()

    def note(self, text: str) -> None:
        if self.enabled:
            self.stream.write("\r" + text + " " * 20)
            self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\n")


class Importer:
    """One ``python -m ingest import`` run (see the module docstring)."""

    def __init__(
        self,
        settings: IngestSettings,
        registry: Registry,
        factors: EmissionFactors,
        *,
        influx: InfluxClient | None,
        dead_letters: DeadLetterStore | None,
        mapping: MappingFile | None = None,
        limits: EnergyLimits | None = None,
        max_line_bytes: int = MAX_LINE_BYTES,
        now_ns: int | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.settings = settings
        self.factors = factors
        self.influx = influx  # None: dry run
        self.dead_letters = dead_letters
        self.mapping = mapping
        self.limits = limits or energy_limits(settings, registry)
        self.max_line_bytes = max_line_bytes
        self.now_ns = time.time_ns() if now_ns is None else now_ns
        retention = settings.ingest_raw_retention_days
        self.oldest_ns = self.now_ns - int(retention * DAY_NS) if retention else None
        self.normaliser = Normaliser(
            registry,
            unknown_devices=settings.ingest_unknown_devices,
            max_age_ns=2**62,  # the retention check below replaces live ingest's INGEST_MAX_AGE_DAYS
            vendor_maps=DEFAULT_VENDOR_MAPS,
        )
        self.deriver = Deriver(factors, energy=False)  # thermal power only, exactly as live
        self.stream = sys.stderr if stream is None else stream  # progress lines
        self.report = ImportReport()
        # (device, measurement) → [first, last] register reading imported
        self.registers: dict[tuple[str, str], list[int]] = {}
        self._derived_end_ns = 0  # the last interval end the energy recomputation wrote
        self.measurements: set[str] = set()  # written by this import (raw; energy and emissions)

    @property
    def dry_run(self) -> bool:
        return self.influx is None

    async def run(self, paths: Sequence[Path]) -> ImportReport:
        """Import ``paths`` in order. Raises ConfigError (a file refused: nothing written),
        InfluxUnavailable / InfluxError (InfluxDB failed: what was written stays, run it again)."""
        started = time.perf_counter()
        files = [CsvFile(path, self.mapping, max_line_bytes=self.max_line_bytes) for path in paths]
        for csv_file in files:  # every header checked before anything is written
            with csv_file:
                pass
        total = sum(f.size for f in files)
        progress = RowProgress(total, self.stream, enabled=self.stream.isatty())
        if self.influx is not None:
            await self.influx.ensure_database()
        done_bytes = 0
        report = self.report
        try:
            for csv_file in files:
                with csv_file:
                    await self._import_file(csv_file, progress, done_bytes)
                done_bytes += csv_file.size
                report.files += 1
            report.raw_seconds = time.perf_counter() - started
            if self.influx is not None:
                progress.note("recomputing energy and emissions …")
                await self._derive(self.influx)
                report.derive_seconds = time.perf_counter() - started - report.raw_seconds
                if self.settings.ingest_rollup != "off":
                    progress.note("rebuilding roll-ups …")
                    await self._rollups(self.influx)
                    report.rollup_seconds = (
                        time.perf_counter() - started - report.raw_seconds - report.derive_seconds
                    )
        finally:
            progress.finish()
            self.report.seconds = time.perf_counter() - started
        log.info(
            "import_done",
            files=self.report.files,
            rows=self.report.rows,
            points=self.report.points,
            dead_lettered=dict(self.report.dead),
            seconds=round(self.report.seconds, 2),
            dry_run=self.dry_run,
        )
        return self.report

    # -- raw points ------------------------------------------------------------------------------

    async def _import_file(self, csv_file: CsvFile, progress: RowProgress, done_bytes: int) -> None:
        topic = "import/" + (_TOPIC_UNSAFE.sub("_", csv_file.path.name) or "file")
        known = await self._known_letters(topic)
        rows = csv_file.rows()
        chunk = await asyncio.to_thread(self._chunk, rows, csv_file.path.name, topic)
        while chunk.rows:
            with _first_error():
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(self._store(chunk, known))
                    reading = tasks.create_task(
                        asyncio.to_thread(self._chunk, rows, csv_file.path.name, topic)
                    )
            progress.update(done_bytes + csv_file.bytes_read, self.report.rows, csv_file.path.name)
            chunk = reading.result()

    def _chunk(self, rows: Iterator[Row], name: str, topic: str) -> _Chunk:
        """The next CHUNK_ROWS rows as lines to write and letters to store (on a worker thread)."""
        chunk = _Chunk()
        report, registers = self.report, self.registers
        encode = lineprotocol.encode
        for row in rows:
            chunk.rows += 1
            rejections: list[tuple[Reason, str, str | None]] = []
            reading = row.reading
            if reading is not None and self.oldest_ns is not None and (reading.ts_ns or 0) < self.oldest_ns:
                rejections.append(
                    (
                        Reason.TIMESTAMP_OUT_OF_RANGE,
                        f"older than INGEST_RAW_RETENTION_DAYS={self.settings.ingest_raw_retention_days:g}"
                        " (InfluxDB would drop it)",
                        reading.device_key,
                    )
                )
            elif reading is not None:
                normalised = self.normaliser.normalise((reading,), self.now_ns)
                if normalised.devices:
                    self.deriver.derive(normalised.devices)
                for point in normalised.points:
                    chunk.lines.append(encode(point))
                    self.measurements.add(point.measurement)
                    register = REGISTERS.get(point.measurement)
                    if register is not None and register[0] in point.fields:
                        device = dict(point.tags).get("device", "")
                        span = registers.get((device, point.measurement))
                        if span is None:
                            registers[(device, point.measurement)] = [point.ts_ns, point.ts_ns]
                        else:
                            span[0] = min(span[0], point.ts_ns)
                            span[1] = max(span[1], point.ts_ns)
                    if report.first_ns is None or point.ts_ns < report.first_ns:
                        report.first_ns = point.ts_ns
                    if report.last_ns is None or point.ts_ns > report.last_ns:
                        report.last_ns = point.ts_ns
                report.points += len(normalised.points)
                rejections.extend((r.reason, r.detail, r.device_key) for r in normalised.rejections)
            elif row.rejection is not None:
                rejections.append((row.rejection.reason, row.rejection.detail, row.rejection.device_key))
            for reason, detail, device_key in rejections:
                report.dead[reason.value] += 1
                chunk.letters.append(
                    DeadLetter(
                        topic, row.raw, reason, f"{name} row {row.number}: {detail}", self.now_ns, device_key
                    )
                )
            if chunk.rows >= CHUNK_ROWS:
                break
        report.rows += chunk.rows
        return chunk

    async def _store(self, chunk: _Chunk, known: set[tuple[str, bytes]]) -> None:
        if self.influx is not None and chunk.lines:
            await self.influx.write("\n".join(chunk.lines).encode())
        if self.dead_letters is None or not chunk.letters:
            return
        new = []
        for letter in chunk.letters:
            key = (letter.detail, letter.payload)
            if key in known:
                self.report.letters_known += 1
            else:
                known.add(key)
                new.append(letter)
        if new:
            await self.dead_letters.add_many(new)

    async def _known_letters(self, topic: str) -> set[tuple[str, bytes]]:
        """The letters an earlier import of a file of this name left pending (not added again)."""
        store = self.dead_letters
        if store is None:
            return set()
        rows = await store.run(
            lambda db: db.execute(
                "SELECT detail, payload FROM dead_letters WHERE topic = ? AND replayed_ns IS NULL", (topic,)
            ).fetchall()
        )
        return {(str(detail), bytes(payload)) for detail, payload in rows}

    # -- energy and emissions --------------------------------------------------------------------

    async def _derive(self, influx: InfluxClient) -> None:
        slots = asyncio.Semaphore(CONCURRENT_METERS)
        totals = BackfillReport()

        async def one(device: str, measurement: str, first_ns: int, last_ns: int) -> None:
            async with slots:
                register = REGISTERS[measurement][0]
                after = await influx.query(
                    f'SELECT first("{register}") FROM "{measurement}" '  # noqa: S608 (our own constants)
                    f'WHERE time > {last_ns} AND "device" = {influxql_string(device)}'
                )
                successor = _first_time(after)
                end_ns = last_ns if successor is None else successor
                report = await backfill(
                    influx,
                    self.factors,
                    first_ns,
                    end_ns,
                    chunk_ns=BACKFILL_CHUNK_NS,
                    limits=self.limits,
                    device=device,
                    measurements=(measurement,),
                )
                totals.energy_points += report.energy_points
                totals.emissions_points += report.emissions_points
                totals.implausible += report.implausible
                self._derived_end_ns = max(self._derived_end_ns, end_ns)

        with _first_error():
            async with asyncio.TaskGroup() as tasks:
                for (device, measurement), (first_ns, last_ns) in sorted(self.registers.items()):
                    tasks.create_task(one(device, measurement, first_ns, last_ns))
        self.report.meters = len(self.registers)
        self.report.energy_points = totals.energy_points
        self.report.emissions_points = totals.emissions_points
        self.report.implausible = totals.implausible

    @property
    def derived_end_ns(self) -> int:
        """The last interval end the energy recomputation wrote (0: none)."""
        return self._derived_end_ns

    async def _rollups(self, influx: InfluxClient) -> None:
        first, last = self.report.first_ns, max(self.report.last_ns or 0, self._derived_end_ns)
        if first is None:
            return
        await ensure_policies(influx, rollup_days=self.settings.ingest_rollup_retention_days, raw_days=None)
        days = days_between(_moment(first), _moment(last))
        written = set(self.measurements)
        if self.registers:
            written |= {Measurement.ENERGY.value, Measurement.EMISSIONS.value}
        # As `python -m ingest rollup` (ingest.rollup.cli.rebuild), for the measurements written only.
        measurements = [m for m in rollups.MEASUREMENTS if m in written]
        progress = Progress(len(days), self.stream, enabled=self.stream.isatty())
        roller, report = Roller(influx), RollReport()
        for first_day in range(0, len(days), ROLLUP_DAYS_PER_UNIT):
            unit = days[first_day : first_day + ROLLUP_DAYS_PER_UNIT]
            hours = [h for day in unit for h in hours_of_day(day)]
            report.add(await roller.roll_local_days(unit, {m: hours for m in measurements}))
            progress.update(first_day + len(unit), unit[-1], report.points)
        progress.finish()
        self.report.days = len(days)
        self.report.rollup_points = report.points


@contextlib.contextmanager
def _first_error() -> Iterator[None]:
    """A task group's failure as its first error (InfluxUnavailable …), which the command reports."""
    try:
        yield
    except ExceptionGroup as group:
        raise group.exceptions[0] from None


def _moment(ts_ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts_ns // NS, tz=dt.UTC)


def _first_time(results: list[dict[str, object]]) -> int | None:
    """The timestamp of the first row of a query's first result, if any (nulls are no row)."""
    if not results:
        return None
    series = results[0].get("series") or []
    if not isinstance(series, list) or not series:
        return None
    values = series[0].get("values") or []
    if not values or values[0][0] is None:
        return None
    return int(values[0][0])


async def import_command(
    settings: IngestSettings,
    registry: Registry,
    factors: EmissionFactors,
    paths: Sequence[Path],
    *,
    mapping_path: Path | None = None,
    dry_run: bool = False,
    stream: TextIO | None = None,
    out: TextIO | None = None,
) -> int:
    """The subcommand; returns the exit code (0 done, 1 InfluxDB failed, 2 a file or mapping refused).

    ``stream`` (progress, errors) defaults to stderr and ``out`` (the summary) to stdout.
    """
    stream = sys.stderr if stream is None else stream
    out = sys.stdout if out is None else out
    from ingest.importer.layout import load_mapping

    mapping = load_mapping(mapping_path) if mapping_path is not None else None
    report: ImportReport | None = None
    store = None
    if not dry_run:
        store = DeadLetterStore(
            settings.ingest_data_dir / "dead_letters.sqlite",
            max_bytes=settings.ingest_deadletter_max_bytes,
            max_age_s=settings.ingest_deadletter_max_age_days * 86400,
        )
    try:
        async with InfluxClient.from_settings(settings, timeout_s=120.0) as influx:
            importer = Importer(
                settings,
                registry,
                factors,
                influx=None if dry_run else influx,
                dead_letters=store,
                mapping=mapping,
                stream=stream,
            )
            try:
                report = await importer.run(paths)
            except ConfigError as exc:
                print(f"import: {exc}; nothing was imported", file=stream)
                return 2
            except (InfluxUnavailable, InfluxError) as exc:
                done = importer.report
                print(
                    f"import: InfluxDB failed after {done.rows:,} rows ({done.points:,} points): {exc}; "
                    "what was written stays, run the same import again (it is idempotent)",
                    file=stream,
                )
                return 1
    finally:
        if store is not None:
            store.close()
    print(report.summary(dry_run=dry_run, rollups=settings.ingest_rollup != "off"), file=out)
    if (
        dry_run
        or report.first_ns is None
        or settings.ingest_rollup == "off"
        or settings.ingest_analysis == "off"
    ):
        return 0
    # The daily analysis of the imported days (substation and building KPIs, faults), from the
    # roll-ups just rebuilt: a running ingest learns of its own roll-ups only.
    from ingest.analysis.cli import analyse_command

    last_ns = max(report.last_ns or report.first_ns, importer.derived_end_ns)
    return await analyse_command(
        settings, registry, _moment(report.first_ns), _moment(last_ns), stream=stream, out=out
    )
