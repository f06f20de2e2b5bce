"""The analysis layout (issues 15 and 16): where daily KPIs and fault findings live in InfluxDB.

This module is the ONE place that knows how analysis results look; ingest writes them
(``ingest/analysis/``), the API and the dashboards read them. Pure, no I/O.

Every result is a point per (site, Europe/Stockholm local day) in the ``rollup_1d`` retention
policy (kept as long as the daily roll-ups), at the day's local midnight, like a daily roll-up.
Weeks, months and years are aggregated from the days on read (rules below), so there is one
stored number per day and re-analysing a day overwrites it (same series + timestamp).

``substation_kpi`` — tags ``owner``, ``site``, ``network`` (the heat meter's site tags)
    heat_kwh, volume_m3            register deltas over the day (else the readings' integral)
    delta_t_k                      volume-weighted ΔT = heat / (volume · ρc_p)
    return_temp_c, supply_temp_c   volume-weighted temperatures
    specific_flow_m3_per_mwh       volume / (heat / 1000)
    excess_flow_m3                 volume − the volume the heat needs at the target ΔT (≥ 0)
    peak_load_kw                   the largest hourly mean load of the day
    outdoor_temp_c                 the day's mean outdoor temperature at the nearest station
    hours                          hours of the day with readings (0–25)
    readings                       raw readings in the day (for the meter's usual interval)
    from_registers                 1.0: heat and volume from register deltas, 0.0: from readings
    signature_base_kw, signature_slope_kw_per_k, signature_balance_c, signature_r2,
    signature_expected_kwh         the energy signature over the trailing window and what it
                                   expected for this day (absent when no signature could be fitted)
  Over several days: sums for heat, volume, excess flow, hours; delta_t_k and the temperatures
  weighted by volume_m3; peak = max; specific flow = Σvolume / (Σheat / 1000).

``substation_fault`` — tags ``owner``, ``site``, ``network``, ``code``, ``severity``
    active      1.0 the rule fired on this day; 0.0 a re-analysis cleared it (late data)
    since_s     Unix seconds when the condition began (may be before this day: an episode)
    value       the number that triggered the rule (its unit is the rule's, see FAULTS)
    threshold   the threshold it crossed
    text        (string field) one sentence of evidence for people: "ΔT 18.2 K < 25 K over 24 h"
  An episode is a run of consecutive active days of one (site, code); it is open when its last
  active day is the site's latest analysed day.

``building_kpi`` — tags ``owner``, ``site``
    heat_kwh, electricity_kwh      the day's derived energy (measurement ``energy``) per carrier
    degree_days, normal_degree_days  observed and normal-year degree days (balance configurable)
    base_kwh                       the weather-independent part of heat_kwh
    outdoor_temp_c                 the day's mean outdoor temperature at the nearest station
    comfort_low_h, comfort_high_h  indoor hours below / above the comfort band
    co2_high_h                     indoor hours with CO₂ above the limit
    indoor_hours                   hours with indoor readings
  Normalised heat over a period: Σbase + (Σheat − Σbase) · Σnormal_degree_days / Σdegree_days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from energy_core.rollups import RP_1D

if TYPE_CHECKING:
    from energy_core.influx import InfluxClient

RP = RP_1D  # analysis results live beside the daily roll-ups

SUBSTATION_KPI = "substation_kpi"
SUBSTATION_FAULT = "substation_fault"
BUILDING_KPI = "building_kpi"
MEASUREMENTS = (SUBSTATION_KPI, SUBSTATION_FAULT, BUILDING_KPI)

SUBSTATION_KPI_FIELDS = (
    "heat_kwh",
    "volume_m3",
    "delta_t_k",
    "return_temp_c",
    "supply_temp_c",
    "specific_flow_m3_per_mwh",
    "excess_flow_m3",
    "peak_load_kw",
    "outdoor_temp_c",
    "hours",
    "readings",
    "from_registers",
    "signature_base_kw",
    "signature_slope_kw_per_k",
    "signature_balance_c",
    "signature_r2",
    "signature_expected_kwh",
)
FAULT_FIELDS = ("active", "since_s", "value", "threshold", "text")
BUILDING_KPI_FIELDS = (
    "heat_kwh",
    "electricity_kwh",
    "degree_days",
    "normal_degree_days",
    "base_kwh",
    "outdoor_temp_c",
    "comfort_low_h",
    "comfort_high_h",
    "co2_high_h",
    "indoor_hours",
)

Severity = Literal["critical", "warning"]


@dataclass(frozen=True, slots=True)
class FaultClass:
    code: str
    severity: Severity
    unit: str  # of ``value`` and ``threshold``
    title: str  # for people: table headings, alert summaries


FAULTS: dict[str, FaultClass] = {
    f.code: f
    for f in (
        FaultClass("low_delta_t", "warning", "K", "Low ΔT (poor cooling)"),
        FaultClass("high_return_temp", "warning", "°C", "High return temperature"),
        FaultClass("stuck_energy_register", "critical", "h", "Energy register stuck while water flows"),
        FaultClass("stuck_volume_register", "critical", "h", "Volume register stuck while water flows"),
        FaultClass("frozen_sensor", "warning", "h", "Temperature sensor frozen"),
        FaultClass("swapped_temperatures", "critical", "K", "Supply and return sensors swapped"),
        FaultClass("silent_meter", "critical", "h", "Meter silent"),
        FaultClass("meter_alarm", "critical", "1", "Meter reports an error code"),
        FaultClass("signature_deviation", "warning", "%", "Heat outside the energy signature's band"),
        FaultClass("summer_bypass", "warning", "K", "Flow at near-zero ΔT at low load (bypass)"),
    )
}
FAULT_CODES = tuple(FAULTS)


class DayAnalyser(Protocol):
    """One kind of daily analysis, run by ingest's analysis runner (``ingest/analysis/``).

    The runner calls :meth:`analyse` for local days whose inputs changed (a roll-up of one of
    ``inputs`` was rewritten) and, on a clock, for today; it writes the returned line-protocol
    lines into :data:`RP`. It must be idempotent: the same stored data gives the same lines.
    """

    name: str  # "substations", "buildings": metric label and log key
    inputs: frozenset[str]  # raw measurements whose roll-ups feed it

    async def analyse(self, influx: InfluxClient, days: Sequence[dt.date]) -> list[str]: ...


def normalised_heat(heat_kwh: float, base_kwh: float, degree_days: float, normal_degree_days: float) -> float:
    """Degree-day normalised heat of a period (graddagskorrigering; docs/buildings.md).

    The weather-dependent part is scaled by normal / observed degree days, the base part kept:
    ``base + (heat − base) · normal_dd / dd``. A period without degree days (summer) has no
    weather-dependent part to correct: its heat is returned as it is.
    """
    if degree_days <= 0:
        return heat_kwh
    return base_kwh + (heat_kwh - base_kwh) * normal_degree_days / degree_days


# Appended for the dashboards (issue 16, "Grafana"): Grafana's InfluxQL datasource cannot join the
# registry, so kWh/m² in a dashboard needs the floor area beside the energy. ``building_kpi``
# carries the site's Atemp from the registry as one more field on every day (absent when the
# registry has none): kWh/m² over a period = Σheat_kwh / last(floor_area_m2).
BUILDING_KPI_FLOOR_AREA_FIELD = "floor_area_m2"
