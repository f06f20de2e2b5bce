"""``python -m ingest rollup --start … --end …``: rebuild the roll-ups of a range of local days.

For history written before roll-ups existed (an upgrade), after restoring raw data, or after a
bucket was refused. Whole Europe/Stockholm days, oldest first, each as one unit of work
(:meth:`ingest.rollup.roller.Roller.roll_local_day`: every hour of the day for every measurement,
the totals, the day); idempotent, so an interrupted run is simply run again. A progress line is
redrawn on stderr when it is a terminal (the simulators' style), and one summary line is printed.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from dataclasses import dataclass
from typing import TextIO

from energy_core import rollups
from energy_core.errors import InfluxError, InfluxUnavailable
from energy_core.influx import InfluxClient
from ingest.config import IngestSettings
from ingest.rollup.retention import ensure_policies
from ingest.rollup.roller import Roller, RollReport, hours_of_day


def local_moment(text: str) -> dt.datetime:
    """A date or ISO 8601 time; without an offset it is Europe/Stockholm local time."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"not a date or time: {text!r} (e.g. 2026-03-29 or 2026-03-29T05:00+02:00)"
        ) from None
    return moment.replace(tzinfo=rollups.ZONE) if moment.tzinfo is None else moment


def days_between(start: dt.datetime, end: dt.datetime) -> list[dt.date]:
    """Every local day from ``start``'s to ``end``'s, both included."""
    first = start.astimezone(rollups.ZONE).date()
    last = end.astimezone(rollups.ZONE).date()
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


@dataclass(slots=True)
class Progress:
    """One status line redrawn on a terminal: days done of total, the day, points, elapsed."""

    total: int
    stream: TextIO
    enabled: bool
    started: float = 0.0

    def __post_init__(self) -> None:
        self.started = time.monotonic()

    def line(self, done: int, day: dt.date, points: int) -> str:
        width = 30
        filled = width * done // self.total if self.total else width
        elapsed = time.monotonic() - self.started
        return (
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} days  {day.isoformat()}"
            f"  {points:,} points  {elapsed:,.1f} s "
        )

    def update(self, done: int, day: dt.date, points: int) -> None:
        if self.enabled:
            self.stream.write(self.line(done, day, points))
            self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\n")


async def rebuild(
    influx: InfluxClient, days: list[dt.date], progress: Progress | None = None, *, days_per_unit: int = 7
) -> RollReport:
    """Roll every hour and the day itself of each of ``days`` for every measurement, oldest first,
    ``days_per_unit`` days per set of queries (fewer round trips than one day at a time).

    Raises InfluxUnavailable / InfluxError at the first unit that fails (the units before are done).
    """
    roller = Roller(influx)
    report = RollReport()
    for first in range(0, len(days), days_per_unit):
        unit = days[first : first + days_per_unit]
        hours = [h for day in unit for h in hours_of_day(day)]
        report.add(await roller.roll_local_days(unit, {m: hours for m in rollups.MEASUREMENTS}))
        if progress is not None:
            progress.update(first + len(unit), unit[-1], report.points)
    return report


async def rollup_command(
    settings: IngestSettings,
    start: dt.datetime,
    end: dt.datetime,
    *,
    stream: TextIO = sys.stderr,
    out: TextIO = sys.stdout,
) -> int:
    """The subcommand; returns the exit code (0 done, 1 InfluxDB failed, 2 bad range)."""
    if end < start:
        print("rollup: --end must not be before --start", file=stream)
        return 2
    days = days_between(start, end)
    started = time.perf_counter()
    progress = Progress(len(days), stream, enabled=stream.isatty())
    async with InfluxClient.from_settings(settings, timeout_s=120.0) as influx:
        # Only the roll-up policies: the raw policy's duration is the service's business.
        await ensure_policies(influx, rollup_days=settings.ingest_rollup_retention_days, raw_days=None)
        try:
            report = await rebuild(influx, days, progress)
        except (InfluxUnavailable, InfluxError) as exc:
            progress.finish()
            print(
                f"rollup: InfluxDB failed, nothing after the last day shown was rebuilt: {exc}", file=stream
            )
            return 1
    progress.finish()
    print(
        f"rollup: {len(days)} days ({days[0].isoformat()} to {days[-1].isoformat()}, Europe/Stockholm), "
        f"{report.hours:,} hourly and {report.days:,} daily buckets, {report.points:,} points written "
        f"in {time.perf_counter() - started:.1f} s",
        file=out,
    )
    return 0
