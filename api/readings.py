"""Raw readings from InfluxDB: the latest point per device, time series, and new points since a time."""

from __future__ import annotations

from typing import Any, Literal
from zoneinfo import ZoneInfo

from api.auth import Scope
from api.buckets import DeviceRows, SeriesQuery, aggregated
from api.errors import bad_request
from api.influxql import (
    TZ,
    Every,
    check_buckets,
    ident,
    select_fields,
    series_rows,
    tag_equals,
    time_range,
    where,
)
from api.models import DeviceSeries, Reading, SeriesPoint
from api.precision import DECIMALS, rounded
from api.sources import RAW, SourcePolicy
from api.timerange import TimeRange, to_datetime
from energy_core.influx import InfluxClient
from energy_core.registry import Device, Site
from energy_core.schema import MEASUREMENT_OF_KIND, QUANTITIES

RawMeasurement = Literal["district_heating", "electricity", "indoor_climate", "weather"]
RAW_MEASUREMENTS: tuple[str, ...] = tuple(m.value for m in MEASUREMENT_OF_KIND.values())
Aggregate = Literal["mean", "min", "max", "sum", "first", "last", "median", "count", "spread"]
DEFAULT_AGGREGATE: Aggregate = "mean"  # every without aggregate: a bucket's mean is what a chart wants
MAX_FIELDS = 8  # the most a measurement has (district_heating); more is a client's mistake

# The fields each measurement may hold (SPEC §4), derived from the schema, plus delta_t_k.
FIELDS: dict[str, frozenset[str]] = {
    measurement.value: frozenset(
        q.field for q in QUANTITIES.values() if any(MEASUREMENT_OF_KIND[k] is measurement for k in q.kinds)
    )
    for measurement in MEASUREMENT_OF_KIND.values()
}
ALL_FIELDS: tuple[str, ...] = tuple(sorted(set().union(*FIELDS.values())))
MAX_RAW_POINTS = 20_000
_LOCAL = ZoneInfo(TZ)


def scope_condition(scope: Scope) -> str:
    """The filter that keeps a query inside the caller's scope (operators: none)."""
    return "" if scope.owner is None else tag_equals("owner", scope.owner)


def site_condition(site: Site) -> str:
    """A registered site's points: its id held to its owner.

    The tags alone do not make a point the site's: a device accepted in commissioning mode
    is stored under its own key as device and site with the owner ``unassigned``, and its key
    may be any site's id. Those points are for operators' network-wide queries only.
    """
    return f"{tag_equals('owner', site.owner)} AND {tag_equals('site', site.id)}"


def device_condition(device: Device, site: Site) -> str:
    """A registered device's points: its id held to its site and the site's owner."""
    return f"{site_condition(site)} AND {tag_equals('device', device.id)}"


def to_reading(measurement: str, row: dict[str, Any], tags: dict[str, str]) -> Reading:
    fields = FIELDS.get(measurement, frozenset())
    return Reading(
        measurement=measurement,
        device=str(row.get("device") or tags.get("device", "")),
        site=str(row.get("site") or tags.get("site", "")),
        time=to_datetime(int(row["time"])),
        fields={k: rounded(k, v) for k, v in row.items() if k in fields and isinstance(v, int | float)},
    )


async def latest(influx: InfluxClient, measurements: tuple[str, ...], condition: str) -> list[Reading]:
    """The newest point of each device matching ``condition`` (one query for all measurements)."""
    sources = ",".join(ident(m) for m in measurements)
    q = f'SELECT * FROM {sources}{where(condition)} GROUP BY "device" ORDER BY time DESC LIMIT 1'
    readings = [
        to_reading(name, rows[0], tags) for name, tags, rows in series_rows(await influx.query(q)) if rows
    ]
    return sorted(readings, key=lambda r: (r.device, r.measurement))


_RAW_POINTS_HINT = "raw points are refused beyond it: give every=1h or more and an aggregate"


async def _raw_points(influx: InfluxClient, policy: SourcePolicy, query: SeriesQuery) -> DeviceRows:
    """The raw points of each device (at most ``MAX_RAW_POINTS`` per device)."""
    policy.segments(query.window, RAW, hint=_RAW_POINTS_HINT)  # refuses a range past raw retention
    q = (
        f"SELECT {select_fields(query.fields)} FROM {ident(query.measurement)}"
        f"{where(query.condition, time_range(query.window.start_ns, query.window.end_ns))}"
        f' GROUP BY "device" LIMIT {MAX_RAW_POINTS + 1}'
    )
    out: DeviceRows = {}
    for _, tags, rows in series_rows(await influx.query(q)):
        if len(rows) > MAX_RAW_POINTS:
            raise bad_request(
                "too_many_points", f"more than {MAX_RAW_POINTS} raw points: give every and aggregate"
            )
        out[tags.get("device", "")] = [(int(row["time"]), [row[f] for f in query.fields]) for row in rows]
    return out


async def series(
    influx: InfluxClient,
    policy: SourcePolicy,
    measurement: str,
    fields: tuple[str, ...],
    condition: str,
    window: TimeRange,
    every: Every | None,
    aggregate: Aggregate | None,
) -> list[DeviceSeries]:
    """One series per device of the ``fields`` (one request): raw points, or ``aggregate`` of each
    field per ``every`` bucket (local time; ``mean`` when only ``every`` is given; whole hours and
    days from the roll-ups, api/sources.py). Times are local with offset, values rounded to their
    field's decimals."""
    for field in fields:
        if field not in FIELDS[measurement]:
            raise bad_request("unknown_field", f"{measurement} has no field {field!r}")
    if every is None and aggregate is not None:
        raise bad_request("bad_aggregate", "aggregate needs every: give the bucket size too")
    query = SeriesQuery(measurement, fields, condition, window)
    if every is not None:
        check_buckets(window.start_ns, window.end_ns, every)
        found = await aggregated(influx, policy, query, every, aggregate or DEFAULT_AGGREGATE)
    else:
        found = await _raw_points(influx, policy, query)
    decimals = [DECIMALS[f] for f in fields]
    out = []
    for device, rows in found.items():
        points = []
        for time_ns, values in rows:
            if all(v is None for v in values):
                continue  # a point of this measurement that holds none of the fields asked for
            by_field = {
                f: None if v is None else round(v, d) + 0.0
                for f, v, d in zip(fields, values, decimals, strict=True)
            }
            time = to_datetime(time_ns, _LOCAL)
            points.append(SeriesPoint(time=time, value=by_field[fields[0]], values=by_field))
        out.append(DeviceSeries(device=device, points=points))
    return sorted(out, key=lambda s: s.device)


async def since(
    influx: InfluxClient, condition: str, after_ns: int, limit: int = 10_000
) -> list[tuple[int, Reading]]:
    """Points of every raw measurement newer than ``after_ns`` as (time ns, reading), oldest first."""
    sources = ",".join(ident(m) for m in RAW_MEASUREMENTS)
    q = f"SELECT * FROM {sources}{where(condition, f'time > {int(after_ns)}')} LIMIT {int(limit)}"
    found = [
        (int(row["time"]), to_reading(name, row, tags))
        for name, tags, rows in series_rows(await influx.query(q))
        for row in rows
    ]
    found.sort(key=lambda pair: pair[0])
    return found
