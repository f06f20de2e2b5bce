"""Reading new points page by page, in time order, so a cursor always advances.

The old stream asked for ``time > cursor - 10 s LIMIT 10000``: above ~1,000 points/s in one
measurement the re-read window alone held more than 10,000 rows, every poll got the same
oldest 10,000, and the cursor never moved again. Here a page is ``time > lo LIMIT n`` per
measurement (InfluxQL's LIMIT counts per series, and without GROUP BY a measurement is one
series); when a measurement fills its page at time ``hi``, only rows strictly before the
smallest such ``hi`` are complete, so those are kept and the next page starts at ``hi``. Rows
are ordered by (time, measurement, device): a stable tiebreak. If a measurement holds a whole
page at one instant, that instant is read on its own (bounded by the number of devices).
Each step moves ``lo`` forward, so paging always ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from api.influxql import ident, series_rows, where
from api.models import Reading
from api.readings import RAW_MEASUREMENTS, to_reading

PAGE_ROWS = 10_000
# ``InfluxClient.query`` or a wrapper of it that counts (the live feed's).
Query = Callable[[str], Awaitable[list[dict[str, Any]]]]


@dataclass(frozen=True, slots=True)
class LivePoint:
    """One stored point with what the fan-out filters on (the owner tag and the site)."""

    ts_ns: int
    owner: str
    reading: Reading

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.reading.measurement, self.reading.device, self.ts_ns)

    @property
    def order(self) -> tuple[int, str, str]:
        return (self.ts_ns, self.reading.measurement, self.reading.device)


def page_statement(condition: str, after_ns: int, rows: int = PAGE_ROWS) -> str:
    """Points of every raw measurement newer than ``after_ns``, at most ``rows`` per measurement."""
    sources = ",".join(ident(m) for m in RAW_MEASUREMENTS)
    condition = where(condition, f"time > {int(after_ns)}")
    return f"SELECT * FROM {sources}{condition} LIMIT {int(rows)}"  # noqa: S608 (allow-listed names, ints)


def instant_statement(condition: str, measurement: str, ts_ns: int) -> str:
    return f"SELECT * FROM {ident(measurement)}{where(condition, f'time = {int(ts_ns)}')}"  # noqa: S608


def points_of(results: list[dict[str, Any]]) -> dict[str, list[LivePoint]]:
    """The rows of a query answer as points, by measurement, in the order InfluxDB sent them."""
    found: dict[str, list[LivePoint]] = {}
    for name, tags, rows in series_rows(results):
        found.setdefault(name, []).extend(
            LivePoint(
                int(row["time"]), str(row.get("owner") or tags.get("owner", "")), to_reading(name, row, tags)
            )
            for row in rows
            if row.get("time") is not None
        )
    return found


@dataclass(frozen=True, slots=True)
class Page:
    """The complete part of one page; ``next_after`` is where the next page starts (None: done)."""

    points: list[LivePoint]
    next_after: int | None
    # A measurement that filled a page at a single instant: read that instant whole next.
    crowded: tuple[str, int] | None = None


def split_page(by_measurement: dict[str, list[LivePoint]], rows: int = PAGE_ROWS) -> Page:
    full = {m: pts[-1].ts_ns for m, pts in by_measurement.items() if len(pts) >= rows}
    everything = [p for pts in by_measurement.values() for p in pts]
    if not full:
        return Page(sorted(everything, key=lambda p: p.order), None)
    hi = min(full.values())
    complete = sorted((p for p in everything if p.ts_ns < hi), key=lambda p: p.order)
    if complete:
        return Page(complete, hi - 1)
    crowded = next(m for m, last in full.items() if last == hi)
    return Page([], hi - 1, crowded=(crowded, hi))


async def read_after(
    query: Query, condition: str, after_ns: int, rows: int = PAGE_ROWS
) -> AsyncIterator[list[LivePoint]]:
    """Every point matching ``condition`` newer than ``after_ns``, as pages in (time, measurement,
    device) order; each page is complete up to its last point."""
    page = split_page(points_of(await query(page_statement(condition, after_ns, rows))), rows)
    while True:
        if page.crowded is not None:
            page = await read_crowded(query, condition, page)
        if page.points:
            yield page.points
        if page.next_after is None:
            return
        page = split_page(points_of(await query(page_statement(condition, page.next_after, rows))), rows)


async def read_crowded(query: Query, condition: str, page: Page) -> Page:
    """A page that stopped at an instant holding a full page of one measurement: read that instant
    of every measurement whole, and go on after it."""
    assert page.crowded is not None
    _, ts_ns = page.crowded
    instant = [
        p
        for m in RAW_MEASUREMENTS
        for p in points_of(await query(instant_statement(condition, m, ts_ns))).get(m, [])
    ]
    return Page(sorted(instant, key=lambda p: p.order), ts_ns)
