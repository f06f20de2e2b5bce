"""Energy per hour/day/month (with kWh/m²) and emissions per day/month/year."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api import energy
from api.csvexport import CSV_RESPONSE, Dialect, DialectParam, Format, csv_dialect, csv_response, local_time
from api.deps import CurrentScope, ScopedSite, State
from api.energy import EmissionsEvery, EnergyEvery
from api.models import EmissionsOut, EnergyOut
from api.queryparams import known_query_parameters
from api.readings import scope_condition, site_condition
from api.timerange import Align, TimeRange, resolve

router = APIRouter(tags=["energy and emissions"], dependencies=[Depends(known_query_parameters)])

Start = Annotated[
    dt.datetime | None,
    Query(
        description="RFC 3339, or a date/time without offset in Europe/Stockholm local time; "
        "default: depends on every, from the start of a local day, month or year"
    ),
]
End = Annotated[
    dt.datetime | None,
    Query(description="RFC 3339, or local time without offset (Europe/Stockholm), exclusive; default: now"),
]

_DEFAULT = {
    "hour": dt.timedelta(days=1),
    "day": dt.timedelta(days=30),
    "month": dt.timedelta(days=365),
    "year": dt.timedelta(days=3 * 365),
}
# Defaults start at a whole local period, so the first bucket is not a fragment.
_ALIGN: dict[str, Align | None] = {"hour": None, "day": "day", "month": "month", "year": "year"}
# Hourly buckets are bounded like any series; daily rows summed into months/years stay small.
_LIMIT = {
    "hour": dt.timedelta(days=400),
    "day": dt.timedelta(days=3660),
    "month": dt.timedelta(days=3660),
    "year": dt.timedelta(days=3660),
}


@dataclass(frozen=True, slots=True)
class Asked:
    """The range and the rendition a request asked for (the query parameters every route here takes)."""

    start: dt.datetime | None
    end: dt.datetime | None
    csv_as: Dialect | None

    def window(self, every: str) -> TimeRange:
        return resolve(
            self.start, self.end, default=_DEFAULT[every], limit=_LIMIT[every], align=_ALIGN[every]
        )


def _asked(
    start: Start = None, end: End = None, format: Format = "json", dialect: DialectParam = None
) -> Asked:
    return Asked(start, end, csv_dialect(format, dialect))


AskedFor = Annotated[Asked, Depends(_asked)]


@router.get("/sites/{site_id}/energy", response_model=EnergyOut, responses=CSV_RESPONSE)
async def site_energy(
    state: State,
    site: ScopedSite,
    every: Annotated[EnergyEvery, Query(description="hour, or local day/month")] = "day",
    *,
    asked: AskedFor,
) -> EnergyOut | Response:
    """kWh used per period and carrier, from interval energy; kWh/m² from the heated floor area."""
    window = asked.window(every)
    condition = site_condition(site)
    buckets = await energy.energy(state.influx, state.sources, condition, window, every, site.floor_area_m2)
    if asked.csv_as is not None:
        rows = ((local_time(b.start), b.carrier, b.kwh, b.kwh_per_m2) for b in buckets)
        header = ["start", "carrier", "kwh", "kwh_per_m2"]
        return csv_response(f"{site.id}-energy-{every}.csv", header, rows, asked.csv_as)
    return EnergyOut(
        site=site.id,
        every=every,
        start=window.start,
        end=window.end,
        floor_area_m2=site.floor_area_m2,
        buckets=buckets,
    )


async def _emissions(
    state: State, site_id: str | None, condition: str, every: EmissionsEvery, asked: Asked
) -> EmissionsOut | Response:
    window = asked.window(every)
    across_sites = site_id is None  # the scope's owner tag at most: the across-site roll-up answers
    buckets = await energy.emissions(
        state.influx, state.sources, condition, window, every, across_sites=across_sites
    )
    if asked.csv_as is not None:
        rows = ((local_time(b.start), b.carrier, b.method, b.co2e_kg) for b in buckets)
        name = f"{site_id or 'all'}-emissions-{every}.csv"
        return csv_response(name, ["start", "carrier", "method", "co2e_kg"], rows, asked.csv_as)
    return EmissionsOut(site=site_id, every=every, start=window.start, end=window.end, buckets=buckets)


EmissionsEveryParam = Annotated[EmissionsEvery, Query(description="local day, month or year")]


@router.get("/sites/{site_id}/emissions", response_model=EmissionsOut, responses=CSV_RESPONSE)
async def site_emissions(
    state: State, site: ScopedSite, every: EmissionsEveryParam = "month", *, asked: AskedFor
) -> EmissionsOut | Response:
    """kg CO2e of one site per period, by carrier and method (location/market)."""
    return await _emissions(state, site.id, site_condition(site), every, asked)


@router.get("/emissions", response_model=EmissionsOut, responses=CSV_RESPONSE)
async def scope_emissions(
    state: State, scope: CurrentScope, every: EmissionsEveryParam = "month", *, asked: AskedFor
) -> EmissionsOut | Response:
    """kg CO2e of every site the key may see, per period, by carrier and method."""
    return await _emissions(state, None, scope_condition(scope), every, asked)
