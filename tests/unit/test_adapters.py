"""Payload adapters without servers: each format's samples, its edge cases and its dead-letter reasons."""

from __future__ import annotations

import orjson
import pytest
from pysparkplug import DataType, DBirth, DData, Metric, NBirth, NCmd, NData, NDeath

from energy_core.errors import PayloadError, Reason
from energy_core.registry import AssetFile, Registry
from energy_core.schema import Message
from ingest.adapters import DEFAULT_VENDOR_MAPS, Router, default_routes
from ingest.adapters.chirpstack import ChirpStackAdapter
from ingest.adapters.senml import SenmlAdapter
from ingest.adapters.sparkplug import SparkplugAdapter
from ingest.adapters.ttn import TheThingsStackAdapter
from ingest.adapters.wmbus import WmbusmetersAdapter
from ingest.normalise import Normaliser
from ingest.pipeline import Pipeline
from tests.sample_data import json_message, sample, sparkplug_messages

NOW_NS = 1_795_700_000 * 1_000_000_000


def msg(topic: str, payload: object | bytes, received_ns: int = NOW_NS) -> Message:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return Message(topic, body, received_ns)


def reason_of(adapter: object, message: Message) -> Reason:
    with pytest.raises(PayloadError) as caught:
        adapter.parse(message)  # type: ignore[attr-defined]
    return caught.value.reason


REGISTRY = Registry(
    AssetFile.model_validate(
        {
            "owners": [{"id": "tunabyggen", "name": "Tunabyggen"}, {"id": "be", "name": "Borlänge Energi"}],
            "sites": [
                {"id": "TB-0012", "name": "Trapphus 12", "owner": "tunabyggen"},
                {"id": "SS-17", "name": "Substation 17", "owner": "be", "network": "borlange"},
            ],
            "devices": [
                {
                    "id": "ers-12",
                    "site": "TB-0012",
                    "kind": "indoor_sensor",
                    "external_ids": ["a81758fffe0312ab"],
                },
                {"id": "ers-trapphus-14", "site": "TB-0012", "kind": "indoor_sensor"},
                {
                    "id": "KAM-66666666",
                    "site": "SS-17",
                    "kind": "heat_meter",
                    "external_ids": ["urn:dev:mbus:KAM-66666666:", "borlange-dh/gw-17/KAM-66666666"],
                    "gateways": ["gw-17"],  # the SenML gateway of senml/gw-17/…
                },
            ],
        }
    )
)


def pipeline() -> Pipeline:
    normaliser = Normaliser(REGISTRY, max_age_ns=10**20, vendor_maps=DEFAULT_VENDOR_MAPS)
    return Pipeline(Router(default_routes("energy")), normaliser)


# -- SenML --------------------------------------------------------------------------------------


def test_senml_sample_resolves_base_name_time_and_units_to_canonical_fields():
    topic, payload = json_message("senml_heat_meter")
    outcome = pipeline().process(Message(topic, payload, NOW_NS))
    assert outcome.rejections == []
    [point] = outcome.points
    assert point.ts_ns == 1_795_622_400 * 1_000_000_000
    assert dict(point.tags)["device"] == "KAM-66666666"
    assert point.fields["energy_kwh"] == 7173.0
    assert point.fields["flow_m3h"] == pytest.approx(0.070992)
    assert point.fields["power_kw"] == pytest.approx(2.2)
    assert point.fields["supply_temp_c"] == 52.29
    assert point.fields["delta_t_k"] == pytest.approx(29.28)


def test_senml_relative_times_are_added_to_the_receive_time_and_split_readings():
    pack = [
        {"bn": "urn:dev:x:", "bt": -60, "n": "power", "u": "kW", "v": 1},
        {"n": "power", "u": "kW", "v": 2, "t": 30},
        {"n": "energy", "u": "kWh", "v": 5, "t": 30},
    ]
    readings = SenmlAdapter().parse(msg("senml/x", pack))
    assert [(r.ts_ns, r.values) for r in readings] == [
        (NOW_NS - 60 * 10**9, {"power": (1.0, "kW")}),
        (NOW_NS - 30 * 10**9, {"power": (2.0, "kW"), "energy": (5.0, "kWh")}),
    ]


