"""The ingest service: MQTT in, InfluxDB out, acknowledged only after durability.

    broker ──► MqttConsumer ──► Pipeline (pure) ──► Batch ──► Committer ──► InfluxDB
                   ▲                                            │   └─(down)─► Spool ─► drained in order
                   └────────── PUBACK after durable ◄───────────┴─► DeadLetterStore

One event loop; every long-lived loop is a task in one TaskGroup.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import structlog

from energy_core import lineprotocol
from energy_core.deadletters import DeadLetter, DeadLetterStore
from energy_core.errors import InfluxError, InfluxRefused, InfluxUnavailable, Reason, StoreError
from energy_core.influx import InfluxClient, is_missing_database
from energy_core.registry import Registry
from energy_core.replay import publish_messages
from energy_core.schema import Message
from energy_core.timeutil import NS
from ingest.adapters import DEFAULT_VENDOR_MAPS, Router, default_routes
from ingest.config import IngestSettings
from ingest.derive.deriver import Deriver
from ingest.health import HealthServer
from ingest.metrics import IngestMetrics
from ingest.mqtt import AckToken, MqttConsumer
from ingest.normalise import Normaliser
from ingest.pipeline import Pipeline
from ingest.spool import Spool, SpoolFull

log = structlog.get_logger("ingest.service")

SPOOL_WARN_FRACTION = 0.8
COMMITS_IN_FLIGHT = 2
STORE_RETRY_MAX_S = 10.0  # a failing store (disk full) is retried at most this far apart


@dataclass(slots=True)
class Batch:
    """Points and dead letters of a run of messages, and the acks owed once they are durable."""

    lines: list[str] = field(default_factory=list)
    origins: list[Message] = field(default_factory=list)  # the message each line came from
    dead: list[DeadLetter] = field(default_factory=list)
    tokens: list[AckToken] = field(default_factory=list)
    messages: int = 0
    first_received_ns: int = 0


class IngestService:
    """The running service; an async context manager that owns its stores and HTTP client.

    async with IngestService(settings, registry) as service:
        await service.run()
    """

    def __init__(self, settings: IngestSettings, registry: Registry) -> None:
        self.settings = settings
        self.metrics = IngestMetrics()
        self.metrics.spool_max_bytes.set(settings.ingest_spool_max_bytes)
        router = Router(default_routes(settings.mqtt_topic_prefix, settings.ingest_routes))
        # Power; interval energy and emissions unless INGEST_ENERGY=off (history in the data dir).
        self.deriver = Deriver.for_settings(settings, registry)
        self.pipeline = Pipeline(
            router,
            Normaliser(
                registry,
                unknown_devices=settings.ingest_unknown_devices,
                max_age_ns=int(settings.ingest_max_age_days * 86400 * NS),
                vendor_maps=DEFAULT_VENDOR_MAPS,
            ),
            max_payload_bytes=settings.ingest_max_payload_bytes,
            deriver=self.deriver,
        )
        self.batch = Batch()
        self._batch_ready = asyncio.Event()
        self._spool_ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._held = False  # reading is paused until that commit is done
        # Why the service cannot make what it receives durable right now, by cause ("influx",
        # a store's name): /readyz reports them; each is cleared by the next success.
        self.problems: dict[str, str] = {}
        self._core_tasks: list[asyncio.Task[None]] = []
        self.influx = InfluxClient.from_settings(settings)
        data_dir = settings.ingest_data_dir
        self.spool = Spool(data_dir / "spool.sqlite", settings.ingest_spool_max_bytes)
        self.dead_letters = DeadLetterStore(
            data_dir / "dead_letters.sqlite",
            max_bytes=settings.ingest_deadletter_max_bytes,
            max_age_s=settings.ingest_deadletter_max_age_days * 86400,
            on_dropped=lambda bound, count: self.metrics.dead_letters_dropped.labels(bound).inc(count),
        )
        self.dead_letters.prune()  # and on every add: letters past the age bound go at start too
        for store in (self.spool, self.dead_letters, self.deriver.store):
            if store is not None and store.quarantined is not None:
                self.metrics.store_quarantined.labels(store.name).inc()
        self.consumer = MqttConsumer(
            settings.mqtt_url,
            settings.ingest_client_id,
            router.filters,
            self.on_message,
            shared_group=settings.ingest_shared_group,
            silence_timeout_s=settings.ingest_silence_timeout_s,
            ca_file=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
            on_connected=self.metrics.mqtt_connected.set,
        )
        self.health = HealthServer(self.metrics.registry, self.not_ready_reasons, self.not_alive_reasons)

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self, *, install_signal_handlers: bool = True) -> None:
        """Run until SIGTERM/SIGINT (or :meth:`stop`), then flush, ack and exit in bounded time."""
        loop = asyncio.get_running_loop()
        if install_signal_handlers:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop)
        await self.influx.ensure_database()
        self.metrics.spool_bytes.set(self.spool.bytes)
        if not self.spool.empty:
            log.warning("spool_not_empty_at_start", batches=self.spool.batches, bytes=self.spool.bytes)
            self._spool_ready.set()
        async with asyncio.TaskGroup() as tasks:
            consumer = tasks.create_task(self.consumer.run(), name="mqtt-consumer")
            committer = tasks.create_task(self._commit_loop(), name="committer")
            drainer = tasks.create_task(self._drain_spool_loop(), name="spool-drainer")
            rebirths = tasks.create_task(self._rebirth_loop(), name="sparkplug-rebirths")
            health = tasks.create_task(
                self.health.serve(self.settings.ingest_http_host, self.settings.ingest_http_port),
                name="health-server",
            )
            self._core_tasks = [consumer, committer, drainer]  # rebirths ends when no Sparkplug route
            await self._stopping.wait()
            log.info("shutdown_started")
            self.consumer.pause()
            try:
                async with asyncio.timeout(self.settings.ingest_shutdown_timeout_s):
                    await committer  # finishes the batch in hand, then commits what is left
            except TimeoutError:
                log.error("shutdown_timeout_unacked_messages_will_be_redelivered")
                committer.cancel()
            for task in (consumer, drainer, rebirths, health):
                task.cancel()
        log.info("shutdown_complete")

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.influx.__aexit__(exc_type, exc, tb)
        self.spool.close()
        self.dead_letters.close()
        self.deriver.close()

    def stop(self) -> None:
        self._stopping.set()

    def ready(self) -> bool:
        return not self.not_ready_reasons()

    def not_ready_reasons(self) -> list[str]:
        """Why /readyz is 503: not subscribed, InfluxDB down or refusing, a store failing, spool near full."""
        reasons = [] if self.consumer.subscribed.is_set() else ["mqtt: not subscribed"]
        reasons.extend(f"{cause}: {problem}" for cause, problem in self.problems.items())
        if self.spool.bytes >= self.settings.ingest_spool_max_bytes * SPOOL_WARN_FRACTION:
            reasons.append(f"spool: near full ({self.spool.bytes} of {self.spool.max_bytes} bytes)")
        return reasons

    def not_alive_reasons(self) -> list[str]:
        """Why /healthz is 503: a core task has ended (it never should before shutdown), or stopping."""
        reasons = [f"task {task.get_name()} ended" for task in self._core_tasks if task.done()]
        if self._stopping.is_set():
            reasons.append("stopping")
        return reasons

    # -- hot path: one call per MQTT message, on the event loop thread -----------------

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
        if (
            len(batch.lines) >= self.settings.ingest_batch_size
            or batch.messages >= self.settings.ingest_batch_size
        ):
            self._batch_ready.set()
            if not self._held:
                # Stop reading until the committer takes this batch (at once, unless the commits in
                # flight are at their limit) instead of letting it grow to the broker's whole
                # in-flight window: the broker holds the rest, memory stays at a few batches.
                self._held = True
                self.consumer.pause()
                self.metrics.backpressure.inc()

    # -- committing ------------------------------------------------------------------------

    def _take_batch(self) -> Batch:
        batch, self.batch = self.batch, Batch()
        self._batch_ready.clear()
        return batch

    async def _commit_loop(self) -> None:
        """Take batches as they fill (or age) and commit up to COMMITS_IN_FLIGHT of them at once.

        Two commits overlap so that InfluxDB writes one batch while the next one's history and
        acks complete; acks still go out in the order the messages arrived (MQTT requires it).
        """
        max_age_s = self.settings.ingest_batch_max_age_ms / 1000
        in_flight: deque[asyncio.Task[None]] = deque()
        async with asyncio.TaskGroup() as commits:
            while not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max_age_s):
                        await self._batch_ready.wait()
                if not self.batch.messages:
                    continue
                while len(in_flight) >= COMMITS_IN_FLIGHT:
                    await in_flight.popleft()
                batch = self._take_batch()
                if self._held and not self._stopping.is_set():
                    self._held = False
                    self.consumer.resume()
                previous = in_flight[-1] if in_flight else None
                in_flight.append(commits.create_task(self._commit(batch, previous), name="commit"))
                while in_flight and in_flight[0].done():
                    in_flight.popleft()
            # Shutdown: what arrived before the consumer paused, after the commits in flight.
            previous = in_flight[-1] if in_flight else None
            commits.create_task(self._commit(self._take_batch(), previous), name="commit")

    async def _commit(self, batch: Batch, previous: asyncio.Task[None] | None = None) -> None:
        """Make the batch durable (InfluxDB, else spool; dead letters to their store), then ack it,
        after ``previous`` (the commit of the batch before) has acked its own."""
        if not batch.messages:
            if previous is not None:
                await previous
            return
        started = time.perf_counter()
        if batch.lines:
            await self._store_lines(batch, previous)
        stored = time.perf_counter()
        # History durable after the points, before the acks.
        await self._until_stored("energy", self.deriver.commit)
        history = time.perf_counter()
        if batch.dead:
            dead = batch.dead
            await self._until_stored(self.dead_letters.name, lambda: self.dead_letters.add_many(dead))
            for letter in batch.dead:
                self.metrics.dead_letters.labels(letter.reason.value).inc()
        if previous is not None:
            await previous
        self.consumer.ack_many(batch.tokens)  # one write for the whole batch's PUBACKs
        self.metrics.acked.inc(len(batch.tokens))
        elapsed = time.perf_counter() - started
        self.metrics.batch_seconds.observe(elapsed)
        self.metrics.lag_seconds.set((time.time_ns() - batch.first_received_ns) / NS)
        log.debug(
            "batch_committed",
            messages=batch.messages,
            points=len(batch.lines),
            dead_letters=len(batch.dead),
            seconds=round(elapsed, 4),
            store_s=round(stored - started, 4),
            history_s=round(history - stored, 4),
        )

    async def _store_lines(self, batch: Batch, previous: asyncio.Task[None] | None) -> None:
        if self.spool.empty:
            try:
                rejected = await self._write_precisely(batch.lines, batch.origins)
            except InfluxUnavailable as exc:
                self._influx_failed(exc, points=len(batch.lines), spooling=True)
                if not isinstance(exc, InfluxRefused):
                    log.error("influx_unavailable_spooling", error=str(exc), points=len(batch.lines))
            else:
                self._influx_ok()
                self.metrics.points_written.inc(len(batch.lines) - len(rejected))
                batch.dead.extend(rejected)
                return
        if previous is not None:
            # Spool in arrival order: the batch before may still be retrying its own write.
            await asyncio.wait([previous])
        await self._spool_append("\n".join(batch.lines).encode(), len(batch.lines), batch.origins)

    def _influx_failed(self, exc: InfluxUnavailable, **context: object) -> None:
        """Not ready, ``ingest_influx_up`` 0; a refusal is logged loudly here (an operator must act:
        credentials, grants, URL), an outage by the caller."""
        self.metrics.influx_up.set(0)
        if isinstance(exc, InfluxRefused):
            self.problems["influx"] = f"refused writes ({exc.status}): {exc.body[:200]}"
            log.error("influx_write_refused", status=exc.status, error=exc.body[:300], **context)
        else:
            self.problems["influx"] = f"unavailable: {str(exc)[:200]}"

    def _influx_ok(self) -> None:
        self.metrics.influx_up.set(1)
        if self.problems.pop("influx", None) is not None:
            log.info("influx_writes_succeed_again")

    async def _until_stored(self, store: str, write: Callable[[], Awaitable[None]]) -> None:
        """Await ``write`` until the store takes it. Meanwhile the service is not ready and this
        batch (so every later one: acks go in order) stays unacked, so the broker keeps it."""
        delay = 0.5
        while True:
            try:
                await write()
            except StoreError as exc:
                self.problems[store] = f"cannot write: {exc.problem}"
                self.metrics.store_write_errors.labels(store).inc()
                log.error("store_write_failed", store=store, error=str(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, STORE_RETRY_MAX_S)
                continue
            if self.problems.pop(store, None) is not None:
                log.info("store_writable_again", store=store)
            return

    async def _spool_append(self, body: bytes, points: int, origins: list[Message] | None = None) -> None:
        """Append to the spool; while it is full or failing, wait (no ack): the broker holds the data."""

        async def append() -> None:
            while True:
                try:
                    await self.spool.append(body, points, origins)
                    return
                except SpoolFull as exc:
                    log.error("spool_full_backpressure", error=str(exc))
                    await asyncio.sleep(1.0)

        await self._until_stored(self.spool.name, append)
        self.metrics.points_spooled.inc(points)
        self.metrics.spool_bytes.set(self.spool.bytes)
        if self.spool.bytes > self.spool.max_bytes * SPOOL_WARN_FRACTION:
            log.warning("spool_near_full", bytes=self.spool.bytes, max_bytes=self.spool.max_bytes)
        self._spool_ready.set()

    async def _write_precisely(self, lines: list[str], origins: list[Message] | None) -> list[DeadLetter]:
        """Write lines; on a 400, bisect so that only the points InfluxDB refuses are dead-lettered."""
        try:
            await self._write(lines)
            return []
        except InfluxError as exc:
            if len(lines) == 1:
                log.warning("influx_rejected_point", line=lines[0][:200], error=exc.body[:200])
                detail = f"{exc.body[:500]} | line: {lines[0][:500]}"
                if not origins:  # a batch spooled without origins: the line itself is the letter
                    line = lines[0].encode()
                    return [DeadLetter("", line, Reason.REJECTED_BY_DB, detail, time.time_ns(), kind="line")]
                origin = origins[0]
                return [
                    DeadLetter(
                        origin.topic, origin.payload, Reason.REJECTED_BY_DB, detail, origin.received_ns
                    )
                ]
        half = len(lines) // 2
        left = await self._write_precisely(lines[:half], origins[:half] if origins else None)
        right = await self._write_precisely(lines[half:], origins[half:] if origins else None)
        return left + right

    async def _rebirth_loop(self, every_s: float = 2.0, per_node_s: float = 30.0) -> None:
        """Publish the Sparkplug adapter's rebirth requests (NCMD), at most one per node per ``per_node_s``.

        DATA that arrives before its BIRTH is dead-lettered, never guessed; asking the edge node to
        rebirth is how its later data becomes readable again.
        """
        sources = {id(a): a for _, a in self.pipeline.router.routes if hasattr(a, "take_rebirth_requests")}
        last_sent: dict[str, float] = {}
        while sources:
            await asyncio.sleep(every_s)
            now = time.monotonic()
            requests = [
                (topic, payload)
                for adapter in sources.values()
                for topic, payload in adapter.take_rebirth_requests()
                if now - last_sent.get(topic, -per_node_s) >= per_node_s
            ]
            if not requests:
                continue
            try:
                await asyncio.to_thread(
                    publish_messages, self.settings, requests, f"{self.settings.ingest_client_id}-cmd"
                )
            except OSError as exc:
                log.warning("sparkplug_rebirth_request_failed", error=str(exc), nodes=len(requests))
                continue
            last_sent.update((topic, now) for topic, _ in requests)
            log.info("sparkplug_rebirth_requested", nodes=[topic for topic, _ in requests])

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

    async def _drain_spool_loop(self) -> None:
        """Drain the spool into InfluxDB, oldest first; a failing spool file is retried, not fatal."""
        delay = 0.5
        while True:
            try:
                await self._drain_spool()
            except StoreError as exc:
                self.problems[self.spool.name] = f"draining failed: {exc}"
                self.metrics.store_write_errors.labels(self.spool.name).inc()
                log.error("spool_drain_store_failed", error=str(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, STORE_RETRY_MAX_S)

    async def _drain_spool(self) -> None:
        delay = 0.5
        while True:
            await self._spool_ready.wait()
            oldest = await self.spool.oldest()
            if oldest is None:
                self._spool_ready.clear()
                continue
            batch_id, body, points, origins, size = oldest
            try:
                rejected = await self._write_precisely(body.decode().split("\n"), origins)
            except InfluxUnavailable as exc:  # InfluxRefused too: 401/403 must not dead-letter the spool
                self._influx_failed(exc, spool_batches=self.spool.batches)
                log.warning("spool_drain_waiting", error=str(exc), delay_s=delay, batches=self.spool.batches)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            delay = 0.5
            if rejected:
                await self.dead_letters.add_many(rejected)
                self.metrics.dead_letters.labels(Reason.REJECTED_BY_DB.value).inc(len(rejected))
            await self.spool.remove(batch_id, size)
            self.problems.pop(self.spool.name, None)
            self._influx_ok()
            self.metrics.points_written.inc(points - len(rejected))
            self.metrics.spool_bytes.set(self.spool.bytes)
            if self.spool.empty:
                log.info("spool_drained")
