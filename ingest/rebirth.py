"""Sparkplug rebirth requests: ask an edge node whose DATA came before its BIRTH to be born again.

DATA that arrives before its BIRTH is dead-lettered, never guessed (ingest/adapters/sparkplug.py);
asking the edge node to rebirth (an ``NCMD`` with ``Node Control/Rebirth`` = true) is how its
later data becomes readable again. The adapter is pure and only queues the requests; this
publishes them, at most one per node per ``per_node_s``, through ``publish`` (in the service a
short-lived client of its own, off the consumer's connection).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import structlog

log = structlog.get_logger("ingest.rebirth")

Command = tuple[str, bytes]  # (NCMD topic, payload)


class RebirthSource(Protocol):
    """What queues rebirth requests: :class:`ingest.adapters.sparkplug.SparkplugAdapter`."""

    def take_rebirth_requests(self) -> list[Command]: ...


class RebirthRequester:
    """Publishes the source's rebirth requests every ``every_s``, each node at most once per ``per_node_s``.

    ``publish`` raises OSError when the broker cannot be reached; those requests are tried again
    the next time the adapter asks (the node's next DATA without a birth).
    """

    def __init__(
        self,
        source: RebirthSource,
        publish: Callable[[Sequence[Command]], Awaitable[object]],
        *,
        every_s: float = 2.0,
        per_node_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.publish = publish
        self.every_s = every_s
        self.per_node_s = per_node_s
        self.clock = clock
        self._last_sent: dict[str, float] = {}

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            await self.request_once()

    async def request_once(self) -> list[Command]:
        """Publish what the source asks for now (less the nodes asked too recently); returns it."""
        now = self.clock()
        last_sent = self._last_sent
        requests = [
            (topic, payload)
            for topic, payload in self.source.take_rebirth_requests()
            if now - last_sent.get(topic, -self.per_node_s) >= self.per_node_s
        ]
        if not requests:
            return []
        try:
            await self.publish(requests)
        except OSError as exc:
            log.warning("sparkplug_rebirth_request_failed", error=str(exc), nodes=len(requests))
            return []
        last_sent.update((topic, now) for topic, _ in requests)
        log.info("sparkplug_rebirth_requested", nodes=[topic for topic, _ in requests])
        return requests
