"""The payload samples of tests/samples/ as (topic, payload bytes), Sparkplug encoded as protobuf."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from pysparkplug import DataType, DBirth, DData, Metric

SAMPLES = Path(__file__).resolve().parent / "samples"
JSON_SAMPLES = ("chirpstack_v4_up", "ttn_v3_up", "senml_heat_meter", "wmbusmeters_kamheat")


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def json_message(name: str) -> tuple[str, bytes]:
    """A JSON sample's topic and its payload as the device would publish it."""
    doc = sample(name)
    return doc["topic"], orjson.dumps(doc["payload"])


def _metrics(decoded: list[dict[str, Any]], *, with_names: bool) -> tuple[Metric, ...]:
    return tuple(
        Metric(
            timestamp=None,
            name=m["name"] if with_names else None,
            datatype=DataType[m["datatype"].upper()],
            value=m["value"],
            alias=m["alias"],
        )
        for m in decoded
    )


def sparkplug_messages() -> list[tuple[str, bytes]]:
    """The Sparkplug sample as it is on the wire: the DBIRTH, then the DDATA carrying only aliases."""
    doc = sample("sparkplug_b_ddata")
    ddata_topic: str = doc["topic"]
    birth, data = doc["dbirth"], doc["payload"]
    dbirth = DBirth(birth["timestamp"], birth["seq"], _metrics(birth["metrics"], with_names=True))
    ddata = DData(data["timestamp"], data["seq"], _metrics(data["metrics"], with_names=False))
    return [
        (ddata_topic.replace("/DDATA/", "/DBIRTH/"), dbirth.encode()),
        (ddata_topic, ddata.encode()),
    ]
