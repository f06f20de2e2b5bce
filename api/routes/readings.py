"""Latest readings and time series of a site or a device, as JSON or CSV."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api import readings
from api.csvexport import CSV_RESPONSE, Dialect, DialectParam, Format, csv_dialect, csv_response, local_time
from api.deps import ScopedDevice, ScopedSite, State
from api.errors import ApiError
from api.influxql import EVERY_PATTERN, Every
from api.models import DeviceLatestOut, Reading, SeriesOut, SiteLatestOut
from api.queryparams import known_query_parameters
from api.readings import (
    ALL_FIELDS,
    DEFAULT_AGGREGATE,
    MAX_FIELDS,
    Aggregate,
    RawMeasurement,
    device_condition,
    site_condition,
)
from api.timerange import resolve
from energy_core.schema import MEASUREMENT_OF_KIND
from energy_core.timeutil import NS

router = APIRouter(tags=["readings"], dependencies=[Depends(known_query_parameters)])

Field = Literal[ALL_FIELDS]  # type: ignore[valid-type]  # built from the schema at import: one source of truth
Fields = Annotated[
    list[Field],
    Query(
        description=f"one or more fields of the measurement, repeated (`field=supply_temp_c&field="
        f"return_temp_c`), at most {MAX_FIELDS}: one query, the points carry each in `values`"
    ),
]
Start = Annotated[
    dt.datetime | None,
    Query(description="RFC 3339, or local time without offset (Europe/Stockholm); default: end minus 24 h"),
]
End = Annotated[
    dt.datetime | None,
    Query(description="RFC 3339, or local time without offset (Europe/Stockholm), exclusive; default: now"),
]
EveryParam = Annotated[
    str | None, Query(pattern=EVERY_PATTERN, description="bucket size such as 15m, 1h, 1d (local days)")
]
AggregateParam = Annotated[
    Aggregate | None,
    Query(description=f"how to combine a bucket; needs every; default with every: {DEFAULT_AGGREGATE}"),
]

_DEFAULT_SPAN = dt.timedelta(hours=24)
_MAX_SPAN = dt.timedelta(days=400)
MAX_EVERY = dt.timedelta(days=366)


_LATEST_HEADER = ("device", "measurement", "time", "field", "value")


def _latest_rows(found: list[Reading]) -> list[tuple[object, ...]]:
    """One row per field of each reading: the measurements' fields differ, so a long table."""
    return [
        (r.device, r.measurement, local_time(r.time), name, value)
        for r in found
        for name, value in sorted(r.fields.items())
    ]


@router.get("/sites/{site_id}/latest", response_model=SiteLatestOut, responses=CSV_RESPONSE)
async def site_latest(
    state: State, site: ScopedSite, format: Format = "json", dialect: DialectParam = None
) -> SiteLatestOut | Response:
    """The newest point of each device of the site, whatever its measurement.

    CSV: one row per device and field (``device, measurement, time, field, value``)."""
    csv_as = csv_dialect(format, dialect)
    found = await readings.latest(state.influx, readings.RAW_MEASUREMENTS, site_condition(site))
    if csv_as is not None:
        return csv_response(f"{site.id}-latest.csv", _LATEST_HEADER, _latest_rows(found), csv_as)
    return SiteLatestOut(site=site.id, readings=found)


@router.get("/devices/{device_id}/latest", response_model=DeviceLatestOut, responses=CSV_RESPONSE)
async def device_latest(
    state: State, device: ScopedDevice, format: Format = "json", dialect: DialectParam = None
) -> DeviceLatestOut | Response:
    """The newest point of the device (null before it first reports).

    CSV: one row per field (``device, measurement, time, field, value``); only the header when none."""
    csv_as = csv_dialect(format, dialect)
    measurement = MEASUREMENT_OF_KIND[device.kind].value
    condition = device_condition(device, state.registry.sites[device.site])
    found = await readings.latest(state.influx, (measurement,), condition)
    if csv_as is not None:
        return csv_response(f"{device.id}-latest.csv", _LATEST_HEADER, _latest_rows(found[:1]), csv_as)
    return DeviceLatestOut(device=device.id, reading=found[0] if found else None)


