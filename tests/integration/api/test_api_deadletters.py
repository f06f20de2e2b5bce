"""Dead letters through the API: listing with counts, replay to MQTT (operator keys only)."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
import uuid

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from energy_core.deadletters import STORED_PAYLOAD_MAX, DeadLetter, DeadLetterStore
from energy_core.errors import Reason
from energy_core.settings import mqtt_endpoint
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
        endpoint = mqtt_endpoint(mqtt_url)
        self.received: list[bytes] = []
        self.ready = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = lambda _c, _u, msg: self.received.append(msg.payload)
        self.client.connect(endpoint.host, endpoint.port)
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
            assert replay == {"selected": 2, "replayed": 2, "skipped": []}
            again = client.post("/deadletters/replay", json={"ids": ids}).json()
            assert again == {  # already replayed: not sent twice
                "selected": 2,
                "replayed": 0,
                "skipped": [{"id": i, "reason": "already_replayed"} for i in ids],
            }
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


@pytest.mark.parametrize(
    "body",
    [
        {"ids": [2**63]},
        {"ids": [0]},
        {"ids": [-5]},
        {"ids": list(range(1, 1002))},
        {"ids": ["x"]},
        {"limit": 1001},
        {"after_id": 2**63},
    ],
    ids=["beyond-int64", "zero", "negative", "more-than-1000", "not-a-number", "limit", "after-id"],
)
def test_replay_ids_out_of_range_or_too_many_are_refused_with_a_json_422(api_world, body):
    with api_world.client("operator") as client:
        r = client.post("/deadletters/replay", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]


async def _add(api_world, letters: list[DeadLetter]) -> list[int]:
    store = DeadLetterStore(api_world.settings.ingest_data_dir / "dead_letters.sqlite")
    try:
        before = {d.id for d in store.list(limit=100_000)}
        await store.add_many(letters)
        return [d.id for d in store.list(limit=100_000) if d.id not in before]
    finally:
        store.close()


async def test_replay_replays_exactly_the_ids_asked_however_far_apart_and_reports_the_rest(api_world):
    topic = f"test/{uuid.uuid4().hex[:8]}/v1/x1"
    now = time.time_ns()
    ids = await _add(
        api_world,
        [DeadLetter(topic, f"letter {i}".encode(), Reason.UNKNOWN_DEVICE, "late", now + i) for i in range(5)],
    )
    subscriber = Subscriber(api_world.settings.mqtt_url, topic)
    try:
        assert await asyncio.to_thread(subscriber.ready.wait, 10)
        with api_world.client("operator") as client:
            asked = [ids[0], ids[4], 2**62]
            r = client.post("/deadletters/replay", json={"ids": asked, "limit": 1})
            pending = client.get("/deadletters", params={"pending_only": True, "limit": 1000}).json()
        assert r.status_code == 200, r.text
        assert r.json() == {"selected": 3, "replayed": 2, "skipped": [{"id": 2**62, "reason": "not_found"}]}
        assert {d["id"] for d in pending["items"]} >= set(ids[1:4])
        assert not {ids[0], ids[4]} & {d["id"] for d in pending["items"]}
        assert await eventually(lambda: len(subscriber.received) >= 2, deadline_s=10)
        assert sorted(subscriber.received) == [b"letter 0", b"letter 4"]
    finally:
        subscriber.close()


async def test_listing_pages_on_with_next_and_a_huge_payload_is_cut_hashed_and_not_replayed(api_world):
    topic = f"test/{uuid.uuid4().hex[:8]}/v1/x1"
    huge = b"{" + b"x" * (100 * 1024) + b"}"
    now = time.time_ns()
    ids = await _add(
        api_world,
        [
            DeadLetter(topic, b"{}", Reason.SCHEMA, "empty", now),
            DeadLetter(topic, huge, Reason.PAYLOAD_TOO_LARGE, "too big", now + 1),
            DeadLetter(topic, b"[]", Reason.SCHEMA, "a list", now + 2),
        ],
    )
    with api_world.client("operator") as client:
        first = client.get("/deadletters", params={"after_id": ids[0] - 1, "limit": 2}).json()
        second = client.get("/deadletters", params={"after_id": first["next"], "limit": 2}).json()
        replay = client.post("/deadletters/replay", json={"ids": [ids[1]]}).json()
        too_many = client.get("/deadletters", params={"limit": 1001})
    assert [d["id"] for d in first["items"]] == ids[:2]
    assert first["next"] == ids[1]
    assert [d["id"] for d in second["items"]] == ids[2:]
    assert second["next"] is None
    cut = first["items"][1]
    assert cut["truncated"] is True
    assert cut["payload_bytes"] == len(huge)
    assert cut["payload_sha256"] == hashlib.sha256(huge).hexdigest()
    assert len(cut["payload"]) == STORED_PAYLOAD_MAX
    assert first["items"][0]["truncated"] is False
    assert replay["replayed"] == 0
    assert replay["skipped"][0]["id"] == ids[1]
    assert replay["skipped"][0]["reason"].startswith("truncated")
    assert too_many.status_code == 422
