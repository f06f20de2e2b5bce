"""How many decimals each stored quantity means, so answers say 80.8, not 80.80250000000001.

One table, by field, from what the meters resolve (EN 1434 heat meters show temperatures to
0.01 °C, energy registers to 1 Wh; indoor sensors are coarser) rather than a fixed number of
significant digits: six significant digits would print a 1,234,567.891 kWh register as
1.23457e+06 and lose the watt-hours a bill reconciles, while 0.0167 kWh/m² keeps its digits here.
Rounding is one ``round()`` per value, done where the answer is built, so JSON and CSV agree.
"""

from __future__ import annotations

# Decimal places per field. Every field the API can answer has a row (tests hold it to the schema).
DECIMALS: dict[str, int] = {
    # temperatures and their difference: 0.01 K is a heat meter's resolution
    "supply_temp_c": 2,
    "return_temp_c": 2,
    "delta_t_k": 2,
    "outdoor_temp_c": 2,
    "temperature_c": 2,
    # power and energy registers: 1 W and 1 Wh
    "power_kw": 3,
    "energy_kwh": 3,
    "energy_import_kwh": 3,
    "energy_export_kwh": 3,
    "kwh": 3,
    # per heated square metre: a building's hour is a few hundredths of a kWh/m²
    "kwh_per_m2": 4,
    # volume register 1 litre, flow 0.1 l/h
    "volume_m3": 3,
    "flow_m3h": 4,
    # emissions: grams
    "co2e_kg": 3,
    # indoor climate sensors: whole ppm, tenth of a percent
    "co2_ppm": 0,
    "humidity_pct": 1,
    # a meter's status bits
    "info_code": 0,
    # the network overview: heat load to the watt, emission rate to the gram per hour
    "total_heat_load_mw": 6,
    "emission_rate_kg_per_h": 3,
}


def rounded(field: str, value: float) -> float:
    """``value`` rounded to the decimals ``field`` means (a float: JSON stays a number)."""
    return round(value, DECIMALS[field]) + 0.0  # + 0.0: round(-0.001, 2) is -0.0; show 0.0
