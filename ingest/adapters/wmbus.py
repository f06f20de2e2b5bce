"""wmbusmeters JSON telegrams (``wmbusmeters/{name}``).

wmbusmeters names every value with its unit as the last ``_`` part (``power_kw``,
``t1_temperature_c``, ``volume_flow_m3h``); the adapter passes that unit on, and the vendor
maps say which key is which quantity. The device is ``name`` (the meter's name in the
wmbusmeters config), with the M-Bus ``id`` as an alternative key; the time is ``timestamp``.
"""

from __future__ import annotations

from energy_core.errors import PayloadError, Reason
from energy_core.schema import Message, RawReading
from ingest.adapters.common import (
    device_keys,
    json_object,
    last_level,
    numeric_values,
    optional_time,
    reading,
    unit_from_suffix,
)
from ingest.adapters.identity import TopicBinding

# wmbusmeters' unit suffixes (lower case) → unit names of ingest.units.
WMBUS_UNITS: dict[str, str] = {
    "kwh": "kWh",
    "mwh": "MWh",
    "wh": "Wh",
    "gj": "GJ",
    "mj": "MJ",
    "kw": "kW",
    "w": "W",
    "mw": "MW",
    "m3": "m3",
    "l": "l",
    "m3h": "m3/h",
    "lh": "l/h",
    "c": "Cel",
    "k": "K",
    "f": "°F",
    "rh": "%RH",
    "pct": "%RH",
    "ppm": "ppm",
}
_NOT_VALUES = frozenset({"id", "_", "media", "meter", "name", "timestamp"})


class WmbusmetersAdapter:
    """Reads wmbusmeters JSON output."""

    name = "wmbusmeters"
    binding: TopicBinding = "payload"

    def parse(self, message: Message) -> list[RawReading]:
        telegram = json_object(message.payload, "a wmbusmeters telegram")
        keys = device_keys(telegram.get("name"), telegram.get("id"), last_level(message.topic))
        if not keys:
            raise PayloadError(Reason.SCHEMA, "telegram has no meter name or id")
        values = {
            key: (value, unit_from_suffix(key, WMBUS_UNITS))
            for key, value in numeric_values(telegram).items()
            if key not in _NOT_VALUES
        }
        if not values:
            raise PayloadError(Reason.SCHEMA, "telegram holds no numbers")
        return [reading(keys, optional_time(telegram.get("timestamp"), "timestamp"), values)]
