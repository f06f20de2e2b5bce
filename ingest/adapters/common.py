"""Helpers shared by the payload adapters: JSON, times, numbers, device keys, topic levels, unit suffixes."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from energy_core import timeutil
from energy_core.errors import PayloadError, Reason
from energy_core.schema import RawReading
from energy_core.timeutil import NS

MAX_UNIX_SECONDS = 1 << 33  # year 2242: anything later is a unit mistake (ms or ns sent as s)
MAX_FLATTEN_DEPTH = 4


def load_json(payload: bytes) -> Any:
    """Parse a JSON payload; anything orjson refuses (bad UTF-8, NaN, depth > 1024) is INVALID_JSON."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(Reason.INVALID_JSON, str(exc)[:200]) from None


def json_object(payload: bytes, what: str) -> dict[str, Any]:
    """Parse a payload that must be one JSON object; ``what`` names it in the error."""
    doc = load_json(payload)
    if not isinstance(doc, dict):
        raise PayloadError(Reason.SCHEMA, f"{what} must be a JSON object")
    return doc


def parse_time(value: Any) -> int:
    """RFC 3339 string or Unix seconds (int or float) → UTC nanoseconds."""
    if isinstance(value, bool):
        raise PayloadError(Reason.SCHEMA, "'ts' must be an RFC 3339 string or Unix seconds")
    if isinstance(value, int):
        if not 0 <= value < MAX_UNIX_SECONDS:
            raise PayloadError(Reason.TIMESTAMP_OUT_OF_RANGE, f"'ts' {value} is not plausible Unix seconds")
        return value * NS
    if isinstance(value, float):
        if not math.isfinite(value) or not 0 <= value < MAX_UNIX_SECONDS:
            raise PayloadError(Reason.TIMESTAMP_OUT_OF_RANGE, f"'ts' {value} is not plausible Unix seconds")
        return round(value * 1e6) * 1000  # microsecond resolution: floats carry no more
    if isinstance(value, str):
        return parse_rfc3339(value)
    raise PayloadError(Reason.SCHEMA, "'ts' must be an RFC 3339 string or Unix seconds")


def parse_rfc3339(text: str) -> int:
    """RFC 3339 → UTC ns (:func:`energy_core.timeutil.parse_rfc3339`); anything else is SCHEMA."""
    try:
        return timeutil.parse_rfc3339(text)
    except ValueError as exc:
        raise PayloadError(Reason.SCHEMA, str(exc)) from None


def optional_time(value: Any, key: str) -> int | None:
    """An optional RFC 3339 field (``key`` names it) as UTC ns; None when absent: the receive time is used."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(Reason.SCHEMA, f"'{key}' must be an RFC 3339 string")
    return parse_rfc3339(value)


def number(value: Any) -> float | None:
    """The value as a float if it is a JSON number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:  # an int beyond float range cannot be a reading
        return None


def numeric_values(obj: Mapping[str, Any], prefix: str = "", depth: int = 0) -> dict[str, float]:
    """The numbers in a decoded object; nested objects are flattened as ``outer/inner``.

    Strings, booleans, lists and nulls are vendor extras (status texts, flags) and are left out.
    """
    out: dict[str, float] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            if depth < MAX_FLATTEN_DEPTH:
                out.update(numeric_values(value, name + "/", depth + 1))
            continue
        as_float = number(value)
        if as_float is not None:
            out[name] = as_float
    return out


def decoded_values(decoded: Any, *, missing: str, where: str) -> dict[str, tuple[float, str | None]]:
    """The numbers of a network server's decoded payload, without units (the field maps give them).

    ``missing`` is the error when ``decoded`` is not an object; ``where`` names it when it holds no numbers.
    """
    if not isinstance(decoded, dict):
        raise PayloadError(Reason.SCHEMA, missing)
    values = numeric_values(decoded)
    if not values:
        raise PayloadError(Reason.SCHEMA, f"{where} holds no numbers")
    return {key: (value, None) for key, value in values.items()}


def device_keys(*candidates: Any) -> list[str]:
    """The candidates that are non-empty strings, in order: the identities a message states."""
    return [key for key in candidates if isinstance(key, str) and key]


def reading(
    keys: Sequence[str], ts_ns: int | None, values: dict[str, tuple[float, str | None]]
) -> RawReading:
    """A reading under ``keys[0]``; the other keys (bar the first in another case) are alternatives."""
    first = keys[0].lower()
    alt_keys = tuple(dict.fromkeys(key for key in keys[1:] if key.lower() != first))
    return RawReading(keys[0], ts_ns, values, alt_keys)


def level_after(topic: str, marker: str) -> str | None:
    """The topic level that follows ``marker`` (``device`` in ``application/x/device/<eui>/…``)."""
    levels = topic.split("/")
    try:
        index = levels.index(marker)
    except ValueError:
        return None
    return (levels[index + 1] or None) if index + 1 < len(levels) else None


def last_level(topic: str) -> str | None:
    """The topic's last level, or None when it is empty."""
    return topic.rsplit("/", 1)[-1] or None


def unit_from_suffix(key: str, suffixes: Mapping[str, str]) -> str | None:
    """The unit a vendor key states in its last ``_`` part (``power_kw`` → ``kW``), if it states one."""
    _, sep, suffix = key.rpartition("_")
    return suffixes.get(suffix) if sep else None
