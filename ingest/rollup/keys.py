"""Which roll-up buckets a write touched, and the set of buckets waiting to be rolled (pure).

A bucket key is ``(measurement, hour_ns)``: the raw measurement and the start of the UTC hour a
point's timestamp falls in. Keys are taken from the line protocol the service writes (it keeps
lines, not points, in its batches). This runs once per written line next to the hot path, so the
common path parses no number per line: it collects the distinct (first three letters of the
measurement, timestamp without its last 11 digits) pairs, and only those few are turned into
keys. 10**11 ns is 100 s and an hour is 36 × 10**11 ns, so such a 100-second block never
straddles an hour. bench/bench_rollup.py measures it next to encoding the same lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from energy_core.rollups import MEASUREMENTS
from energy_core.timeutil import HOUR_NS

Key = tuple[str, int]

_BLOCK_NS = 10**11
_BY_PREFIX = {m[:3]: m for m in MEASUREMENTS}
assert len(_BY_PREFIX) == len(MEASUREMENTS), "measurement names must differ in their first 3 letters"


def keys_of_lines(lines: list[str]) -> set[Key]:
    """The (measurement, UTC hour) buckets of the schema's measurements in line-protocol lines.

    Lines of other measurements, blank lines and lines without a timestamp are skipped. A name
    that only shares its first three letters with a schema measurement would cost one needless
    roll of that bucket, never a missed one (this service writes only schema measurements).
    """
    blocks = {(line[:3], line[line.rfind(" ") + 1 : -11]) for line in lines}
    keys: set[Key] = set()
    for prefix, block in blocks:
        measurement = _BY_PREFIX.get(prefix)
        if measurement is None:
            continue
        if not block.isdigit():  # a timestamp of 11 digits or fewer (before 1973), or none
            return _keys_of_lines_slowly(lines)
        start = int(block) * _BLOCK_NS
        keys.add((measurement, start - start % HOUR_NS))
    return keys


def _keys_of_lines_slowly(lines: list[str]) -> set[Key]:
    keys: set[Key] = set()
    for line in lines:
        measurement = _BY_PREFIX.get(line[:3])
        cut = line.rfind(" ")
        if measurement is None or cut < 0:
            continue
        try:
            ts = int(line[cut + 1 :])
        except ValueError:
            continue
        keys.add((measurement, ts - ts % HOUR_NS))
    return keys


def keys_of_range(measurements: Iterable[str], start_ns: int, end_ns: int) -> set[Key]:
    """Every (measurement, hour) bucket overlapping [start_ns, end_ns]."""
    first = start_ns - start_ns % HOUR_NS
    return {(m, hour) for m in measurements for hour in range(first, end_ns + 1, HOUR_NS)}


@dataclass(slots=True)
class _Mark:
    generation: int  # of the last mark: a bucket marked again while it is being rolled stays dirty
    due: float  # monotonic time from which it is rolled
    since: float  # monotonic time of its first mark (the roll-up lag is measured from it)


class DirtyBuckets:
    """Buckets that received data and wait ``delay_s`` before they are rolled.

    A bucket is due ``delay_s`` after its FIRST mark (marks while it waits do not push it back,
    so a bucket that receives data every second is still rolled every ``delay_s``). Taking the
    due buckets gives a snapshot; :meth:`done` forgets those not marked again since; a bucket
    marked again while being rolled is due again ``delay_s`` later. A failed roll calls
    :meth:`retry_later`: nothing is forgotten that was not rolled.

    Bound: keys are (measurement, hour) pairs of accepted points, and ingest accepts only
    timestamps within INGEST_MAX_AGE_DAYS (dead-letters the rest), so at most
    6 measurements × 24 × 400 ≈ 58,000 keys (a few MB) whatever the data rate.
    """

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self._marks: dict[Key, _Mark] = {}
        self._generation = 0

    def __len__(self) -> int:
        return len(self._marks)

    def __contains__(self, key: Key) -> bool:
        return key in self._marks

    def mark(self, keys: Iterable[Key], now: float) -> list[Key]:
        """Mark buckets; returns the ones that were not dirty before (to persist)."""
        self._generation += 1
        generation, due = self._generation, now + self.delay_s
        new: list[Key] = []
        marks = self._marks
        for key in keys:
            mark = marks.get(key)
            if mark is None:
                marks[key] = _Mark(generation, due, now)
                new.append(key)
            else:
                mark.generation = generation
        return new

    def next_due(self) -> float | None:
        """When the earliest bucket is due (monotonic), None when nothing is dirty."""
        return min((m.due for m in self._marks.values()), default=None)

    def oldest_mark(self) -> float | None:
        """The first-mark time of the bucket waiting longest (monotonic), None when nothing is dirty."""
        return min((m.since for m in self._marks.values()), default=None)

    def take_due(self, now: float) -> dict[Key, int]:
        """The buckets due at ``now``, with their generation (pass the snapshot to done/retry_later)."""
        return {key: mark.generation for key, mark in self._marks.items() if mark.due <= now}

    def done(self, snapshot: dict[Key, int], now: float) -> list[Key]:
        """Forget the rolled buckets not marked since; returns the ones forgotten (to unpersist)."""
        forgotten: list[Key] = []
        for key, generation in snapshot.items():
            mark = self._marks.get(key)
            if mark is None:
                continue
            if mark.generation == generation:
                del self._marks[key]
                forgotten.append(key)
            else:  # new data while it was being rolled: roll it again after the delay
                mark.due, mark.since = now + self.delay_s, now
        return forgotten

    def retry_later(self, snapshot: Iterable[Key], at: float) -> None:
        """Keep the buckets of a failed roll; they are due again at ``at``."""
        for key in snapshot:
            mark = self._marks.get(key)
            if mark is not None:
                mark.due = max(mark.due, at)

    def forget(self, keys: Iterable[Key]) -> None:
        """Drop buckets for good (InfluxDB refuses their roll-up: retrying cannot help)."""
        for key in keys:
            self._marks.pop(key, None)
