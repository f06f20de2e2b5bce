"""Helpers shared by the payload adapters: JSON, times, numbers, topic levels, unit suffixes."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from energy_core.errors import PayloadError, Reason

NS = 1_000_000_000
MAX_UNIX_SECONDS = 1 << 33  # year 2242: anything later is a unit mistake (ms or ns sent as s)
MAX_FLATTEN_DEPTH = 4

# RFC 3339 §5.6 date-time; the space separator is the RFC's own note (§5.6, "for readability").
# datetime.fromisoformat alone would also take ISO 8601 forms RFC 3339 does not allow ("20261120T0740Z").
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.(\d+))?(?:[Zz]|[+-]\d{2}:\d{2})$", re.ASCII
)


def load_json(payload: bytes) -> Any:
    """Parse a JSON payload; anything orjson refuses (bad UTF-8, NaN, depth > 1024) is INVALID_JSON."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(Reason.INVALID_JSON, str(exc)[:200]) from None


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
    """RFC 3339 → UTC ns, keeping sub-microsecond digits that datetime would drop."""
    match = _RFC3339.match(text)
    if match is None:
        raise PayloadError(Reason.SCHEMA, f"time {text[:64]!r} is not RFC 3339")
    frac = match.group(1) or ""
    head = text if not frac else text.replace("." + frac, "", 1)
    try:
        dt = datetime.fromisoformat(head.replace("z", "Z").replace("t", "T"))
    except ValueError:  # the shape is right but a field is not (month 13, hour 25)
        raise PayloadError(Reason.SCHEMA, f"time {text[:64]!r} is not a valid date-time") from None
    frac_ns = int((frac + "000000000")[:9]) if frac else 0
    return int(dt.timestamp()) * NS + frac_ns


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
