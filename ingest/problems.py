"""What keeps the service from making what it receives durable right now, and waiting it out.

``/readyz`` reports each problem by cause (``influx``, a store's name: ``spool``,
``dead_letters``, ``energy``); the next success of that cause clears it. A failing store (disk
full, a lock) is not a reason to drop or ack anything: :meth:`Problems.until_stored` retries the
write, and meanwhile the batch, so every later one (acks go in order: ingest/commits.py), stays
unacknowledged and the broker keeps it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from energy_core.errors import StoreError
from ingest.metrics import IngestMetrics

log = structlog.get_logger("ingest.problems")

STORE_RETRY_MIN_S = 0.5
STORE_RETRY_MAX_S = 10.0  # a failing store (disk full) is retried at most this far apart


class Problems:
    """The current problems by cause; each is one line for ``/readyz``."""

    def __init__(self, metrics: IngestMetrics) -> None:
        self.metrics = metrics
        self._by_cause: dict[str, str] = {}

    def report(self, cause: str, problem: str) -> None:
        self._by_cause[cause] = problem

    def clear(self, cause: str) -> bool:
        """Forget ``cause``'s problem; True when there was one."""
        return self._by_cause.pop(cause, None) is not None

    def reasons(self) -> list[str]:
        return [f"{cause}: {problem}" for cause, problem in self._by_cause.items()]

    def __contains__(self, cause: object) -> bool:
        return cause in self._by_cause

    async def until_stored(self, store: str, write: Callable[[], Awaitable[None]]) -> None:
        """Await ``write`` until the store takes it, retrying a :class:`StoreError` with a growing delay."""
        delay = STORE_RETRY_MIN_S
        while True:
            try:
                await write()
            except StoreError as exc:
                self.report(store, f"cannot write: {exc.problem}")
                self.metrics.store_write_errors.labels(store).inc()
                log.error("store_write_failed", store=store, error=str(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, STORE_RETRY_MAX_S)
                continue
            if self.clear(store):
                log.info("store_writable_again", store=store)
            return