def test_senml_absolute_bt_plus_t_and_base_value_and_base_unit():
    pack = [{"bn": "d:", "bt": 1_795_600_000, "bu": "Wh", "bv": 1000, "n": "energy", "v": 5, "t": 1.5}]
    [reading] = SenmlAdapter().parse(msg("senml/d", pack))
    assert reading.ts_ns == 1_795_600_001_500_000_000
    assert reading.values == {"energy": (1005.0, "Wh")}


def test_senml_sum_only_record_is_read_as_the_register_with_base_sum():
    [reading] = SenmlAdapter().parse(msg("senml/d", [{"bn": "d:", "bs": 100, "n": "energy", "s": 7}]))
    assert reading.values == {"energy": (107.0, None)}


def test_senml_without_base_name_splits_a_urn_name_at_the_last_colon():
    [reading] = SenmlAdapter().parse(msg("senml/x", [{"n": "urn:dev:mbus:K1:energy", "v": 1}]))
    assert (reading.device_key, reading.values) == ("urn:dev:mbus:K1:", {"energy": (1.0, None)})


def test_senml_without_base_name_or_urn_takes_the_device_from_the_topic():
    [reading] = SenmlAdapter().parse(msg("senml/gw/K1", [{"n": "energy", "v": 1}]))
    assert reading.device_key == "K1"


def test_senml_string_and_boolean_records_are_left_out():
    pack = [{"bn": "d:", "n": "status", "vs": "ok"}, {"n": "alarm", "vb": False}, {"n": "energy", "v": 1}]
    [reading] = SenmlAdapter().parse(msg("senml/d", pack))
    assert reading.values == {"energy": (1.0, None)}


@pytest.mark.parametrize(
    ("pack", "reason"),
    [
        ({"n": "energy", "v": 1}, Reason.SCHEMA),  # a pack is an array
        ([], Reason.SCHEMA),
        ([{"bver": 11, "n": "energy", "v": 1}], Reason.SCHEMA),  # newer than we understand
        ([{"bver": "10", "n": "energy", "v": 1}], Reason.SCHEMA),
        ([{"n": "energy", "v": 1, "foo_": 1}], Reason.SCHEMA),  # must-understand field
        ([{"n": "energy", "v": "1"}], Reason.SCHEMA),
        ([{"n": "energy"}], Reason.SCHEMA),  # no value
        ([{"n": "bad name!", "v": 1}], Reason.SCHEMA),
        ([{"n": "energy", "v": 1, "u": 5}], Reason.SCHEMA),
        ([{"n": "energy", "v": 1, "t": 1e30}], Reason.TIMESTAMP_OUT_OF_RANGE),
        ([{"n": "energy", "v": 1, "bt": 1e300, "t": 1e300}], Reason.TIMESTAMP_OUT_OF_RANGE),
    ],
)
def test_senml_malformed_packs_are_rejected_with_a_reason(pack, reason):
    assert reason_of(SenmlAdapter(), msg("senml/d", pack)) is reason


def test_senml_unknown_unit_of_a_mapped_record_is_dead_lettered_as_unknown_unit():
    pack = [{"bn": "urn:dev:mbus:KAM-66666666:", "bt": 1_795_600_000, "n": "energy", "u": "furlong", "v": 1}]
    outcome = pipeline().process(msg("senml/gw-17", pack))
    assert [r.reason for r in outcome.rejections] == [Reason.UNKNOWN_UNIT]


# -- ChirpStack and The Things Stack ------------------------------------------------------------


def test_chirpstack_sample_becomes_indoor_climate_of_the_registered_deveui():
    topic, payload = json_message("chirpstack_v4_up")
    outcome = pipeline().process(Message(topic, payload, NOW_NS))
    [point] = outcome.points
    assert point.measurement == "indoor_climate"
    assert dict(point.tags)["device"] == "ers-12"
    assert point.fields == {"temperature_c": 22.6, "humidity_pct": 41.0, "co2_ppm": 776.0}


