"""The batch in hand: each MQTT message, through the pure pipeline, into lines, dead letters and an ack.

The hot path: :meth:`Batcher.on_message` runs once per message on the event loop thread. A
full batch (``INGEST_BATCH_SIZE`` lines or messages) pauses reading (flow reason
``backpressure``) until the committer takes it, instead of letting it grow to the broker's whole
in-flight window: the broker holds the rest, memory stays at a few batches.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from energy_core import lineprotocol
from energy_core.deadletters import DeadLetter
from energy_core.schema import Message
from ingest.flow import BACKPRESSURE, FlowControl
from ingest.metrics import IngestMetrics
from ingest.mqtt import AckToken
from ingest.pipeline import Pipeline


@dataclass(slots=True)
class Batch:
    """Points and dead letters of a run of messages, and the acks owed once they are durable."""

    lines: list[str] = field(default_factory=list)
    origins: list[Message] = field(default_factory=list)  # the message each line came from
    dead: list[DeadLetter] = field(default_factory=list)
    tokens: list[AckToken] = field(default_factory=list)
    messages: int = 0
    first_received_ns: int = 0


class Batcher:
    """Fills the batch in hand from the consumer's messages; the committer takes it when full or old."""

    def __init__(
        self, pipeline: Pipeline, flow: FlowControl, metrics: IngestMetrics, *, batch_size: int
    ) -> None:
        self.pipeline = pipeline
        self.flow = flow
        self.metrics = metrics
        self.batch_size = batch_size
        self.batch = Batch()
        self._full = asyncio.Event()

    def on_message(self, message: Message, token: AckToken | None) -> None:
        self.metrics.received.inc()
        outcome = self.pipeline.process(message)
        batch = self.batch
        if batch.messages == 0:
            batch.first_received_ns = message.received_ns
        batch.messages += 1
        if outcome.points:
            batch.lines.extend(map(lineprotocol.encode, outcome.points))
            batch.origins.extend([message] * len(outcome.points))
        for rejection in outcome.rejections:
            batch.dead.append(
                DeadLetter(
                    message.topic,
                    message.payload,
                    rejection.reason,
                    rejection.detail,
                    message.received_ns,
                    rejection.device_key,
                )
            )
        if token is not None:
            batch.tokens.append(token)
        if len(batch.lines) >= self.batch_size or batch.messages >= self.batch_size:
            self._full.set()
            if self.flow.pause(BACKPRESSURE):
                self.metrics.backpressure.inc()

    async def full_or_older_than(self, max_age_s: float) -> None:
        """Until the batch in hand is full, or ``max_age_s`` has passed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max_age_s):
                await self._full.wait()

    def take(self) -> Batch:
        """The batch in hand, replaced by an empty one; reading resumes if a full batch held it."""
        batch, self.batch = self.batch, Batch()
        self._full.clear()
        self.flow.resume(BACKPRESSURE)
        return batch
