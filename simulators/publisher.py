"""Publishing simulated messages to MQTT with QoS 1 (paho-mqtt, its own network thread)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from types import TracebackType
from typing import Self

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from ingest.config import mqtt_endpoint


class Publisher:
    """A QoS 1 publisher; ``publish_many`` keeps at most ``window`` messages unacknowledged."""

    def __init__(self, mqtt_url: str, client_id: str = "", *, window: int = 1000) -> None:
        host, port, tls, username, password = mqtt_endpoint(mqtt_url)
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        self.client.max_inflight_messages_set(window)
        self.client.max_queued_messages_set(0)
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls:
            self.client.tls_set()
        self.host, self.port = host, port
        self.window = window
        self.published = 0

    def __enter__(self) -> Self:
        self.client.connect(self.host, self.port)
        self.client.loop_start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish_many(self, messages: Iterable[tuple[str, bytes]], *, rate: float | None = None) -> int:
        """Publish and wait until the broker acknowledged every message; returns the count."""
        pending: list[paho.MQTTMessageInfo] = []
        started = time.monotonic()
        count = 0
        for topic, payload in messages:
            pending.append(self.client.publish(topic, payload, qos=1))
            count += 1
            if rate:
                ahead = count / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            if len(pending) >= self.window:
                pending[0].wait_for_publish(timeout=60)
                pending = [p for p in pending if not p.is_published()]
        for info in pending:
            info.wait_for_publish(timeout=60)
            if not info.is_published():
                raise TimeoutError("the broker did not acknowledge a publish within 60 s")
        self.published += count
        return count
