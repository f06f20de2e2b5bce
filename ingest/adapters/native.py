"""Native JSON v1 (SPEC §5): topic ``{prefix}/v1/{device_id}``.

Payload: an object or an array of objects
``{"ts": <RFC 3339 | Unix seconds>,
"values": {"<quantity>": <number> | {"value": <number>, "unit": "<unit>"}}}``.
Parsed by hand with orjson instead of a pydantic model: this is the hot path (the pipeline's
cost per message is measured by bench/bench_derive.py); the JSON Schema in
``ingest/adapters/native_v1.schema.json`` documents the same rules.
"""

from __future__ import annotations

from typing import Any

import orjson

from energy_core.errors import PayloadError, Reason
from energy_core.schema import Message, RawReading
from ingest.adapters.common import parse_time
from ingest.adapters.identity import TopicBinding

MAX_READINGS_PER_MESSAGE = 10_000
# SPEC §5's list: every quantity but the derived delta_t, which ingest computes itself.
NATIVE_QUANTITIES = frozenset(
    {
        "energy",
        "volume",
        "power",
        "flow",
        "supply_temp",
        "return_temp",
        "info_code",
        "energy_import",
        "energy_export",
        "temperature",
        "humidity",
        "co2",
        "outdoor_temp",
    }
)


class NativeV1Adapter:
    """Reads native v1 payloads; the device id is the topic's last level."""

    name = "native"
    binding: TopicBinding = "topic"

    def parse(self, message: Message) -> list[RawReading]:
        device_key = message.topic.rsplit("/", 1)[-1]
        if not device_key:
            raise PayloadError(Reason.SCHEMA, "topic has no device id")
        try:
            doc = orjson.loads(message.payload)
        except orjson.JSONDecodeError as exc:
            raise PayloadError(Reason.INVALID_JSON, str(exc)[:200]) from None
        items = doc if isinstance(doc, list) else [doc]
        if not items:
            raise PayloadError(Reason.SCHEMA, "empty array")
        if len(items) > MAX_READINGS_PER_MESSAGE:
            raise PayloadError(Reason.PAYLOAD_TOO_LARGE, f"{len(items)} readings in one message")
        return [_reading(device_key, item) for item in items]


def _reading(device_key: str, item: Any) -> RawReading:
    if not isinstance(item, dict):
        raise PayloadError(Reason.SCHEMA, "a reading must be a JSON object")
    values = item.get("values")
    if not isinstance(values, dict) or not values:
        raise PayloadError(Reason.SCHEMA, "'values' must be a non-empty object")
    ts = item.get("ts")
    out: dict[str, tuple[float, str | None]] = {}
    for quantity, raw in values.items():
        if quantity not in NATIVE_QUANTITIES:
            raise PayloadError(Reason.UNKNOWN_QUANTITY, f"unknown quantity {quantity!r}")
        # Fast path for the common bare number: orjson gives exact float/int (bool is its own type).
        if type(raw) is float:
            out[quantity] = (raw, None)
            continue
        unit: str | None = None
        if isinstance(raw, dict):
            unit = raw.get("unit")
            raw = raw.get("value")
            if unit is not None and not isinstance(unit, str):
                raise PayloadError(Reason.SCHEMA, f"{quantity}: 'unit' must be a string")
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise PayloadError(Reason.SCHEMA, f"{quantity}: value must be a number")
        out[quantity] = (float(raw), unit)
    return RawReading(device_key, None if ts is None else parse_time(ts), out)
