"""Water properties for heat-meter physics: ρ·c_p by linear interpolation in an IAPWS-IF97 table.

Calling IAPWS-IF97 itself (the ``iapws`` package) costs ~190 µs per state point, which at
25,000 readings/s would need more than the two cores the ingest has. The table in
:mod:`ingest.derive.water_table` holds IF97 values at 1 K steps (generated once by
``scripts/gen_water_table.py``); interpolating it costs well under a microsecond, and
tests/unit/test_derive_water.py checks it against iapws (relative error < 1e-5).
"""

from __future__ import annotations

from ingest.derive.water_table import CP_KJ_KGK, PRESSURE_MPA, RHO_KG_M3, T_MAX_C, T_MIN_C

__all__ = ["PRESSURE_MPA", "cp_kj_per_kg_k", "density_kg_m3", "volumetric_heat_kwh_per_m3_k"]

# ρ·c_p / 3600: kWh per m³ per K, the factor that turns m³/h × K into kW.
_RHO_CP_KWH: tuple[float, ...] = tuple(r * c / 3600.0 for r, c in zip(RHO_KG_M3, CP_KJ_KGK, strict=True))


def _interpolate(table: tuple[float, ...], temp_c: float) -> float:
    """Linear interpolation at 1 K steps; outside the table the end value is used."""
    x = temp_c - T_MIN_C
    if x <= 0.0:
        return table[0]
    if temp_c >= T_MAX_C:
        return table[-1]
    i = int(x)
    low = table[i]
    return low + (table[i + 1] - low) * (x - i)


def density_kg_m3(temp_c: float) -> float:
    """Density of liquid water (IAPWS-IF97 at the table's pressure)."""
    return _interpolate(RHO_KG_M3, temp_c)


def cp_kj_per_kg_k(temp_c: float) -> float:
    """Isobaric specific heat capacity of liquid water (IAPWS-IF97 at the table's pressure)."""
    return _interpolate(CP_KJ_KGK, temp_c)


def volumetric_heat_kwh_per_m3_k(temp_c: float) -> float:
    """ρ(T)·c_p(T)/3600 in kWh/(m³·K): ≈ 1.152 at 40 °C, 1.137 at 70 °C, 1.122 at 100 °C."""
    return _interpolate(_RHO_CP_KWH, temp_c)