def test_chirpstack_without_time_uses_the_receive_time_and_topic_deveui_when_info_is_missing():
    event = {"object": {"co2": 500}}
    [reading] = ChirpStackAdapter().parse(msg("application/app/device/a81758fffe0312ab/event/up", event))
    assert (reading.device_key, reading.ts_ns) == ("a81758fffe0312ab", None)


@pytest.mark.parametrize(
    "event",
    [[1], {"deviceInfo": {"devEui": "x"}}, {"deviceInfo": {"devEui": "x"}, "object": {"status": "ok"}}],
)
def test_chirpstack_without_decoded_numbers_is_a_schema_error(event):
    assert reason_of(ChirpStackAdapter(), msg("application/a/device/x/event/up", event)) is Reason.SCHEMA


def test_tts_sample_resolves_by_device_id_when_only_that_is_registered():
    topic, payload = json_message("ttn_v3_up")
    outcome = pipeline().process(Message(topic, payload, NOW_NS))
    [point] = outcome.points
    assert dict(point.tags)["device"] == "ers-trapphus-14"
    assert point.ts_ns == 1_795_160_474_902_000_000  # uplink_message.received_at wins over received_at
    assert point.fields["co2_ppm"] == 776.0


def test_tts_with_fields_left_out_uses_what_is_there():
    doc = {
        "uplink_message": {"decoded_payload": {"temperature": 21.5}},
        "received_at": "2026-11-20T07:00:00Z",
    }
    [reading] = TheThingsStackAdapter().parse(msg("v3/app@ttn/devices/ers-9/up", doc))
    assert reading.device_key == "ers-9"
    assert reading.ts_ns == 1_795_158_000 * 1_000_000_000
    assert reading.values == {"temperature": (21.5, None)}


def test_tts_message_without_decoded_payload_is_a_schema_error():
    doc = sample("ttn_v3_up")["payload"]
    del doc["uplink_message"]["decoded_payload"]
    assert reason_of(TheThingsStackAdapter(), msg("v3/a/devices/d/up", doc)) is Reason.SCHEMA


def test_lorawan_bad_time_is_a_schema_error():
    event = {"time": "yesterday", "deviceInfo": {"devEui": "x"}, "object": {"co2": 1}}
    assert reason_of(ChirpStackAdapter(), msg("application/a/device/x/event/up", event)) is Reason.SCHEMA


# -- wmbusmeters ----------------------------------------------------------------------------------


def test_wmbusmeters_sample_keys_carry_their_units_and_map_to_heat_fields():
    topic, payload = json_message("wmbusmeters_kamheat")
    [point] = pipeline().process(Message(topic, payload, NOW_NS)).points
    assert point.fields == {
        "energy_kwh": 7173.0,
        "volume_m3": 268.71,
        "flow_m3h": 0.071,
        "power_kw": 2.2,
        "supply_temp_c": 52.29,
        "return_temp_c": 23.01,
        "delta_t_k": pytest.approx(29.28),
    }
    assert point.ts_ns == 1_795_160_400 * 1_000_000_000


def test_wmbusmeters_units_other_than_canonical_are_converted():
    telegram = {
        "name": "KAM-66666666",
        "total_energy_consumption_mwh": 7.5,
        "timestamp": "2026-11-20T07:40:00Z",
    }
    [reading] = WmbusmetersAdapter().parse(msg("wmbusmeters/KAM-66666666", telegram))
    assert reading.values == {"total_energy_consumption_mwh": (7.5, "MWh")}
    [point] = pipeline().process(msg("wmbusmeters/KAM-66666666", telegram)).points
    assert point.fields == {"energy_kwh": 7500.0}


# -- Sparkplug B ----------------------------------------------------------------------------------


