"""The pure core: Message → points and dead letters. No I/O.

parse (adapter) → normalise (registry, units, time, plausibility) → derive → points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from energy_core.errors import PayloadError, Reason
from energy_core.registry import ResolvedDevice
from energy_core.schema import Message, Point
from ingest.adapters import Router
from ingest.normalise import Normaliser, Rejection


class PointDeriver(Protocol):
    """The derive step (ingest.derive.Deriver): may add fields in place and returns new points."""

    def derive(
        self, devices: list[tuple[ResolvedDevice, Point]], rejections: list[Rejection] | None = None
    ) -> list[Point]: ...


@dataclass(slots=True)
class Outcome:
    """What became of one message: points to write and rejections to dead-letter."""

    points: list[Point]
    rejections: list[Rejection]


class Pipeline:
    def __init__(
        self,
        router: Router,
        normaliser: Normaliser,
        *,
        max_payload_bytes: int = 256 * 1024,
        deriver: PointDeriver | None = None,
    ) -> None:
        self.router = router
        self.normaliser = normaliser
        self.max_payload_bytes = max_payload_bytes
        self.deriver = deriver

    def process(self, message: Message) -> Outcome:
        """Never raises for bad input: every failure becomes a Rejection with a reason."""
        if len(message.payload) > self.max_payload_bytes:
            return Outcome([], [Rejection(Reason.PAYLOAD_TOO_LARGE, f"{len(message.payload)} bytes")])
        adapter = self.router.adapter_for(message.topic)
        if adapter is None:
            return Outcome([], [Rejection(Reason.NO_ADAPTER, f"no adapter for topic {message.topic!r}")])
        try:
            readings = adapter.parse(message)
        except PayloadError as exc:
            return Outcome([], [Rejection(exc.reason, exc.detail)])
        except RecursionError:
            return Outcome([], [Rejection(Reason.INVALID_JSON, "nested too deeply")])
        except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError) as exc:
            # An adapter bug must not stop the stream: keep the message and say what broke.
            return Outcome([], [Rejection(Reason.SCHEMA, f"{adapter.name}: {type(exc).__name__}: {exc}")])
        speaker = self.router.speaker(message.topic)
        normalised = self.normaliser.normalise(
            readings, message.received_ns, speaker=speaker, topic=message.topic
        )
        if self.deriver is not None and normalised.devices:
            normalised.points.extend(self.deriver.derive(normalised.devices, normalised.rejections))
        return Outcome(normalised.points, normalised.rejections)
