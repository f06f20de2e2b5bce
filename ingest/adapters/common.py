"""Helpers shared by the payload adapters."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from ingest.errors import PayloadError, Reason

NS = 1_000_000_000


def parse_time(value: Any) -> int:
    """RFC 3339 string or Unix seconds (int or float) → UTC nanoseconds."""
    if isinstance(value, bool):
        raise PayloadError(Reason.SCHEMA, "'ts' must be an RFC 3339 string or Unix seconds")
    if isinstance(value, int):
        if not 0 <= value < 1 << 33:
            raise PayloadError(Reason.TIMESTAMP_OUT_OF_RANGE, f"'ts' {value} is not plausible Unix seconds")
        return value * NS
    if isinstance(value, float):
        if not math.isfinite(value) or not 0 <= value < 1 << 33:
            raise PayloadError(Reason.TIMESTAMP_OUT_OF_RANGE, f"'ts' {value} is not plausible Unix seconds")
        return round(value * 1e6) * 1000  # microsecond resolution: floats carry no more
    if isinstance(value, str):
        return parse_rfc3339(value)
    raise PayloadError(Reason.SCHEMA, "'ts' must be an RFC 3339 string or Unix seconds")


def parse_rfc3339(text: str) -> int:
    """RFC 3339 → UTC ns, keeping sub-microsecond digits that datetime would drop."""
    try:
        head, frac = text, ""
        if "." in text:
            head, rest = text.split(".", 1)
            digits = len(rest) - len(rest.lstrip("0123456789"))
            frac, zone = rest[:digits], rest[digits:]
            head += zone
        dt = datetime.fromisoformat(head.replace("z", "Z"))
    except ValueError:
        raise PayloadError(Reason.SCHEMA, f"'ts' {text!r} is not RFC 3339") from None
    if dt.tzinfo is None:
        raise PayloadError(Reason.SCHEMA, f"'ts' {text!r} has no time zone")
    frac_ns = int((frac + "000000000")[:9]) if frac else 0
    return int(dt.timestamp()) * NS + frac_ns
