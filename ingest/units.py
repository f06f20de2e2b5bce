"""Unit conversion to the canonical units of the schema (SPEC §5).

Unit names follow the SenML registry (RFC 8428 §12.1, ``Cel``, ``m3/s``, ``W``) and its
RFC 8798 secondary units (``kWh``, ``kW``, ``m3/h``, ``l/s``), plus the spellings that
vendors and wmbusmeters use (``°C``, ``m³/h``, ``MWh``). A conversion is linear:
``canonical = value * scale + offset``.
"""

from __future__ import annotations

from energy_core.errors import PayloadError, Reason

# (canonical unit, scale, offset) per accepted unit name. A table lookup, not a units library:
# this runs for every value on the hot path and the set of units is small and fixed.
_CONVERSIONS: dict[str, tuple[str, float, float]] = {}


def _add(canonical: str, scale: float, offset: float, *names: str) -> None:
    for name in names:
        _CONVERSIONS[name] = (canonical, scale, offset)


# energy → kWh
_add("kWh", 1.0, 0.0, "kWh", "kwh", "KWh")
_add("kWh", 1e-3, 0.0, "Wh", "wh")
_add("kWh", 1e3, 0.0, "MWh", "mwh")
_add("kWh", 1e6, 0.0, "GWh")
_add("kWh", 1 / 3.6e6, 0.0, "J")
_add("kWh", 1 / 3.6e3, 0.0, "kJ")
_add("kWh", 1 / 3.6, 0.0, "MJ")
_add("kWh", 1e3 / 3.6, 0.0, "GJ")
# power → kW
_add("kW", 1.0, 0.0, "kW", "kw")
_add("kW", 1e-3, 0.0, "W", "w")
_add("kW", 1e3, 0.0, "MW", "mw")
# volume → m³
_add("m3", 1.0, 0.0, "m3", "m³")
_add("m3", 1e-3, 0.0, "l", "L")
# flow → m³/h
_add("m3/h", 1.0, 0.0, "m3/h", "m³/h", "m3h")
_add("m3/h", 3600.0, 0.0, "m3/s", "m³/s")
_add("m3/h", 3.6, 0.0, "l/s", "L/s")
_add("m3/h", 0.06, 0.0, "l/min", "L/min")
_add("m3/h", 1e-3, 0.0, "l/h", "L/h")
# temperature → °C
_add("Cel", 1.0, 0.0, "Cel", "°C", "C", "degC", "celsius")
_add("Cel", 1.0, -273.15, "K")
_add("Cel", 5 / 9, -32 * 5 / 9, "°F", "degF", "F")
# relative humidity → %
_add("%RH", 1.0, 0.0, "%RH", "%", "pct")
_add("%RH", 100.0, 0.0, "/")  # SenML ratio 0..1
_add("%RH", 1.0, 0.0, "/100")  # RFC 8798: 1/100, i.e. percent
_add("%RH", 0.1, 0.0, "/1000")  # RFC 8798: 1/1000, per mille
# concentration → ppm
_add("ppm", 1.0, 0.0, "ppm")
# dimensionless
_add("1", 1.0, 0.0, "1", "count")


def convert(value: float, unit: str | None, canonical: str) -> float:
    """Convert ``value`` given in ``unit`` to ``canonical``; ``None`` means it already is canonical.

    Raises PayloadError(UNKNOWN_UNIT) for a unit we do not know or one of the wrong dimension
    (kWh sent for a temperature).
    """
    if unit is None or unit == canonical:
        return value
    conversion = _CONVERSIONS.get(unit)
    if conversion is None:
        raise PayloadError(Reason.UNKNOWN_UNIT, f"unit {unit!r} is not known")
    target, scale, offset = conversion
    if target != canonical:
        # A temperature difference in K is the same number of degrees Celsius.
        if canonical == "K" and target == "Cel" and unit in ("Cel", "°C", "C", "degC", "celsius"):
            return value
        raise PayloadError(Reason.UNKNOWN_UNIT, f"unit {unit!r} cannot express {canonical}")
    return value * scale + offset


def known_units() -> frozenset[str]:
    return frozenset(_CONVERSIONS)
