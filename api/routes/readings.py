"""Latest readings and time series of a site or a device, as JSON or CSV."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api import readings
from api.csvexport import CSV_RESPONSE, csv_response
from api.deps import ScopedDevice, ScopedSite, State
from api.errors import ApiError
from api.influxql import EVERY_PATTERN, Every
from api.models import DeviceLatestOut, SeriesOut, SiteLatestOut
from api.readings import ALL_FIELDS, Aggregate, RawMeasurement, device_condition, site_condition
from api.timerange import NS, resolve
from ingest.schema import MEASUREMENT_OF_KIND

router = APIRouter(tags=["readings"])

Field = Literal[ALL_FIELDS]  # type: ignore[valid-type]  # built from the schema at import: one source of truth
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
AggregateParam = Annotated[Aggregate | None, Query(description="how to combine a bucket; needs every")]
Format = Annotated[Literal["json", "csv"], Query(description="csv: a text/csv attachment")]

_DEFAULT_SPAN = dt.timedelta(hours=24)
_MAX_SPAN = dt.timedelta(days=400)
MAX_EVERY = dt.timedelta(days=366)


@router.get("/sites/{site_id}/latest", response_model=SiteLatestOut)
async def site_latest(state: State, site: ScopedSite) -> SiteLatestOut:
    """The newest point of each device of the site, whatever its measurement."""
    found = await readings.latest(state.influx, readings.RAW_MEASUREMENTS, site_condition(site))
    return SiteLatestOut(site=site.id, readings=found)


@router.get("/devices/{device_id}/latest", response_model=DeviceLatestOut)
async def device_latest(state: State, device: ScopedDevice) -> DeviceLatestOut:
    measurement = MEASUREMENT_OF_KIND[device.kind].value
    condition = device_condition(device, state.registry.sites[device.site])
    found = await readings.latest(state.influx, (measurement,), condition)
    return DeviceLatestOut(device=device.id, reading=found[0] if found else None)


async def _series(
    state: State,
    site_id: str,
    measurement: str,
    field: str,
    condition: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
    every: str | None,
    aggregate: Aggregate | None,
    output: str,
) -> SeriesOut | Response:
    window = resolve(start, end, default=_DEFAULT_SPAN, limit=_MAX_SPAN)
    bucket = Every.parse(every) if every is not None else None
    if bucket is not None and bucket.ns > MAX_EVERY.total_seconds() * NS:
        # 15251w passes the grammar but overflows InfluxDB's int64 nanoseconds (it answered 502).
        raise ApiError(422, "bad_every", f"every may be at most {MAX_EVERY.days}d, not {every}")
    found = await readings.series(state.influx, measurement, field, condition, window, bucket, aggregate)
    answer = SeriesOut(
        site=site_id,
        measurement=measurement,
        field=field,
        start=window.start,
        end=window.end,
        every=every,
        aggregate=aggregate,
        series=found,
    )
    if output == "csv":
        rows = ((s.device, p.time.isoformat(), p.value) for s in found for p in s.points)
        return csv_response(f"{site_id}-{measurement}-{field}.csv", ["device", "time", field], rows)
    return answer


@router.get("/sites/{site_id}/series", response_model=SeriesOut, responses=CSV_RESPONSE)
async def site_series(
    state: State,
    site: ScopedSite,
    measurement: RawMeasurement,
    field: Field,
    start: Start = None,
    end: End = None,
    every: EveryParam = None,
    aggregate: AggregateParam = None,
    format: Format = "json",
) -> SeriesOut | Response:
    """A field of every device of the site over a range: raw points, or ``aggregate`` per ``every``."""
    condition = site_condition(site)
    return await _series(state, site.id, measurement, field, condition, start, end, every, aggregate, format)


@router.get("/devices/{device_id}/series", response_model=SeriesOut, responses=CSV_RESPONSE)
async def device_series(
    state: State,
    device: ScopedDevice,
    field: Field,
    start: Start = None,
    end: End = None,
    every: EveryParam = None,
    aggregate: AggregateParam = None,
    format: Format = "json",
) -> SeriesOut | Response:
    """A field of one device over a range (its measurement follows from its kind)."""
    measurement = MEASUREMENT_OF_KIND[device.kind].value
    condition = device_condition(device, state.registry.sites[device.site])
    return await _series(
        state, device.site, measurement, field, condition, start, end, every, aggregate, format
    )
