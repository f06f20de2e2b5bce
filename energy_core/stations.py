"""Which weather station a site's outdoor temperature comes from (issues 15 and 16).

A site takes the nearest weather station (great-circle distance between the registry's
``latitude``/``longitude``) among the stations whose site has coordinates. A site without
coordinates, or a registry whose stations have none, takes every station: its outdoor
temperature is then the mean of all stations (a town-wide mean; fine for one town, say so in
the docs when sites spread further). Pure, no I/O.
"""

from __future__ import annotations

import math

from energy_core.registry import Registry
from energy_core.schema import DeviceKind

EARTH_RADIUS_KM = 6371.0


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def station_sites(registry: Registry) -> tuple[str, ...]:
    """The sites that hold a weather station, sorted."""
    return tuple(sorted({d.site for d in registry.devices.values() if d.kind is DeviceKind.WEATHER_STATION}))


def nearest_stations(registry: Registry) -> dict[str, tuple[str, ...]]:
    """Site id → the station site(s) whose mean is its outdoor temperature (empty: no station at all)."""
    stations = station_sites(registry)
    located = [
        (s, site.latitude, site.longitude)
        for s in stations
        if (site := registry.sites[s]).latitude is not None and site.longitude is not None
    ]
    answer: dict[str, tuple[str, ...]] = {}
    for site in registry.sites.values():
        if site.id in stations:
            answer[site.id] = (site.id,)
        elif located and site.latitude is not None and site.longitude is not None:
            lat, lon = site.latitude, site.longitude
            best = min(located, key=lambda s: (distance_km(lat, lon, s[1] or 0.0, s[2] or 0.0), s[0]))
            answer[site.id] = (best[0],)
        else:
            answer[site.id] = stations
    return answer
