"""The incremental daily analysis: re-analyse the local days whose roll-ups changed, and today on a clock.

    RollupMaintainer round ──on_rolled(keys)──► AnalysisRunner.rolled ──► analysis.sqlite (+ memory)
                                                        │ (its own task, off the ack path)
    clock (INGEST_ANALYSIS_INTERVAL_S) ── today ───────►├──► DayAnalyser.analyse(days) ──► InfluxDB rollup_1d

Who runs it (``INGEST_ANALYSIS``): with ``auto`` it runs wherever the roll-ups are maintained
(the ingest service with ``INGEST_ENERGY=live``, else the energy follower, the singleton of the
replicas): that process knows which days changed. ``on`` runs it in the service regardless
(without roll-ups there it analyses only today, on the clock); ``off`` never.

Which days: the maintainer tells the runner the (measurement, hour) buckets each round rolled,
after they were written. Buckets of an analyser's ``inputs`` map to local days; a day before
today is stored in ``analysis.sqlite`` before the maintainer forgets its buckets, and deleted
only after its results were written (a crash re-analyses it at the next start). A changed day
also re-analyses the days after it, up to today but at most :data:`FOLLOWING_DAYS` of them, so
episodes (``since_s``) and the trailing-window KPIs that read it stay right. Today is analysed
on the clock only (first at start, then every interval), for ALL sites: a silent meter sends
nothing, so only a clock notices it; at the first tick of a new day, yesterday is analysed once
more (its last hour may have been rolled after yesterday's last tick).

Failures: InfluxDB down (or the policy missing) keeps every day and retries with a growing delay
(at most :data:`RETRY_MAX_S`); a chunk InfluxDB refuses outright (400 about the lines) is dropped,
counted and logged: retrying could never succeed. ``python -m ingest analyse`` redoes any range.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from energy_core import analysis, rollups
from energy_core.analysis import DayAnalyser
from energy_core.errors import InfluxError, InfluxFailure, StoreError
from energy_core.influx import InfluxClient
from energy_core.registry import Registry
from ingest.analysis.store import DayKey, DayStore
from ingest.analysis.substations import SubstationAnalyser, findings_by_code
from ingest.analysis.thresholds import Thresholds
from ingest.config import IngestSettings
from ingest.rollup import RollupMaintainer

log = structlog.get_logger("ingest.analysis")

FOLLOWING_DAYS = 7  # a changed day re-analyses at most this many days after it
CHUNK_DAYS = 7  # days per analyse() call: results of a chunk are written before the next reads them
WRITE_BATCH = 5000
SETTLE_S = 1.0  # changed days wait until no new day was marked for this long (a back-fill rolls many)
SETTLE_MAX_S = 30.0
RETRY_MIN_S = 1.0
RETRY_MAX_S = 60.0
QUERY_TIMEOUT_S = 120.0
_MISSING = ("retention policy not found", "database not found")


def analysers_for(settings: IngestSettings, registry: Registry) -> list[DayAnalyser]:
    """Every daily analysis this deployment runs (register a new one here: one line)."""
    thresholds = Thresholds.load(settings.ingest_fault_thresholds_file)
    return [
        SubstationAnalyser(registry, thresholds, window_days=settings.ingest_analysis_window_days),
    ]


class AnalysisMetrics:
    """The runner's Prometheus metrics, on the registry of the process that runs it."""

    def __init__(self, registry: CollectorRegistry, analysers: Sequence[DayAnalyser]) -> None:
        r = registry
        self.days = Counter(
            "ingest_analysis_days", "Local days analysed, by analyser", ["analyser"], registry=r
        )
        self.failures = Counter(
            "ingest_analysis_failures",
            "Analysis passes that failed, by analyser (InfluxDB down: the days are kept and retried)",
            ["analyser"],
            registry=r,
        )
        self.points = Counter("ingest_analysis_points_written", "Analysis points written", registry=r)
        self.pending = Gauge(
            "ingest_analysis_pending_days", "Changed local days waiting to be analysed", registry=r
        )
        self.findings = Gauge(
            "ingest_analysis_findings",
            "Active substation findings of today (local day), by fault code",
            ["code"],
            registry=r,
        )
        for a in analysers:
            self.days.labels(a.name)
            self.failures.labels(a.name)
        for code in analysis.FAULT_CODES:
            self.findings.labels(code)


