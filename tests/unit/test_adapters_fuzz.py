"""Fuzzing: whatever arrives, every adapter gives readings or a PayloadError, and the pipeline never raises.

Arbitrary bytes, arbitrary JSON, the samples with one part replaced by arbitrary JSON, hostile
literals (NaN, huge numbers, deep nesting, bad UTF-8) and arbitrary Sparkplug metrics.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pysparkplug import DataType, DBirth, DData, Metric, NBirth, NData

from energy_core.errors import PayloadError
from energy_core.registry import AssetFile, Registry
from energy_core.schema import Message, RawReading
from ingest.adapters import DEFAULT_VENDOR_MAPS, Router, default_routes
from ingest.normalise import Normaliser
from ingest.pipeline import Outcome, Pipeline
from tests.sample_data import JSON_SAMPLES, sample

NOW_NS = 1_795_700_000 * 1_000_000_000
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TOPICS = {
    "native": "energy/v1/hm-1",
    "senml": "senml/gw-1/KAM-1",
    "chirpstack": "application/app/device/a81758fffe0312ab/event/up",
    "ttn": "v3/app@ttn/devices/ers-1/up",
    "wmbusmeters": "wmbusmeters/KAM-1",
    "sparkplug-ddata": "spBv1.0/g/DDATA/e/d",
    "sparkplug-dbirth": "spBv1.0/g/DBIRTH/e/d",
    "sparkplug-nbirth": "spBv1.0/g/NBIRTH/e",
    "sparkplug-ndeath": "spBv1.0/g/NDEATH/e",
}
KEYS = st.sampled_from(
    [
        "n",
        "v",
        "s",
        "u",
        "t",
        "bn",
        "bt",
        "bu",
        "bv",
        "bs",
        "bver",
        "vs",
        "vb",
        "ts",
        "values",
        "value",
        "unit",
        "object",
        "deviceInfo",
        "devEui",
        "time",
        "uplink_message",
        "decoded_payload",
        "end_device_ids",
        "received_at",
        "dev_eui",
        "device_id",
        "name",
        "id",
        "timestamp",
        "energy",
        "power",
        "flow",
        "supply_temp",
        "co2",
        "t1_temperature_c",
        "power_kw",
    ]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["kWh", "W", "Cel", "m3/s", "2026-11-20T07:40:00Z", "urn:dev:x:", "", "1e400"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(KEYS | st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=40,
)


# Heat meters under the fuzzed device keys, so vendor maps apply; anything else is accepted unassigned.
REGISTRY = Registry(
    AssetFile.model_validate(
        {
            "owners": [{"id": "be", "name": "Borlänge Energi"}],
            "sites": [{"id": "s1", "name": "Substation", "owner": "be"}],
            "devices": [
                {
                    "id": "KAM-1",
                    "site": "s1",
                    "kind": "heat_meter",
                    "external_ids": ["g/e", "g/e/d1", "g/e/d2"],
                },
                {"id": "KAM-66666666", "site": "s1", "kind": "heat_meter"},
            ],
        }
    )
)


def fresh_pipeline() -> Pipeline:
    normaliser = Normaliser(
        REGISTRY, unknown_devices="accept", max_age_ns=10**20, vendor_maps=DEFAULT_VENDOR_MAPS
    )
    return Pipeline(Router(default_routes("energy")), normaliser)


PIPELINE = fresh_pipeline()  # shared across examples on purpose: Sparkplug births accumulate


def check(topic: str, payload: bytes) -> Outcome:
    """The adapter gives readings or a PayloadError; the pipeline gives points or rejections."""
    message = Message(topic, payload, NOW_NS)
    adapter = PIPELINE.router.adapter_for(topic)
    assert adapter is not None
    try:
        readings = adapter.parse(message)
    except PayloadError:
        pass
    else:
        assert all(isinstance(r, RawReading) for r in readings)
        for reading in readings:
            assert all(math.isfinite(v) for v, _ in reading.values.values())
    outcome = PIPELINE.process(message)
    for rejection in outcome.rejections:
        assert not rejection.detail.startswith(f"{adapter.name}: "), rejection  # the guard was not needed
    for point in outcome.points:
        assert all(isinstance(v, float) and math.isfinite(v) for v in point.fields.values())
    return outcome


@FUZZ
@given(topic=st.sampled_from(sorted(TOPICS.values())), payload=st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(topic, payload):
    check(topic, payload)


@FUZZ
@given(topic=st.sampled_from(sorted(TOPICS.values())), doc=json_values)
def test_arbitrary_json_never_raises(topic, doc):
    check(topic, orjson.dumps(doc))


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            out.extend(_paths(value, (*prefix, index)))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = orjson.loads(orjson.dumps(doc))
    node = copy
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return copy


@FUZZ
@given(name=st.sampled_from(JSON_SAMPLES), data=st.data(), replacement=json_values)
def test_samples_with_one_part_replaced_never_raise(name, data, replacement):
    doc = sample(name)
    path = data.draw(st.sampled_from(_paths(doc["payload"])))
    check(doc["topic"], orjson.dumps(_replace(doc["payload"], path, replacement)))


HOSTILE = [
    b'{"values": {"energy": NaN}}',
    b'{"values": {"energy": Infinity}}',
    b'[{"n": "energy", "v": -Infinity}]',
    b'{"values": {"energy": 1e400}}',
    b'[{"n": "energy", "v": 1e308, "bv": 1e308}]',
    b'{"values": {"energy": 123456789012345678901234567890}}',
    b'{"ts": 1e400, "values": {"energy": 1}}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b'{"values": {"energy": 1}, "ts": "\xff\xfe"}',
    b"\xff\xfe\x00\x00",
    b"\xef\xbb\xbf{}",
    b"",
    b"null",
]


@pytest.mark.parametrize("payload", HOSTILE, ids=range(len(HOSTILE)))
@pytest.mark.parametrize("topic", sorted(TOPICS.values()))
def test_hostile_payloads_become_rejections(topic, payload):
    outcome = check(topic, payload)
    if "NDEATH" not in topic:  # a death carries no data: it is applied, not rejected
        assert outcome.points == [] or payload == b"null"


NUMERIC_TYPES = [
    DataType.DOUBLE,
    DataType.FLOAT,
    DataType.INT8,
    DataType.INT64,
    DataType.UINT32,
    DataType.UINT64,
]
metric_values = st.floats(allow_nan=True, allow_infinity=True) | st.integers(
    min_value=-(2**63), max_value=2**64
)
metric_names = st.sampled_from(
    ["heat/energy_kWh", "heat/power_kW", "heat/t_supply_C", "x_W", "bdSeq"]
) | st.text(max_size=12)


@st.composite
def metrics(draw: st.DrawFn, *, named: bool) -> tuple[Metric, ...]:
    out = []
    for _ in range(draw(st.integers(0, 5))):
        datatype = draw(st.sampled_from([*NUMERIC_TYPES, DataType.BOOLEAN, DataType.STRING]))
        if datatype is DataType.BOOLEAN:
            value: Any = draw(st.booleans())
        elif datatype is DataType.STRING:
            value = draw(st.text(max_size=5))
        else:
            value = draw(metric_values)
        out.append(
            Metric(
                timestamp=draw(st.none() | st.none() | st.integers(0, 2**63)),
                name=draw(metric_names) if named else None,
                datatype=datatype,
                value=value,
                alias=draw(st.integers(0, 6)),
            )
        )
    return tuple(out)


def _encode(payload: Any) -> bytes | None:
    try:
        return bytes(payload.encode())
    except (ValueError, OverflowError, TypeError):
        return None  # a value the datatype cannot carry: the library refuses to build it


@FUZZ
@given(
    birth=metrics(named=True),
    data=metrics(named=False),
    ts=st.just(NOW_NS // 10**6) | st.integers(0, 2**64 - 1),
    node=st.booleans(),
    device=st.sampled_from(["d1", "d2"]),
)
def test_arbitrary_sparkplug_births_and_data_never_raise(birth, data, ts, node, device):
    if node:
        birth_msg, data_msg = NBirth(ts, 0, birth), NData(ts, 1, data)
        topics = ("spBv1.0/g/NBIRTH/e", "spBv1.0/g/NDATA/e")
    else:
        birth_msg, data_msg = DBirth(ts, 0, birth), DData(ts, 1, data)
        topics = (f"spBv1.0/g/DBIRTH/e/{device}", f"spBv1.0/g/DDATA/e/{device}")
    for topic, message in zip(topics, (birth_msg, data_msg), strict=True):
        encoded = _encode(message)
        if encoded is not None:
            check(topic, encoded)
