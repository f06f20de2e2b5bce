"""Payload adapters: one per wire format, chosen per MQTT topic filter (SPEC §5).

An adapter turns a Message into RawReadings or raises PayloadError with a dead-letter
reason. It never raises anything else out of the pipeline (the pipeline enforces that).

Out of the box every adapter listens on its conventional filter (``DEFAULT_FILTERS``);
``INGEST_ROUTES`` overrides them per adapter, e.g.
``senml=gw/+/senml/#;chirpstack=application/+/device/+/event/up,cs/#;ttn=`` (``;`` between
adapters, ``,`` between filters, an empty list switches the adapter off, ``{prefix}``
stands for ``MQTT_TOPIC_PREFIX``). Adapters not named keep their defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from paho.mqtt.client import topic_matches_sub

from energy_core.schema import Message, RawReading
from ingest.adapters.chirpstack import ChirpStackAdapter
from ingest.adapters.identity import TopicBinding, speaker_level, speaker_of
from ingest.adapters.native import NativeV1Adapter
from ingest.adapters.senml import SenmlAdapter
from ingest.adapters.sparkplug import SparkplugAdapter
from ingest.adapters.ttn import TheThingsStackAdapter
from ingest.adapters.vendor_maps import DEFAULT_VENDOR_MAPS
from ingest.adapters.wmbus import WmbusmetersAdapter

__all__ = ["DEFAULT_FILTERS", "DEFAULT_VENDOR_MAPS", "Adapter", "Router", "default_routes", "parse_routes"]


class Adapter(Protocol):
    name: str
    binding: TopicBinding  # how the topic vouches for the device (ingest.adapters.identity)

    def parse(self, message: Message) -> list[RawReading]: ...


ADAPTERS: dict[str, Callable[[], Adapter]] = {
    "native": NativeV1Adapter,
    "senml": SenmlAdapter,
    "chirpstack": ChirpStackAdapter,
    "ttn": TheThingsStackAdapter,
    "sparkplug": SparkplugAdapter,
    "wmbusmeters": WmbusmetersAdapter,
}

DEFAULT_FILTERS: dict[str, tuple[str, ...]] = {
    "native": ("{prefix}/v1/+",),
    "senml": ("senml/#",),
    "chirpstack": ("application/+/device/+/event/up",),
    "ttn": ("v3/+/devices/+/up",),
    "sparkplug": ("spBv1.0/#",),
    "wmbusmeters": ("wmbusmeters/#",),
}


class Router:
    """Finds the adapter for a topic; the first matching filter wins. Caches per topic."""

    def __init__(self, routes: Sequence[tuple[str, Adapter]]) -> None:
        self.routes = list(routes)
        self._cache: dict[str, Adapter | None] = {}
        self._speakers: dict[str, str | None] = {}

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

    def speaker(self, topic: str) -> str | None:
        """The user-bound level of ``topic`` when its adapter takes the device from the payload.

        None: the adapter's binding needs no check (see ingest.adapters.identity).
        """
        try:
            return self._speakers[topic]
        except KeyError:
            route = next(((f, a) for f, a in self.routes if topic_matches_sub(f, topic)), None)
            found = None if route is None else speaker_of(route[1].binding, speaker_level(route[0]), topic)
            if len(self._speakers) < 100_000:
                self._speakers[topic] = found
            return found


def parse_routes(text: str) -> dict[str, tuple[str, ...]]:
    """``name=filter,filter;name=…`` → filters per adapter. Raises ValueError saying what is wrong."""
    routes: dict[str, tuple[str, ...]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, filters = part.partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"{part!r} is not name=filter[,filter]")
        if name not in ADAPTERS:
            raise ValueError(f"unknown adapter {name!r} (known: {', '.join(ADAPTERS)})")
        if name in routes:
            raise ValueError(f"adapter {name!r} is named twice")
        topic_filters = tuple(f.strip() for f in filters.split(",") if f.strip())
        for topic_filter in topic_filters:
            _check_filter(topic_filter)
        routes[name] = topic_filters
    return routes


def _check_filter(topic_filter: str) -> None:
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if ("#" in level and (level != "#" or index != len(levels) - 1)) or ("+" in level and level != "+"):
            raise ValueError(f"{topic_filter!r} is not a valid MQTT topic filter")


def default_routes(
    prefix: str, overrides: str | Mapping[str, Sequence[str]] | None = None
) -> list[tuple[str, Adapter]]:
    """Every adapter on its conventional topic filter, or on the filters ``overrides`` gives it.

    One adapter instance serves all filters of its name, so Sparkplug's birth state is shared.
    """
    chosen = parse_routes(overrides) if isinstance(overrides, str) else dict(overrides or {})
    routes: list[tuple[str, Adapter]] = []
    for name, make in ADAPTERS.items():
        filters = chosen.get(name, DEFAULT_FILTERS[name])
        if not filters:
            continue
        adapter = make()
        routes.extend((topic_filter.replace("{prefix}", prefix), adapter) for topic_filter in filters)
    return routes
