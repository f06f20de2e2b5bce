"""``python -m ingest backfill``: recompute ``energy`` and ``emissions`` from the stored registers.

Run it after the emission factors change (restart ingest first, so new readings use the new
file too), or for a range whose readings arrived too late for the live register history.

It reads the registers of ``district_heating`` (``energy_kwh``) and ``electricity``
(``energy_import_kwh``) per series in time chunks, seeds each series with its last reading
before the range, recomputes every interval ending in [start, end] with the same functions the
live path uses (:func:`ingest.derive.energy.interval_kwh`, :class:`DerivedPoints`), and writes
the points. InfluxDB keeps one value per (series, timestamp), so the new points replace the old.

The energy follower (:mod:`ingest.derive.follow`) runs the same function over a sliding window,
with an :class:`IntervalMemo` so that it rewrites only the intervals that changed since its last pass.

Both apply the live path's plausibility rule (:mod:`ingest.derive.plausible`): an implausible
interval is written as 0 kWh (so a backfill also repairs energy booked before the rule existed)
and reported by a warning ``energy_implausible`` with its evidence and a count in the report
(``implausible``; the follower's pass log line carries it). No dead letter: there is no message
to replay (the registers are already stored); raise the meter's ``max_power_kw`` and run the
backfill over that range instead. With a memo an interval is reported once, not at every pass.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Collection, Hashable
from dataclasses import dataclass, field
from typing import Any

import structlog

from energy_core import lineprotocol
from energy_core.factors import EmissionFactors
from energy_core.influx import InfluxClient
from energy_core.schema import Point
from energy_core.timeutil import HOUR_NS
from ingest.derive.deriver import REGISTERS, DerivedPoints, series_key
from ingest.derive.energy import Interval, interval_kwh
from ingest.derive.plausible import EnergyLimits

log = structlog.get_logger("ingest.backfill")

_Tags = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class BackfillReport:
    registers_read: int = 0
    energy_points: int = 0  # written
    emissions_points: int = 0  # written
    unchanged: int = 0  # intervals not rewritten: the memo says the last pass wrote the same
    implausible: int = 0  # intervals written as 0 kWh because their energy was implausible (reported)


@dataclass(slots=True)
class _Written:
    """One series' intervals, in time order, in compact arrays (24 bytes an interval)."""

    end_ns: array[int] = field(default_factory=lambda: array("q"))
    start_ns: array[int] = field(default_factory=lambda: array("q"))
    kwh: array[float] = field(default_factory=lambda: array("d"))


class IntervalMemo:
    """The intervals the last complete pass wrote, so that a repeated pass writes only what changed.

    Without it a follower recomputing a 2-hour window every minute would rewrite every interval
    of the window 120 times. Only a pass that finished (every point written) replaces the memo:
    after a failed pass, the next one compares with the last good one and so writes what is missing.
    Restart the process after changing the emission factors: the memo compares energy only.
    """

    def __init__(self) -> None:
        self._done: dict[Hashable, _Written] = {}
        self._pass: dict[Hashable, _Written] = {}

    def begin(self) -> None:
        self._pass = {}

    def changed(self, series: Hashable, interval: Interval) -> bool:
        """Record ``interval`` for this pass; True unless the last pass wrote exactly it.

        A series' intervals must come in time order within a pass (backfill reads them so).
        """
        current = self._pass.get(series)
        if current is None:
            current = self._pass[series] = _Written()
        current.end_ns.append(interval.end_ns)
        current.start_ns.append(interval.start_ns)
        current.kwh.append(interval.kwh)
        done = self._done.get(series)
        if done is None:
            return True
        i = bisect_left(done.end_ns, interval.end_ns)
        return not (
            i < len(done.end_ns)
            and done.end_ns[i] == interval.end_ns
            and done.start_ns[i] == interval.start_ns
            and done.kwh[i] == interval.kwh
        )

    def finish(self) -> None:
        """The pass wrote all its points: it becomes the one to compare with."""
        self._done, self._pass = self._pass, {}