def _distinct(fields: list[str]) -> tuple[str, ...]:
    """The fields asked for, in order, each once; refused beyond ``MAX_FIELDS``."""
    distinct = tuple(dict.fromkeys(fields))
    if len(distinct) > MAX_FIELDS:
        raise ApiError(400, "too_many_fields", f"at most {MAX_FIELDS} fields per series, not {len(distinct)}")
    return distinct


@dataclass(frozen=True, slots=True)
class SeriesAsked:
    """The range, buckets and rendition a series request asked for (both series routes take them)."""

    field: list[str]
    start: dt.datetime | None
    end: dt.datetime | None
    every: str | None
    aggregate: Aggregate | None
    csv_as: Dialect | None


def _series_asked(
    field: Fields,
    start: Start = None,
    end: End = None,
    every: EveryParam = None,
    aggregate: AggregateParam = None,
    format: Format = "json",
    dialect: DialectParam = None,
) -> SeriesAsked:
    return SeriesAsked(field, start, end, every, aggregate, csv_dialect(format, dialect))


SeriesAskedFor = Annotated[SeriesAsked, Depends(_series_asked)]


async def _series(
    state: State, site_id: str, measurement: str, condition: str, asked: SeriesAsked
) -> SeriesOut | Response:
    fields = _distinct(asked.field)
    window = resolve(asked.start, asked.end, default=_DEFAULT_SPAN, limit=_MAX_SPAN)
    every, aggregate = asked.every, asked.aggregate
    bucket = Every.parse(every) if every is not None else None
    if bucket is not None and bucket.ns > MAX_EVERY.total_seconds() * NS:
        # 15251w passes the grammar but overflows InfluxDB's int64 nanoseconds (it answered 502).
        raise ApiError(422, "bad_every", f"every may be at most {MAX_EVERY.days}d, not {every}")
    if bucket is not None and aggregate is None:
        aggregate = DEFAULT_AGGREGATE
    found = await readings.series(
        state.influx, state.sources, measurement, fields, condition, window, bucket, aggregate
    )
    if asked.csv_as is not None:
        rows = (
            (s.device, local_time(p.time), *(p.values[f] for f in fields)) for s in found for p in s.points
        )
        name = f"{site_id}-{measurement}-{'-'.join(fields)}.csv"
        return csv_response(name, ["device", "time", *fields], rows, asked.csv_as)
    return SeriesOut(
        site=site_id,
        measurement=measurement,
        field=fields[0],
        fields=list(fields),
        start=window.start,
        end=window.end,
        every=every,
        aggregate=aggregate,
        series=found,
    )


_SERIES_SHAPE = """

``field`` may be repeated (``field=supply_temp_c&field=return_temp_c``): one query reads them
all, and each point carries every field in ``values`` (null where a point lacks one). ``field``
and each point's ``value`` are the first field asked for, so single-field clients read the
answer as before. ``every`` without ``aggregate`` means ``aggregate=mean``. Times are
Europe/Stockholm local time with offset; values are rounded to the field's decimals. CSV: one
column per field after ``device, time``."""


@router.get(
    "/sites/{site_id}/series",
    response_model=SeriesOut,
    responses=CSV_RESPONSE,
    description="Fields of every device of the site over a range: raw points, or ``aggregate`` per "
    "``every``." + _SERIES_SHAPE,
)
async def site_series(
    state: State, site: ScopedSite, measurement: RawMeasurement, asked: SeriesAskedFor
) -> SeriesOut | Response:
    """Fields of every device of the site over a range (see the description)."""
    return await _series(state, site.id, measurement, site_condition(site), asked)


@router.get(
    "/devices/{device_id}/series",
    response_model=SeriesOut,
    responses=CSV_RESPONSE,
    description="Fields of one device over a range (its measurement follows from its kind)." + _SERIES_SHAPE,
)
async def device_series(state: State, device: ScopedDevice, asked: SeriesAskedFor) -> SeriesOut | Response:
    """Fields of one device over a range (see the description)."""
    measurement = MEASUREMENT_OF_KIND[device.kind].value
    condition = device_condition(device, state.registry.sites[device.site])
    return await _series(state, device.site, measurement, condition, asked)
