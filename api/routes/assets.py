"""Owners, sites and devices from the registry, filtered by the caller's scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentScope, ScopedDevice, ScopedSite, State, visible_site
from api.models import DeviceOut, OwnerOut, SiteOut
from energy_core.registry import Device, Site

router = APIRouter(tags=["assets"])

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$"


def site_out(site: Site) -> SiteOut:
    return SiteOut.model_validate(site.model_dump())


def device_out(device: Device) -> DeviceOut:
    return DeviceOut(id=device.id, site=device.site, kind=device.kind, external_ids=list(device.external_ids))


@router.get("/owners", response_model=list[OwnerOut])
async def list_owners(state: State, scope: CurrentScope) -> list[OwnerOut]:
    """Owners the key may see: all for an operator, its own for an owner key."""
    return [OwnerOut(id=o.id, name=o.name) for o in state.registry.owners.values() if scope.sees(o.id)]


@router.get("/sites", response_model=list[SiteOut])
async def list_sites(
    state: State,
    scope: CurrentScope,
    owner: Annotated[str | None, Query(pattern=_ID, description="only this owner's sites")] = None,
    network: Annotated[str | None, Query(pattern=_ID, description="only sites on this DH network")] = None,
) -> list[SiteOut]:
    """Sites the key may see, optionally narrowed by owner or network."""
    return [
        site_out(s)
        for s in state.registry.sites.values()
        if scope.sees(s.owner)
        and (owner is None or s.owner == owner)
        and (network is None or s.network == network)
    ]


@router.get("/sites/{site_id}", response_model=SiteOut)
async def get_site(site: ScopedSite) -> SiteOut:
    return site_out(site)


@router.get("/devices", response_model=list[DeviceOut])
async def list_devices(
    state: State,
    scope: CurrentScope,
    site: Annotated[str | None, Query(pattern=_ID, description="only this site's devices")] = None,
) -> list[DeviceOut]:
    """Devices the key may see; ``site`` must be visible too (404 otherwise)."""
    if site is not None:
        visible_site(state, scope, site)
    sites = state.registry.sites
    return [
        device_out(d)
        for d in state.registry.devices.values()
        if scope.sees(sites[d.site].owner) and (site is None or d.site == site)
    ]


@router.get("/devices/{device_id}", response_model=DeviceOut)
async def get_device(device: ScopedDevice) -> DeviceOut:
    return device_out(device)
