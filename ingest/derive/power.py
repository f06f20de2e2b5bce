"""Thermal power of a heat meter from volume flow and temperatures (SPEC §5 derivations).

P = q·ρ(T)·c_p(T)·ΔT with ρ and c_p at the temperature where the flow sensor sits (the
registry's ``flow_sensor``: ``return`` by default, as in most Swedish substations). With q in
m³/h, ρ·c_p/3600 in kWh/(m³·K) and ΔT in K the result is in kW.

EN 1434 heat meters use the heat coefficient ρ(T_sensor)·(h_supply − h_return)/ΔT instead of
c_p at one temperature; between 40 and 110 °C the two differ by less than 0.3 %.
"""

from __future__ import annotations

from typing import Literal

from ingest.derive.water import volumetric_heat_kwh_per_m3_k

POWER_LIMIT_KW = 1e6  # the power quantity's plausibility bound (energy_core/schema.py)


def thermal_power_kw(
    flow_m3h: float,
    supply_temp_c: float,
    return_temp_c: float,
    flow_sensor: Literal["supply", "return"] = "return",
) -> float:
    """Heat power in kW; negative when the return is warmer than the supply (swapped sensors)."""
    sensor_temp_c = return_temp_c if flow_sensor == "return" else supply_temp_c
    return flow_m3h * volumetric_heat_kwh_per_m3_k(sensor_temp_c) * (supply_temp_c - return_temp_c)


def add_thermal_power(fields: dict[str, float], flow_sensor: Literal["supply", "return"]) -> bool:
    """Set ``power_kw`` on district-heating fields that have flow and both temperatures but no power.

    Returns whether it did. A result beyond the plausibility bound is not written: it can only
    come from a broken flow reading, which is stored as it came.
    """
    if "power_kw" in fields:
        return False
    flow = fields.get("flow_m3h")
    supply = fields.get("supply_temp_c")
    ret = fields.get("return_temp_c")
    if flow is None or supply is None or ret is None:
        return False
    power = thermal_power_kw(flow, supply, ret, flow_sensor)
    if abs(power) > POWER_LIMIT_KW:
        return False
    fields["power_kw"] = power
    return True
