"""Refuse query parameters a route does not know, instead of silently ignoring them.

``/sites/tb-1/series?fields=supply_temp_c`` (a typo for ``field``) or ``?aggregation=max``
would otherwise answer as if the parameter had not been sent: a plausible but different answer.
A router lists this as a dependency; the names allowed are the route's own query parameters,
including those of its sub-dependencies (``key`` where the route accepts a key in the URL).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api.errors import bad_request


def _names(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _names(sub)
    return names


_KNOWN: dict[int, frozenset[str]] = {}


def known_query_parameters(request: Request) -> None:
    """A 400 naming the first query parameter the matched route does not take."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _KNOWN.get(id(route))
    if known is None:  # once per route: the dependant tree does not change after start-up
        known = _KNOWN[id(route)] = frozenset(_names(route.dependant))
    for name in request.query_params:
        if name not in known:
            allowed = ", ".join(sorted(known)) or "none"
            raise bad_request(
                "unknown_parameter", f"unknown query parameter {name[:40]!r}; allowed: {allowed}"
            )
