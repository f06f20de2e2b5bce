"""Dependency aliases for route signatures: ``scope: CurrentScope``, ``site: ScopedSite``, …"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Path, Query, Request, Security
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from api.auth import Scope, hash_key
from api.errors import ApiError, not_found
from api.state import ApiState
from energy_core.registry import Device, Site

_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key")
_bearer = HTTPBearer(auto_error=False, description="an API key as a bearer token")
_query = APIKeyQuery(
    name="key",
    auto_error=False,
    description="an API key in the URL, only for the SSE stream: EventSource cannot send headers",
)


def get_state(request: Request) -> ApiState:
    return cast(ApiState, request.state.api)


State = Annotated[ApiState, Depends(get_state)]


def _authenticate(state: ApiState, presented: str | None) -> Scope:
    if not presented:
        raise ApiError(401, "missing_api_key", "send an API key in X-API-Key or Authorization: Bearer")
    scope = state.resources.keys.scope_of(presented)
    if scope is None:
        raise ApiError(401, "invalid_api_key", "the API key is not valid")
    return scope


def _header_key(
    header_key: Annotated[str | None, Security(_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> str | None:
    """The key sent in ``X-API-Key`` or ``Authorization: Bearer``."""
    return header_key or (bearer.credentials if bearer else None)


HeaderKey = Annotated[str | None, Depends(_header_key)]


def _stream_key(header_key: HeaderKey, query_key: Annotated[str | None, Security(_query)]) -> str | None:
    """A header key, else ``?key=`` (browsers' EventSource sends no headers)."""
    return header_key or query_key


StreamKey = Annotated[str | None, Depends(_stream_key)]


def current_scope(state: State, presented: HeaderKey) -> Scope:
    """The caller's scope from a header key; 401 when missing or wrong."""
    return _authenticate(state, presented)


def stream_scope(state: State, presented: StreamKey) -> Scope:
    """Like ``current_scope`` but also accepts ``?key=``."""
    return _authenticate(state, presented)


CurrentScope = Annotated[Scope, Depends(current_scope)]
StreamScope = Annotated[Scope, Depends(stream_scope)]


def stream_key_id(_: StreamScope, presented: StreamKey) -> str:
    """Which key holds a stream (for the per-key cap): the stored hash of the valid key presented."""
    return hash_key(presented or "")


StreamKeyId = Annotated[str, Depends(stream_key_id)]


def operator_scope(scope: CurrentScope) -> Scope:
    if not scope.is_operator:
        raise ApiError(403, "operator_only", "this endpoint needs an operator key")
    return scope


OperatorScope = Annotated[Scope, Depends(operator_scope)]

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$"


def visible_site(state: ApiState, scope: Scope, site_id: str) -> Site:
    """The site if it exists and the scope may see it; otherwise 404, the same in both cases."""
    site = state.registry.sites.get(site_id)
    if site is None or not scope.sees(site.owner):
        raise not_found("site", site_id)
    return site


def visible_device(state: ApiState, scope: Scope, device_id: str) -> Device:
    device = state.registry.devices.get(device_id)
    if device is None or not scope.sees(state.registry.sites[device.site].owner):
        raise not_found("device", device_id)
    return device


def _scoped_site(state: State, scope: CurrentScope, site_id: Annotated[str, Path(pattern=_ID)]) -> Site:
    return visible_site(state, scope, site_id)


def _scoped_device(state: State, scope: CurrentScope, device_id: Annotated[str, Path(pattern=_ID)]) -> Device:
    return visible_device(state, scope, device_id)


def _stream_site(
    state: State, scope: StreamScope, site: Annotated[str | None, Query(pattern=_ID)] = None
) -> Site | None:
    return visible_site(state, scope, site) if site is not None else None


ScopedSite = Annotated[Site, Depends(_scoped_site)]
ScopedDevice = Annotated[Device, Depends(_scoped_device)]
StreamSite = Annotated[Site | None, Depends(_stream_site)]
