"""Keeping the roll-ups up to date while data arrives: mark the buckets each write touched, roll them later.

    raw write (2xx) ──► written(lines) ──► DirtyBuckets (+ rollups.sqlite) ──(after the delay)──► Roller

Who runs it (``INGEST_ROLLUP``, docs/rollups.md): with ``auto`` the ingest service maintains the
roll-ups when it derives energy itself (``INGEST_ENERGY=live``: the one-process set-up), and the
energy follower (``python -m ingest energy --follow``, the singleton of ``INGEST_ENERGY=off``)
maintains them for the replicas: every pass it marks every measurement's hours in its window.
``on``/``off`` force it either way (``on`` on replicas also re-rolls their late data).

Durability: a bucket is marked after its raw write succeeded and, when new, written to
``rollups.sqlite`` before the batch is acked; it is forgotten only after its roll-up was written
(snapshot generations: data that arrives during a roll makes the bucket dirty again). A failed
roll (InfluxDB down, the policy missing) keeps every bucket not yet rolled for the next round,
retried with a growing delay (at most ``RETRY_MAX_S``). Only a bucket InfluxDB refuses outright
(a 400 about the points) is dropped, counted in ``ingest_rollup_failures_total{reason="rejected"}``
and logged with its key: retrying it could never succeed, and blocking the rest would be worse.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Literal

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from energy_core import rollups
from energy_core.errors import InfluxError, InfluxUnavailable, StoreError
from energy_core.influx import InfluxClient
from ingest.config import IngestSettings
from ingest.rollup.keys import DirtyBuckets, Key, keys_of_lines, keys_of_range
from ingest.rollup.retention import PolicyOutcome, ensure_policies
from ingest.rollup.roller import Roller, RollReport, by_local_day
from ingest.rollup.store import DirtyStore

log = structlog.get_logger("ingest.rollup")

RETRY_MIN_S = 1.0
RETRY_MAX_S = 30.0
TICK_S = 5.0
QUERY_TIMEOUT_S = 120.0  # the lag gauge is refreshed at least this often
_MISSING = ("retention policy not found", "database not found")


class RollupMetrics:
    """The maintainer's Prometheus metrics, on the registry of the process that runs it."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.buckets = Counter(
            "ingest_rollup_buckets", "Roll-up buckets recomputed, by retention policy", ["rp"], registry=r
        )
        self.points = Counter("ingest_rollup_points_written", "Roll-up points written", registry=r)
        self.failures = Counter(
            "ingest_rollup_failures",
            "Roll-up failures, by reason: unavailable (InfluxDB down or the policy missing: the buckets "
            "are kept and retried), rejected (InfluxDB refused a bucket: dropped, logged), store "
            "(rollups.sqlite failed: the buckets are kept in memory only)",
            ["reason"],
            registry=r,
        )
        self.dirty = Gauge("ingest_rollup_dirty_buckets", "Buckets waiting to be rolled", registry=r)
        self.lag = Gauge(
            "ingest_rollup_lag_seconds",
            "How long the longest-waiting dirty bucket has waited since its first mark (0: none waits)",
            registry=r,
        )
        for rp in rollups.ROLLUP_RPS:
            self.buckets.labels(rp)
        for reason in ("unavailable", "rejected", "store"):
            self.failures.labels(reason)