class AnalysisRunner:
    """Runs the :class:`DayAnalyser` s for changed days (:meth:`rolled`) and for today (the clock)."""

    def __init__(
        self,
        influx: InfluxClient,
        analysers: Sequence[DayAnalyser],
        registry: CollectorRegistry,
        *,
        interval_s: float = 120.0,
        store: DayStore | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("the analysis interval must be positive")
        self.influx = influx
        self.analysers = list(analysers)
        self.metrics = AnalysisMetrics(registry, self.analysers)
        self.interval_s = interval_s
        self.store = store
        self.clock_ns = clock_ns
        self._inputs = {a.name: a.inputs for a in self.analysers}
        self._pending: dict[DayKey, int] = {}  # → generation: a day marked during its analysis stays
        self._generation = 0
        self._wake = asyncio.Event()
        self._next_clock = 0.0  # monotonic: due at once
        self._last_clock_day: dt.date | None = None
        self._retry_s = RETRY_MIN_S
        self._owns_client = False
        if store is not None:
            left = store.load()
            for key in left:
                self._mark(key)
            if left:
                log.info("analysis_days_loaded", days=len(left))
        self.metrics.pending.set(len(self._pending))

    @classmethod
    def for_settings(
        cls,
        settings: IngestSettings,
        registry: Registry,
        metrics: CollectorRegistry,
        *,
        role: Literal["service", "follower"],
        rollups: RollupMaintainer | None,
        influx: InfluxClient | None = None,
    ) -> AnalysisRunner | None:
        """The runner this process runs, hooked to its roll-up maintainer, or None (``INGEST_ANALYSIS``).

        Without ``influx`` it opens a client of its own with a long timeout (``aclose`` closes it).
        Raises StoreError when ``analysis.sqlite`` cannot be opened (nothing is left running).
        """
        mode = settings.ingest_analysis
        if mode == "off" or (mode == "auto" and rollups is None):
            return None
        analysers = analysers_for(settings, registry)
        store = DayStore(settings.ingest_data_dir / "analysis.sqlite") if role == "service" else None
        runner = cls(
            influx or InfluxClient.from_settings(settings, timeout_s=QUERY_TIMEOUT_S),
            analysers,
            metrics,
            interval_s=settings.ingest_analysis_interval_s,
            store=store,
        )
        runner._owns_client = influx is None
        if rollups is not None:
            rollups.on_rolled.append(runner.rolled)
        return runner

    async def aclose(self) -> None:
        """Close the day store and the client this runner opened."""
        if self.store is not None:
            self.store.close()
        if self._owns_client:
            await self.influx.__aexit__(None, None, None)

    # -- marking (called by the roll-up maintainer after a round wrote) ---------------------------

    async def rolled(self, keys: Iterable[tuple[str, int]]) -> None:
        """The maintainer rolled these (measurement, hour) buckets: their days are due. Never raises."""
        today = rollups.local_day_of(self.clock_ns())
        days = {
            (a.name, rollups.local_day_of(hour))
            for measurement, hour in keys
            for a in self.analysers
            if measurement in a.inputs
        }
        await self.mark({key for key in days if key[1] < today})  # today: the clock's

    async def mark(self, keys: Iterable[DayKey]) -> None:
        """Mark (analyser, day) keys changed; persisted before this returns (best effort)."""
        new = [key for key in keys if key[0] in self._inputs and self._mark(key)]
        if not new:
            return
        self.metrics.pending.set(len(self._pending))
        self._wake.set()
        if self.store is not None:
            try:
                await self.store.add(new)
            except StoreError as exc:  # kept in memory; `python -m ingest analyse` redoes a range
                log.error("analysis_store_failed", error=str(exc), days=len(new))

    def _mark(self, key: DayKey) -> bool:
        self._generation += 1
        new = key not in self._pending
        self._pending[key] = self._generation
        return new

    @property
    def pending(self) -> list[DayKey]:
        return sorted(self._pending)

    # -- analysing -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Analyse changed days at once and today every interval, until cancelled."""
        while True:
            if time.monotonic() >= self._next_clock or self._pending:
                await self._settle()
                if not await self.run_due():
                    await asyncio.sleep(self._retry_s)  # the backoff, whatever is marked meanwhile
                    self._retry_s = min(self._retry_s * 2, RETRY_MAX_S)
                    continue
                self._retry_s = RETRY_MIN_S
            timeout = max(0.0, self._next_clock - time.monotonic())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            self._wake.clear()

    async def _settle(self) -> None:
        """While a back-fill is being rolled, days are marked one after another: wait until the
        marks pause (at most SETTLE_MAX_S), so that each day and its followers are analysed once,
        not once per newly rolled day."""
        waited = 0.0
        while self._pending and waited < SETTLE_MAX_S:
            generation = self._generation
            await asyncio.sleep(SETTLE_S)
            waited += SETTLE_S
            if generation == self._generation:
                return

    async def run_due(self) -> bool:
        """One pass: the changed days, and today if the clock is due. True when all of it was written."""
        self._wake.clear()
        clock = time.monotonic() >= self._next_clock
        ok = await self.run_pass(clock=clock)
        if clock and ok:
            self._next_clock = time.monotonic() + self.interval_s
        return ok

    async def run_pass(self, *, clock: bool = True) -> bool:
        """Analyse every marked day (and what follows it) and, with ``clock``, today. Never raises."""
        today = rollups.local_day_of(self.clock_ns())
        ok = True
        future = [key for key in self._pending if key[1] > today]  # the clock takes them when due
        if future:
            await self._done_keys(future)
        for analyser in self.analysers:
            marked = {key: gen for key, gen in self._pending.items() if key[0] == analyser.name}
            days: set[dt.date] = set()
            for _, day in marked:
                following = (day + dt.timedelta(days=k) for k in range(FOLLOWING_DAYS + 1))
                days.update(d for d in following if d <= today)
            if clock:
                days.add(today)
                if self._last_clock_day is not None and self._last_clock_day < today:
                    days.add(self._last_clock_day)  # its last hour may have been rolled after its last tick
            ok = await self._analyse(analyser, sorted(days), marked, today) and ok
        if clock and ok:
            self._last_clock_day = today
        self.metrics.pending.set(len(self._pending))
        return ok

    async def _analyse(
        self, analyser: DayAnalyser, days: list[dt.date], marked: dict[DayKey, int], today: dt.date
    ) -> bool:
        for first in range(0, len(days), CHUNK_DAYS):
            chunk = days[first : first + CHUNK_DAYS]
            started = time.perf_counter()
            try:
                lines = await analyser.analyse(self.influx, chunk)
                await self._write(lines)
            except InfluxFailure as exc:
                self.metrics.failures.labels(analyser.name).inc()
                body = exc.body if isinstance(exc, InfluxError) else ""
                if isinstance(exc, InfluxError) and not any(text in body for text in _MISSING):
                    log.error(
                        "analysis_days_rejected",
                        analyser=analyser.name,
                        days=[d.isoformat() for d in chunk],
                        error=body[:300],
                        consequence="not retried; `python -m ingest analyse` redoes the days once fixed",
                    )
                    await self._done(analyser.name, chunk, marked)
                    continue
                log.warning(
                    "analysis_failed",
                    analyser=analyser.name,
                    error=str(exc)[:300],
                    days_kept=len(marked),
                    retry_in_s=self._retry_s,
                )
                return False
            self.metrics.days.labels(analyser.name).inc(len(chunk))
            self.metrics.points.inc(len(lines))
            if today in chunk and isinstance(analyser, SubstationAnalyser):
                counts = findings_by_code(lines, today)
                for code in analysis.FAULT_CODES:
                    self.metrics.findings.labels(code).set(counts.get(code, 0))
            await self._done(analyser.name, chunk, marked)
            log.info(
                "analysis_pass",
                analyser=analyser.name,
                first_day=chunk[0].isoformat(),
                last_day=chunk[-1].isoformat(),
                points=len(lines),
                seconds=round(time.perf_counter() - started, 3),
            )
        return True

    async def _write(self, lines: list[str]) -> None:
        for start in range(0, len(lines), WRITE_BATCH):
            await self.influx.write("\n".join(lines[start : start + WRITE_BATCH]).encode(), rp=analysis.RP)

    async def _done(self, name: str, chunk: Iterable[dt.date], marked: dict[DayKey, int]) -> None:
        """Forget the chunk's marked days, unless marked again while they were analysed."""
        done = []
        for day in chunk:
            key = (name, day)
            if key in marked and self._pending.get(key) == marked[key]:
                done.append(key)
        await self._done_keys(done)

    async def _done_keys(self, done: list[DayKey]) -> None:
        for key in done:
            self._pending.pop(key, None)
        if self.store is not None and done:
            try:
                await self.store.remove(done)
            except StoreError as exc:  # harmless: a day left on disk is analysed again after a restart
                log.error("analysis_store_failed", error=str(exc))
