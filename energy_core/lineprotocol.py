"""InfluxDB line protocol encoding.

Hand-written rather than a client library's encoder: it runs once per point on the hot path,
so the tag part of a series is built once per device and cached (ingest's end-to-end rate,
encoding included, is measured by bench/bench_ingest.py).
"""

from __future__ import annotations

from functools import lru_cache

from energy_core.schema import Point

# Line protocol has no escape for a line break, and backslashes are not portable: InfluxDB 1.6
# (tests/integration/test_lineprotocol_influx.py) keeps an escaped "\\" as two characters and
# refuses a tag value ending in one, while the 2.x docs describe "\\" as an escaped backslash.
# So a backslash is stored as "/" and a line break as a space. Commas, spaces and "=" are
# escaped, which every version undoes. Registered ids never contain these characters; only
# keys from the wire (commissioning mode) can.
_STORABLE = str.maketrans({"\\": "/", "\n": " ", "\r": " "})
_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\ ", "\r": r"\ ", "\\": "/"})
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\ ", "\r": r"\ ", "\\": "/"})


def storable(text: str) -> str:
    """What InfluxDB stores for ``text`` as a tag key, tag value or field key (see above)."""
    return text.translate(_STORABLE)


def escape_measurement(name: str) -> str:
    return name.translate(_MEASUREMENT_ESCAPES)


def escape_key(text: str) -> str:
    """Escape a tag key, tag value or field key."""
    return text.translate(_KEY_ESCAPES)


@lru_cache(maxsize=65536)
def series_key(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    """``measurement,tag=value,...`` escaped; cached because a device's series repeats forever.

    Tags with an empty value are left out: InfluxDB rejects them.
    """
    parts = [escape_measurement(measurement)]
    parts.extend(f"{escape_key(k)}={escape_key(v)}" for k, v in tags if v)
    return ",".join(parts)


def encode(point: Point) -> str:
    """One line of line protocol (no trailing newline). Fields must be finite floats."""
    fields = []
    for key, value in point.fields.items():
        escaped = _FIELD_KEYS.get(key)
        if escaped is None:
            escaped = escape_key(key)
            if len(_FIELD_KEYS) < 4096:
                _FIELD_KEYS[key] = escaped
        if value - value != 0.0:  # inf - inf and nan - nan are nan: a cheaper isfinite on the hot path
            raise ValueError(f"line protocol cannot carry {value!r}")
        fields.append(f"{escaped}={float(value)!r}")
    return f"{series_key(point.measurement, point.tags)} {','.join(fields)} {point.ts_ns}"


# Field keys come from the schema, so this cache stays tiny; it is bounded anyway.
_FIELD_KEYS: dict[str, str] = {}


def encode_batch(points: list[Point]) -> bytes:
    return "\n".join(map(encode, points)).encode()
