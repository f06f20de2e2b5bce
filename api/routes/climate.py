"""The climate contract: emissions per owner and city-wide per year against the target path."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.climate import MAX_YEAR, MIN_YEAR, ClimateOut, climate_view
from api.csvexport import CSV_RESPONSE, DialectParam, Format, csv_dialect, csv_response
from api.deps import CurrentScope, State
from api.queryparams import known_query_parameters

router = APIRouter(tags=["climate contract"], dependencies=[Depends(known_query_parameters)])

Year = Annotated[int | None, Query(ge=MIN_YEAR, le=MAX_YEAR, description="local calendar year")]


@router.get("/climate", response_model=ClimateOut, responses=CSV_RESPONSE)
async def get_climate(
    state: State,
    scope: CurrentScope,
    from_year: Year = None,
    to_year: Year = None,
    format: Format = "json",
    dialect: DialectParam = None,
) -> ClimateOut | Response:
    """kg CO2e per year by owner (operators: and city-wide), carrier and method, against the baseline
    year and target path of ``CLIMATE_TARGETS_FILE``, with the factor behind each figure and a
    ``placeholder`` flag wherever a stand-in factor is used. Default years: the baseline year to now."""
    csv_as = csv_dialect(format, dialect)
    view = await climate_view(
        state, state.resources.emission_factors, state.resources.climate, scope.owner, from_year, to_year
    )
    if csv_as is None:
        return view
    header = ["owner", "method", "year", "carrier", "co2e_kg", "kwh", "target_kg", "on_track", "placeholder"]
    rows = []
    for path in view.paths:
        for year in path.years:
            owner = path.owner or "all"
            rows.append(
                [
                    owner,
                    path.method,
                    year.year,
                    "all",
                    year.co2e_kg,
                    None,
                    year.target_kg,
                    year.on_track,
                    year.placeholder,
                ]
            )
            rows.extend(
                [owner, path.method, year.year, c.carrier, c.co2e_kg, c.kwh, None, None, c.placeholder]
                for c in year.by_carrier
            )
    return csv_response(f"climate-{view.from_year}-{view.to_year}.csv", header, rows, csv_as)
