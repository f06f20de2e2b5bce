"""Two ingest processes with one client id: said once, loudly, with the fix, and no fighting."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from energy_core.schema import Message
from energy_testing.world import Isolation
from ingest import mqtt_codec as codec
from ingest.mqtt import AckToken, MqttConsumer
from simulators.publisher import Publisher
from tests.helpers import eventually

pytestmark = pytest.mark.integration


class Inbox:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def __call__(self, message: Message, token: AckToken | None) -> None:
        self.payloads.append(message.payload)


@contextlib.asynccontextmanager
async def consuming(consumer: MqttConsumer) -> AsyncIterator[MqttConsumer]:
    task = asyncio.create_task(consumer.run(), name="consumer-under-test")
    try:
        yield consumer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


async def test_a_session_taken_over_by_the_same_client_id_is_logged_once_with_the_fix_and_not_fought(
    isolated: Isolation,
) -> None:
    url = isolated.services.mqtt_url
    client_id = f"ingest-same-{isolated.db}"
    topic = f"{isolated.prefix}/same-id"
    first_inbox, second_inbox = Inbox(), Inbox()
    # A long takeover backoff: the window below is counted in messages, so it must outlast it.
    first = MqttConsumer(url, client_id, [topic], first_inbox, takeover_backoff_s=3600)
    second = MqttConsumer(url, client_id, [topic], second_inbox, takeover_backoff_s=3600)
    with capture_logs() as logs:
        async with consuming(first):
            async with asyncio.timeout(30):
                await first.subscribed.wait()
            async with consuming(second):
                async with asyncio.timeout(30):
                    await second.subscribed.wait()
                assert await eventually(lambda: events(logs, "mqtt_session_taken_over"), deadline_s=30)
                # The window: 20 messages, each published and received by the second consumer in
                # turn. Fighting (reconnecting within a second, as before) would show up as more
                # connections; the first consumer instead waits out its backoff.
                for n in range(20):
                    payload = f"m{n}".encode()
                    await asyncio.to_thread(_publish, url, topic, payload)
                    assert await eventually(lambda p=payload: p in second_inbox.payloads, deadline_s=30)
                assert second.connected.is_set()
                assert not first.connected.is_set()

    taken_over = events(logs, "mqtt_session_taken_over")
    assert len(taken_over) == 1
    assert taken_over[0]["log_level"] == "error"
    assert taken_over[0]["client_id"] == client_id
    assert "INGEST_CLIENT_ID" in taken_over[0]["fix"]
    # Mosquitto 2.0.11 sends no reason 0x8E, it closes the socket: the first consumer is dropped
    # twice right after connecting (it took the session back once), then stops fighting.
    assert len(events(logs, "mqtt_connecting")) <= 5
    assert first.takeovers + second.takeovers == 1


async def test_mqtt_311_clients_sharing_a_client_id_are_told_once_and_one_backs_off(
    isolated: Isolation,
) -> None:
    url = isolated.services.mqtt_url
    client_id = f"ingest-same311-{isolated.db}"
    topic = f"{isolated.prefix}/same-id-311"
    consumers = [MqttConsumer(url, client_id, [topic], Inbox(), takeover_backoff_s=3600) for _ in range(2)]
    for consumer in consumers:
        consumer.protocol = codec.MQTT_311  # no DISCONNECT reason: the broker just closes the socket
    with capture_logs() as logs:
        async with consuming(consumers[0]), consuming(consumers[1]):
            told = await eventually(lambda: events(logs, "mqtt_session_taken_over"), deadline_s=60)
            assert told, [entry["event"] for entry in logs][-40:]
            # The window: until the other one holds the session (it took it from the one that backed off).
            holder = next(consumer for consumer in consumers if not consumer.takeovers)
            assert await eventually(holder.subscribed.is_set, deadline_s=30)
    assert len(told) == 1
    assert told[0]["log_level"] == "error"
    assert told[0]["client_id"] == client_id
    assert "without a reason" in told[0]["evidence"]
    assert "INGEST_CLIENT_ID" in told[0]["fix"]
    assert sum(consumer.takeovers for consumer in consumers) == 1
    assert len(events(logs, "mqtt_connecting")) <= 5


def _publish(url: str, topic: str, payload: bytes) -> None:
    with Publisher(url) as publisher:
        publisher.publish_many([(topic, payload)])
