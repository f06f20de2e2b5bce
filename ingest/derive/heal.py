"""Healing ``energy`` and ``emissions`` after a back-fill: late registers recomputed from InfluxDB.

A gateway that back-fills history in front of live data sends register readings older than the
series' *floor* (:mod:`ingest.derive.energy`): the live history cannot place them, so their
intervals, and the interval from the last of them to the first live reading, are missing. With
``INGEST_ENERGY=off`` the follower has the same hole: it recomputes only its sliding window.

    Deriver.derive ──(reading older than the floor; off: older than INGEST_HEAL_OLDER_THAN_S)──► note
    Deriver.commit ──(after the batch is durable, before its acks)──► save: heal.sqlite
    Healer.run ──(no more late readings for INGEST_HEAL_DELAY_S)──► backfill(device, range) ──► done

- **Coalesced and bounded.** One pending heal per meter series (device × carrier): a sorted list
  of disjoint time ranges of its late readings; ranges closer than ``merge_gap_ns`` merge, and
  beyond ``max_ranges`` the two closest merge (recomputing readings between them is harmless:
  the same points again). A burst of thousands of old readings is one heal.
- **Durable.** The pending heals live in ``INGEST_DATA_DIR/heal.sqlite`` (both modes; ``energy.sqlite``
  is discarded with ``INGEST_ENERGY=off``), saved at each batch commit after the batch's points are
  durable and before its messages are acked. A crash before the save: the messages are redelivered,
  found late again, noted again. A heal is deleted only after every point of it was written.
- **Settled.** A series is healed once no late reading came for ``INGEST_HEAL_DELAY_S``, and at the
  latest ten delays after its first one; up to ``concurrency`` (4) series are healed at once.
  It waits (up to ``10 × delay``, at least a minute) until the last late reading noted is stored
  in InfluxDB, and while ingest's spool holds points: the
  readings of a batch being written (or spooled) are not healed before they are there. (A batch
  whose write outlasts the delay, which InfluxDB's client retries bound to well under the default
  minute before it spools, could still land after a heal read its range.)
- **The same numbers as a clean run.** Each range is recomputed with :func:`ingest.derive.backfill.backfill`
  (the same interval function, plausibility limits and emission factors as the live path), for the
  series' intervals ending in [first late reading, the first stored reading after the last one]. The
  interval ending at the range's first reading is seeded with its stored predecessor; the one ending
  at the following reading — the seam, usually the first live reading — is recomputed from the last
  late one and overwrites whatever the live path wrote at that timestamp (InfluxDB keeps one value
  per series and timestamp), so nothing is counted twice. Intervals after that reading depend only
  on readings after it and are not touched. A second heal or a manual backfill writes the same points.
- **Failures.** InfluxDB down or refusing: the heal stays pending, ``ingest_energy_heals_failed_total``
  counts it, and it is retried with a backoff (at most a minute apart). A heal whose series got new late
  readings while it ran stays pending and runs again.
- **Roll-ups.** Every batch of points a heal writes is handed to the roll-up maintainer
  (``rollups``, its "buckets touched" hook ``written``), which re-rolls those hours and days.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from energy_core import lineprotocol
from energy_core.errors import InfluxError, InfluxUnavailable, StoreError
from energy_core.factors import EmissionFactors
from energy_core.influx import InfluxClient
from energy_core.registry import Registry
from energy_core.schema import Point
from energy_core.store import SqliteStore
from energy_core.timeutil import DAY_NS, NS
from ingest.config import IngestSettings
from ingest.derive.backfill import BackfillReport, backfill, influxql_string
from ingest.derive.deriver import REGISTERS, Deriver, parse_series_key
from ingest.derive.plausible import EnergyLimits, energy_limits

log = structlog.get_logger("ingest.heal")

HEAL_FILE = "heal.sqlite"  # in INGEST_DATA_DIR
RETRY_MAX_NS = 60 * NS
POLL_MAX_S = 5.0
# carrier → (measurement, register field)
_REGISTER_OF = {carrier: (measurement, register) for measurement, (register, carrier) in REGISTERS.items()}


class BucketsTouched(Protocol):
    """The roll-up maintainer's hook (:class:`ingest.rollup.RollupMaintainer`): the raw lines written."""

    async def written(self, lines: list[str]) -> None: ...


def coalesce(
    ranges: list[tuple[int, int]], start_ns: int, end_ns: int, *, merge_gap_ns: int, max_ranges: int
) -> list[tuple[int, int]]:
    """``ranges`` (sorted, disjoint) with [start_ns, end_ns] added: overlapping ranges and ranges
    at most ``merge_gap_ns`` apart become one; beyond ``max_ranges`` the two closest merge."""
    if end_ns < start_ns:
        raise ValueError("end is before start")
    if max_ranges < 1:
        raise ValueError("max_ranges must be at least 1")
    out: list[tuple[int, int]] = []
    for s, e in sorted([*ranges, (start_ns, end_ns)]):
        if out and s - out[-1][1] <= merge_gap_ns:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    while len(out) > max_ranges:
        i = min(range(len(out) - 1), key=lambda k: out[k + 1][0] - out[k][1])
        out[i : i + 2] = [(out[i][0], out[i + 1][1])]
    return out


