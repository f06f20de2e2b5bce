"""Payload adapters: one per wire format, chosen per MQTT topic filter (SPEC §5).

An adapter turns a Message into RawReadings or raises PayloadError with a dead-letter
reason. It never raises anything else out of the pipeline (the pipeline enforces that).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from paho.mqtt.client import topic_matches_sub

from ingest.adapters.native import NativeV1Adapter
from ingest.schema import Message, RawReading


class Adapter(Protocol):
    name: str

    def parse(self, message: Message) -> list[RawReading]: ...


class Router:
    """Finds the adapter for a topic; the first matching filter wins. Caches per topic."""

    def __init__(self, routes: Sequence[tuple[str, Adapter]]) -> None:
        self.routes = list(routes)
        self._cache: dict[str, Adapter | None] = {}

    @property
    def filters(self) -> list[str]:
        return [topic_filter for topic_filter, _ in self.routes]

    def adapter_for(self, topic: str) -> Adapter | None:
        try:
            return self._cache[topic]
        except KeyError:
            found = next((a for f, a in self.routes if topic_matches_sub(f, topic)), None)
            if len(self._cache) < 100_000:
                self._cache[topic] = found
            return found


def default_routes(prefix: str) -> list[tuple[str, Adapter]]:
    """Every adapter on its conventional topic filter."""
    return [(f"{prefix}/v1/+", NativeV1Adapter())]
