"""Interval energy from cumulative registers, independent of delivery order (SPEC §4 ``energy``).

Each meter series (device × carrier) keeps a short, time-ordered history of its register
readings. The interval ending at a reading is ``interval_kwh(previous value, value)`` and is
stamped at that reading's time. Because it depends only on the two neighbouring readings,
the stored result is a function of the *set* of readings, not of their order:

- a reading arriving after a later one is inserted in place; its own interval and the interval of
  the reading that follows it are (re)emitted, and InfluxDB's last-write-wins per
  (series, timestamp) overwrites the follower's stale value;
- a duplicate (same timestamp) re-emits the same points: harmless, and it makes redelivery after a
  crash safe even when the history was persisted before the points were;
- two readings with the same timestamp but different values: the larger one is kept (a rule that
  does not depend on which came first).

A register that drops is a restart (counter reset or meter replacement); see :func:`interval_kwh`.

The history is bounded (``max_readings`` per series and ``max_age_ns`` behind its newest reading).
The newest reading that leaves the window stays as the series' *floor*; a reading older than the
floor can no longer be placed and is not used for energy; ``python -m ingest backfill``
recomputes such ranges from InfluxDB.
The history survives restarts through :class:`ingest.derive.state.EnergyStore`.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import NamedTuple

from energy_core.timeutil import NS

RESET_NEW_START_FRACTION = 0.1


def interval_kwh(previous_kwh: float, kwh: float) -> float:
    """Energy used between two register readings; never negative.

    A register that grows: the difference. A register that drops has restarted — the counter
    was reset, or the meter was replaced by a new one — and the new register counts from zero,
    so the interval's energy is the new value. Unless the new value is more than
    ``RESET_NEW_START_FRACTION`` of the old one: then the new register plainly did not start
    at zero (a used meter fitted, a mis-read), the energy of the interval is unknown, and 0 is
    written rather than a spike of the new meter's whole history.
    """
    if kwh >= previous_kwh:
        return kwh - previous_kwh
    if kwh <= previous_kwh * RESET_NEW_START_FRACTION:
        return kwh
    return 0.0


class Interval(NamedTuple):
    """The energy used between two readings of one series, stamped at the later one.

    A NamedTuple rather than a frozen dataclass: it is built on the hot path, and constructing
    a frozen dataclass costs several times more.
    """

    series: str
    start_ns: int
    end_ns: int
    kwh: float


@dataclass(slots=True)
class RegisterHistory:
    """One series' recent readings, time-ordered, in compact arrays (16 bytes a reading).

    Once trimmed, the first reading is the *floor*: the newest reading dropped from the window,
    kept only as the predecessor of the next one. Readings before it can no longer be placed.
    """

    ts_ns: array[int] = field(default_factory=lambda: array("q"))
    kwh: array[float] = field(default_factory=lambda: array("d"))
    floored: bool = False


@dataclass(slots=True)
class Changes:
    """What to persist since the last flush."""

    # In order of observation; a later upsert of the same reading wins and trimmed readings are
    # deleted after the upserts, so applying them in this order gives the history in memory.
    upserts: list[tuple[str, int, float]] = field(default_factory=list)
    trimmed: list[tuple[str, int]] = field(default_factory=list)
    floors: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.upserts or self.trimmed or self.floors)


class EnergyState:
    """The register histories of all series, and the interval logic over them. Pure, no I/O."""

    def __init__(
        self, *, max_readings: int = 64, max_age_ns: int = 7 * 86400 * NS, track_changes: bool = True
    ) -> None:
        if max_readings < 2:
            raise ValueError("max_readings must be at least 2")
        self.max_readings = max_readings
        self.max_age_ns = max_age_ns
        self.histories: dict[str, RegisterHistory] = {}
        self.changes = Changes()
        self.track_changes = track_changes  # False: nothing persists them, so do not accumulate
        self.too_late = 0  # readings ignored because they fell before a series' floor

    def observe(self, series: str, ts_ns: int, kwh: float) -> list[Interval]:
        """Record a register reading; return the intervals it creates or changes (0, 1 or 2)."""
        history = self.histories.get(series)
        if history is None:
            history = self.histories[series] = RegisterHistory()
        times, values = history.ts_ns, history.kwh
        if not times or ts_ns > times[-1]:  # the common case: the next reading, in order
            times.append(ts_ns)
            values.append(kwh)
            if self.track_changes:
                self.changes.upserts.append((series, ts_ns, kwh))
            if len(times) > self.max_readings or times[0] < ts_ns - self.max_age_ns:
                self._trim(series, history)
            if len(times) < 2:
                return []
            return [Interval(series, times[-2], ts_ns, interval_kwh(values[-2], kwh))]
        if history.floored and ts_ns <= times[0]:
            if ts_ns < times[0]:
                self.too_late += 1
            return []  # at the floor: a redelivered reading whose intervals were written long ago
        i = bisect_left(times, ts_ns)
        if i < len(times) and times[i] == ts_ns:
            if kwh > values[i]:  # same instant, two values: the larger wins, whatever the order
                values[i] = kwh
                if self.track_changes:
                    self.changes.upserts.append((series, ts_ns, kwh))
        else:
            times.insert(i, ts_ns)
            values.insert(i, kwh)
            if self.track_changes:
                self.changes.upserts.append((series, ts_ns, kwh))
        out: list[Interval] = []
        if i > 0:
            out.append(Interval(series, times[i - 1], times[i], interval_kwh(values[i - 1], values[i])))
        if i + 1 < len(times):
            out.append(Interval(series, times[i], times[i + 1], interval_kwh(values[i], values[i + 1])))
        self._trim(series, history)
        return out

    def _trim(self, series: str, history: RegisterHistory) -> None:
        """Keep at most ``max_readings`` readings within ``max_age_ns`` of the newest, plus the floor."""
        times, values = history.ts_ns, history.kwh
        first_real = 1 if history.floored else 0
        keep_from = max(len(times) - self.max_readings, first_real)
        horizon = times[-1] - self.max_age_ns
        while keep_from < len(times) - 1 and times[keep_from] < horizon:
            keep_from += 1
        if keep_from == first_real:
            return
        floor = keep_from - 1  # the newest reading leaving the window stays as the floor
        if self.track_changes:
            self.changes.trimmed.extend((series, ts) for ts in times[:floor])
        del times[:floor]
        del values[:floor]
        history.floored = True
        if self.track_changes:
            self.changes.floors[series] = times[0]

    def take_changes(self) -> Changes:
        """Hand over what changed since the last call (for persisting) and start afresh."""
        changes, self.changes = self.changes, Changes()
        return changes

    def load(self, series: str, readings: list[tuple[int, float]], floor_ns: int | None) -> None:
        """Restore one series from storage (readings in time order); does not count as a change."""
        history = RegisterHistory(floored=bool(readings) and readings[0][0] == floor_ns)
        for ts_ns, kwh in readings:
            history.ts_ns.append(ts_ns)
            history.kwh.append(kwh)
        self.histories[series] = history
