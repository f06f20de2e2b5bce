"""The district-heating network overview for operators (or an owner's own heat meters)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import Scope
from api.deps import CurrentScope, State
from api.errors import not_found
from api.influxql import tag_equals
from api.models import OverviewOut
from api.overview import network_overview
from api.readings import scope_condition, site_condition
from api.state import ApiState
from energy_core.registry import Site
from energy_core.schema import DeviceKind

router = APIRouter(tags=["network"])

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$"


def heat_meters_in(state: ApiState, scope: Scope, site: Site | None, network: str | None) -> int:
    """How many registered heat meters the overview covers (to show "12 of 50 reporting")."""
    sites = state.registry.sites
    return sum(
        1
        for d in state.registry.devices.values()
        if d.kind is DeviceKind.HEAT_METER
        and scope.sees(sites[d.site].owner)
        and (site is None or d.site == site.id)
        and (network is None or sites[d.site].network == network)
    )


async def overview_for(state: ApiState, scope: Scope, site: Site | None, network: str | None) -> OverviewOut:
    """The overview over the scope, narrowed to one site or one network when given."""
    conditions = [scope_condition(scope)]
    if site is not None:
        conditions.append(site_condition(site))
    if network is not None:
        conditions.append(tag_equals("network", network))
    return await network_overview(
        state.influx,
        state.resources.factors,
        " AND ".join(c for c in conditions if c),
        heat_meters_in(state, scope, site, network),
        state.settings.api_fresh_window_s,
    )


@router.get("/network/overview", response_model=OverviewOut)
async def get_overview(
    state: State,
    scope: CurrentScope,
    network: Annotated[str | None, Query(pattern=_ID, description="one DH network only")] = None,
) -> OverviewOut:
    """Total heat load (MW), mean supply/return temperature, ΔT, live emission rate and freshness."""
    if network is not None and not any(
        s.network == network and scope.sees(s.owner) for s in state.registry.sites.values()
    ):
        raise not_found("network", network)
    return await overview_for(state, scope, None, network)
