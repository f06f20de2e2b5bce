"""Publishing simulated messages to MQTT with QoS 1 (paho-mqtt, its own network thread)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from ingest.config import mqtt_endpoint


class Publisher:
    """A QoS 1 publisher that keeps at most ``window`` messages unacknowledged by the broker.

    Completion is tracked through PUBACKs (``on_publish``), not through paho's
    ``wait_for_publish``, which raises for a message queued while disconnected even though
    paho sends it after reconnecting.
    """

    def __init__(
        self, mqtt_url: str, client_id: str = "", *, window: int = 1000, persistent: bool = False
    ) -> None:
        """``persistent`` keeps the session (give a ``client_id``), so unacknowledged publishes
        survive a broker restart and are resent on reconnect."""
        host, port, tls, username, password = mqtt_endpoint(mqtt_url)
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent
        )
        self.client.max_inflight_messages_set(window)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(1, 2)
        self.client.on_publish = self._on_publish
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls:
            self.client.tls_set()
        self.host, self.port = host, port
        self.window = window
        self.published = 0
        self._acked = threading.Condition()
        self._pending: set[int] = set()
        self._early: set[int] = set()  # PUBACKs that beat us to recording the mid as pending

    def __enter__(self) -> Self:
        self.client.connect(self.host, self.port)
        self.client.loop_start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_publish(self, _c: paho.Client, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        with self._acked:
            if mid in self._pending:
                self._pending.discard(mid)
            else:
                self._early.add(mid)
            self._acked.notify_all()

    def _wait_until(self, pending_at_most: int, deadline_s: float) -> None:
        deadline = time.monotonic() + deadline_s
        with self._acked:
            while len(self._pending) > pending_at_most:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{len(self._pending)} publishes unacknowledged after {deadline_s:.0f} s"
                    )
                self._acked.wait(min(left, 0.5))

    def publish_many(self, messages: Iterable[tuple[str, bytes]], *, rate: float | None = None) -> int:
        """Publish and wait until the broker acknowledged every message; returns the count."""
        started = time.monotonic()
        count = 0
        for topic, payload in messages:
            mid = self.client.publish(topic, payload, qos=1).mid
            with self._acked:
                if mid in self._early:
                    self._early.discard(mid)
                else:
                    self._pending.add(mid)
            count += 1
            if rate:
                ahead = count / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            if len(self._pending) >= self.window:
                self._wait_until(self.window // 2, deadline_s=120)
        self._wait_until(0, deadline_s=120)
        self.published += count
        return count
