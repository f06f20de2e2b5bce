"""Which storage answers which part of a query's range: raw points or the roll-ups (issue 14).

A query with buckets of an hour or more reads whole hours from ``rollup_1h`` and whole local
days (Europe/Stockholm, 23 or 25 hours across DST changes) from ``rollup_1d``; whatever is left
at the edges reads raw points:

- a start or end that is not on a whole hour: the fragment up to the next (from the previous)
  whole hour is raw, so a bucket that begins at 06:30 holds exactly the points from 06:30 on;
- the newest part, which the roll-ups may not hold yet: ingest rolls up within
  ``INGEST_ROLLUP_DELAY_S`` of a raw write, so everything from the start of the hour that holds
  ``now - INGEST_ROLLUP_DELAY_S - ROLLUP_GRACE_S`` reads raw (at most one hour and a few minutes).
  The current hour and day therefore count every point already written, and an hour that ended
  less than delay + grace ago is not read from a roll-up that may not have seen its last minute.

Readings delivered late (a gateway resending last week) are rolled up within the delay of their
write like any other; until then a query over their bucket does not show them, as a raw query
in the same second would not have shown readings still on their way.

A raw segment that starts before ``now - INGEST_RAW_RETENTION_DAYS`` is refused with a 400:
InfluxDB has dropped those points, and an answer without them would be a wrong number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from api.errors import bad_request
from api.influxql import ident
from api.timerange import NS, TimeRange, align_down, now_ns, to_datetime

Tier = Literal["raw", "1h", "1d"]
HOUR_NS = 3600 * NS
DAY_NS = 86400 * NS
# Readings reach InfluxDB a little after their timestamp (batching, a gateway's buffer): an hour
# is read from its roll-up only once this long (plus the roll-up delay) has passed since it ended.
ROLLUP_GRACE_S = 60.0
ROLLUP_HINT = "ask for buckets of an hour or more with start on a whole hour: those read the roll-ups"


# TODO(merge rollup): from energy_core.rollups
_RP = {"1h": "rollup_1h", "1d": "rollup_1d"}
EMISSIONS_TOTAL = "emissions_total"


_REGISTERS = frozenset({"energy_kwh", "volume_m3", "energy_import_kwh", "energy_export_kwh"})
_CODES = frozenset({"info_code"})


def rolled_source(tier: Tier, measurement: str) -> str:
    """The roll-up measurement of ``tier``, qualified with its retention policy."""
    return f'"{_RP[tier]}".{ident(measurement)}'


# How a part of an aggregate over raw points is read from roll-up buckets: (InfluxQL function
# over the buckets, roll-up field suffix). A count is the sum of the buckets' counts.
_GAUGE_PARTS = {
    "sum": ("sum", "sum"),
    "count": ("sum", "count"),
    "min": ("min", "min"),
    "max": ("max", "max"),
}
_REGISTER_PARTS = {"first": ("first", "first"), "last": ("last", "last")}
_CODE_PARTS = {"max": ("max", "max"), "last": ("last", "last")}


def rolled_part(part: str, field: str) -> str | None:
    """The InfluxQL that gives ``part`` (sum, count, min, max, first, last) of a raw ``field``
    over roll-up buckets, or None when the roll-ups do not keep what it needs."""
    parts = _REGISTER_PARTS if field in _REGISTERS else _CODE_PARTS if field in _CODES else _GAUGE_PARTS
    how = parts.get(part)
    return None if how is None else f"{how[0]}({ident(f'{field}_{how[1]}')})"


@dataclass(frozen=True, slots=True)
class Segment:
    """``[start_ns, end_ns)`` read from ``tier`` (raw points, or the hourly or daily roll-up)."""

    tier: Tier
    start_ns: int
    end_ns: int


def floor_hour(ns: int) -> int:
    """The start of the UTC hour holding ``ns`` (Stockholm's offsets are whole hours: a local hour)."""
    return ns - ns % HOUR_NS


def ceil_hour(ns: int) -> int:
    return floor_hour(ns + HOUR_NS - 1)


def floor_day(ns: int) -> int:
    """The local midnight (Europe/Stockholm) that starts the day holding ``ns``."""
    return align_down(ns, "day")


def ceil_day(ns: int) -> int:
    """The first local midnight at or after ``ns`` (local days are 23 to 25 hours long)."""
    start = floor_day(ns)
    return start if start == ns else floor_day(start + 36 * HOUR_NS)


def tier_for(every_ns: int) -> Tier:
    """The coarsest roll-up whose buckets fit whole into buckets of ``every_ns``: a bucket of whole
    days holds whole local days, one of whole hours whole hours; anything finer reads raw."""
    if every_ns % DAY_NS == 0:
        return "1d"
    if every_ns % HOUR_NS == 0:
        return "1h"
    return "raw"


def plan(start_ns: int, end_ns: int, coarsest: Tier, rolled_until_ns: int) -> list[Segment]:
    """The segments, in time order, that cover ``[start_ns, end_ns)`` exactly once: roll-ups no
    coarser than ``coarsest`` for whole hours/days before ``rolled_until_ns``, raw for the rest."""
    first_hour = ceil_hour(start_ns)
    last_hour = floor_hour(min(end_ns, rolled_until_ns))
    if coarsest == "raw" or first_hour >= last_hour:
        return [Segment("raw", start_ns, end_ns)]
    middle = [Segment("1h", first_hour, last_hour)]
    if coarsest == "1d":
        first_day, last_day = ceil_day(first_hour), floor_day(last_hour)
        if first_day < last_day:
            middle = [
                Segment("1h", first_hour, first_day),
                Segment("1d", first_day, last_day),
                Segment("1h", last_day, last_hour),
            ]
    segments = [Segment("raw", start_ns, first_hour), *middle, Segment("raw", last_hour, end_ns)]
    return [s for s in segments if s.start_ns < s.end_ns]


@dataclass(frozen=True, slots=True)
class SourcePolicy:
    """What the API knows of the storage: whether roll-ups are read, how far behind raw they may
    be, and how long raw points are kept (0: forever)."""

    rollups: bool
    rollup_delay_s: float
    raw_retention_days: int

    def segments(
        self, window: TimeRange, coarsest: Tier, *, hint: str = ROLLUP_HINT, now: int | None = None
    ) -> list[Segment]:
        """The plan for ``window``; a 400 when a raw segment reaches past the raw retention
        (``hint`` says how to ask instead)."""
        now = now_ns() if now is None else now
        rolled_until = now - int((self.rollup_delay_s + ROLLUP_GRACE_S) * NS)
        segments = plan(window.start_ns, window.end_ns, coarsest if self.rollups else "raw", rolled_until)
        self.check_retention(segments, now, hint)
        return segments

    def check_retention(self, segments: list[Segment], now: int, hint: str) -> None:
        if not self.raw_retention_days:
            return
        kept_from = now - self.raw_retention_days * DAY_NS
        for segment in segments:
            if segment.tier == "raw" and segment.start_ns < kept_from:
                since = to_datetime(kept_from).isoformat(timespec="seconds").replace("+00:00", "Z")
                asked = to_datetime(segment.start_ns).isoformat(timespec="seconds").replace("+00:00", "Z")
                raise bad_request(
                    "beyond_raw_retention",
                    f"raw points are kept for {self.raw_retention_days} days (INGEST_RAW_RETENTION_DAYS),"
                    f" i.e. since {since}; this query needs raw points from {asked}: {hint}",
                )


def describe(segments: list[Segment]) -> str:
    """``raw 06:30–07:00, 1h 07:00–00:00, …`` (UTC) for logs and test messages."""

    def fmt(ns: int) -> str:
        return to_datetime(ns).strftime("%Y-%m-%dT%H:%M")

    return ", ".join(f"{s.tier} {fmt(s.start_ns)}–{fmt(s.end_ns)}" for s in segments)
