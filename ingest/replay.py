"""Listing and replaying dead letters (used by the CLI and the API)."""

from __future__ import annotations

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from ingest.config import IngestSettings, MqttSettings, mqtt_endpoint
from ingest.deadletters import DeadLetter, DeadLetterStore


def publish_messages(
    settings: MqttSettings, messages: list[tuple[str, bytes]], client_id: str = "ingest-publisher"
) -> int:
    """Publish (topic, payload) pairs at QoS 1, waiting for each PUBACK; returns how many were acked.

    A short-lived paho client of its own: these are rare, small publishes (replays, Sparkplug
    rebirth requests), kept off the consumer's connection and its hot path.
    """
    host, port, tls, username, password = mqtt_endpoint(settings.mqtt_url)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    if username is not None:
        client.username_pw_set(username, password)
    if tls:
        client.tls_set(ca_certs=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None)
    client.connect(host, port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages if topic]
        for info in infos:
            info.wait_for_publish(timeout=30)
        return sum(1 for info in infos if info.is_published())
    finally:
        client.disconnect()
        client.loop_stop()


def republish(settings: MqttSettings, letters: list[DeadLetter], client_id: str = "ingest-replay") -> int:
    """Publish each dead letter's payload to its original topic, so ingest processes it again."""
    return publish_messages(settings, [(d.topic, d.payload) for d in letters], client_id)


def deadletters_command(settings: IngestSettings, action: str, reason: str | None, limit: int) -> int:
    store = DeadLetterStore(settings.ingest_data_dir / "dead_letters.sqlite")
    try:
        if action == "counts":
            for name, count in sorted(store.counts().items()):
                print(f"{name}\t{count}")
        elif action == "list":
            for d in store.list(reason=reason, limit=limit):
                print(f"{d.id}\t{d.reason}\t{d.topic}\t{d.detail}\t{d.payload[:120]!r}")
        else:
            letters = store.list(reason=reason, limit=limit, pending_only=True)
            published = republish(settings, letters)
            store.mark_replayed([d.id for d in letters])
            print(f"replayed {published} of {len(letters)} dead letters")
    finally:
        store.close()
    return 0