def test_sparkplug_sample_ddata_resolves_aliases_from_its_dbirth():
    p = pipeline()
    (birth_topic, birth), (data_topic, data) = sparkplug_messages()
    birth_outcome = p.process(Message(birth_topic, birth, NOW_NS))
    data_outcome = p.process(Message(data_topic, data, NOW_NS))
    assert birth_outcome.rejections == data_outcome.rejections == []
    assert birth_outcome.points[0].fields["energy_kwh"] == 7172.4
    [point] = data_outcome.points
    assert point.ts_ns == 1_795_622_400_000 * 1_000_000
    assert dict(point.tags)["device"] == "KAM-66666666"
    assert point.fields["energy_kwh"] == 7173.0
    assert point.fields["power_kw"] == 2.2
    assert point.fields["supply_temp_c"] == pytest.approx(52.29, rel=1e-6)  # a Sparkplug Float is 32 bits


def test_sparkplug_data_before_birth_is_dead_lettered_and_a_rebirth_is_requested():
    adapter = SparkplugAdapter()
    _, (data_topic, data) = sparkplug_messages()
    assert reason_of(adapter, Message(data_topic, data, NOW_NS)) is Reason.SPARKPLUG_NO_BIRTH
    assert reason_of(adapter, Message(data_topic, data, NOW_NS)) is Reason.SPARKPLUG_NO_BIRTH
    [(topic, payload)] = adapter.take_rebirth_requests()
    assert topic == "spBv1.0/borlange-dh/NCMD/gw-17"
    [metric] = NCmd.decode(payload).metrics
    assert (metric.name, metric.value) == ("Node Control/Rebirth", True)
    assert adapter.take_rebirth_requests() == []


def test_sparkplug_alias_not_in_the_birth_is_never_guessed():
    adapter = SparkplugAdapter()
    (birth_topic, birth), (data_topic, _) = sparkplug_messages()
    adapter.parse(Message(birth_topic, birth, NOW_NS))
    unknown = DData(
        1, 13, (Metric(timestamp=None, name=None, datatype=DataType.DOUBLE, value=1.0, alias=99),)
    )
    assert reason_of(adapter, Message(data_topic, unknown.encode(), NOW_NS)) is Reason.SPARKPLUG_NO_BIRTH


def test_sparkplug_ddeath_and_nbirth_forget_the_device_birth():
    adapter = SparkplugAdapter()
    (birth_topic, birth), (data_topic, data) = sparkplug_messages()
    adapter.parse(Message(birth_topic, birth, NOW_NS))
    assert adapter.parse(Message(data_topic, data, NOW_NS))
    adapter.parse(Message(data_topic.replace("/DDATA/", "/DDEATH/"), DData(1, 14, ()).encode(), NOW_NS))
    assert reason_of(adapter, Message(data_topic, data, NOW_NS)) is Reason.SPARKPLUG_NO_BIRTH
    adapter.parse(Message(birth_topic, birth, NOW_NS))
    nbirth = NBirth(1, 0, (Metric(None, "bdSeq", DataType.INT64, 3),))
    assert adapter.parse(Message("spBv1.0/borlange-dh/NBIRTH/gw-17", nbirth.encode(), NOW_NS)) == []
    assert reason_of(adapter, Message(data_topic, data, NOW_NS)) is Reason.SPARKPLUG_NO_BIRTH


def test_sparkplug_ndeath_of_an_earlier_session_keeps_the_current_node_birth():
    adapter = SparkplugAdapter()
    node_metrics = (
        Metric(None, "bdSeq", DataType.INT64, 4),
        Metric(None, "heat/power_kW", DataType.DOUBLE, 1.5, 7),
    )
    adapter.parse(Message("spBv1.0/g/NBIRTH/e", NBirth(1, 0, node_metrics).encode(), NOW_NS))
    ndata = NData(2, 1, (Metric(None, None, DataType.DOUBLE, 2.5, 7),)).encode()
    stale = NDeath(None, Metric(None, "bdSeq", DataType.INT64, 3)).encode()
    assert adapter.parse(Message("spBv1.0/g/NDEATH/e", stale, NOW_NS)) == []
    [reading] = adapter.parse(Message("spBv1.0/g/NDATA/e", ndata, NOW_NS))
    assert (reading.device_key, reading.values) == ("g/e", {"heat/power_kW": (2.5, "kW")})
    current = NDeath(None, Metric(None, "bdSeq", DataType.INT64, 4)).encode()
    adapter.parse(Message("spBv1.0/g/NDEATH/e", current, NOW_NS))
    assert reason_of(adapter, Message("spBv1.0/g/NDATA/e", ndata, NOW_NS)) is Reason.SPARKPLUG_NO_BIRTH


