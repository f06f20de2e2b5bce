"""Nearest weather station per site (energy_core/stations.py)."""

from __future__ import annotations

import pytest

from energy_core.registry import AssetFile, Device, Owner, Registry, Site
from energy_core.stations import distance_km, nearest_stations


def _registry(stations_located: bool) -> Registry:
    def at(lat: float, lon: float) -> dict[str, float]:
        return {"latitude": lat, "longitude": lon} if stations_located else {}

    return Registry(
        AssetFile(
            owners=(Owner(id="o", name="O"),),
            sites=(
                Site(id="wx-north", name="N", owner="o", **at(60.6, 15.4)),
                Site(id="wx-south", name="S", owner="o", **at(60.4, 15.4)),
                Site(id="house", name="H", owner="o", latitude=60.58, longitude=15.41),
                Site(id="nowhere", name="X", owner="o"),
            ),
            devices=(
                Device(id="t1", site="wx-north", kind="weather_station"),
                Device(id="t2", site="wx-south", kind="weather_station"),
                Device(id="hm", site="house", kind="heat_meter"),
            ),
        )
    )


def test_a_site_takes_its_nearest_station_and_one_without_coordinates_takes_them_all() -> None:
    stations = nearest_stations(_registry(stations_located=True))
    assert stations["house"] == ("wx-north",)
    assert stations["nowhere"] == ("wx-north", "wx-south")
    assert stations["wx-south"] == ("wx-south",)


def test_stations_without_coordinates_give_every_site_the_mean_of_all() -> None:
    assert nearest_stations(_registry(stations_located=False))["house"] == ("wx-north", "wx-south")


def test_the_distance_is_the_great_circle_one() -> None:
    # One degree of latitude is 6371 km · π / 180 = 111.19 km.
    assert distance_km(60.0, 15.0, 61.0, 15.0) == pytest.approx(111.195, abs=1e-3)
