"""The sink: a batch's lines into InfluxDB, or into the disk spool while InfluxDB cannot take them.

    lines ──► InfluxDB ──(400: bisect)──► the refused lines as dead letters, the rest written
      │          │
      │          └─(down, refusing, or the spool not empty)──► Spool ──► drain(): oldest first
      └─ on_written(lines InfluxDB took) ◄──────────────────────────────────────┘

Only an answer about the points themselves (400, 413: ``InfluxError``) is bisected down to the
lines InfluxDB refuses, and only those become dead letters (``rejected_by_db``, with the message
each came from). A refusal that says nothing about the points (401, 403, a database ingest may
not create: ``InfluxRefused``) is handled as an outage: spool, never dead-letter; the points are
written once an operator fixes the cause. While the spool holds batches, new ones are spooled
behind them, so InfluxDB receives everything in arrival order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog

from energy_core.deadletters import DeadLetter, DeadLetterStore
from energy_core.errors import InfluxError, InfluxRefused, InfluxUnavailable, Reason, StoreError
from energy_core.influx import InfluxClient, is_missing_database
from energy_core.schema import Message
from ingest.metrics import IngestMetrics
from ingest.problems import STORE_RETRY_MAX_S, STORE_RETRY_MIN_S, Problems
from ingest.spool import Spool, SpoolFull

log = structlog.get_logger("ingest.sink")

SPOOL_WARN_FRACTION = 0.8
SPOOL_FULL_RETRY_S = 1.0
DRAIN_RETRY_MAX_S = 10.0

# Told the lines InfluxDB took, after each successful write (straight or drained from the spool).
# At least once: a drained batch whose removal from the spool fails is written, and told, again.
# Awaited on the event loop before the batch is acked (the roll-up maintainer persists the buckets
# it must re-roll); must be quick and must not raise.
OnWritten = Callable[[list[str]], Awaitable[None]]


class Sink:
    """Makes line-protocol batches durable in InfluxDB or the spool; see the module docstring."""

    def __init__(
        self,
        influx: InfluxClient,
        spool: Spool,
        dead_letters: DeadLetterStore,
        metrics: IngestMetrics,
        problems: Problems,
        *,
        on_written: Sequence[OnWritten] = (),
    ) -> None:
        self.influx = influx
        self.spool = spool
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.problems = problems
        self.on_written = list(on_written)
        self._spool_ready = asyncio.Event()
        self.metrics.spool_bytes.set(spool.bytes)
        if not spool.empty:
            log.warning("spool_not_empty_at_start", batches=spool.batches, bytes=spool.bytes)
            self._spool_ready.set()

    # -- a batch in --------------------------------------------------------------------

    async def store(
        self,
        lines: list[str],
        origins: list[Message] | None,
        *,
        before_spooling: Callable[[], Awaitable[object]] | None = None,
    ) -> list[DeadLetter]:
        """Write ``lines`` (``origins[i]`` the message line i came from) to InfluxDB, else spool them.

        Returns the dead letters of the lines InfluxDB refused. ``before_spooling`` is awaited
        before appending to the spool: the batch before may still be retrying its own write, and
        the spool must keep arrival order.
        """
        if self.spool.empty:
            try:
                rejected = await self.write_precisely(lines, origins)
            except InfluxUnavailable as exc:
                self._influx_failed(exc, points=len(lines), spooling=True)
                if not isinstance(exc, InfluxRefused):
                    log.error("influx_unavailable_spooling", error=str(exc), points=len(lines))
            else:
                self._influx_ok()
                self.metrics.points_written.inc(len(lines) - len(rejected))
                return rejected
        if before_spooling is not None:
            await before_spooling()
        await self._spool_append("\n".join(lines).encode(), len(lines), origins)
        return []

    async def write_precisely(self, lines: list[str], origins: list[Message] | None) -> list[DeadLetter]:
        """Write lines; on a 400, bisect so that only the lines InfluxDB refuses are dead-lettered.

        Raises InfluxUnavailable (InfluxRefused included) when InfluxDB cannot take them at all.
        """
        refused = await self._refused(lines, 0)
        letters = [self._letter(lines[i], origins[i] if origins else None, exc) for i, exc in refused]
        if self.on_written:
            skip = {i for i, _ in refused}
            written = [line for i, line in enumerate(lines) if i not in skip] if skip else lines
            if written:
                for listener in self.on_written:
                    await listener(written)
        return letters

    async def _refused(self, lines: list[str], offset: int) -> list[tuple[int, InfluxError]]:
        """The index (from ``offset``) of each line InfluxDB refuses, and its answer; writes the rest."""
        try:
            await self._write(lines)
            return []
        except InfluxError as exc:
            if len(lines) == 1:
                return [(offset, exc)]
        half = len(lines) // 2
        left = await self._refused(lines[:half], offset)
        return left + await self._refused(lines[half:], offset + half)

    @staticmethod
    def _letter(line: str, origin: Message | None, exc: InfluxError) -> DeadLetter:
        log.warning("influx_rejected_point", line=line[:200], error=exc.body[:200])
        detail = f"{exc.body[:500]} | line: {line[:500]}"
        if origin is None:  # a batch spooled without origins: the line itself is the letter
            return DeadLetter("", line.encode(), Reason.REJECTED_BY_DB, detail, time.time_ns(), kind="line")
        return DeadLetter(origin.topic, origin.payload, Reason.REJECTED_BY_DB, detail, origin.received_ns)

    async def _write(self, lines: list[str]) -> None:
        body = "\n".join(lines).encode()
        try:
            await self.influx.write(body)
        except InfluxError as exc:
            # InfluxDB was down when we started, or the database was dropped: create it, write again.
            if not is_missing_database(exc.status, exc.body):
                raise
            await self.influx.ensure_database()
            try:
                await self.influx.write(body)
            except InfluxError as again:
                if is_missing_database(again.status, again.body):  # not ours to create (2.x DBRP, grants)
                    raise InfluxRefused(again.status, again.body) from again
                raise

    # -- InfluxDB's state, as /readyz and ingest_influx_up say it -------------------------

    def _influx_failed(self, exc: InfluxUnavailable, **context: object) -> None:
        """Not ready, ``ingest_influx_up`` 0; a refusal is logged loudly here (an operator must act:
        credentials, grants, URL), an outage by the caller."""
        self.metrics.influx_up.set(0)
        if isinstance(exc, InfluxRefused):
            self.problems.report("influx", f"refused writes ({exc.status}): {exc.body[:200]}")
            log.error("influx_write_refused", status=exc.status, error=exc.body[:300], **context)
        else:
            self.problems.report("influx", f"unavailable: {str(exc)[:200]}")

    def _influx_ok(self) -> None:
        self.metrics.influx_up.set(1)
        if self.problems.clear("influx"):
            log.info("influx_writes_succeed_again")

    # -- the spool -------------------------------------------------------------------------

    async def _spool_append(self, body: bytes, points: int, origins: list[Message] | None) -> None:
        """Append to the spool; while it is full or failing, wait (no ack): the broker holds the data."""

        async def append() -> None:
            while True:
                try:
                    await self.spool.append(body, points, origins)
                    return
                except SpoolFull as exc:
                    log.error("spool_full_backpressure", error=str(exc))
                    await asyncio.sleep(SPOOL_FULL_RETRY_S)

        await self.problems.until_stored(self.spool.name, append)
        self.metrics.points_spooled.inc(points)
        self.metrics.spool_bytes.set(self.spool.bytes)
        if self.spool.bytes > self.spool.max_bytes * SPOOL_WARN_FRACTION:
            log.warning("spool_near_full", bytes=self.spool.bytes, max_bytes=self.spool.max_bytes)
        self._spool_ready.set()

    def spool_near_full(self) -> str | None:
        """A /readyz reason while the spool holds SPOOL_WARN_FRACTION of its bound or more."""
        spool = self.spool
        if spool.bytes >= spool.max_bytes * SPOOL_WARN_FRACTION:
            return f"spool: near full ({spool.bytes} of {spool.max_bytes} bytes)"
        return None

    async def drain(self) -> None:
        """Drain the spool into InfluxDB, oldest first, forever; a failing spool file is retried."""
        delay = STORE_RETRY_MIN_S
        while True:
            try:
                await self._drain()
            except StoreError as exc:
                self.problems.report(self.spool.name, f"draining failed: {exc}")
                self.metrics.store_write_errors.labels(self.spool.name).inc()
                log.error("spool_drain_store_failed", error=str(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, STORE_RETRY_MAX_S)

    async def _drain(self) -> None:
        delay = STORE_RETRY_MIN_S
        while True:
            await self._spool_ready.wait()
            oldest = await self.spool.oldest()
            if oldest is None:
                self._spool_ready.clear()
                continue
            batch_id, body, points, origins, size = oldest
            try:
                rejected = await self.write_precisely(body.decode().split("\n"), origins)
            except InfluxUnavailable as exc:  # InfluxRefused too: 401/403 must not dead-letter the spool
                self._influx_failed(exc, spool_batches=self.spool.batches)
                log.warning("spool_drain_waiting", error=str(exc), delay_s=delay, batches=self.spool.batches)
                await asyncio.sleep(delay)
                delay = min(delay * 2, DRAIN_RETRY_MAX_S)
                continue
            delay = STORE_RETRY_MIN_S
            if rejected:
                await self.dead_letters.add_many(rejected)
                self.metrics.dead_letters.labels(Reason.REJECTED_BY_DB.value).inc(len(rejected))
            await self.spool.remove(batch_id, size)
            self.problems.clear(self.spool.name)
            self._influx_ok()
            self.metrics.points_written.inc(points - len(rejected))
            self.metrics.spool_bytes.set(self.spool.bytes)
            if self.spool.empty:
                log.info("spool_drained")
