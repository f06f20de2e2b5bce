"""Device identity: a topic speaks only for the devices the registry lets it, and identities are unique."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml

from energy_core.errors import ConfigError, Reason
from energy_core.registry import AssetFile, Registry
from energy_core.schema import Message
from ingest.adapters import DEFAULT_VENDOR_MAPS, Router, default_routes
from ingest.normalise import Normaliser
from ingest.pipeline import Pipeline

NOW_NS = 1_795_700_000 * 1_000_000_000
TS = 1_795_699_000

ASSETS = {
    "owners": [
        {"id": "borlange-energi", "name": "Borlänge Energi"},
        {"id": "tunabyggen", "name": "Tunabyggen"},
    ],
    "sites": [
        {"id": "SS-17", "name": "Substation 17", "owner": "borlange-energi"},
        {"id": "TB-1", "name": "Trapphus 1", "owner": "tunabyggen"},
    ],
    "devices": [
        {
            "id": "KAM-66666666",
            "site": "SS-17",
            "kind": "heat_meter",
            "external_ids": ["urn:dev:mbus:KAM-66666666:", "66666666"],
            "gateways": ["gw-17"],
        },
        # Tunabyggen's own meters: each publishes under its own id (no gateway).
        {"id": "tb-hm-1", "site": "TB-1", "kind": "heat_meter", "external_ids": ["urn:dev:mbus:TB-1:"]},
        {"id": "TB-W-1", "site": "TB-1", "kind": "heat_meter"},
        {"id": "tb-ers-1", "site": "TB-1", "kind": "indoor_sensor", "external_ids": ["a81758fffe0312ab"]},
    ],
}
REGISTRY = Registry(AssetFile.model_validate(ASSETS))


def pipeline(routes: str = "", unknown: str = "reject") -> Pipeline:
    normaliser = Normaliser(
        REGISTRY,
        unknown_devices=unknown,  # type: ignore[arg-type]
        max_age_ns=10**20,
        vendor_maps=DEFAULT_VENDOR_MAPS,
    )
    return Pipeline(Router(default_routes("energy", routes)), normaliser)


def process(topic: str, payload: object, **kw: str):
    return pipeline(**kw).process(Message(topic, orjson.dumps(payload), NOW_NS))


def senml(base_name: str, power_w: float = 987_000.0) -> list[dict[str, object]]:
    return [{"bn": base_name, "bt": TS, "n": "power", "u": "W", "v": power_w}]


def wmbus(name: str, meter_id: str = "") -> dict[str, object]:
    return {"name": name, "id": meter_id, "power_kw": 987.0, "timestamp": "2026-11-26T10:00:00Z"}


# -- forgery is refused --------------------------------------------------------------------------


def test_a_senml_pack_naming_another_owners_meter_on_a_sensors_own_topic_is_dead_lettered():
    outcome = process("senml/tb-hm-1", senml("urn:dev:mbus:KAM-66666666:"))
    assert outcome.points == []
    [rejection] = outcome.rejections
    assert rejection.reason is Reason.DEVICE_NOT_ALLOWED
    assert "'senml/tb-hm-1'" in rejection.detail
    assert "'KAM-66666666'" in rejection.detail
    assert rejection.device_key == "urn:dev:mbus:KAM-66666666:"


def test_a_senml_record_name_naming_another_meter_is_refused_like_a_base_name():
    outcome = process("senml/tb-hm-1", [{"n": "urn:dev:mbus:KAM-66666666:power", "u": "W", "v": 1.0}])
    assert [r.reason for r in outcome.rejections] == [Reason.DEVICE_NOT_ALLOWED]


def test_a_sub_topic_does_not_change_who_speaks_only_the_acl_bound_level_counts():
    """``senml/%u/#`` lets a user pick the levels below its own: they name nobody."""
    outcome = process("senml/tb-hm-1/KAM-66666666", [{"n": "power", "u": "W", "v": 1.0}])
    assert [r.reason for r in outcome.rejections] == [Reason.DEVICE_NOT_ALLOWED]


