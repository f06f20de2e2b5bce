"""The ingest service: MQTT in, InfluxDB out, acknowledged only after durability.

    broker ──► MqttConsumer ──► Batcher ──────────► Committer ──────► Sink ──► InfluxDB
                ▲   ▲            (Pipeline, pure)   (CommitSequencer)   └─(down, refused)─► Spool ─► drain
                │   └─ FlowControl ◄─ full │          │  then energy history, dead letters
                └────────── PUBACK after durable, in arrival order ◄────┘
    Sink.on_written ──► RollupMaintainer ──on_rolled(days)──► AnalysisRunner (+ a clock for today)
    Healer (late registers)   RebirthRequester ──► Sparkplug NCMD rebirths
    HealthServer: /metrics /healthz /readyz

This module is the wiring: each part is its own module, given its collaborators (ingest/flow.py,
batch.py, commits.py, sink.py, rebirth.py, problems.py, health.py, rollup/, analysis/). Resources
(the InfluxDB client, the SQLite stores and their threads, the energy history) are opened in ``__aenter__``
on one exit stack, so a failure half-way closes what was already open; nothing is opened in
``__init__``. One event loop; every long-lived loop is a task in one TaskGroup (:meth:`run`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Sequence
from types import TracebackType
from typing import Self

import structlog

from energy_core.deadletters import DeadLetterStore
from energy_core.influx import InfluxClient
from energy_core.registry import Registry
from energy_core.replay import publish_messages
from energy_core.timeutil import NS
from ingest.adapters import DEFAULT_VENDOR_MAPS, Router, default_routes
from ingest.adapters.sparkplug import SparkplugAdapter
from ingest.analysis.runner import AnalysisRunner
from ingest.batch import Batcher
from ingest.commits import Committer
from ingest.config import IngestSettings
from ingest.derive.deriver import Deriver
from ingest.derive.heal import Healer
from ingest.flow import SHUTDOWN, FlowControl
from ingest.health import HealthServer
from ingest.metrics import IngestMetrics
from ingest.mqtt import MqttConsumer
from ingest.normalise import Normaliser
from ingest.pipeline import Pipeline
from ingest.problems import Problems
from ingest.rebirth import Command, RebirthRequester
from ingest.rollup import RollupMaintainer
from ingest.sink import Sink
from ingest.spool import Spool

log = structlog.get_logger("ingest.service")


class IngestService:
    """The running service; an async context manager that owns its stores and HTTP client.

    async with IngestService(settings, registry) as service:
        await service.run()
    """

    # Opened in __aenter__ (see _open).
    influx: InfluxClient
    spool: Spool
    dead_letters: DeadLetterStore
    deriver: Deriver
    pipeline: Pipeline
    batcher: Batcher
    consumer: MqttConsumer
    sink: Sink  # sink.on_written: listeners told the lines each successful write stored
    committer: Committer
    rebirths: RebirthRequester | None  # None when no route reads Sparkplug
    rollups: RollupMaintainer | None  # None when INGEST_ROLLUP says another process maintains them
    healer: Healer  # late register readings: energy and emissions recomputed (docs/emissions.md)
    analysis: AnalysisRunner | None  # the daily analysis (issues 15, 16): None per INGEST_ANALYSIS

    def __init__(self, settings: IngestSettings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        self.metrics = IngestMetrics()
        self.metrics.spool_max_bytes.set(settings.ingest_spool_max_bytes)
        self.flow = FlowControl()  # the one answer to "may the consumer read now?"
        self.problems = Problems(self.metrics)  # why /readyz is 503, by cause
        self.health = HealthServer(self.metrics.registry, self.not_ready_reasons, self.not_alive_reasons)
        self._stopping = asyncio.Event()
        self._core_tasks: list[asyncio.Task[None]] = []
        self._resources = contextlib.AsyncExitStack()

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        async with contextlib.AsyncExitStack() as stack:
            await self._open(stack)
            self._resources = stack.pop_all()  # opened, all of it: closed by __aexit__ from now on
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._resources.aclose()

    async def _open(self, stack: contextlib.AsyncExitStack) -> None:
        """Open the resources onto ``stack`` (closed in reverse if a later one fails), then wire the parts."""
        settings, metrics = self.settings, self.metrics
        data_dir = settings.ingest_data_dir
        self.influx = await stack.enter_async_context(InfluxClient.from_settings(settings))
        self.spool = stack.enter_context(
            contextlib.closing(Spool(data_dir / "spool.sqlite", settings.ingest_spool_max_bytes))
        )
        self.dead_letters = stack.enter_context(
            contextlib.closing(
                DeadLetterStore(
                    data_dir / "dead_letters.sqlite",
                    max_bytes=settings.ingest_deadletter_max_bytes,
                    max_age_s=settings.ingest_deadletter_max_age_days * 86400,
                    on_dropped=lambda bound, count: metrics.dead_letters_dropped.labels(bound).inc(count),
                )
            )
        )
        self.dead_letters.prune()  # and on every add: letters past the age bound go at start too
        # Power; interval energy and emissions unless INGEST_ENERGY=off (history in the data dir).
        self.deriver = stack.enter_context(contextlib.closing(Deriver.for_settings(settings, self.registry)))

        routes = default_routes(settings.mqtt_topic_prefix, settings.ingest_routes)
        router = Router(routes)
        self.pipeline = Pipeline(
            router,
            Normaliser(
                self.registry,
                unknown_devices=settings.ingest_unknown_devices,
                max_age_ns=int(settings.ingest_max_age_days * 86400 * NS),
                vendor_maps=DEFAULT_VENDOR_MAPS,
            ),
            max_payload_bytes=settings.ingest_max_payload_bytes,
            deriver=self.deriver,
        )
        self.batcher = Batcher(self.pipeline, self.flow, metrics, batch_size=settings.ingest_batch_size)
        self.consumer = MqttConsumer(
            settings.mqtt_url,
            settings.ingest_client_id,
            router.filters,
            self.batcher.on_message,
            shared_group=settings.ingest_shared_group,
            silence_timeout_s=settings.ingest_silence_timeout_s,
            ca_file=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
            on_connected=metrics.mqtt_connected.set,
            flow=self.flow,
        )
        self.sink = Sink(self.influx, self.spool, self.dead_letters, metrics, self.problems)
        # Roll-ups (docs/rollups.md): every successful write marks its buckets before it is acked.
        self.rollups = RollupMaintainer.for_settings(settings, metrics.registry, role="service")
        if self.rollups is not None:
            stack.push_async_callback(self.rollups.aclose)
            self.sink.on_written.append(self.rollups.written)
        # The daily analysis: told which days each roll-up round rewrote (INGEST_ANALYSIS).
        self.analysis = AnalysisRunner.for_settings(
            settings, self.registry, metrics.registry, role="service", rollups=self.rollups
        )
        if self.analysis is not None:
            stack.push_async_callback(self.analysis.aclose)
        # Late registers (a back-fill in front of live data) heal energy, emissions and roll-ups.
        self.healer = Healer.for_service(
            settings,
            self.registry,
            self.influx,
            self.deriver,
            metrics.registry,
            rollups=self.rollups,
            waiting_for_writes=lambda: not self.spool.empty,
        )
        stack.callback(self.healer.close)
        rollup_store = None if self.rollups is None else self.rollups.store
        for store in (self.spool, self.dead_letters, self.deriver.store, rollup_store, self.healer.store):
            if store is not None and store.quarantined is not None:
                metrics.store_quarantined.labels(store.name).inc()
        day_store = None if self.analysis is None else self.analysis.store
        if day_store is not None and day_store.quarantined is not None:
            metrics.store_quarantined.labels(day_store.name).inc()
        self.committer = Committer(
            self.batcher,
            self.sink,
            self.dead_letters,
            self.deriver.commit,
            self.consumer.ack_many,
            metrics,
            self.problems,
            max_age_s=settings.ingest_batch_max_age_ms / 1000,
        )
        # One adapter instance serves all of Sparkplug's filters (default_routes): its births,
        # and the rebirth requests it queues.
        sparkplug = next((a for _, a in routes if isinstance(a, SparkplugAdapter)), None)
        self.rebirths = None if sparkplug is None else RebirthRequester(sparkplug, self._publish_commands)

    async def _publish_commands(self, commands: Sequence[Command]) -> None:
        client_id = f"{self.settings.ingest_client_id}-cmd"
        await asyncio.to_thread(publish_messages, self.settings, commands, client_id)

    async def run(self, *, install_signal_handlers: bool = True) -> None:
        """Run until SIGTERM/SIGINT (or :meth:`stop`), then flush, ack and exit in bounded time."""
        loop = asyncio.get_running_loop()
        if install_signal_handlers:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop)
        await self.influx.ensure_database()
        if self.rollups is not None:  # the retention policies, when InfluxDB is up (else each round)
            await self.rollups.prepare()
        async with asyncio.TaskGroup() as tasks:
            consumer = tasks.create_task(self.consumer.run(), name="mqtt-consumer")
            committer = tasks.create_task(self.committer.run(self._stopping), name="committer")
            drainer = tasks.create_task(self.sink.drain(), name="spool-drainer")
            # Never end before shutdown (/healthz says so if one does).
            self._core_tasks = [consumer, committer, drainer]
            # Cancelled at shutdown once the committer is done.
            helpers = [
                tasks.create_task(
                    self.health.serve(self.settings.ingest_http_host, self.settings.ingest_http_port),
                    name="health-server",
                )
            ]
            if self.rebirths is not None:
                helpers.append(tasks.create_task(self.rebirths.run(), name="sparkplug-rebirths"))
            helpers.append(tasks.create_task(self.healer.run(self._stopping), name="energy-healer"))
            if self.rollups is not None:  # what is left stays dirty in rollups.sqlite for the next start
                helpers.append(tasks.create_task(self.rollups.run(), name="rollup-maintainer"))
            if self.analysis is not None:  # what is left stays in analysis.sqlite for the next start
                helpers.append(tasks.create_task(self.analysis.run(), name="analysis-runner"))

            await self._stopping.wait()
            log.info("shutdown_started")
            try:
                async with asyncio.timeout(self.settings.ingest_shutdown_timeout_s):
                    await committer  # finishes the batch in hand, then commits what is left
            except TimeoutError:
                log.error("shutdown_timeout_unacked_messages_will_be_redelivered")
                committer.cancel()
            for task in (consumer, drainer, *helpers):
                task.cancel()
        log.info("shutdown_complete")

    def stop(self) -> None:
        """Begin shutdown: stop reading from the broker now, commit what arrived, then exit."""
        self.flow.pause(SHUTDOWN)
        self._stopping.set()

    # -- health --------------------------------------------------------------------------

    def ready(self) -> bool:
        return not self.not_ready_reasons()

    def not_ready_reasons(self) -> list[str]:
        """Why /readyz is 503: not subscribed, InfluxDB down or refusing, a store failing, spool near full."""
        reasons = [] if self.consumer.subscribed.is_set() else ["mqtt: not subscribed"]
        reasons.extend(self.problems.reasons())
        if (spool := self.sink.spool_near_full()) is not None:
            reasons.append(spool)
        return reasons

    def not_alive_reasons(self) -> list[str]:
        """Why /healthz is 503: a core task has ended (it never should before shutdown), or stopping."""
        reasons = [f"task {task.get_name()} ended" for task in self._core_tasks if task.done()]
        if self._stopping.is_set():
            reasons.append("stopping")
        return reasons
