"""Buildings (issue 16): a building's performance, an owner's portfolio ranked, monthly reports."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import HTMLResponse, Response

from api import performance, reports
from api.auth import Scope
from api.csvexport import DialectParam, csv_dialect, csv_response
from api.deps import CurrentScope, ScopedSite, State
from api.errors import bad_request, not_found
from api.models import BuildingPerformance, OwnerPerformanceOut, ReportOut
from api.performance import SortKey
from api.queryparams import known_query_parameters
from api.state import ApiState
from energy_core.registry import Owner

router = APIRouter(tags=["buildings"], dependencies=[Depends(known_query_parameters)])

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$"

End = Annotated[
    dt.date | None,
    Query(
        description="a Europe/Stockholm local date, exclusive: the 12 months before it are measured "
        "(default: today, i.e. up to last midnight)"
    ),
]
ReportFormat = Annotated[
    Literal["json", "csv", "html"],
    Query(description="csv: one row per building and a total row (see dialect); html: a print-ready A4 page"),
]
REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}, "text/html": {"schema": {"type": "string"}}}
    }
}


def _end(end: dt.date | None) -> dt.date:
    today = reports.today()
    if end is None:
        return today
    if end.year < 2000:
        raise bad_request("bad_end", "end must be a date from 2000 on")
    if end > today + dt.timedelta(days=1):
        raise bad_request(
            "end_in_future", f"end may be tomorrow at the latest ({today.isoformat()} is today)"
        )
    return end


def visible_owner(state: ApiState, scope: Scope, owner_id: str) -> Owner:
    """The owner if it exists and the scope may see it; otherwise 404, the same in both cases."""
    owner = state.registry.owners.get(owner_id)
    if owner is None or not scope.sees(owner.id):
        raise not_found("owner", owner_id)
    return owner


def _scoped_owner(state: State, scope: CurrentScope, owner: Annotated[str, Path(pattern=_ID)]) -> Owner:
    return visible_owner(state, scope, owner)


ScopedOwner = Annotated[Owner, Depends(_scoped_owner)]


@router.get("/sites/{site_id}/performance", response_model=BuildingPerformance)
async def site_performance(state: State, site: ScopedSite, end: End = None) -> BuildingPerformance:
    """kWh/m² Atemp over the 12 months before `end`, actual and degree-day normalised, the change
    against the 12 months before, the energy signature and indoor comfort hours."""
    return await performance.site_performance(state.influx, site, _end(end))


@router.get("/owners/{owner}/performance", response_model=OwnerPerformanceOut)
async def owner_performance(
    state: State,
    owner: ScopedOwner,
    end: End = None,
    sort: Annotated[SortKey, Query(description="the KPI to rank by (current 12 months)")] = (
        "kwh_per_m2_normalised"
    ),
    order: Annotated[Literal["desc", "asc"], Query(description="desc: the largest (worst) first")] = "desc",
) -> OwnerPerformanceOut:
    """The owner's buildings ranked by a KPI (nulls last), and the portfolio's Σ kWh / Σ m²."""
    sites = sorted((s for s in state.registry.sites.values() if s.owner == owner.id), key=lambda s: s.id)
    until = _end(end)
    items, totals = await performance.owner_performance(state.influx, owner.id, sites, until)
    return OwnerPerformanceOut(
        owner=owner.id,
        name=owner.name,
        end=until,
        sort=sort,
        order=order,
        totals=totals,
        buildings=performance.ranked(items, sort, order),
    )


MonthParam = Annotated[str, Path(description="YYYY-MM, a Europe/Stockholm local month", max_length=7)]


def _render(report: ReportOut, output: str, dialect: str | None, name: str) -> ReportOut | Response:
    if output == "html":
        if dialect is not None:
            raise bad_request("dialect_needs_csv", f"dialect={dialect} applies to format=csv only")
        headers = {"Content-Disposition": f'inline; filename="{name}.html"'}
        return HTMLResponse(reports.render_html(report), headers=headers)
    csv_as = csv_dialect(output, dialect)
    if csv_as is not None:
        return csv_response(f"{name}.csv", reports.CSV_HEADER, reports.csv_rows(report), csv_as)
    return report


@router.get("/owners/{owner}/reports/{month}", response_model=ReportOut, responses=REPORT_RESPONSES)
async def owner_report(
    state: State,
    owner: ScopedOwner,
    month: MonthParam,
    format: ReportFormat = "json",
    dialect: DialectParam = None,
) -> ReportOut | Response:
    """The month of every building of the owner: energy, normalised energy, kWh/m², emissions,
    the worst buildings, comfort."""
    asked = reports.Month.parse(month, reports.today())
    sites = sorted((s for s in state.registry.sites.values() if s.owner == owner.id), key=lambda s: s.id)
    factors = state.resources.emission_factors
    report = await reports.build(state.influx, state.sources, owner, sites, asked, factors)
    return _render(report, format, dialect, f"{owner.id}-{asked}-report")


@router.get("/sites/{site_id}/reports/{month}", response_model=ReportOut, responses=REPORT_RESPONSES)
async def site_report(
    state: State,
    site: ScopedSite,
    month: MonthParam,
    format: ReportFormat = "json",
    dialect: DialectParam = None,
) -> ReportOut | Response:
    """The month of one building, as the owner's report has it."""
    asked = reports.Month.parse(month, reports.today())
    owner = state.registry.owners[site.owner]
    factors = state.resources.emission_factors
    report = await reports.build(state.influx, state.sources, owner, [site], asked, factors, site)
    return _render(report, format, dialect, f"{site.id}-{asked}-report")
