"""Default vendor key maps: which quantity a vendor's key means, per device kind (SPEC §5).

The Normaliser looks a key up in the device's own ``field_map`` (from the registry) first, then
in these maps for the device's kind. A key that is already a quantity name (``temperature``,
``co2``) needs no entry. Units are not part of the map: the adapters read them from the
format (SenML ``u``) or from the key's suffix (wmbusmeters ``_kwh``, Sparkplug ``_kWh``).
"""

from __future__ import annotations

from collections.abc import Mapping

from energy_core.schema import DeviceKind

# wmbusmeters (driver_kamheat.cc and the other heat-meter drivers): the suffix names the unit.
WMBUSMETERS_HEAT: dict[str, str] = {
    "total_energy_consumption_kwh": "energy",
    "total_heat_energy_kwh": "energy",
    "total_energy_consumption_mwh": "energy",
    "total_energy_consumption_gj": "energy",
    "total_volume_m3": "volume",
    "volume_flow_m3h": "flow",
    "flow_m3h": "flow",
    "power_kw": "power",
    "t1_temperature_c": "supply_temp",  # wmbusmeters: t1 is the forward (supply) sensor
    "t2_temperature_c": "return_temp",
    "flow_temperature_c": "supply_temp",
    "return_temperature_c": "return_temp",
    "info_codes": "info_code",
}

# SenML record names used by M-Bus gateways for heat meters.
SENML_HEAT: dict[str, str] = {
    "t_supply": "supply_temp",
    "t_return": "return_temp",
    "t_flow": "supply_temp",
    "dt": "delta_t",
}

# Sparkplug B metric names of the edge gateways (unit in the suffix, case as in the spec's units).
SPARKPLUG_HEAT: dict[str, str] = {
    "heat/energy_kWh": "energy",
    "heat/energy_MWh": "energy",
    "heat/volume_m3": "volume",
    "heat/flow_m3h": "flow",
    "heat/power_kW": "power",
    "heat/t_supply_C": "supply_temp",
    "heat/t_return_C": "return_temp",
    "heat/info_code": "info_code",
}

# Elsys ERS (its published payload decoder) and other LoRaWAN indoor sensors' decoders.
ELSYS_INDOOR: dict[str, str] = {
    "temperature": "temperature",
    "humidity": "humidity",
    "co2": "co2",
    "temp": "temperature",
    "rh": "humidity",
}

WMBUSMETERS_ELECTRICITY: dict[str, str] = {
    "total_energy_consumption_kwh": "energy_import",
    "total_energy_production_kwh": "energy_export",
    "current_power_consumption_kw": "power",
}

SPARKPLUG_ELECTRICITY: dict[str, str] = {
    "elec/energy_import_kWh": "energy_import",
    "elec/energy_export_kWh": "energy_export",
    "elec/power_kW": "power",
}

# No "temperature" entry: that key is the indoor quantity's own name, which the Normaliser
# takes before any map, so a weather station must send "outdoor_temp" or one of these.
WEATHER: dict[str, str] = {
    "temp": "outdoor_temp",
    "external_temperature_c": "outdoor_temp",
    "t_outdoor": "outdoor_temp",
}

DEFAULT_VENDOR_MAPS: Mapping[str, Mapping[str, str]] = {
    DeviceKind.HEAT_METER: {**WMBUSMETERS_HEAT, **SENML_HEAT, **SPARKPLUG_HEAT},
    DeviceKind.ELECTRICITY_METER: {**WMBUSMETERS_ELECTRICITY, **SPARKPLUG_ELECTRICITY},
    DeviceKind.INDOOR_SENSOR: ELSYS_INDOOR,
    DeviceKind.WEATHER_STATION: WEATHER,
}
