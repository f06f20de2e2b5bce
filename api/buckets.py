"""Aggregates per bucket that read whole hours and days from the roll-ups (issue 14).

``/series?every=…&aggregate=…`` splits its range into segments (api/sources.py): raw edges,
whole hours from ``rollup_1h``, whole local days from ``rollup_1d``. Each segment gives the
*parts* of the aggregate per bucket (a mean is a sum and a count, a spread a min and a max), the
parts of one bucket are combined over the segments in time order, and only then is the value
formed: the mean of a month is sum(sums) / sum(counts), exact, not a mean of daily means.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.influxql import TZ, Every, ident, series_rows, time_range, where
from api.sources import RAW, ROLLUP_HINT, Segment, SourcePolicy, expression, fetch
from api.timerange import TimeRange
from energy_core import rollups
from energy_core.influx import InfluxClient

# Per device, its (bucket or point time in ns, a value per field asked for), oldest first.
DeviceRows = dict[str, list[tuple[int, list[float | None]]]]


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    """What a series reads: fields of one measurement, the points ``condition`` selects, a range."""

    measurement: str
    fields: tuple[str, ...]
    condition: str
    window: TimeRange


# Each aggregate as parts that combine across the segments of a range (raw edges, roll-up hours
# and days): a mean is a sum over a count, a spread a max minus a min. A median (and first/last
# of a gauge, which the roll-ups do not keep) is read from raw points in one segment only.
_PARTS: dict[str, tuple[str, ...]] = {
    "mean": ("sum", "count"),
    "sum": ("sum",),
    "count": ("count",),
    "min": ("min",),
    "max": ("max",),
    "spread": ("min", "max"),
    "first": ("first",),
    "last": ("last",),
    "median": ("median",),
}
_RAW_ONLY_HINT = (
    "median, and first/last of a gauge, are computed from raw points only:"
    " ask for mean, min, max, sum, count or spread, or a more recent range"
)


def _combine(part: str, earlier: float | None, later: float | None) -> float | None:
    """Two segments' ``part`` of one bucket, ``earlier`` from the segment before ``later``."""
    if earlier is None or later is None:
        return later if earlier is None else earlier
    if part in ("sum", "count"):
        return earlier + later
    if part == "min":
        return min(earlier, later)
    if part == "max":
        return max(earlier, later)
    return later if part == "last" else earlier  # first; median has one segment only


def _value(aggregate: str, parts: dict[str, float | None]) -> float | None:
    if aggregate == "mean":
        total, count = parts["sum"], parts["count"]
        return total / count if total is not None and count else None
    if aggregate == "spread":
        low, high = parts["min"], parts["max"]
        return high - low if low is not None and high is not None else None
    return parts[aggregate]


def _statement(db: str, query: SeriesQuery, segment: Segment, every: Every, aggregate: str) -> str:
    """The parts of ``aggregate`` of each field per bucket and device over one segment, named
    ``<field>__<part>``."""
    select = ", ".join(
        f"{segment.expression(query.measurement, f, part)} AS {ident(f'{f}__{part}')}"
        for f in query.fields
        for part in _PARTS[aggregate]
    )
    return (
        f"SELECT {select} FROM {segment.source(db, query.measurement)}"  # noqa: S608 (allow-listed names, ints)
        f"{where(query.condition, time_range(segment.start_ns, segment.end_ns))}"
        f" GROUP BY time({every}), \"device\" fill(none) tz('{TZ}')"
    )


async def aggregated(
    influx: InfluxClient, policy: SourcePolicy, query: SeriesQuery, every: Every, aggregate: str
) -> DeviceRows:
    """``aggregate`` of each field per device and bucket (ns): one request, a statement per
    segment, the segments' parts combined in time order."""
    parts, fields = _PARTS[aggregate], query.fields
    rp = rollups.rp_for(every.ns)
    rollable = rp is not None and all(
        expression(rp, query.measurement, f, part) is not None for f in fields for part in parts
    )
    results = await fetch(
        influx,
        policy,
        query.window,
        rp if rollable else RAW,
        lambda segment: _statement(influx.db, query, segment, every, aggregate),
        hint=ROLLUP_HINT if rollable else _RAW_ONLY_HINT,
    )
    combined: dict[str, dict[int, dict[str, dict[str, float | None]]]] = {}
    for _, tags, rows in series_rows(results):
        buckets = combined.setdefault(tags.get("device", ""), {})
        for row in rows:
            bucket = buckets.setdefault(int(row["time"]), {f: {} for f in fields})
            for f in fields:
                for part in parts:
                    got = row[f"{f}__{part}"]
                    value = None if got is None else float(got)
                    bucket[f][part] = _combine(part, bucket[f].get(part), value)
    return {
        device: [
            (t, [_value(aggregate, by_field[f]) for f in fields]) for t, by_field in sorted(buckets.items())
        ]
        for device, buckets in combined.items()
    }
