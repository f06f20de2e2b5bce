"""Line-protocol escaping: any tag or field string encodes to exactly one line that parses back.

The reference parser follows InfluxDB 1.x's tokenizer (models/points.go): a backslash makes the
next character part of the token, and only ``\\,``, ``\\ `` and ``\\=`` are unescaped.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from energy_core import lineprotocol
from energy_core.schema import Measurement, Point

ESCAPED = {",", " ", "="}


def split_unescaped(text: str, delimiter: str) -> list[str]:
    """Split at ``delimiter`` where it is not escaped by a backslash; tokens keep their escapes."""
    parts, current, index = [], [], 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            current.append(text[index : index + 2])
            index += 2
            continue
        if char == delimiter:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    parts.append("".join(current))
    return parts


def unescape(token: str) -> str:
    out, index = [], 0
    while index < len(token):
        if token[index] == "\\" and index + 1 < len(token) and token[index + 1] in ESCAPED:
            out.append(token[index + 1])
            index += 2
        else:
            out.append(token[index])
            index += 1
    return "".join(out)


def parse_line(line: str) -> Point:
    """One line of line protocol → Point (float fields only, as the encoder writes them)."""
    assert "\n" not in line
    series, fields, timestamp = split_unescaped(line, " ")
    measurement, *tag_parts = split_unescaped(series, ",")
    tags = tuple(tuple(unescape(t) for t in split_unescaped(part, "=")) for part in tag_parts)
    field_map = {}
    for part in split_unescaped(fields, ","):
        key, value = split_unescaped(part, "=")
        field_map[unescape(key)] = float(value)
    assert all(len(tag) == 2 for tag in tags)
    return Point(unescape(measurement), tags, field_map, int(timestamp))  # type: ignore[arg-type]


text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=30)


@settings(max_examples=300, deadline=None)
@given(
    measurement=st.sampled_from(list(Measurement)),
    tags=st.dictionaries(text, text, max_size=4),
    fields=st.dictionaries(text, st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=4),
    ts_ns=st.integers(min_value=0, max_value=2**63 - 1),
)
def test_any_tag_and_field_strings_round_trip_to_what_influx_stores(measurement, tags, fields, ts_ns):
    point = Point(measurement.value, tuple(sorted(tags.items())), fields, ts_ns)
    parsed = parse_line(lineprotocol.encode(point))
    storable = lineprotocol.storable
    assert parsed.measurement == measurement.value
    assert parsed.tags == tuple((storable(k), storable(v)) for k, v in sorted(tags.items()))
    assert parsed.fields == {storable(k): v for k, v in fields.items()}
    assert parsed.ts_ns == ts_ns


@settings(max_examples=200, deadline=None)
@given(value=st.floats())
def test_fields_are_written_as_floats_and_non_finite_values_are_refused(value):
    point = Point("weather", (), {"outdoor_temp_c": value}, 1)
    if not math.isfinite(value):
        try:
            lineprotocol.encode(point)
        except ValueError:
            return
        raise AssertionError("a non-finite field was encoded")
    assert parse_line(lineprotocol.encode(point)).fields == {"outdoor_temp_c": value}