@dataclass(slots=True)
class PendingHeal:
    """One series' late readings waiting to be healed."""

    ranges: list[tuple[int, int]]  # sorted, disjoint: reading timestamps (ns)
    last_ts_ns: int  # the late reading noted last: stored in InfluxDB means its batch is durable
    first_ns: int  # wall clock (ns) of the first late reading of this heal
    updated_ns: int  # wall clock (ns) of the last one
    seq: int  # changes with every reading noted: a heal finishing marks done only what it saw
    failures: int = field(default=0, compare=False)  # in memory only: after a restart, retried at once
    retry_at_ns: int = field(default=0, compare=False)

    def due_ns(self, delay_ns: int) -> int:
        settled = min(self.updated_ns + delay_ns, self.first_ns + 10 * delay_ns)
        return max(settled, self.retry_at_ns)


class HealStore(SqliteStore):
    """The pending heals, one row per series (``ranges`` as a JSON list of [start_ns, end_ns])."""

    schema = """
    CREATE TABLE IF NOT EXISTS heals (
        series TEXT PRIMARY KEY,
        ranges TEXT NOT NULL,
        last_ts_ns INTEGER NOT NULL,
        first_ns INTEGER NOT NULL,
        updated_ns INTEGER NOT NULL,
        seq INTEGER NOT NULL
    ) WITHOUT ROWID;
    """

    def load(self) -> dict[str, PendingHeal]:
        rows = self.run_sync(
            lambda db: db.execute(
                "SELECT series, ranges, last_ts_ns, first_ns, updated_ns, seq FROM heals"
            ).fetchall()
        )
        return {
            series: PendingHeal([(int(s), int(e)) for s, e in orjson.loads(spans)], last, first, updated, seq)
            for series, spans, last, first, updated, seq in rows
        }

    async def apply(self, upserts: list[tuple[str, PendingHeal]], deletes: list[str]) -> None:
        rows = [
            (series, orjson.dumps(p.ranges).decode(), p.last_ts_ns, p.first_ns, p.updated_ns, p.seq)
            for series, p in upserts
        ]

        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN")
                db.executemany("INSERT OR REPLACE INTO heals VALUES (?, ?, ?, ?, ?, ?)", rows)
                db.executemany("DELETE FROM heals WHERE series = ?", [(s,) for s in deletes])

        if rows or deletes:
            await self.run(write)


