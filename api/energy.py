"""Energy and emissions per period, from the derived ``energy`` and ``emissions`` measurements.

Hours and days are InfluxDB ``GROUP BY time(1h|1d)`` buckets with ``tz('Europe/Stockholm')``,
so a "day" is a Swedish local day (midnight to midnight, 23 or 25 hours across DST changes),
which is what a facility manager compares with a bill. InfluxQL has no calendar months or
years, so those are summed here from local-day buckets: at most a few thousand rows.

Whole hours and local days are read from the roll-ups (``rollup_1h``, ``rollup_1d``: the sum of
``kwh``/``co2e_kg`` per bucket), the edges and the newest hour from raw points (api/sources.py);
each part is summed into the same buckets, so the answer is the raw sum. Operator- or owner-wide
emissions read the across-site ``emissions_total`` roll-up: a year is a few thousand rows
whatever the number of sites.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Literal
from zoneinfo import ZoneInfo

from api.influxql import TZ, ident, series_rows, time_range, where
from api.models import EmissionsBucket, EnergyBucket
from api.precision import rounded
from api.sources import RAW, Segment, SourcePolicy, fetch
from api.timerange import Align, TimeRange, align_down, to_datetime, to_ns
from energy_core.influx import InfluxClient
from energy_core.rollups import EMISSIONS_TOTAL, RP_1D, RP_1H
from energy_core.schema import Measurement

EnergyEvery = Literal["hour", "day", "month"]
EmissionsEvery = Literal["day", "month", "year"]
_LOCAL = ZoneInfo(TZ)


def _period_start(moment: dt.datetime, every: str) -> dt.datetime:
    """The local calendar period a local-day bucket belongs to (month or year)."""
    if every == "month":
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if every == "year":
        return moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    return moment


def _periods(start_ns: int, end_ns: int, every: str) -> list[tuple[int, int]]:
    """[start, end) cut at the local month (``every`` month) or year boundaries inside it."""
    period: Align = "year" if every == "year" else "month"
    pieces = []
    while start_ns < end_ns:
        local = to_datetime(align_down(start_ns, period), _LOCAL)
        year, month = (
            (local.year + 1, 1) if period == "year" or local.month == 12 else (local.year, local.month + 1)
        )
        end = min(end_ns, to_ns(dt.datetime(year, month, 1)))  # naive: Europe/Stockholm local time
        pieces.append((start_ns, end))
        start_ns = end
    return pieces


# The roll-up each period can read: hours from the hourly one, everything else from local days.
_ROLLUP: dict[str, str] = {"hour": RP_1H, "day": RP_1D, "month": RP_1D, "year": RP_1D}


async def _sums(
    influx: InfluxClient,
    policy: SourcePolicy,
    measurement: str,
    field: str,
    condition: str,
    window: TimeRange,
    every: str,
    group_tags: tuple[str, ...],
    across_sites: str | None = None,
) -> dict[tuple[dt.datetime, tuple[str, ...]], float]:
    """``sum(field)`` per local period and tag combination, keyed by (period start, tag values).

    One request: a statement per segment of the range (raw edges, whole hours and days from the
    roll-ups, ``across_sites`` naming the roll-up summed over sites where ``condition`` allows),
    summed into the same periods."""
    interval = "1h" if every == "hour" else "1d"
    tags = "".join(f", {ident(t)}" for t in group_tags)

    def statement(segment: Segment) -> str:
        rolled_as = measurement if segment.rp is RAW else across_sites or measurement
        select = f'SELECT {segment.expression(measurement, field, "sum")} AS "total"'
        source = segment.source(influx.db, rolled_as)
        if segment.rp == RP_1D and every in ("month", "year"):
            # A row per month (year) and tags, summed by InfluxDB from the daily roll-up: no
            # GROUP BY time, so the row's time is its range's start, which is in its period.
            by = f" GROUP BY {tags.removeprefix(', ')}" if tags else ""
            return ";".join(
                f"{select} FROM {source}{where(condition, time_range(start, end))}{by}"
                for start, end in _periods(segment.start_ns, segment.end_ns, every)
            )
        return (
            f"{select} FROM {source}"
            f"{where(condition, time_range(segment.start_ns, segment.end_ns))}"
            f" GROUP BY time({interval}){tags} fill(none) tz('{TZ}')"
        )

    results = await fetch(influx, policy, window, _ROLLUP[every], statement)
    totals: dict[tuple[dt.datetime, tuple[str, ...]], float] = defaultdict(float)
    for _, series_tags, rows in series_rows(results):
        key_tags = tuple(series_tags.get(t, "") for t in group_tags)
        for row in rows:
            if row["total"] is None:
                continue
            period = _period_start(to_datetime(int(row["time"]), _LOCAL), every)
            totals[(period, key_tags)] += float(row["total"])
    return totals


async def energy(
    influx: InfluxClient,
    policy: SourcePolicy,
    condition: str,
    window: TimeRange,
    every: EnergyEvery,
    floor_area_m2: float | None,
) -> list[EnergyBucket]:
    """kWh per period and carrier (and kWh/m² when the site's heated floor area is known)."""
    totals = await _sums(influx, policy, Measurement.ENERGY, "kwh", condition, window, every, ("carrier",))
    return [
        EnergyBucket(
            start=start,
            carrier=carrier,
            kwh=rounded("kwh", kwh),
            kwh_per_m2=rounded("kwh_per_m2", kwh / floor_area_m2) if floor_area_m2 else None,
        )
        for (start, (carrier,)), kwh in sorted(totals.items())
    ]


async def emissions(
    influx: InfluxClient,
    policy: SourcePolicy,
    condition: str,
    window: TimeRange,
    every: EmissionsEvery,
    *,
    across_sites: bool = False,
) -> list[EmissionsBucket]:
    """kg CO2e per period, carrier and method (location- and market-based are never added up).

    ``across_sites``: ``condition`` holds only the owner tag (or nothing), so the roll-up summed
    over sites answers as well as the per-site one, from far fewer rows."""
    totals = await _sums(
        influx,
        policy,
        Measurement.EMISSIONS,
        "co2e_kg",
        condition,
        window,
        every,
        ("carrier", "method"),
        EMISSIONS_TOTAL if across_sites else None,
    )
    return [
        EmissionsBucket(start=start, carrier=carrier, method=method, co2e_kg=rounded("co2e_kg", kg))
        for (start, (carrier, method)), kg in sorted(totals.items())
    ]


async def yearly_totals(
    influx: InfluxClient,
    policy: SourcePolicy,
    measurement: str,
    field: str,
    condition: str,
    window: TimeRange,
    group_tags: tuple[str, ...],
    across_sites: str,
) -> dict[tuple[int, tuple[str, ...]], float]:
    """``sum(field)`` per local calendar year and tag combination, from the across-site roll-up."""
    totals = await _sums(
        influx, policy, measurement, field, condition, window, "year", group_tags, across_sites
    )
    return {(start.year, tags): value for (start, tags), value in totals.items()}
