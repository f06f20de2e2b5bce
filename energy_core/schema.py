"""The normalised schema: the contract between ingest, API and dashboards (SPEC §4).

Everything downstream of an adapter speaks these types. They are frozen, slotted
dataclasses because they sit on the hot path (one or more per MQTT message).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Measurement(StrEnum):
    DISTRICT_HEATING = "district_heating"
    ELECTRICITY = "electricity"
    INDOOR_CLIMATE = "indoor_climate"
    WEATHER = "weather"
    ENERGY = "energy"
    EMISSIONS = "emissions"


class DeviceKind(StrEnum):
    HEAT_METER = "heat_meter"
    ELECTRICITY_METER = "electricity_meter"
    INDOOR_SENSOR = "indoor_sensor"
    WEATHER_STATION = "weather_station"


MEASUREMENT_OF_KIND: dict[DeviceKind, Measurement] = {
    DeviceKind.HEAT_METER: Measurement.DISTRICT_HEATING,
    DeviceKind.ELECTRICITY_METER: Measurement.ELECTRICITY,
    DeviceKind.INDOOR_SENSOR: Measurement.INDOOR_CLIMATE,
    DeviceKind.WEATHER_STATION: Measurement.WEATHER,
}


@dataclass(frozen=True, slots=True)
class Quantity:
    """A physical quantity a device can report, and where it lands in InfluxDB."""

    name: str
    field: str
    unit: str  # canonical unit: a bare number in a native v1 payload is in this unit
    kinds: tuple[DeviceKind, ...]
    low: float  # plausibility range, inclusive; outside it the reading is dead-lettered
    high: float


_HEAT = (DeviceKind.HEAT_METER,)
_ELEC = (DeviceKind.ELECTRICITY_METER,)
_INDOOR = (DeviceKind.INDOOR_SENSOR,)

# Plausibility ranges: a heat meter's 0.00 °C or 185.00 °C is a broken sensor (SPEC §5), so the
# open bounds below sit just inside those sentinel values.
QUANTITIES: dict[str, Quantity] = {
    q.name: q
    for q in (
        Quantity("energy", "energy_kwh", "kWh", _HEAT, 0.0, 1e12),
        Quantity("volume", "volume_m3", "m3", _HEAT, 0.0, 1e12),
        Quantity("power", "power_kw", "kW", (*_HEAT, *_ELEC), -1e6, 1e6),
        Quantity("flow", "flow_m3h", "m3/h", _HEAT, 0.0, 1e5),
        Quantity("supply_temp", "supply_temp_c", "Cel", _HEAT, 0.01, 180.0),
        Quantity("return_temp", "return_temp_c", "Cel", _HEAT, 0.01, 180.0),
        Quantity("delta_t", "delta_t_k", "K", _HEAT, -50.0, 180.0),
        Quantity("info_code", "info_code", "1", _HEAT, 0.0, 2.0**32),
        Quantity("energy_import", "energy_import_kwh", "kWh", _ELEC, 0.0, 1e12),
        Quantity("energy_export", "energy_export_kwh", "kWh", _ELEC, 0.0, 1e12),
        Quantity("temperature", "temperature_c", "Cel", _INDOOR, -40.0, 80.0),
        Quantity("humidity", "humidity_pct", "%RH", _INDOOR, 0.0, 100.0),
        Quantity("co2", "co2_ppm", "ppm", _INDOOR, 0.0, 40000.0),
        Quantity("outdoor_temp", "outdoor_temp_c", "Cel", (DeviceKind.WEATHER_STATION,), -60.0, 60.0),
    )
}

# Energy carriers of the derived `energy` and `emissions` measurements.
CARRIER_DISTRICT_HEAT = "district_heat"
CARRIER_ELECTRICITY = "electricity"

UNASSIGNED_OWNER = "unassigned"


@dataclass(frozen=True, slots=True)
class RawReading:
    """What an adapter extracts from one message, before the registry and normalisation.

    ``device_key`` is the device's identity as the message states it (device id, DevEUI,
    SenML base name, Sparkplug ``group/edge/device``). ``values`` maps a source key (a
    quantity name, or a vendor key the device's field map translates) to a value and the
    unit it was sent in (``None``: the quantity's canonical unit). ``alt_keys`` are other
    identities the same message states (a TTS device id next to its DevEUI), tried in order
    when ``device_key`` is not registered.
    """

    device_key: str
    ts_ns: int | None  # None: the message carried no time; the receive time is used
    values: dict[str, tuple[float, str | None]]
    alt_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Point:
    """One InfluxDB point: a measurement, its tags in a fixed order, float fields, a ns time."""

    measurement: str
    tags: tuple[tuple[str, str], ...]
    fields: dict[str, float]
    ts_ns: int


@dataclass(frozen=True, slots=True)
class Message:
    """An MQTT message as the pipeline sees it."""

    topic: str
    payload: bytes
    received_ns: int
