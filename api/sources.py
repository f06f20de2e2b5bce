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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast, get_args

import structlog

from api.errors import bad_request
from api.timerange import TimeRange, now_ns, to_datetime
from energy_core import rollups
from energy_core.errors import InfluxError
from energy_core.influx import InfluxClient
from energy_core.rollups import RP_1D, RP_1H, Aggregate
from energy_core.timeutil import DAY_NS, HOUR_NS, NS

log = structlog.get_logger("api")

# Readings reach InfluxDB a little after their timestamp (batching, a gateway's buffer): an hour
# is read from its roll-up only once this long (plus the roll-up delay) has passed since it ended.
ROLLUP_GRACE_S = 60.0
ROLLUP_HINT = "ask for buckets of an hour or more with start on a whole hour: those read the roll-ups"
RAW = None  # a segment's retention policy: None is the database's default one, the raw points


@dataclass(frozen=True, slots=True)
class Segment:
    """``[start_ns, end_ns)`` read from ``rp``: ``rollup_1h``, ``rollup_1d`` or raw (None)."""

    rp: str | None
    start_ns: int
    end_ns: int

    def source(self, db: str, measurement: str) -> str:
        """The FROM target of this segment for ``measurement``: the roll-up qualified with its
        policy, raw points unqualified as before roll-ups (the default policy of ``db``)."""
        return rollups.q(measurement) if self.rp is RAW else rollups.qualified(db, self.rp, measurement)

    def expression(self, measurement: str, field: str, aggregate: str) -> str | None:
        return expression(self.rp, measurement, field, aggregate)


_READABLE = frozenset(get_args(Aggregate))


def expression(rp: str | None, measurement: str, field: str, aggregate: str) -> str | None:
    """``aggregate(field)`` over raw points (``rp`` None) or over the buckets of roll-up ``rp``;
    None when the roll-up keeps nothing that gives it exactly (a median, the mean of a register)."""
    if rp is RAW:
        return f"{aggregate}({rollups.q(field)})"
    if aggregate not in _READABLE:
        return None
    return rollups.rollup_expression(measurement, field, cast(Aggregate, aggregate))


def floor_hour(ns: int) -> int:
    """The start of the UTC hour holding ``ns`` (Stockholm's offsets are whole hours: a local hour)."""
    return rollups.hour_of(ns)


def ceil_hour(ns: int) -> int:
    return floor_hour(ns + HOUR_NS - 1)


def floor_day(ns: int) -> int:
    """The local midnight (Europe/Stockholm) that starts the day holding ``ns``."""
    return rollups.local_midnight_ns(rollups.local_day_of(ns))


def ceil_day(ns: int) -> int:
    """The first local midnight at or after ``ns`` (local days are 23 to 25 hours long)."""
    start, end = rollups.day_bounds(rollups.local_day_of(ns))
    return start if start == ns else end


def plan(start_ns: int, end_ns: int, coarsest: str | None, rolled_until_ns: int) -> list[Segment]:
    """The segments, in time order, that cover ``[start_ns, end_ns)`` exactly once: roll-ups no
    coarser than ``coarsest`` (``rollup_1d``, ``rollup_1h``, None: raw only) for the whole hours
    and local days before ``rolled_until_ns``, raw points for the rest."""
    first_hour = ceil_hour(start_ns)
    last_hour = floor_hour(min(end_ns, rolled_until_ns))
    if coarsest is RAW or first_hour >= last_hour:
        return [Segment(RAW, start_ns, end_ns)]
    middle = [Segment(RP_1H, first_hour, last_hour)]
    if coarsest == RP_1D:
        first_day, last_day = ceil_day(first_hour), floor_day(last_hour)
        if first_day < last_day:
            middle = [
                Segment(RP_1H, first_hour, first_day),
                Segment(RP_1D, first_day, last_day),
                Segment(RP_1H, last_day, last_hour),
            ]
    segments = [Segment(RAW, start_ns, first_hour), *middle, Segment(RAW, last_hour, end_ns)]
    return [s for s in segments if s.start_ns < s.end_ns]


@dataclass(frozen=True, slots=True)
class SourcePolicy:
    """What the API knows of the storage: whether roll-ups are read, how far behind raw they may
    be, and how long raw points are kept (0: forever)."""

    rollups: bool
    rollup_delay_s: float
    raw_retention_days: float

    def segments(
        self, window: TimeRange, coarsest: str | None, *, hint: str = ROLLUP_HINT, now: int | None = None
    ) -> list[Segment]:
        """The plan for ``window``; a 400 when a raw segment reaches past the raw retention
        (``hint`` says how to ask instead)."""
        now = now_ns() if now is None else now
        rolled_until = now - int((self.rollup_delay_s + ROLLUP_GRACE_S) * NS)
        segments = plan(window.start_ns, window.end_ns, coarsest if self.rollups else RAW, rolled_until)
        self.check_retention(segments, now, hint)
        return segments

    def check_retention(self, segments: list[Segment], now: int, hint: str) -> None:
        if not self.raw_retention_days:
            return
        kept_from = now - int(self.raw_retention_days * DAY_NS)
        for segment in segments:
            if segment.rp is RAW and segment.start_ns < kept_from:
                since = to_datetime(kept_from).isoformat(timespec="seconds").replace("+00:00", "Z")
                asked = to_datetime(segment.start_ns).isoformat(timespec="seconds").replace("+00:00", "Z")
                raise bad_request(
                    "beyond_raw_retention",
                    f"raw points are kept for {self.raw_retention_days:g} days (INGEST_RAW_RETENTION_DAYS),"
                    f" i.e. since {since}; this query needs raw points from {asked}: {hint}",
                )


_WARNED: set[str] = set()  # databases whose missing roll-up policies were logged (once each)


async def fetch(
    influx: InfluxClient,
    policy: SourcePolicy,
    window: TimeRange,
    coarsest: str | None,
    statement: Callable[[Segment], str],
    *,
    hint: str = ROLLUP_HINT,
) -> list[dict[str, Any]]:
    """Run ``statement`` of each segment of ``window`` in one request; the results in time order.

    A database without the roll-up policies (ingest never created them: no rights, or a database
    only an older ingest wrote) answers from raw points instead of failing; with the policies
    there, the roll-ups are trusted (``python -m ingest rollup`` fills an upgraded history).
    """
    segments = policy.segments(window, coarsest, hint=hint)
    try:
        return await influx.query(";".join(statement(s) for s in segments))
    except InfluxError as exc:
        # InfluxDB 1.x names the policy, or answers "not executed" when the statement that fails
        # to compile is the first one of the request.
        missing = any(m in str(exc) for m in ("retention policy not found", "not executed"))
        if not missing or all(s.rp is RAW for s in segments):
            raise
    if influx.db not in _WARNED:
        _WARNED.add(influx.db)
        log.warning("api_rollups_missing", db=influx.db, policies=list(rollups.ROLLUP_RPS))
    raw = policy.segments(window, RAW, hint=hint)
    return await influx.query(";".join(statement(s) for s in raw))