class RollupMaintainer:
    """Marks dirty buckets (:meth:`written`, :meth:`mark_range`) and rolls them (:meth:`run`)."""

    def __init__(
        self,
        influx: InfluxClient,
        registry: CollectorRegistry,
        *,
        delay_s: float = 60.0,
        store: DirtyStore | None = None,
        rollup_days: float = rollups.DEFAULT_ROLLUP_RETENTION_DAYS,
        raw_days: float | None = None,
    ) -> None:
        self.influx = influx
        self.roller = Roller(influx)
        self.metrics = RollupMetrics(registry)
        self.dirty = DirtyBuckets(delay_s)
        self.store = store
        self.rollup_days = rollup_days
        self.raw_days = raw_days
        self._measurements = frozenset(rollups.MEASUREMENTS)
        self._wake = asyncio.Event()
        self._policies: PolicyOutcome = "deferred"  # "refused": logged once, never asked again
        self._retry_s = RETRY_MIN_S
        self._owns_client = False
        # Told the buckets of each local day a round rolled, after they were written and before
        # they are forgotten (the daily analysis, ingest/analysis/runner.py). Must not raise.
        self.on_rolled: list[Callable[[list[Key]], Awaitable[None]]] = []
        if store is not None:
            left = store.load()
            if left:
                self.dirty.mark(left, time.monotonic())
                log.info("rollup_dirty_buckets_loaded", buckets=len(left))
        self.metrics.dirty.set(len(self.dirty))

    @classmethod
    def for_settings(
        cls,
        settings: IngestSettings,
        registry: CollectorRegistry,
        *,
        role: Literal["service", "follower"],
        influx: InfluxClient | None = None,
    ) -> RollupMaintainer | None:
        """The maintainer this process should run, or None (``INGEST_ROLLUP``; see the module docstring).

        Without ``influx`` it opens a client of its own with a long timeout (``aclose`` closes it):
        a roll-up query over thousands of series may take longer than a write should.
        """
        mode = settings.ingest_rollup
        if mode == "off":
            return None
        if mode == "auto" and role == "service" and settings.ingest_energy != "live":
            return None
        store = None
        if role == "service":  # the follower's marks are its window, recomputed every pass
            store = DirtyStore(settings.ingest_data_dir / "rollups.sqlite")
        maintainer = cls(
            influx or InfluxClient.from_settings(settings, timeout_s=QUERY_TIMEOUT_S),
            registry,
            delay_s=settings.ingest_rollup_delay_s if role == "service" else 0.0,
            store=store,
            rollup_days=settings.ingest_rollup_retention_days,
            raw_days=settings.ingest_raw_retention_days,
        )
        maintainer._owns_client = influx is None
        return maintainer

    async def prepare(self) -> None:
        """Create the roll-up policies and set the raw one's duration now (else at the first round)."""
        self._policies = await ensure_policies(
            self.influx, rollup_days=self.rollup_days, raw_days=self.raw_days
        )

    async def aclose(self) -> None:
        """Close the dirty store and the client this maintainer opened."""
        if self.store is not None:
            self.store.close()
        if self._owns_client:
            await self.influx.__aexit__(None, None, None)

    # -- marking (next to the hot path) -------------------------------------------------------------

    async def written(self, lines: list[str]) -> None:
        """The service wrote ``lines`` (2xx): mark their buckets. Call before acking them."""
        await self.mark(keys_of_lines(lines))

    async def mark(self, keys: Iterable[Key]) -> None:
        """Mark buckets dirty; new ones are persisted before this returns (best effort: see below)."""
        new = self.dirty.mark([k for k in keys if k[0] in self._measurements], time.monotonic())
        if not new:
            return
        self.metrics.dirty.set(len(self.dirty))
        self._wake.set()
        if self.store is not None:
            try:
                await self.store.add(new)
            except StoreError as exc:
                # Roll-ups are derived data: never hold the acks of raw data for them. The buckets
                # stay dirty in memory; after a crash, `python -m ingest rollup` rebuilds the range.
                self.metrics.failures.labels("store").inc()
                log.error("rollup_store_failed", error=str(exc), buckets=len(new))

    async def mark_range(self, start_ns: int, end_ns: int, measurements: Iterable[str] | None = None) -> None:
        """Mark every bucket of ``measurements`` (default: all) overlapping [start_ns, end_ns]."""
        await self.mark(keys_of_range(measurements or rollups.MEASUREMENTS, start_ns, end_ns))

    # -- rolling ------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Roll due buckets until cancelled (a task in the owner's TaskGroup)."""
        while True:
            now = time.monotonic()
            self._refresh(now)
            due = self.dirty.next_due()
            if due is not None and due <= now:
                await self.run_round(now)
                continue
            timeout = TICK_S if due is None else min(TICK_S, due - now)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            self._wake.clear()

    def _refresh(self, now: float) -> None:
        self.metrics.dirty.set(len(self.dirty))
        oldest = self.dirty.oldest_mark()
        self.metrics.lag.set(0.0 if oldest is None else max(0.0, now - oldest))

    async def run_round(self, now: float | None = None) -> RollReport:
        """Roll the buckets due at ``now`` (default: all of them), oldest local day first.

        Never raises for InfluxDB or store failures: it counts and logs them, and keeps what it
        could not roll for a later round.
        """
        snapshot = self.dirty.take_due(float("inf") if now is None else now)
        report = RollReport()
        if not snapshot:
            return report
        started = time.perf_counter()
        if self._policies == "deferred":
            await self.prepare()
            if self._policies == "deferred":
                self._failed(snapshot, "retention policies not set yet (InfluxDB unavailable)")
                return report
        days = by_local_day(snapshot)
        for day in sorted(days):
            unit = days[day]
            keys = {(m, h): snapshot[(m, h)] for m, hours in unit.items() for h in hours}
            try:
                report.add(await self.roller.roll_local_day(day, unit))
            except InfluxUnavailable as exc:
                self._failed(snapshot, str(exc))
                return self._count(report)
            except InfluxError as exc:
                if any(text in exc.body for text in _MISSING):
                    if self._policies == "done":  # dropped meanwhile: recreate at the next round
                        self._policies = "deferred"
                    self._failed(snapshot, exc.body)
                    return self._count(report)
                self.metrics.failures.labels("rejected").inc()
                log.error(
                    "rollup_bucket_rejected",
                    day=day.isoformat(),
                    measurements=sorted(unit),
                    status=exc.status,
                    error=exc.body[:300],
                    consequence="not retried; `python -m ingest rollup` rebuilds the day once fixed",
                )
                self.dirty.forget(keys)
                await self._unpersist(keys)
            else:
                for listener in self.on_rolled:
                    await listener(list(keys))
                await self._unpersist(self.dirty.done(keys, time.monotonic()))
            for key in keys:
                snapshot.pop(key)
        self._retry_s = RETRY_MIN_S
        self._count(report)
        self._refresh(time.monotonic())
        log.info(
            "rollup_round",
            hours=report.hours,
            days=report.days,
            points=report.points,
            dirty=len(self.dirty),
            seconds=round(time.perf_counter() - started, 3),
        )
        return report

    def _count(self, report: RollReport) -> RollReport:
        """Count what a round wrote (also the days a failed round finished before it failed)."""
        self.metrics.buckets.labels(rollups.RP_1H).inc(report.hours)
        self.metrics.buckets.labels(rollups.RP_1D).inc(report.days)
        self.metrics.points.inc(report.points)
        return report

    def _failed(self, remaining: dict[Key, int], error: str) -> None:
        self.metrics.failures.labels("unavailable").inc()
        self.dirty.retry_later(remaining, time.monotonic() + self._retry_s)
        log.warning(
            "rollup_round_failed",
            error=error[:300],
            buckets_kept=len(remaining),
            retry_in_s=self._retry_s,
        )
        self._retry_s = min(self._retry_s * 2, RETRY_MAX_S)
        self._refresh(time.monotonic())

    async def _unpersist(self, keys: Iterable[Key]) -> None:
        if self.store is None:
            return
        try:
            await self.store.remove(keys)
        except StoreError as exc:  # harmless: a bucket left on disk is rolled again after a restart
            self.metrics.failures.labels("store").inc()
            log.error("rollup_store_failed", error=str(exc))
