"""The simulator speaks every payload format as the samples show, with a registry that resolves it."""

from __future__ import annotations

import base64
import re
from collections import Counter
from datetime import UTC, datetime

import orjson
import pytest
from pysparkplug import DataType, DBirth, DData, Metric, NCmd

from energy_core.registry import Registry
from energy_core.schema import DeviceKind, Message
from ingest.adapters import DEFAULT_VENDOR_MAPS, Router, default_routes
from ingest.normalise import Normaliser
from ingest.pipeline import Pipeline
from simulators.city import Format, build_city, parse_formats
from simulators.faults import FaultRates
from simulators.formats import REBIRTH_METRIC, rebirth_requested
from simulators.simulation import Simulation

START = datetime(2026, 11, 20, 7, 0, tzinfo=UTC).timestamp()
TOPICS = {
    Format.NATIVE: r"^energy/v1/[a-z0-9-]+$",
    Format.SENML: r"^senml/gw-\d{3}/KAM-\d{8}$|^senml/gw-\d{3}/EM-\d{8}$",
    Format.CHIRPSTACK: r"^application/[0-9a-f-]{36}/device/a81758fffe[0-9a-f]{6}/event/up$",
    Format.TTS: r"^v3/[a-z-]+-climate@ttn/devices/ers-[0-9-]+/up$",
    Format.SPARKPLUG: r"^spBv1\.0/borlange-dh/(NBIRTH|DBIRTH|DDATA)/scada-\d{3}(/KAM-\d{8})?$",
    Format.WMBUSMETERS: r"^wmbusmeters/KAM-\d{8}$",
}


@pytest.fixture(scope="module")
def city_messages():
    city = build_city(300, seed=2)
    sim = Simulation(city)
    return city, list(sim.run(START, 60.0, count=2 * len(city.devices)))


def _format_of(topic: str) -> Format:
    first = topic.split("/", 1)[0]
    return {
        "energy": Format.NATIVE,
        "senml": Format.SENML,
        "application": Format.CHIRPSTACK,
        "v3": Format.TTS,
        "spBv1.0": Format.SPARKPLUG,
        "wmbusmeters": Format.WMBUSMETERS,
    }[first]


def test_a_city_uses_every_format_on_its_conventional_topics(city_messages):
    _, messages = city_messages
    by_format = Counter(_format_of(topic) for topic, _ in messages)
    assert set(by_format) == set(Format)
    for topic, _ in messages:
        assert re.match(TOPICS[_format_of(topic)], topic), topic


def _first(messages, fmt: Format, contains: str = "") -> tuple[str, bytes]:
    return next((t, p) for t, p in messages if _format_of(t) is fmt and contains in t)


def test_senml_heat_meter_payload_has_the_sample_shape(city_messages):
    _, messages = city_messages
    topic, payload = _first(messages, Format.SENML, "KAM-")
    records = orjson.loads(payload)
    assert records[0]["bn"] == f"urn:dev:mbus:{topic.rsplit('/', 1)[-1]}:"
    assert isinstance(records[0]["bt"], float)
    assert [(r["n"], r["u"]) for r in records] == [
        ("energy", "kWh"),
        ("volume", "m3"),
        ("power", "W"),
        ("flow", "m3/s"),
        ("t_supply", "Cel"),
        ("t_return", "Cel"),
    ]


def test_lorawan_payloads_carry_the_elsys_object_and_its_bytes(city_messages):
    _, messages = city_messages
    topic, payload = _first(messages, Format.CHIRPSTACK)
    up = orjson.loads(payload)
    assert up["deviceInfo"]["devEui"] == topic.split("/")[3]
    assert {"temperature", "humidity", "co2", "light", "motion"} <= set(up["object"])
    raw = base64.b64decode(up["data"])
    assert raw[0] == 0x01
    assert int.from_bytes(raw[1:3], "big", signed=True) == round(up["object"]["temperature"] * 10)
    assert up["time"].endswith("Z")

    topic, payload = _first(messages, Format.TTS)
    up = orjson.loads(payload)
    assert up["end_device_ids"]["device_id"] == topic.split("/")[3]
    assert {"temperature", "humidity", "co2"} <= set(up["uplink_message"]["decoded_payload"])
    assert up["uplink_message"]["received_at"] == up["received_at"]


