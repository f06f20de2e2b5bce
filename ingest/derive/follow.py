"""``python -m ingest energy --follow``: interval energy and emissions from the *stored* registers.

For ingest replicas in a round-robin shared-subscription group (``INGEST_ENERGY=off``): no
replica sees all readings of a meter, so none can derive its intervals. InfluxDB has them all.
Every ``every_s`` seconds the follower recomputes the intervals ending in [now − window, now]
with :func:`ingest.derive.backfill.backfill` (the same code as a manual backfill, and the same
interval function as live ingest) and writes the ones that changed since its last pass.

Correctness:

- Left edge: each meter is seeded with its last stored reading before the window (searched
  ``lookback_ns`` back), so the interval ending at the window's first reading is right; intervals
  ending before the window were written by earlier passes.
- Late and out-of-order readings: any reading stored with a timestamp inside the window is
  placed in time order at the next pass; its interval and its successor's are rewritten.
  A reading older than the window when it reaches InfluxDB (an ingest or InfluxDB outage longer
  than the window, a device uploading old data) is not seen here: the ingest replicas heal the
  readings older than ``INGEST_HEAL_OLDER_THAN_S`` that they receive (:mod:`ingest.derive.heal`);
  for anything else (a spool drained after a long InfluxDB outage) run ``python -m ingest backfill``.
- Exactly one follower should run (a singleton). Two overlapping ones are harmless: both write
  the same points to the same series and timestamps, and InfluxDB keeps one.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import structlog
from prometheus_client import CollectorRegistry, Counter

from energy_core.errors import InfluxFailure
from energy_core.factors import EmissionFactors
from energy_core.influx import InfluxClient
from energy_core.timeutil import HOUR_NS
from ingest.derive.backfill import BackfillReport, IntervalMemo, backfill
from ingest.derive.plausible import EnergyLimits
from ingest.rollup import RollupMaintainer

if TYPE_CHECKING:
    from ingest.analysis.runner import AnalysisRunner

log = structlog.get_logger("ingest.follow")


class FollowerMetrics:
    """The follower's Prometheus metrics (``energy --follow --metrics-port``), on a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.passes = Counter("ingest_energy_follow_passes", "Follower passes that completed", registry=r)
        self.implausible = Counter(
            "ingest_energy_implausible_intervals",
            "Intervals written as 0 kWh because their energy exceeds the meter's power limit "
            "(each reported once; live ingest dead-letters them as implausible_energy instead)",
            registry=r,
        )


class EnergyFollower:
    """Recomputes the sliding window's energy and emissions; :meth:`run_once` is one pass."""

    def __init__(
        self,
        influx: InfluxClient,
        factors: EmissionFactors,
        *,
        window_ns: int = 2 * HOUR_NS,
        lookback_ns: int = 35 * 24 * HOUR_NS,
        chunk_ns: int = HOUR_NS,
        limits: EnergyLimits | None = None,
        metrics: FollowerMetrics | None = None,
    ) -> None:
        if window_ns <= 0 or lookback_ns < 0 or chunk_ns <= 0:
            raise ValueError("window and chunk must be positive, lookback not negative")
        self.influx = influx
        self.factors = factors
        self.window_ns = window_ns
        self.lookback_ns = lookback_ns
        self.chunk_ns = chunk_ns
        self.memo = IntervalMemo()
        self.limits = limits or EnergyLimits()  # the live path's plausibility rule, same facts
        self.metrics = metrics or FollowerMetrics()
        self.last_pass_ok = False
        # Roll-ups (issue 14): with INGEST_ENERGY=off the follower maintains them (docs/rollups.md).
        self.rollups: RollupMaintainer | None = None
        # The daily analysis (issues 15, 16): runs after the roll-ups of each pass (never raises).
        self.analysis: AnalysisRunner | None = None

    async def run_once(self, now_ns: int | None = None) -> BackfillReport:
        """One pass over [now − window, now]; raises InfluxFailure when InfluxDB fails."""
        end_ns = time.time_ns() if now_ns is None else now_ns
        started = time.perf_counter()
        try:
            report = await self._backfill(end_ns)
        except BaseException:
            self.last_pass_ok = False  # /readyz of --metrics-port: the last pass wrote everything
            raise
        self.last_pass_ok = True
        self.metrics.passes.inc()
        if self.rollups is not None:  # every measurement's hours in the window (never raises)
            await self.rollups.mark_range(end_ns - self.window_ns, end_ns)
            await self.rollups.run_round()
        if self.analysis is not None:
            await self.analysis.run_due()
        self.metrics.implausible.inc(report.implausible)
        log.info(
            "energy_follow_pass",
            registers=report.registers_read,
            energy_points=report.energy_points,
            emissions_points=report.emissions_points,
            unchanged=report.unchanged,
            implausible=report.implausible,
            seconds=round(time.perf_counter() - started, 3),
        )
        return report

    async def _backfill(self, end_ns: int) -> BackfillReport:
        return await backfill(
            self.influx,
            self.factors,
            end_ns - self.window_ns,
            end_ns,
            chunk_ns=self.chunk_ns,
            lookback_ns=self.lookback_ns,
            memo=self.memo,
            limits=self.limits,
        )

    async def run(self, every_s: float, stop: asyncio.Event) -> None:
        """A pass every ``every_s`` seconds (start to start) until ``stop`` is set.

        A failed pass is logged and retried at the next tick: the memo still holds the last
        good pass, so nothing is skipped that was not written.
        """
        while not stop.is_set():
            started = time.monotonic()
            try:
                await self.run_once()
            except InfluxFailure as exc:
                log.error("energy_follow_pass_failed", error=str(exc), retry_in_s=every_s)
            remaining = every_s - (time.monotonic() - started)
            if remaining <= 0:
                log.warning("energy_follow_pass_slower_than_interval", every_s=every_s)
                continue
            try:
                async with asyncio.timeout(remaining):
                    await stop.wait()
            except TimeoutError:
                pass
