"""The native v1 JSON Schema documents exactly what the hand-written parser accepts."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import orjson
import pytest

from energy_core.errors import PayloadError
from energy_core.schema import Message
from ingest.adapters.native import NATIVE_QUANTITIES, NativeV1Adapter

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "ingest/adapters/native_v1.schema.json").read_text()
)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

ACCEPTED = [
    {"values": {"energy": 1}},
    {"ts": 1_795_600_000, "values": {"energy": 1.5, "power": {"value": 2200, "unit": "W"}}},
    {"ts": 1_795_600_000.25, "values": {"supply_temp": 70}},
    {"ts": "2026-11-20T07:40:00Z", "values": {"co2": 500}},
    {"ts": "2026-11-20T07:40:00.123456789+01:00", "values": {"humidity": {"value": 41}}},
    {"ts": "2026-11-20 07:40:00z", "values": {"outdoor_temp": -5}},
    {"ts": None, "values": {"info_code": 0}},
    {"values": {"flow": {"value": 1, "unit": None}}, "extra": "ignored"},
    [{"values": {"energy": 1}}, {"ts": 0, "values": {"volume": 2}}],
    {"values": {q: 1 for q in sorted(NATIVE_QUANTITIES)}},
]
REJECTED = [
    [],
    "energy",
    1,
    None,
    {},
    {"values": {}},
    {"values": []},
    {"values": {"energy": "1"}},
    {"values": {"energy": True}},
    {"values": {"energy": None}},
    {"values": {"delta_t": 5}},  # derived by ingest, not sent
    {"values": {"wattage": 5}},
    {"values": {"power": {"unit": "W"}}},
    {"values": {"power": {"value": "1", "unit": "W"}}},
    {"values": {"power": {"value": 1, "unit": 5}}},
    {"ts": "2026-11-20T07:40:00", "values": {"energy": 1}},  # no zone
    {"ts": "20261120T074000Z", "values": {"energy": 1}},  # ISO 8601 basic, not RFC 3339
    {"ts": "yesterday", "values": {"energy": 1}},
    {"ts": -1, "values": {"energy": 1}},
    {"ts": 1_795_600_000_000, "values": {"energy": 1}},  # milliseconds sent as seconds
    {"ts": True, "values": {"energy": 1}},
    {"ts": [1], "values": {"energy": 1}},
    [{"values": {"energy": 1}}, 5],
]


def parser_accepts(doc: object) -> bool:
    try:
        NativeV1Adapter().parse(Message("energy/v1/hm-1", orjson.dumps(doc), 0))
    except PayloadError:
        return False
    return True


@pytest.mark.parametrize("doc", ACCEPTED)
def test_schema_and_parser_both_accept(doc):
    VALIDATOR.validate(doc)
    assert parser_accepts(doc)


@pytest.mark.parametrize("doc", REJECTED)
def test_schema_and_parser_both_reject(doc):
    assert not VALIDATOR.is_valid(doc)
    assert not parser_accepts(doc)


def test_schema_is_a_valid_draft_2020_12_schema_listing_the_parsers_quantities():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    names = SCHEMA["$defs"]["reading"]["properties"]["values"]["propertyNames"]["enum"]
    assert set(names) == NATIVE_QUANTITIES