def influxql_string(value: str) -> str:
    """``value`` as an InfluxQL string literal (backslash and single quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _series(result: dict[str, Any]) -> list[dict[str, Any]]:
    series: list[dict[str, Any]] = result.get("series", [])
    return series


def _tags_of(series: dict[str, Any]) -> _Tags:
    return tuple(sorted((k, str(v)) for k, v in (series.get("tags") or {}).items() if v))


async def backfill(
    influx: InfluxClient,
    factors: EmissionFactors,
    start_ns: int,
    end_ns: int,
    *,
    chunk_ns: int = HOUR_NS,
    lookback_ns: int = 35 * 24 * HOUR_NS,
    replace_emissions: bool = False,
    write_batch: int = 5000,
    memo: IntervalMemo | None = None,
    limits: EnergyLimits | None = None,
    device: str | None = None,
    measurements: Collection[str] | None = None,
    on_written: Callable[[list[Point]], Awaitable[object]] | None = None,
) -> BackfillReport:
    """Recompute and write the intervals ending in [start_ns, end_ns]; see the module docstring.

    With ``memo``, intervals identical to those of the memo's last pass are not written again.
    ``limits``: the plausibility rule with the registry's facts (default: the carriers' defaults).
    ``device`` and ``measurements`` narrow it to one meter's series (the healer,
    :mod:`ingest.derive.heal`); ``on_written`` is called with each batch of points once written.
    """
    limits = limits or EnergyLimits()
    if end_ns < start_ns:
        raise ValueError("end is before start")
    report = BackfillReport()
    if memo is not None:
        memo.begin()
    builder = DerivedPoints(factors)
    if replace_emissions:
        # Methods dropped from the factors file would otherwise keep their old points.
        await influx.query(
            f'DELETE FROM "emissions" WHERE time >= {start_ns} AND time <= {end_ns}',  # noqa: S608 (ints)
            method="POST",
        )
    pending: list[Point] = []

    async def flush() -> None:
        if pending:
            await influx.write(lineprotocol.encode_batch(pending))
            if on_written is not None:
                await on_written(list(pending))
            pending.clear()

    only_device = "" if device is None else f' AND "device" = {influxql_string(device)}'
    for measurement, (register, carrier) in REGISTERS.items():
        if measurements is not None and measurement not in measurements:
            continue
        # The reading before the range is the predecessor of the first one in it.
        previous: dict[_Tags, tuple[int, float]] = {}
        seed = await influx.query(
            f'SELECT last("{register}") FROM "{measurement}" '  # noqa: S608 (names are our own constants)
            f"WHERE time >= {start_ns - lookback_ns} AND time < {start_ns}{only_device} GROUP BY *"
        )
        for series in _series(seed[0]) if seed else []:
            ts, value = series["values"][0][:2]
            if value is not None:
                previous[_tags_of(series)] = (int(ts), float(value))

        chunk_start = start_ns
        while chunk_start <= end_ns:
            chunk_end = min(chunk_start + chunk_ns - 1, end_ns)
            rows = await influx.query(
                f'SELECT "{register}" FROM "{measurement}" '  # noqa: S608 (names are our own constants)
                f"WHERE time >= {chunk_start} AND time <= {chunk_end}{only_device} GROUP BY *"
            )
            for series in _series(rows[0]) if rows else []:
                tags = _tags_of(series)
                network = dict(tags).get("network")
                device = dict(tags).get("device", "")
                key = series_key(device, carrier)
                for ts, value in series["values"]:
                    if value is None:
                        continue
                    report.registers_read += 1
                    reading = (int(ts), float(value))
                    before = previous.get(tags)
                    previous[tags] = reading
                    if before is None:
                        continue
                    interval = Interval(key, before[0], reading[0], interval_kwh(before[1], reading[1]))
                    implausible = limits.check(device, carrier, interval)
                    if implausible is not None:
                        interval = interval._replace(kwh=0.0)
                    if memo is not None and not memo.changed((carrier, tags), interval):
                        report.unchanged += 1
                        continue
                    if implausible is not None:
                        report.implausible += 1
                        log.warning(
                            "energy_implausible",
                            device=device,
                            carrier=carrier,
                            path="stored",
                            **implausible.log_fields(),
                        )
                    points = builder.points(tags, network, carrier, interval)
                    report.energy_points += 1
                    report.emissions_points += len(points) - 1
                    pending.extend(points)
                    if len(pending) >= write_batch:
                        await flush()
            chunk_start = chunk_end + 1
        await flush()
    if memo is not None:
        memo.finish()
    log.info(
        "backfill_done",
        start_ns=start_ns,
        end_ns=end_ns,
        registers=report.registers_read,
        energy_points=report.energy_points,
        emissions_points=report.emissions_points,
        unchanged=report.unchanged,
        implausible=report.implausible,
    )
    return report
