"""Recomputing roll-up buckets: hours from raw, local days from ``rollup_1h``, then the across-site sums.

Query and write, not ``SELECT … INTO``: the answers come back as rows that this module turns into
line protocol with float fields (INTO would write counts as integers, and 2.x/3.x do not serve
INTO on their v1 API), stamps each local day with its midnight, and counts what it wrote.

A bucket is always recomputed from its source, never incremented, and written with the series'
tags and the bucket's start as its time, so rolling it again overwrites the same point: a second
run, a crash mid-way or two maintainers rolling the same bucket change nothing. One unit of
work is one local day (:meth:`Roller.roll_day`): its dirty hours per measurement, the totals of
those hours, the day per measurement, the day's totals, in that order (each reads the one before).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from energy_core import lineprotocol, rollups
from energy_core.errors import InfluxError
from energy_core.influx import InfluxClient
from energy_core.rollups import RP_1D, RP_1H
from energy_core.timeutil import HOUR_NS

log = structlog.get_logger("ingest.rollup")

_BEYOND_RETENTION = "points beyond retention policy dropped"


@dataclass(slots=True)
class RollReport:
    """What a roll wrote: buckets recomputed per policy, and points written."""

    hours: int = 0  # (measurement, hour) buckets recomputed into rollup_1h
    days: int = 0  # (measurement, local day) buckets recomputed into rollup_1d
    points: int = 0

    def add(self, other: RollReport) -> None:
        self.hours += other.hours
        self.days += other.days
        self.points += other.points


def _line(measurement: str, tags: Mapping[str, str], fields: Mapping[str, float], ts_ns: int) -> str:
    """One line of line protocol; empty tag values (a tag the series lacks) are left out."""
    series = lineprotocol.series_key(measurement, tuple(sorted((k, v) for k, v in tags.items() if v)))
    body = ",".join(f"{lineprotocol.escape_key(k)}={v!r}" for k, v in fields.items())
    return f"{series} {body} {ts_ns}"


def _series(results: list[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for result in results:
        yield from result.get("series") or ()


def _fields(columns: list[str], row: list[Any]) -> dict[str, float]:
    """The row's non-null values as floats (InfluxDB answers sums of whole numbers as integers)."""
    return {c: float(v) for c, v in zip(columns[1:], row[1:], strict=True) if v is not None}