@pytest.mark.parametrize("telegram", [wmbus("KAM-66666666"), wmbus("not-registered", "66666666")])
def test_a_wmbusmeters_telegram_naming_another_meter_by_name_or_id_is_dead_lettered(telegram):
    outcome = process("wmbusmeters/TB-W-1", telegram)
    assert outcome.points == []
    assert [r.reason for r in outcome.rejections] == [Reason.DEVICE_NOT_ALLOWED]


def test_a_topic_shorter_than_the_bound_level_speaks_for_no_registered_device():
    outcome = process("senml", senml("urn:dev:mbus:TB-1:"))
    assert [r.reason for r in outcome.rejections] == [Reason.DEVICE_NOT_ALLOWED]


def test_with_a_custom_route_the_speaker_is_the_level_at_the_filters_first_wildcard():
    routes = "senml=site/+/senml/#"
    assert process("site/gw-17/senml/x", senml("urn:dev:mbus:KAM-66666666:"), routes=routes).rejections == []
    forged = process("site/tb-hm-1/senml/gw-17", senml("urn:dev:mbus:KAM-66666666:"), routes=routes)
    assert [r.reason for r in forged.rejections] == [Reason.DEVICE_NOT_ALLOWED]


# -- legitimate speakers -------------------------------------------------------------------------


def test_a_declared_gateway_may_report_for_its_meters():
    outcome = process("senml/gw-17/KAM-66666666", senml("urn:dev:mbus:KAM-66666666:", 2200.0))
    assert outcome.rejections == []
    [point] = outcome.points
    assert dict(point.tags)["owner"] == "borlange-energi"
    assert point.fields["power_kw"] == pytest.approx(2.2)


def test_a_device_without_a_gateway_may_speak_under_its_own_id_or_external_id():
    own_id = process("senml/tb-hm-1", senml("urn:dev:mbus:TB-1:", 1000.0))
    assert own_id.rejections == []
    assert [dict(p.tags)["device"] for p in own_id.points] == ["tb-hm-1"]
    by_name = process("wmbusmeters/tb-w-1", wmbus("TB-W-1"))  # identities ignore case, as lookups do
    assert by_name.rejections == []
    meter_id = process("wmbusmeters/66666666", wmbus("unregistered-name", "66666666"))
    assert meter_id.rejections == []
    assert [dict(p.tags)["device"] for p in meter_id.points] == ["KAM-66666666"]


def test_native_sparkplug_and_network_server_topics_need_no_gateway_declaration():
    native = pipeline().process(Message("energy/v1/KAM-66666666", b'{"values": {"power": 2.0}}', NOW_NS))
    assert native.rejections == []
    uplink = {"deviceInfo": {"devEui": "a81758fffe0312ab"}, "object": {"temperature": 21.0}}
    chirpstack = process("application/app-1/device/a81758fffe0312ab/event/up", uplink)
    assert chirpstack.rejections == []
    assert [dict(p.tags)["device"] for p in chirpstack.points] == ["tb-ers-1"]


def test_commissioning_mode_still_accepts_unregistered_devices_on_any_topic():
    outcome = process("senml/tb-hm-1", senml("urn:dev:mbus:NEW-1:", 1000.0), unknown="accept")
    assert outcome.rejections == []
    assert dict(outcome.points[0].tags)["owner"] == "unassigned"


# -- identities are unique -----------------------------------------------------------------------


def load(tmp_path: Path, devices: list[dict[str, object]]) -> Registry:
    path = tmp_path / "assets.yaml"
    path.write_text(yaml.safe_dump({**ASSETS, "devices": devices}))
    return Registry.load(path)


