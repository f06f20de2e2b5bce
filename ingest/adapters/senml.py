"""SenML JSON (RFC 8428) packs, with the RFC 8798 secondary units.

Resolution follows RFC 8428 §4.6: base fields (``bn``, ``bt``, ``bu``, ``bv``, ``bs``) apply
to the record they are in and every later one until changed; name = ``bn`` + ``n``;
time = ``bt`` + ``t``, where a resolved time below 2**28 is relative to now (the receive
time); value = ``bv`` + ``v``; a record with only a sum is read as ``bs`` + ``s`` (a meter's
cumulative register). ``bver`` above 10 and unknown must-understand fields (ending in ``_``)
reject the pack, as the RFC requires.

Device key: the base name as sent (e.g. ``urn:dev:mbus:KAM-66666666:``), which the registry
holds as an external id. Without a base name, a name with a ``:`` splits at the last one
(``urn:dev:mbus:X:energy`` → ``urn:dev:mbus:X:`` + ``energy``); otherwise the topic's last
level is the device. Record names (``energy``, ``t_supply``) go to the Normaliser, which
maps them to quantities through the device's field map and the vendor maps.
"""

from __future__ import annotations

import math
import re
from typing import Any

from energy_core.errors import PayloadError, Reason
from energy_core.schema import Message, RawReading
from energy_core.timeutil import NS
from ingest.adapters.common import MAX_UNIX_SECONDS, last_level, load_json, number
from ingest.adapters.identity import TopicBinding

SENML_VERSION = 10
RELATIVE_LIMIT = 2**28  # RFC 8428 §4.5.3: times below this are relative to now
MAX_RECORDS = 10_000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:./_-]*$", re.ASCII)  # RFC 8428 §4.5.1
_OTHER_VALUES = ("vs", "vb", "vd")  # string/boolean/data values: not numeric quantities


class SenmlAdapter:
    """Reads SenML JSON packs (an array of records)."""

    name = "senml"
    binding: TopicBinding = "payload"

    def parse(self, message: Message) -> list[RawReading]:
        pack = load_json(message.payload)
        if not isinstance(pack, list) or not pack:
            raise PayloadError(Reason.SCHEMA, "a SenML pack must be a non-empty JSON array")
        if len(pack) > MAX_RECORDS:
            raise PayloadError(Reason.PAYLOAD_TOO_LARGE, f"{len(pack)} records in one pack")
        base = _Base()
        readings: dict[tuple[str, int], dict[str, tuple[float, str | None]]] = {}
        for index, record in enumerate(pack):
            if not isinstance(record, dict):
                raise PayloadError(Reason.SCHEMA, f"record {index} is not a JSON object")
            base.update(record, index)
            resolved = _resolve(record, base, index, message)
            if resolved is not None:
                device_key, ts_ns, field, value, unit = resolved
                readings.setdefault((device_key, ts_ns), {})[field] = (value, unit)
        return [RawReading(key, ts_ns, values) for (key, ts_ns), values in readings.items()]


class _Base:
    """The base fields in force while walking a pack."""

    __slots__ = ("name", "sum", "time", "unit", "value")

    def __init__(self) -> None:
        self.name = ""
        self.time = 0.0
        self.unit: str | None = None
        self.value = 0.0
        self.sum = 0.0

    def update(self, record: dict[str, Any], index: int) -> None:
        for key in record:
            if key.endswith("_"):
                raise PayloadError(Reason.SCHEMA, f"record {index}: must-understand field {key!r}")
        if "bver" in record:
            version = record["bver"]
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                raise PayloadError(Reason.SCHEMA, f"record {index}: 'bver' must be a positive integer")
            if version > SENML_VERSION:
                raise PayloadError(Reason.SCHEMA, f"SenML version {version} is newer than {SENML_VERSION}")
        if "bn" in record:
            self.name = _text(record["bn"], "bn", index)
        if "bt" in record:
            self.time = _finite(record["bt"], "bt", index)
        if "bu" in record:
            self.unit = _text(record["bu"], "bu", index) or None
        if "bv" in record:
            self.value = _finite(record["bv"], "bv", index)
        if "bs" in record:
            self.sum = _finite(record["bs"], "bs", index)


def _resolve(
    record: dict[str, Any], base: _Base, index: int, message: Message
) -> tuple[str, int, str, float, str | None] | None:
    """(device key, time, field, value, unit) of one record, or None for a non-numeric record."""
    name = _text(record.get("n", ""), "n", index)
    if "v" in record:
        value = base.value + _finite(record["v"], "v", index)
    elif "s" in record:
        value = base.sum + _finite(record["s"], "s", index)
    elif any(key in record for key in _OTHER_VALUES):
        return None
    elif not name:
        return None  # a record that only sets base fields
    else:
        raise PayloadError(Reason.SCHEMA, f"record {index} ({name!r}) has no value")

    if not math.isfinite(value):
        raise PayloadError(Reason.SCHEMA, f"record {index}: base value plus value overflows")
    full_name = base.name + name
    if not _NAME.match(full_name):
        raise PayloadError(Reason.SCHEMA, f"record {index}: {full_name[:80]!r} is not a valid SenML name")
    if base.name and name:
        device_key, field = base.name, name
    elif ":" in full_name.rstrip(":"):
        prefix, _, field = full_name.rpartition(":")
        device_key = prefix + ":"
    else:
        device_key, field = last_level(message.topic) or "", full_name
    if not device_key or not field:
        raise PayloadError(Reason.SCHEMA, f"record {index}: cannot tell device and field in {full_name!r}")

    unit = record.get("u", base.unit)
    if unit is not None and not isinstance(unit, str):
        raise PayloadError(Reason.SCHEMA, f"record {index}: 'u' must be a string")
    return device_key, _time_ns(base.time, record, index, message), field, value, unit or None


def _time_ns(base_time: float, record: dict[str, Any], index: int, message: Message) -> int:
    seconds = base_time + (_finite(record["t"], "t", index) if "t" in record else 0.0)
    if not math.isfinite(seconds) or abs(seconds) >= MAX_UNIX_SECONDS:
        raise PayloadError(Reason.TIMESTAMP_OUT_OF_RANGE, f"record {index}: time {seconds} is not plausible")
    if seconds < RELATIVE_LIMIT:
        return message.received_ns + round(seconds * NS)
    return round(seconds * 1e6) * 1000  # microsecond resolution: a float carries no more


def _finite(value: Any, field: str, index: int) -> float:
    as_float = number(value)
    if as_float is None or not math.isfinite(as_float):
        raise PayloadError(Reason.SCHEMA, f"record {index}: {field!r} must be a number")
    return as_float


def _text(value: Any, field: str, index: int) -> str:
    if not isinstance(value, str):
        raise PayloadError(Reason.SCHEMA, f"record {index}: {field!r} must be a string")
    return value
