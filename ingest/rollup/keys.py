"""Which roll-up buckets a write touched, and the set of buckets waiting to be rolled (pure).

A bucket key is ``(measurement, hour_ns)``: the raw measurement and the start of the UTC hour a
point's timestamp falls in. Keys are taken from the line protocol the service writes (it keeps
lines, not points, in its batches); this runs once per line next to the hot path, so it does
the least that is correct: two ``find``/``rfind`` calls, one ``int``, one set insert
(bench/bench_rollup.py measures it against the write itself).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from energy_core.rollups import HOUR_NS

Key = tuple[str, int]


def keys_of_lines(lines: Iterable[str]) -> set[Key]:
    """The (measurement, UTC hour) buckets of line-protocol lines with ns timestamps.

    Measurement names are the schema's (no escaped commas or spaces), so the name ends at the
    first comma (tags follow) or space (no tags); the timestamp is the text after the last space.
    Lines without a timestamp (never written by this service) or blank ones are skipped.
    """
    keys: set[Key] = set()
    add = keys.add
    for line in lines:
        cut = line.rfind(" ")
        if cut < 0:
            continue
        try:
            ts = int(line[cut + 1 :])
        except ValueError:
            continue
        end = line.find(",")
        space = line.find(" ")
        if end < 0 or space < end:
            end = space
        add((line[:end], ts - ts % HOUR_NS))
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