def test_sparkplug_metric_timestamps_split_readings_and_nulls_and_texts_are_left_out():
    metrics = (
        Metric(1000, "heat/energy_kWh", DataType.DOUBLE, 1.0, 1),
        Metric(2000, "heat/energy_kWh", DataType.DOUBLE, 2.0, 1),
        Metric(None, "heat/power_kW", DataType.DOUBLE, None, 2, is_null=True),
        Metric(None, "heat/status", DataType.STRING, "ok", 3),
    )
    readings = SparkplugAdapter().parse(Message("spBv1.0/g/DBIRTH/e/d", DBirth(5000, 0, metrics).encode(), 0))
    assert [(r.device_key, r.ts_ns, r.values) for r in readings] == [
        ("g/e/d", 1000 * 10**6, {"heat/energy_kWh": (1.0, "kWh")}),
        ("g/e/d", 2000 * 10**6, {"heat/energy_kWh": (2.0, "kWh")}),
    ]


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("spBv1.0/g/DBIRTH/e/d", b"\xff\xff\xff", Reason.SCHEMA),
        ("spBv1.0/g/DBIRTH/e/d", DBirth(1, 0, ()).encode() + b"\x00", Reason.SCHEMA),
        ("spBv1.0/g/DDATA/e", b"", Reason.SCHEMA),  # device message on a node topic
        ("spBv1.0/g/XDATA/e", b"", Reason.SCHEMA),
        ("other/g/NDATA/e", b"", Reason.SCHEMA),
    ],
)
def test_sparkplug_malformed_messages_are_schema_errors(topic, payload, reason):
    assert reason_of(SparkplugAdapter(), Message(topic, payload, NOW_NS)) is reason


def test_sparkplug_state_and_commands_are_not_readings():
    adapter = SparkplugAdapter()
    assert adapter.parse(Message("spBv1.0/STATE/host-1", b'{"online": true, "timestamp": 1}', 0)) == []
    assert adapter.parse(Message("spBv1.0/g/NCMD/e", b"", 0)) == []


# -- routes ---------------------------------------------------------------------------------------


def test_default_routes_put_every_adapter_on_its_conventional_filter():
    routes = {f: a.name for f, a in default_routes("energy")}
    assert routes == {
        "energy/v1/+": "native",
        "senml/#": "senml",
        "application/+/device/+/event/up": "chirpstack",
        "v3/+/devices/+/up": "ttn",
        "spBv1.0/#": "sparkplug",
        "wmbusmeters/#": "wmbusmeters",
    }


def test_routes_override_replaces_named_adapters_filters_and_can_switch_one_off():
    routes = default_routes("energy", "senml=gw/+/senml/#,lab/senml/#; ttn= ; native={prefix}/native/+")
    by_filter = {f: a for f, a in routes}
    assert [a.name for a in by_filter.values()].count("ttn") == 0
    assert by_filter["gw/+/senml/#"] is by_filter["lab/senml/#"]  # one instance per adapter
    assert by_filter["energy/native/+"].name == "native"
    assert "spBv1.0/#" in by_filter


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("lwm2m=x/#", "unknown adapter"),
        ("senml", "name=filter"),
        ("senml=a/#/b", "topic filter"),
        ("senml=a;senml=b", "twice"),
    ],
)
def test_bad_ingest_routes_fail_at_config_load_naming_the_key(text, word, monkeypatch):
    from energy_core.errors import ConfigError
    from energy_core.settings import load
    from ingest.config import IngestSettings

    monkeypatch.setenv("INFLUX_URL", "http://127.0.0.1:8086")
    monkeypatch.setenv("INGEST_ROUTES", text)
    with pytest.raises(ConfigError) as caught:
        load(IngestSettings)
    assert str(caught.value).startswith("INGEST_ROUTES is invalid")
    assert word in str(caught.value)