class HealMetrics:
    """The healer's Prometheus metrics, on the service's registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry or CollectorRegistry()
        self.registry = r
        self.pending = Gauge(
            "ingest_energy_heals_pending",
            "Meter series with late register readings whose energy and emissions wait to be healed",
            registry=r,
        )
        self.done = Counter(
            "ingest_energy_heals_done", "Heals whose every point was written to InfluxDB", registry=r
        )
        self.failed = Counter(
            "ingest_energy_heals_failed",
            "Heal attempts that InfluxDB failed or refused (the heal stays pending and is retried)",
            registry=r,
        )
        self.intervals = Counter(
            "ingest_energy_heal_intervals", "Intervals (energy points) written by heals", registry=r
        )


class Healer:
    """Notes late register readings, keeps them durable, and heals them; :meth:`run` is the task."""

    def __init__(
        self,
        store: HealStore,
        influx: InfluxClient,
        factors: EmissionFactors,
        limits: EnergyLimits | None = None,
        *,
        delay_s: float = 60.0,
        metrics: HealMetrics | None = None,
        rollups: BucketsTouched | None = None,
        waiting_for_writes: Callable[[], bool] | None = None,
        merge_gap_ns: int = DAY_NS,
        max_ranges: int = 16,
        lookback_ns: int = 35 * DAY_NS,
        chunk_ns: int = DAY_NS,
        concurrency: int = 4,
    ) -> None:
        self.store = store
        self.influx = influx
        self.factors = factors
        self.limits = limits or EnergyLimits()
        self.delay_ns = int(delay_s * NS)
        self.wait_for_readings_ns = max(10 * self.delay_ns, 60 * NS)
        self.metrics = metrics or HealMetrics()
        self.rollups = rollups
        self.waiting_for_writes = waiting_for_writes
        self.merge_gap_ns = merge_gap_ns
        self.max_ranges = max_ranges
        self.lookback_ns = lookback_ns
        self.chunk_ns = chunk_ns
        self.concurrency = concurrency  # series healed at once (InfluxDB round trips overlap)
        self.pending = store.load()
        self._seq = max((p.seq for p in self.pending.values()), default=0)
        self._dirty: set[str] = set()
        self._saving = asyncio.Lock()
        self._wake = asyncio.Event()
        self.metrics.pending.set(len(self.pending))
        if self.pending:
            log.info("energy_heals_restored", series=len(self.pending))

    @classmethod
    def for_service(
        cls,
        settings: IngestSettings,
        registry: Registry | None,
        influx: InfluxClient,
        deriver: Deriver,
        metrics_registry: CollectorRegistry | None = None,
        rollups: BucketsTouched | None = None,
        waiting_for_writes: Callable[[], bool] | None = None,
    ) -> Healer:
        """The healer of an ingest process, attached to its deriver (either ``INGEST_ENERGY`` mode).

        ``waiting_for_writes``: True while points received earlier are not in InfluxDB yet (the
        spool holds some): no heal runs then, it would read an incomplete history.
        """
        healer = cls(
            HealStore(settings.ingest_data_dir / HEAL_FILE),
            influx,
            deriver.factors,
            energy_limits(settings, registry),
            delay_s=settings.ingest_heal_delay_s,
            metrics=HealMetrics(metrics_registry),
            rollups=rollups,
            waiting_for_writes=waiting_for_writes,
        )
        deriver.late_sink = healer
        if not deriver.energy:
            deriver.late_before_ns = int(settings.ingest_heal_older_than_s * NS)
        return healer

    # -- noting (hot path) and saving (batch commit) -------------------------------------

    def note(self, series: str, ts_ns: int) -> None:
        """A reading of ``series`` at ``ts_ns`` that the live derivation could not place."""
        now = time.time_ns()
        self._seq += 1
        pending = self.pending.get(series)
        if pending is None:
            self.pending[series] = PendingHeal([(ts_ns, ts_ns)], ts_ns, now, now, self._seq)
            self.metrics.pending.set(len(self.pending))
            device, carrier = parse_series_key(series)
            log.info("energy_heal_pending", device=device, carrier=carrier, first_reading_ns=ts_ns)
            self._wake.set()
        else:
            if not any(s <= ts_ns <= e for s, e in pending.ranges):
                pending.ranges = coalesce(
                    pending.ranges, ts_ns, ts_ns, merge_gap_ns=self.merge_gap_ns, max_ranges=self.max_ranges
                )
            pending.last_ts_ns, pending.updated_ns, pending.seq = ts_ns, now, self._seq
        self._dirty.add(series)

    async def save(self) -> None:
        """Persist what changed; raises StoreError (nothing lost: retried at the next call)."""
        async with self._saving:
            if not self._dirty:
                return
            dirty, self._dirty = self._dirty, set()
            upserts = [(s, self.pending[s]) for s in dirty if s in self.pending]
            deletes = [s for s in dirty if s not in self.pending]
            try:
                await self.store.apply(upserts, deletes)
            except BaseException:
                self._dirty |= dirty
                raise

    # -- healing ----------------------------------------------------------------------------

    def due(self, now_ns: int | None = None) -> list[str]:
        now = time.time_ns() if now_ns is None else now_ns
        return sorted(s for s, p in self.pending.items() if p.due_ns(self.delay_ns) <= now)

    async def heal_due(self, now_ns: int | None = None) -> int:
        """Heal every series that is due; returns how many were done. Failures stay pending."""
        due = self.due(now_ns)
        if not due:
            return 0
        if self.waiting_for_writes is not None and self.waiting_for_writes():
            log.debug("energy_heal_waits_for_writes", series=len(due))
            return 0
        slots = asyncio.Semaphore(self.concurrency)

        async def one(series: str) -> bool:
            async with slots:
                try:
                    return await self.heal(series)
                except (InfluxUnavailable, InfluxError) as exc:
                    self._failed(series, exc)
                except StoreError as exc:  # healed; its removal is saved at the next save
                    log.error("energy_heal_store_failed", error=str(exc))
                return False

        async with asyncio.TaskGroup() as tasks:
            healing = [tasks.create_task(one(series)) for series in due]
        return sum(task.result() for task in healing)

    async def heal(self, series: str) -> bool:
        """Recompute ``series`` over its pending ranges; True when it was done (and removed).

        Raises InfluxUnavailable/InfluxError (the heal stays pending) and StoreError (healed,
        but the removal is saved later: a restart before then heals it once more, harmlessly).
        """
        pending = self.pending.get(series)
        if pending is None:
            return False
        device, carrier = parse_series_key(series)
        if carrier not in _REGISTER_OF:  # a row this version cannot heal (not written by it)
            log.error("energy_heal_dropped", device=device, carrier=carrier, reason="no register for carrier")
            del self.pending[series]
            self._dirty.add(series)
            self.metrics.pending.set(len(self.pending))
            return False
        measurement, register = _REGISTER_OF[carrier]
        seq, ranges = pending.seq, list(pending.ranges)
        now = time.time_ns()
        where = f'"device" = {influxql_string(device)}'
        stored = await self.influx.query(
            f'SELECT "{register}" FROM "{measurement}" '  # noqa: S608 (names are our own constants)
            f"WHERE time >= {pending.last_ts_ns} AND time <= {pending.last_ts_ns} AND {where}"
        )
        if _first_time(stored) is None:
            if now - pending.updated_ns < self.wait_for_readings_ns:
                pending.retry_at_ns = now + min(max(self.delay_ns, NS // 10), 5 * NS)
                log.debug("energy_heal_waits_for_readings", device=device, carrier=carrier)
                return False
            # Refused by InfluxDB (dead-lettered) or lost with an unacked batch that will come again.
            log.warning(
                "energy_heal_reading_not_stored",
                device=device,
                carrier=carrier,
                reading_ns=pending.last_ts_ns,
                waited_s=round((now - pending.updated_ns) / NS),
                consequence="healing with the readings that are stored",
            )
        started = time.perf_counter()
        total = BackfillReport()
        for start_ns, end_ns in ranges:
            after = await self.influx.query(
                f'SELECT first("{register}") FROM "{measurement}" '  # noqa: S608 (our own constants)
                f"WHERE time > {end_ns} AND {where}"
            )
            successor = _first_time(after)
            report = await backfill(
                self.influx,
                self.factors,
                start_ns,
                end_ns if successor is None else successor,
                chunk_ns=self.chunk_ns,
                lookback_ns=self.lookback_ns,
                limits=self.limits,
                device=device,
                measurements=(measurement,),
                on_written=None if self.rollups is None else self._touched,
            )
            total.registers_read += report.registers_read
            total.energy_points += report.energy_points
            total.emissions_points += report.emissions_points
            total.implausible += report.implausible
        self.metrics.intervals.inc(total.energy_points)
        log.info(
            "energy_heal_done",
            device=device,
            carrier=carrier,
            ranges=len(ranges),
            start_ns=ranges[0][0],
            end_ns=ranges[-1][1],
            registers=total.registers_read,
            energy_points=total.energy_points,
            emissions_points=total.emissions_points,
            implausible=total.implausible,
            seconds=round(time.perf_counter() - started, 3),
        )
        current = self.pending.get(series)
        if current is None or current.seq != seq:  # late readings came meanwhile: heal again
            return False
        del self.pending[series]
        self._dirty.add(series)
        self.metrics.pending.set(len(self.pending))
        self.metrics.done.inc()
        await self.save()
        return True

    async def _touched(self, points: list[Point]) -> None:
        """Tell the roll-up maintainer which buckets a heal rewrote (it re-rolls them later)."""
        if self.rollups is not None:
            await self.rollups.written([lineprotocol.encode(p) for p in points])

    def _failed(self, series: str, exc: Exception) -> None:
        pending = self.pending.get(series)
        if pending is None:
            return
        pending.failures += 1
        wait_ns = min(max(self.delay_ns, NS) * 2 ** min(pending.failures - 1, 16), RETRY_MAX_NS)
        pending.retry_at_ns = time.time_ns() + wait_ns
        self.metrics.failed.inc()
        device, carrier = parse_series_key(series)
        log.error(
            "energy_heal_failed",
            device=device,
            carrier=carrier,
            error=str(exc)[:300],
            failures=pending.failures,
            retry_in_s=round(wait_ns / NS, 1),
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Heal what is due until ``stop`` is set; a heal in progress is abandoned (still pending)."""
        async with asyncio.TaskGroup() as tasks:
            work = tasks.create_task(self._loop(), name="energy-heal-loop")
            await stop.wait()
            work.cancel()

    async def _loop(self) -> None:
        while True:
            try:
                await self.heal_due()
                await self.save()
            except StoreError as exc:
                log.error("energy_heal_store_failed", error=str(exc), retry_in_s=POLL_MAX_S)
            now = time.time_ns()
            next_due = min((p.due_ns(self.delay_ns) for p in self.pending.values()), default=None)
            wait_s = POLL_MAX_S if next_due is None else (next_due - now) / NS
            self._wake.clear()
            try:
                async with asyncio.timeout(min(max(wait_s, 0.05), POLL_MAX_S)):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def close(self) -> None:
        self.store.close()


def _first_time(results: list[dict[str, Any]]) -> int | None:
    """The timestamp of the first row of a query's first result, if any."""
    if not results:
        return None
    series = results[0].get("series") or []
    if not series:
        return None
    values = series[0].get("values") or []
    if not values or values[0][0] is None:
        return None
    return int(values[0][0])
