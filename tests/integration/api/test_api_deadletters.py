"""Dead letters through the API: listing with counts, replay to MQTT (operator keys only)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.config import mqtt_endpoint
from ingest.deadletters import DeadLetter, DeadLetterStore
from ingest.errors import Reason
from tests.helpers import eventually

pytestmark = pytest.mark.integration


def _letters(topic: str) -> list[DeadLetter]:
    now = time.time_ns()
    return [
        DeadLetter(
            topic, b'{"ts": 1, "values": {"power": 1}}', Reason.UNKNOWN_DEVICE, "no such device", now, "x1"
        ),
        DeadLetter(topic, b"{not json", Reason.INVALID_JSON, "Expecting property name", now + 1),
    ]


class Subscriber:
    """A real MQTT subscriber that records what arrives on one topic."""

    def __init__(self, mqtt_url: str, topic: str) -> None:
        host, port, *_ = mqtt_endpoint(mqtt_url)
        self.received: list[bytes] = []
        self.ready = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = lambda _c, _u, msg: self.received.append(msg.payload)
        self.client.connect(host, port)
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def test_operator_lists_and_replays_dead_letters_to_their_topics(api_world):
    topic = f"test/{uuid.uuid4().hex[:8]}/v1/x1"
    store = DeadLetterStore(api_world.settings.ingest_data_dir / "dead_letters.sqlite")
    try:
        await store.add_many(_letters(topic))
    finally:
        store.close()
    subscriber = Subscriber(api_world.settings.mqtt_url, topic)
    try:
        assert await asyncio.to_thread(subscriber.ready.wait, 10)
        with api_world.client("operator") as client:
            listed = client.get("/deadletters").json()
            only_json = client.get("/deadletters", params={"reason": "invalid_json"}).json()
            mine = [d for d in listed["items"] if d["topic"] == topic]
            assert {d["reason"] for d in mine} == {"unknown_device", "invalid_json"}
            assert listed["counts"]["invalid_json"] >= 1
            assert all(d["reason"] == "invalid_json" for d in only_json["items"])
            assert mine[1]["payload"] == "{not json"

            ids = [d["id"] for d in mine]
            replay = client.post("/deadletters/replay", json={"ids": ids}).json()
            assert replay == {"selected": 2, "published": 2}
            again = client.post("/deadletters/replay", json={"ids": ids}).json()
            assert again == {"selected": 0, "published": 0}  # already replayed: not sent twice
            pending = client.get("/deadletters", params={"pending_only": True}).json()["items"]
            replayed = client.get("/deadletters").json()["items"]
        assert not [d for d in pending if d["topic"] == topic]
        assert all(d["replayed_at"] for d in replayed if d["topic"] == topic)
        await eventually(lambda: len(subscriber.received) >= 2, deadline_s=10)
        assert sorted(subscriber.received) == sorted(d.payload for d in _letters(topic))
    finally:
        subscriber.close()


def test_replay_request_is_validated(api_world):
    with api_world.client("operator") as client:
        r = client.post("/deadletters/replay", json={"limit": 0})
        bad_reason = client.post("/deadletters/replay", json={"reason": "nope"})
    assert r.status_code == 422
    assert bad_reason.status_code == 422