def test_wmbusmeters_payload_uses_kamheat_keys(city_messages):
    _, messages = city_messages
    topic, payload = _first(messages, Format.WMBUSMETERS)
    doc = orjson.loads(payload)
    assert doc["name"] == topic.split("/")[1]
    assert doc["meter"] == "kamheat"
    assert {
        "total_energy_consumption_kwh",
        "total_volume_m3",
        "volume_flow_m3h",
        "power_kw",
        "t1_temperature_c",
        "t2_temperature_c",
    } <= set(doc)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", doc["timestamp"])


def test_sparkplug_node_and_device_births_come_before_data_with_aliases(city_messages):
    _, messages = city_messages
    sparkplug = [(t, p) for t, p in messages if t.startswith("spBv1.0/")]
    kinds = [t.split("/")[2] for t, _ in sparkplug]
    assert kinds[0] == "NBIRTH"
    assert kinds[1] == "DBIRTH"
    assert kinds[2] == "DDATA"
    birth = DBirth.decode(sparkplug[1][1])
    names = {m.name for m in birth.metrics}
    assert {"heat/energy_kWh", "heat/power_kW", "heat/t_supply_C", "heat/t_return_C"} <= names
    data = DData.decode(sparkplug[2][1], birth=birth)
    assert all(m.name is not None for m in data.metrics)
    assert data.timestamp == birth.timestamp  # the birth carries the first reading
    assert DData.decode(sparkplug[2][1]).metrics[0].name is None  # only aliases on the wire


def test_the_registry_resolves_every_device_by_what_its_messages_carry(city_messages, tmp_path):
    city, messages = city_messages
    path = tmp_path / "assets.yaml"
    city.write_assets(path)
    registry = Registry.load(path)
    for topic, payload in messages:
        fmt = _format_of(topic)
        levels = topic.split("/")
        if fmt is Format.NATIVE or fmt is Format.WMBUSMETERS:
            key = levels[-1]
        elif fmt is Format.SENML:
            key = orjson.loads(payload)[0]["bn"]
        elif fmt is Format.CHIRPSTACK:
            key = levels[3]
        elif fmt is Format.TTS:
            key = orjson.loads(payload)["end_device_ids"]["dev_eui"]  # upper case, as TTS sends it
        elif levels[2] == "NBIRTH":
            continue
        else:
            key = f"{levels[1]}/{levels[3]}/{levels[4]}"
        assert registry.resolve(key) is not None, (fmt, key)
    owners = Counter(site.owner for site in city.sites)
    assert owners["tunabyggen"] == 4  # about 100 of 7,000 sites
    assert all(s.floor_area_m2 for s in city.sites if not s.id.startswith("weather"))
    wmbus = next(d for d in registry.assets.devices if d.field_map.get("t1_temperature_c"))
    assert wmbus.field_map["total_energy_consumption_kwh"] == "energy"


def test_format_filter_keeps_only_kinds_a_listed_format_can_carry():
    city = build_city(40, seed=1, formats=parse_formats("chirpstack,wmbusmeters"))
    assert {d.format for d in city.devices} == {Format.CHIRPSTACK, Format.WMBUSMETERS}
    assert {d.kind for d in city.devices} == {DeviceKind.HEAT_METER, DeviceKind.INDOOR_SENSOR}
    assert {d.id for d in build_city(40, seed=1, formats=[Format.NATIVE]).devices} == {
        d.id for d in build_city(40, seed=1).devices
    }
    with pytest.raises(ValueError, match="unknown format 'mqtt'"):
        parse_formats("native,mqtt")