class Roller:
    """Recomputes buckets with one InfluxDB client; ``write_batch`` lines per write."""

    def __init__(self, influx: InfluxClient, *, write_batch: int = 5000) -> None:
        self.influx = influx
        self.db = influx.db
        self.write_batch = write_batch

    async def _write(self, lines: list[str], rp: str) -> int:
        for start in range(0, len(lines), self.write_batch):
            body = "\n".join(lines[start : start + self.write_batch]).encode()
            try:
                await self.influx.write(body, rp=rp)
            except InfluxError as exc:
                # A bucket older than the roll-up policy's duration: nothing to keep, not an error.
                if _BEYOND_RETENTION not in exc.body:
                    raise
                log.info("rollup_points_beyond_retention", rp=rp, error=exc.body[:200])
        return len(lines)

    async def roll_hours(self, measurement: str, hours: Iterable[int], *, max_hours: int = 24) -> RollReport:
        """Recompute ``measurement``'s hourly buckets starting at ``hours`` (ns) from raw."""
        report = RollReport()
        lines: list[str] = []
        for start, end in rollups.hour_runs(hours, max_hours=max_hours):
            report.hours += (end - start) // HOUR_NS
            results = await self.influx.query(rollups.hourly_query(measurement, start, end, db=self.db))
            for series in _series(results):
                columns, tags = series["columns"], series.get("tags") or {}
                for row in series["values"]:
                    fields = rollups.with_means(measurement, _fields(columns, row))
                    if fields:
                        lines.append(_line(measurement, tags, fields, int(row[0])))
        report.points += await self._write(lines, RP_1H)
        return report

    async def roll_total_hours(self, total: str, hours: Iterable[int], *, max_hours: int = 24) -> int:
        """Recompute the across-site sums ``total`` of the given hours from the per-series ``rollup_1h``."""
        lines: list[str] = []
        for start, end in rollups.hour_runs(hours, max_hours=max_hours):
            results = await self.influx.query(rollups.total_hourly_query(total, start, end, db=self.db))
            for series in _series(results):
                columns, tags = series["columns"], series.get("tags") or {}
                for row in series["values"]:
                    fields = _fields(columns, row)
                    if fields:
                        lines.append(_line(total, tags, fields, int(row[0])))
        return await self._write(lines, RP_1H)

    async def _per_day(
        self, statements: list[str], days: list[dt.date]
    ) -> list[tuple[dt.date, dict[str, Any]]]:
        """Run one statement per day in one request; the series of each, with its day."""
        results = await self.influx.query(";".join(statements), method="POST")
        out: list[tuple[dt.date, dict[str, Any]]] = []
        for i, result in enumerate(results):
            day = days[int(result.get("statement_id", i))]
            out.extend((day, series) for series in result.get("series") or ())
        return out

    async def roll_days(self, measurement: str, days: list[dt.date]) -> RollReport:
        """Recompute ``measurement``'s local-day buckets ``days`` from ``rollup_1h`` (one request)."""
        statements = [rollups.daily_query(measurement, day, db=self.db) for day in days]
        lines: list[str] = []
        for day, series in await self._per_day(statements, days):
            start_ns, _ = rollups.day_bounds(day)
            columns, tags = series["columns"], series.get("tags") or {}
            for row in series["values"]:
                fields = rollups.with_means(measurement, _fields(columns, row))
                if fields:
                    lines.append(_line(measurement, tags, fields, start_ns))
        return RollReport(days=len(days), points=await self._write(lines, RP_1D))

    async def roll_total_days(self, total: str, days: list[dt.date]) -> int:
        """Recompute the across-site sums ``total`` of local ``days`` from the per-series ``rollup_1d``."""
        statements = [rollups.total_daily_query(total, day, db=self.db) for day in days]
        lines: list[str] = []
        for day, series in await self._per_day(statements, days):
            start_ns, _ = rollups.day_bounds(day)
            columns, tags = series["columns"], series.get("tags") or {}
            for row in series["values"]:
                fields = _fields(columns, row)
                if fields:
                    lines.append(_line(total, tags, fields, start_ns))
        return await self._write(lines, RP_1D)

    async def roll_local_days(self, days: list[dt.date], hours: Mapping[str, Iterable[int]]) -> RollReport:
        """One unit of work: the given hours (per measurement, all within ``days``), then those local days.

        Order matters, each step reads the one before: hours from raw, their totals, the days from
        ``rollup_1h``, the days' totals. Measurements absent from ``hours`` are left alone.
        """
        report = RollReport()
        # Hourly answers are series × hours rows: at most a day per query keeps them bounded.
        for measurement, its_hours in hours.items():
            report.add(await self.roll_hours(measurement, its_hours))
        for total, of in rollups.TOTAL_OF.items():
            if of in hours:
                report.points += await self.roll_total_hours(total, hours[of])
        for measurement in hours:
            report.add(await self.roll_days(measurement, days))
        for total, of in rollups.TOTAL_OF.items():
            if of in hours:
                report.points += await self.roll_total_days(total, days)
        return report

    async def roll_local_day(self, day: dt.date, hours: Mapping[str, Iterable[int]]) -> RollReport:
        """:meth:`roll_local_days` of one day (the maintainer's unit of work)."""
        return await self.roll_local_days([day], hours)


def by_local_day(keys: Iterable[tuple[str, int]]) -> dict[dt.date, dict[str, set[int]]]:
    """Group (measurement, hour) keys into units of work: local day → measurement → hours."""
    days: dict[dt.date, dict[str, set[int]]] = {}
    for measurement, hour in keys:
        days.setdefault(rollups.local_day_of(hour), {}).setdefault(measurement, set()).add(hour)
    return days


def hours_of_day(day: dt.date) -> list[int]:
    """Every UTC hour start of local ``day`` (23, 24 or 25 of them)."""
    start, end = rollups.day_bounds(day)
    return list(range(start, end, HOUR_NS))