@pytest.mark.parametrize(
    ("first", "second", "named"),
    [
        (
            {"id": "KAM-1", "site": "SS-17", "kind": "heat_meter"},
            {"id": "kam-1", "site": "TB-1", "kind": "heat_meter"},
            ("'KAM-1'", "'kam-1'"),
        ),
        (
            {"id": "hm-a", "site": "SS-17", "kind": "heat_meter", "external_ids": ["urn:dev:mbus:X:"]},
            {"id": "hm-b", "site": "TB-1", "kind": "heat_meter", "external_ids": ["URN:dev:mbus:X:"]},
            ("'hm-a'", "'hm-b'", "'urn:dev:mbus:X:'", "'URN:dev:mbus:X:'"),
        ),
        (
            {"id": "hm-a", "site": "SS-17", "kind": "heat_meter"},
            {"id": "hm-b", "site": "SS-17", "kind": "heat_meter", "external_ids": ["HM-A"]},
            ("'hm-a'", "'hm-b'", "'HM-A'"),
        ),
    ],
    ids=["ids-differing-in-case", "external-id-shared-across-owners", "external-id-equal-to-another-id"],
)
def test_colliding_device_identities_are_refused_at_load_with_one_line_naming_both(
    tmp_path, first, second, named
):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, [first, second])
    message = str(caught.value)
    assert message.startswith("ASSETS_FILE ")
    assert "\n" not in message
    for name in named:
        assert name in message


def test_a_device_repeating_its_own_identity_is_not_a_collision(tmp_path):
    device = {"id": "hm-a", "site": "SS-17", "kind": "heat_meter", "external_ids": ["HM-A", "x:", "X:"]}
    assert load(tmp_path, [device]).resolve("x:").id == "hm-a"  # type: ignore[union-attr]


@pytest.mark.parametrize("gateway", ["gw/17", "gw-+", ""])
def test_a_gateway_that_is_not_one_topic_level_is_refused_at_load(tmp_path, gateway):
    device = {"id": "hm-a", "site": "SS-17", "kind": "heat_meter", "gateways": [gateway]}
    with pytest.raises(ConfigError, match=r"^ASSETS_FILE .*devices\.0\.gateways\.0"):
        load(tmp_path, [device])


# -- commissioning mode maps vendor keys by the inferred kind ------------------------------------


def test_an_unregistered_senml_heat_meter_keeps_its_supply_and_return_temperatures():
    pack = [
        {"bn": "urn:dev:mbus:NEW-2:", "bt": TS, "n": "energy", "u": "kWh", "v": 7173.0},
        {"n": "power", "u": "W", "v": 2200},
        {"n": "t_supply", "u": "Cel", "v": 52.29},
        {"n": "t_return", "u": "Cel", "v": 23.01},
    ]
    outcome = process("senml/gw-99", pack, unknown="accept")
    assert outcome.rejections == []
    [point] = outcome.points
    assert point.measurement == "district_heating"
    assert point.fields == pytest.approx(
        {
            "energy_kwh": 7173.0,
            "power_kw": 2.2,
            "supply_temp_c": 52.29,
            "return_temp_c": 23.01,
            "delta_t_k": 52.29 - 23.01,
        }
    )


def test_an_unregistered_wmbusmeters_heat_meter_is_mapped_by_its_vendor_keys():
    telegram = {
        "name": "NEW-3",
        "total_energy_consumption_kwh": 100.0,
        "t1_temperature_c": 70.0,
        "t2_temperature_c": 40.0,
        "timestamp": "2026-11-26T10:00:00Z",
    }
    [point] = process("wmbusmeters/NEW-3", telegram, unknown="accept").points
    heat = {"energy_kwh": 100.0, "supply_temp_c": 70.0, "return_temp_c": 40.0, "delta_t_k": 30.0}
    assert point.fields == heat


def test_an_unregistered_device_with_import_energy_and_power_is_an_electricity_meter():
    body = b'{"values": {"power": 3.0, "energy_import": 10.0}}'
    outcome = pipeline(unknown="accept").process(Message("energy/v1/new-em", body, NOW_NS))
    assert [(p.measurement, p.fields) for p in outcome.points] == [
        ("electricity", {"power_kw": 3.0, "energy_import_kwh": 10.0})
    ]