def test_fault_spec_parsing_names_the_bad_part():
    assert FaultRates.parse("malformed=0.1, duplicate=0.2").duplicate == 0.2
    assert FaultRates.parse("none") == FaultRates()
    with pytest.raises(ValueError, match=r"'gremlins=0\.1'"):
        FaultRates.parse("gremlins=0.1")
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultRates.parse("malformed=2")
    with pytest.raises(ValueError, match="add up to"):
        FaultRates.parse("malformed=0.6,duplicate=0.6")


@pytest.mark.parametrize("seed", [4, 5])
def test_report_matches_what_ingest_core_makes_of_every_format_with_every_fault(seed):
    """Run the city's stream through ingest's pure pipeline: points and dead letters match the report."""
    city = build_city(60, seed=seed)
    rates = FaultRates(
        malformed=0.02,
        wrong_unit=0.02,
        duplicate=0.03,
        out_of_order=0.03,
        clock_skew=0.3,
        counter_reset=0.01,
        meter_swap=0.01,
        broken_sensor=0.02,
        burst=0.01,
        silence=0.005,
    )
    sim = Simulation(city, prefix="energy", faults=rates)
    now = datetime.now(UTC).timestamp()
    messages = list(sim.run(now - 3 * 3600, 120.0, until_s=now))
    normaliser = Normaliser(Registry(city.assets()), vendor_maps=DEFAULT_VENDOR_MAPS)
    pipeline = Pipeline(Router(default_routes("energy")), normaliser)
    stored: set[tuple[str, tuple[tuple[str, str], ...], int]] = set()
    dead: Counter[str] = Counter()
    received_ns = int(now * 1e9)
    for topic, payload in messages:
        outcome = pipeline.process(Message(topic, payload, received_ns))
        stored.update((p.measurement, p.tags, p.ts_ns) for p in outcome.points)
        dead.update(r.reason.value for r in outcome.rejections)
    points = Counter(measurement for measurement, _, _ in stored)
    assert points == sim.report.expected_points
    assert dead == sim.report.expected_dead_letters
    assert set(sim.report.faults) == {f for f in rates.__dataclass_fields__ if getattr(rates, f)}
    assert dead["timestamp_out_of_range"] > 0
    assert dead["invalid_json"] > 0
    assert len({topic.split("/")[0] for topic, _ in messages}) == 6


def test_a_rebirth_request_repeats_the_edge_nodes_births_with_the_last_stored_readings():
    city = build_city(200, seed=3, formats=[Format.SPARKPLUG])
    edge = city.devices[0].gateway
    on_edge = {d.serial for d in city.devices if d.gateway == edge}
    sim = Simulation(city)
    stream = sim.run(START, 60.0)
    before = [next(stream) for _ in range(3 * len(city.devices))]
    last_data = {}
    for topic, payload in before:
        if "/DDATA/" in topic and topic.split("/")[3] == edge:
            last_data[topic.rsplit("/", 1)[-1]] = DData.decode(payload).timestamp
    assert not rebirth_requested(b"not protobuf")
    command = NCmd(timestamp=1, metrics=(Metric(1, REBIRTH_METRIC, DataType.BOOLEAN, True),)).encode(
        include_dtypes=True
    )
    assert rebirth_requested(command)

    sim.request_rebirth(edge)
    after = [next(stream) for _ in range(2 * len(on_edge) + 2)]
    births = [(t, p) for t, p in after if "BIRTH" in t]
    assert births[0][0] == f"spBv1.0/borlange-dh/NBIRTH/{edge}"
    reborn = {t.rsplit("/", 1)[-1]: DBirth.decode(p).timestamp for t, p in births[1:]}
    assert reborn == last_data  # every device of the edge, with the time of its last reading
    assert sim.report.messages >= len(before) + len(after)
