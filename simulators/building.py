"""Buildings: indoor-climate sensors driven by occupancy, and electricity meters with daily profiles."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from enum import StrEnum

from energy_core.schema import DeviceKind
from simulators.weather import OutdoorClimate

OUTDOOR_CO2_PPM = 420.0
CO2_PER_PERSON_M3H = 0.018  # an adult at rest breathes out about 18 l CO2 per hour


class Use(StrEnum):
    """What a building is used for: it sets who is inside when, and when power is drawn."""

    RESIDENTIAL = "residential"
    SCHOOL = "school"
    OFFICE = "office"


def occupancy(use: Use, ts_s: float) -> float:
    """Share of the zone's people present (0 … 1) at ``ts_s``; local time is CET."""
    local_s = ts_s + 3600.0
    hour = (local_s / 3600.0) % 24.0
    weekday = int(local_s // 86400.0 + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    if use is Use.RESIDENTIAL:
        # Home at night and in the evening, fewer in daytime on weekdays.
        away = 0.55 if weekday < 5 and 8.0 <= hour < 16.0 else 0.15
        return 1.0 - away - (0.1 if 16.0 <= hour < 18.0 else 0.0)
    if weekday >= 5:
        return 0.02
    opens, closes = (8.0, 15.5) if use is Use.SCHOOL else (7.5, 17.0)
    if opens <= hour < closes:
        return 0.9 if use is Use.SCHOOL and not 11.0 <= hour < 12.0 else 0.6
    return 0.0


@dataclass
class IndoorSensor:
    """An indoor-climate sensor (Elsys ERS CO2-like) in a zone of ``people`` and ``air_volume_m3``.

    CO2 follows a first-order balance between what people breathe out and what the ventilation
    removes; temperature drifts from the set point with occupancy and the outdoor temperature.
    """

    device_id: str
    use: Use
    people: float
    air_volume_m3: float
    air_changes_per_h: float = 0.8
    setpoint_c: float = 21.0
    kind: DeviceKind = DeviceKind.INDOOR_SENSOR
    co2_ppm: float = 480.0
    temperature_c: float = 21.0
    _last_ts_s: float | None = field(default=None, repr=False)

    def read(self, ts_s: float, outdoor_c: float, rng: random.Random) -> dict[str, float]:
        """One reading: temperature (°C), humidity (%RH) and CO2 (ppm), as the sensor rounds them."""
        hours = 0.0 if self._last_ts_s is None else max(0.0, ts_s - self._last_ts_s) / 3600.0
        self._last_ts_s = ts_s
        present = self.people * occupancy(self.use, ts_s)
        source_ppm_h = present * CO2_PER_PERSON_M3H / self.air_volume_m3 * 1e6
        co2_eq = OUTDOOR_CO2_PPM + source_ppm_h / self.air_changes_per_h
        decay = math.exp(-self.air_changes_per_h * hours)
        self.co2_ppm = co2_eq + (self.co2_ppm - co2_eq) * decay
        # People and sun warm the room; cold weather pulls it a little below the set point.
        temp_eq = self.setpoint_c + 1.2 * present / max(self.people, 1.0) + 0.04 * (outdoor_c - 5.0)
        self.temperature_c = temp_eq + (self.temperature_c - temp_eq) * math.exp(-0.5 * hours)
        humidity = 38.0 + 0.9 * outdoor_c + 6.0 * present / max(self.people, 1.0) + rng.gauss(0.0, 1.0)
        return {
            "temperature": round(self.temperature_c + rng.gauss(0.0, 0.05), 1),
            "humidity": float(round(min(80.0, max(12.0, humidity)))),
            "co2": float(round(self.co2_ppm + rng.gauss(0.0, 8.0))),
        }


def electricity_profile(use: Use, ts_s: float) -> float:
    """Relative electric load over the day (1 = the building's peak)."""
    hour = ((ts_s / 3600.0) + 1.0) % 24.0
    if use is Use.RESIDENTIAL:
        return (
            0.3
            + 0.35 * math.exp(-(((hour - 7.5) / 1.5) ** 2))
            + 0.65 * math.exp(-(((hour - 19.0) / 2.5) ** 2))
        )
    return 0.25 + 0.75 * occupancy(use, ts_s)


@dataclass
class ElectricityMeter:
    """A building's electricity meter: import/export registers and net power (negative: exporting).

    ``solar_peak_kw`` > 0 gives the building rooftop solar panels that export on sunny middays.
    """

    device_id: str
    use: Use
    peak_kw: float
    solar_peak_kw: float = 0.0
    energy_import_kwh: float = 0.0
    energy_export_kwh: float = 0.0
    climate: OutdoorClimate | None = None  # for the sun on the solar panels
    kind: DeviceKind = DeviceKind.ELECTRICITY_METER
    _last_ts_s: float | None = field(default=None, repr=False)
    _power_kw: float = field(default=0.0, repr=False)

    def read(self, ts_s: float, outdoor_c: float, rng: random.Random) -> dict[str, float]:
        """One reading: registers advanced by the last power, and the current net power in kW."""
        if self._last_ts_s is not None and ts_s > self._last_ts_s:
            hours = (ts_s - self._last_ts_s) / 3600.0
            if self._power_kw >= 0:
                self.energy_import_kwh += self._power_kw * hours
            else:
                self.energy_export_kwh -= self._power_kw * hours
        self._last_ts_s = ts_s
        demand = self.peak_kw * electricity_profile(self.use, ts_s) * (1.0 + rng.gauss(0.0, 0.05))
        solar = 0.0
        if self.solar_peak_kw > 0 and self.climate is not None:
            solar = self.solar_peak_kw * self.climate.daylight(ts_s) * rng.uniform(0.6, 1.0)
        self._power_kw = round(demand - solar, 3)
        reading = {"energy_import": round(self.energy_import_kwh, 3), "power": self._power_kw}
        if self.solar_peak_kw > 0:
            reading["energy_export"] = round(self.energy_export_kwh, 3)
        return reading

    def set_registers(self, energy_kwh: float, volume_m3: float = 0.0) -> None:
        """Set the import register (a reset sets 0, a replacement meter starts near 0); export too."""
        self.energy_import_kwh = energy_kwh
        self.energy_export_kwh = min(self.energy_export_kwh, energy_kwh)
