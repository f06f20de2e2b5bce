"""The first end-to-end slice: simulator → Mosquitto → ingest → InfluxDB."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from simulators.heat import HeatMeter, native_stream
from simulators.publisher import Publisher
from tests.helpers import eventually, ingest_settings, running_ingest, sample

pytestmark = pytest.mark.integration


async def test_n_published_readings_become_exactly_n_points_with_their_values(isolated, tmp_path):
    n = 500
    meters = [HeatMeter(f"hm-{i}", design_load_kw=100 + i) for i in range(5)]
    messages = list(native_stream(meters, time.time() - 3600, 10.0, n, prefix=isolated.prefix))
    settings = ingest_settings(isolated, tmp_path)
    async with running_ingest(settings) as service:
        with Publisher(isolated.services.mqtt_url) as publisher:
            await asyncio.to_thread(publisher.publish_many, messages)
        stored = await eventually(lambda: isolated.count("district_heating", "energy_kwh") == n)
        assert stored, f"expected {n} points, found {isolated.count('district_heating', 'energy_kwh')}"
        assert sample(service, "ingest_messages_acked_total") == n

    rows = isolated.query(
        'SELECT "energy_kwh", "power_kw", "supply_temp_c", "return_temp_c", "delta_t_k", "device" '
        'FROM "district_heating" ORDER BY time'
    )
    by_key = {(row[6], row[0]): row for row in rows}
    for topic, payload in messages:
        doc = orjson.loads(payload)
        device = topic.rsplit("/", 1)[-1]
        ts_ns = round(doc["ts"] * 1e6) * 1000
        row = by_key[(device, ts_ns)]
        values = doc["values"]
        assert row[1] == values["energy"]
        assert row[2] == values["power"]
        assert row[3] == values["supply_temp"]
        assert row[4] == values["return_temp"]
        assert row[5] == pytest.approx(values["supply_temp"] - values["return_temp"])
