"""A simulated city through real Mosquitto into ingest: everything the simulator reports arrives."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from pysparkplug import DataType, Metric, NCmd

from energy_core.registry import Registry
from simulators.city import Format, build_city
from simulators.faults import FaultRates
from simulators.formats import REBIRTH_METRIC, rebirth_requested
from simulators.publisher import Publisher
from simulators.simulation import Simulation
from tests.helpers import eventually, ingest_settings, running_ingest

pytestmark = pytest.mark.integration

# A field every point of the measurement has (broken temperature sensors leave the registers).
COUNTED_FIELD = {
    "district_heating": "energy_kwh",
    "electricity": "power_kw",
    "indoor_climate": "co2_ppm",
    "weather": "outdoor_temp_c",
}


async def test_every_good_reading_of_a_faulty_city_is_stored_and_every_bad_one_dead_lettered(
    isolated, tmp_path
):
    city = build_city(20, seed=11)  # every payload format
    faults = FaultRates(
        malformed=0.02,
        wrong_unit=0.01,
        duplicate=0.02,
        out_of_order=0.02,
        clock_skew=0.2,
        counter_reset=0.005,
        meter_swap=0.005,
        broken_sensor=0.01,
        burst=0.01,
        silence=0.005,
    )
    sim = Simulation(city, prefix=isolated.prefix, faults=faults)
    now = time.time()
    messages = list(sim.run(now - 2 * 3600, 60.0, until_s=now))
    report = sim.report
    assert report.expected_dead_letters["invalid_json"] > 0
    assert set(report.expected_points) == set(COUNTED_FIELD)
    assert {d.format for d in city.devices} == set(Format)

    settings = ingest_settings(isolated, tmp_path, ingest_unknown_devices="reject")
    async with running_ingest(settings, Registry(city.assets())) as service:
        with Publisher(isolated.services.mqtt_url) as publisher:
            sent = await asyncio.to_thread(publisher.publish_many, messages)
        assert sent == report.messages

        def all_stored() -> bool:
            return all(
                isolated.count(measurement, COUNTED_FIELD[measurement]) == expected
                for measurement, expected in report.expected_points.items()
            )

        def all_dead_lettered() -> bool:
            return service.dead_letters.counts() == dict(report.expected_dead_letters)

        await eventually(lambda: all_stored() and all_dead_lettered())
        stored = {m: isolated.count(m, COUNTED_FIELD[m]) for m in report.expected_points}
        assert stored == dict(report.expected_points)
        assert service.dead_letters.counts() == dict(report.expected_dead_letters)


def test_publisher_hands_messages_on_its_command_filters_to_their_handler(isolated):
    received: list[tuple[str, bytes]] = []
    arrived = threading.Event()

    def handler(topic: str, payload: bytes) -> None:
        received.append((topic, payload))
        arrived.set()

    command = NCmd(timestamp=1, metrics=(Metric(1, REBIRTH_METRIC, DataType.BOOLEAN, True),))
    topic = f"{isolated.prefix}/NCMD/scada-001"
    with Publisher(isolated.services.mqtt_url, commands={f"{isolated.prefix}/NCMD/+": handler}) as publisher:
        assert publisher.subscribed.wait(timeout=30)
        publisher.publish_many([(topic, command.encode(include_dtypes=True))])
        assert arrived.wait(timeout=30)
    assert received[0][0] == topic
    assert rebirth_requested(received[0][1])
