"""Each payload sample, published on its conventional topic, lands in InfluxDB in canonical units."""

from __future__ import annotations

import asyncio

import pytest

from energy_core.registry import AssetFile, Registry
from simulators.publisher import Publisher
from tests.helpers import eventually, ingest_settings, running_ingest
from tests.sample_data import json_message, sparkplug_messages

pytestmark = pytest.mark.integration

S = 1_000_000_000
REGISTRY = Registry(
    AssetFile.model_validate(
        {
            "owners": [
                {"id": "tunabyggen", "name": "Tunabyggen"},
                {"id": "borlange-energi", "name": "Borlänge Energi"},
            ],
            "sites": [
                {"id": "TB-0012", "name": "Trapphus 12", "owner": "tunabyggen"},
                {"id": "SS-17", "name": "Substation 17", "owner": "borlange-energi", "network": "borlange"},
            ],
            "devices": [
                {
                    "id": "ers-trapphus-12",
                    "site": "TB-0012",
                    "kind": "indoor_sensor",
                    "external_ids": ["A81758FFFE0312AB"],
                },
                {
                    "id": "ers-trapphus-14",
                    "site": "TB-0012",
                    "kind": "indoor_sensor",
                },  # by TTS device id only
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
HEAT_FIELDS = (
    '"energy_kwh", "volume_m3", "flow_m3h", "power_kw", "supply_temp_c", "return_temp_c", "delta_t_k"'
)


async def ingest_samples(
    isolated, tmp_path, messages: list[tuple[str, bytes]], measurement: str, fields: str, rows: int = 1
) -> list[list[object]]:
    """Publish the messages in order (QoS 1) and return the stored rows once ``rows`` are there."""
    settings = ingest_settings(  # the samples are dated: keep them, and raw data for ever
        isolated, tmp_path, ingest_max_age_days=100 * 365, ingest_raw_retention_days=0
    )
    first_field = fields.split(",")[0].strip('" ')
    async with running_ingest(settings, REGISTRY) as service:
        with Publisher(isolated.services.mqtt_url) as publisher:
            await asyncio.to_thread(publisher.publish_many, messages)
        stored = await eventually(lambda: isolated.count(measurement, first_field) >= rows)
        assert stored, f"not stored; dead letters by reason: {service.dead_letters.counts()}"
    return isolated.query(f'SELECT {fields}, "device", "owner" FROM "{measurement}" ORDER BY time')  # noqa: S608


async def test_chirpstack_v4_sample_is_stored_as_indoor_climate(isolated, tmp_path):
    [row] = await ingest_samples(
        isolated,
        tmp_path,
        [json_message("chirpstack_v4_up")],
        "indoor_climate",
        '"temperature_c", "humidity_pct", "co2_ppm"',
    )
    assert row == [1_795_160_472_503_000_000, 22.6, 41.0, 776.0, "ers-trapphus-12", "tunabyggen"]


async def test_tts_v3_sample_is_stored_under_the_device_registered_by_device_id(isolated, tmp_path):
    [row] = await ingest_samples(
        isolated,
        tmp_path,
        [json_message("ttn_v3_up")],
        "indoor_climate",
        '"temperature_c", "humidity_pct", "co2_ppm"',
    )
    assert row == [1_795_160_474_902_000_000, 22.6, 41.0, 776.0, "ers-trapphus-14", "tunabyggen"]


async def test_senml_sample_is_converted_to_canonical_units(isolated, tmp_path):
    [row] = await ingest_samples(
        isolated, tmp_path, [json_message("senml_heat_meter")], "district_heating", HEAT_FIELDS
    )
    assert row[0] == 1_795_622_400 * S
    assert row[1:3] == [7173.0, 268.71]
    assert row[3] == pytest.approx(0.070992)  # 1.972e-5 m3/s
    assert row[4] == pytest.approx(2.2)  # 2200 W
    assert row[5:7] == [52.29, 23.01]
    assert row[7] == pytest.approx(29.28)
    assert row[8:] == ["KAM-66666666", "borlange-energi"]


async def test_wmbusmeters_sample_vendor_keys_are_stored_as_heat_fields(isolated, tmp_path):
    [row] = await ingest_samples(
        isolated, tmp_path, [json_message("wmbusmeters_kamheat")], "district_heating", HEAT_FIELDS
    )
    assert row[0] == 1_795_160_400 * S
    assert row[1:7] == [7173.0, 268.71, 0.071, 2.2, 52.29, 23.01]
    assert row[7] == pytest.approx(29.28)
    assert row[8:] == ["KAM-66666666", "borlange-energi"]


async def test_sparkplug_dbirth_then_alias_only_ddata_are_both_stored(isolated, tmp_path):
    fields = '"energy_kwh", "power_kw", "supply_temp_c", "return_temp_c"'
    rows = await ingest_samples(isolated, tmp_path, sparkplug_messages(), "district_heating", fields, rows=2)
    birth, data = rows
    assert birth[0] == 1_795_622_340_000 * 1_000_000
    assert birth[1:3] == [7172.4, 2.1]
    assert data[0] == 1_795_622_400_000 * 1_000_000
    assert data[1:3] == [7173.0, 2.2]
    assert data[3:5] == pytest.approx([52.29, 23.01], rel=1e-6)  # Sparkplug Float is 32-bit
    assert data[5:] == ["KAM-66666666", "borlange-energi"]
