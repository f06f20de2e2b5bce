"""Sparkplug DATA before its BIRTH is dead-lettered, and ingest asks the edge node to rebirth."""

from __future__ import annotations

import asyncio
import threading

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pysparkplug import NCmd

from energy_core.settings import mqtt_endpoint
from simulators.publisher import Publisher
from tests.helpers import eventually, ingest_settings, running_ingest
from tests.sample_data import sparkplug_messages

pytestmark = pytest.mark.integration


async def test_data_without_birth_is_dead_lettered_and_a_rebirth_ncmd_is_published(isolated, tmp_path):
    _, ddata = sparkplug_messages()
    commands: list[tuple[str, bytes]] = []
    got_command = threading.Event()

    def on_message(_c: object, _u: object, msg: paho.MQTTMessage) -> None:
        commands.append((msg.topic, bytes(msg.payload)))
        got_command.set()

    endpoint = mqtt_endpoint(isolated.services.mqtt_url)
    listener = paho.Client(CallbackAPIVersion.VERSION2)
    listener.on_message = on_message
    subscribed = threading.Event()
    listener.on_subscribe = lambda *_: subscribed.set()
    listener.connect(endpoint.host, endpoint.port)
    listener.loop_start()
    try:
        listener.subscribe("spBv1.0/+/NCMD/+", qos=1)
        assert await asyncio.to_thread(subscribed.wait, 30), "no SUBACK for the NCMD listener"
        async with running_ingest(ingest_settings(isolated, tmp_path)) as service:
            with Publisher(isolated.services.mqtt_url) as publisher:
                await asyncio.to_thread(publisher.publish_many, [ddata])
            assert await eventually(lambda: service.dead_letters.counts().get("sparkplug_no_birth") == 1)
            assert await asyncio.to_thread(got_command.wait, 30)
    finally:
        listener.loop_stop()
        listener.disconnect()

    topic, payload = commands[0]
    assert topic == "spBv1.0/borlange-dh/NCMD/gw-17"
    metrics = {m.name: m.value for m in NCmd.decode(payload).metrics}
    assert metrics == {"Node Control/Rebirth": True}
