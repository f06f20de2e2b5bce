"""Borlänge's outdoor climate, and the weather stations that measure it.

The outdoor temperature is a pure function of time (and the seed): season + day cycle +
weather systems passing + a little noise. Being stateless, it gives the same value for a
timestamp however the simulation steps through time, which keeps runs deterministic.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from energy_core.schema import DeviceKind

DAY_S = 86400.0
YEAR_DAYS = 365.25
TAU = 2 * math.pi

# Borlänge (60.5 °N, inland): annual mean ≈ 4.5 °C, coldest mid-January ≈ -7 °C, warmest mid-July ≈ 16 °C.
ANNUAL_MEAN_C = 4.5
SEASON_AMPLITUDE_C = 11.5
COLDEST_DAY_OF_YEAR = 17


class OutdoorClimate:
    """Outdoor temperature of the town at any Unix time; the seed picks the weather systems."""

    def __init__(self, seed: int = 1) -> None:
        rng = random.Random(f"climate-{seed}")
        # Weather systems: a few slow oscillations of a few days, with seeded phases.
        self._systems = [
            (amplitude, TAU / (period_days * DAY_S), rng.uniform(0, TAU))
            for amplitude, period_days in ((2.5, 2.9), (2.0, 5.3), (1.5, 8.7), (1.0, 13.1))
        ]
        self._noise = [
            (amplitude, TAU / period_s, rng.uniform(0, TAU))
            for amplitude, period_s in ((0.35, 2900.0), (0.2, 1130.0), (0.1, 410.0))
        ]

    def temperature_c(self, ts_s: float) -> float:
        """Outdoor air temperature in °C at ``ts_s`` (Unix seconds, UTC)."""
        day_of_year = (ts_s / DAY_S) % YEAR_DAYS
        season = ANNUAL_MEAN_C - SEASON_AMPLITUDE_C * math.cos(
            TAU * (day_of_year - COLDEST_DAY_OF_YEAR) / 365.25
        )
        summer = 0.5 - 0.5 * math.cos(
            TAU * (day_of_year - COLDEST_DAY_OF_YEAR) / 365.25
        )  # 0 winter, 1 summer
        # Day cycle: coldest around 04 local (02 UTC), warmest mid-afternoon; wider in summer.
        hour_utc = (ts_s % DAY_S) / 3600.0
        daily = -(2.0 + 3.0 * summer) * math.cos(TAU * (hour_utc - 2.0) / 24.0)
        weather = sum(a * math.sin(w * ts_s + p) for a, w, p in self._systems)
        noise = sum(a * math.sin(w * ts_s + p) for a, w, p in self._noise)
        return season + daily + weather + noise

    def daylight(self, ts_s: float) -> float:
        """Sun on a horizontal surface, 0 (night) … 1 (clear midsummer noon); for solar panels."""
        day_of_year = (ts_s / DAY_S) % YEAR_DAYS
        declination = 23.44 * math.sin(TAU * (day_of_year - 80) / YEAR_DAYS)
        solar_hour = (ts_s % DAY_S) / 3600.0 + 1.0  # CET ≈ solar time at 15 °E; Borlänge is at 15.4 °E
        hour_angle = 15.0 * (solar_hour - 12.0)
        lat = math.radians(60.48)
        dec = math.radians(declination)
        elevation = math.sin(lat) * math.sin(dec) + math.cos(lat) * math.cos(dec) * math.cos(
            math.radians(hour_angle)
        )
        return max(0.0, elevation)


@dataclass
class WeatherStation:
    """A weather station: the town's temperature plus its own siting offset and sensor noise."""

    device_id: str
    siting_offset_c: float = 0.0
    kind: DeviceKind = DeviceKind.WEATHER_STATION

    def read(self, ts_s: float, outdoor_c: float, rng: random.Random) -> dict[str, float]:
        """One reading: ``outdoor_temp`` in °C."""
        return {"outdoor_temp": round(outdoor_c + self.siting_offset_c + rng.gauss(0.0, 0.1), 2)}
