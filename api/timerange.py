"""Time ranges of queries: defaults, order and size checks with clear 400s."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from api.errors import bad_request

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class TimeRange:
    """``[start_ns, end_ns)`` in UTC nanoseconds."""

    start_ns: int
    end_ns: int

    @property
    def start(self) -> dt.datetime:
        return to_datetime(self.start_ns)

    @property
    def end(self) -> dt.datetime:
        return to_datetime(self.end_ns)


def to_ns(moment: dt.datetime) -> int:
    """A datetime as UTC ns; a naive one is taken as UTC (RFC 3339 callers always send an offset)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp()) * NS + moment.microsecond * 1000


def to_datetime(ns: int, tz: dt.tzinfo = dt.UTC) -> dt.datetime:
    return dt.datetime.fromtimestamp(ns // NS, tz).replace(microsecond=(ns % NS) // 1000)


def now_ns() -> int:
    return time.time_ns()


def resolve(
    start: dt.datetime | None, end: dt.datetime | None, *, default: dt.timedelta, limit: dt.timedelta
) -> TimeRange:
    """Fill in defaults (end = now, start = end - default) and refuse inverted or too large ranges."""
    try:
        end_ns = to_ns(end) if end else now_ns()
        start_ns = to_ns(start) if start else end_ns - int(default.total_seconds()) * NS
    except (OverflowError, ValueError, OSError):
        raise bad_request("bad_time", "start and end must be RFC 3339 times between 1970 and 2262") from None
    if not 0 <= start_ns < 2**63 or not 0 <= end_ns < 2**63:
        raise bad_request("bad_time", "start and end must be RFC 3339 times between 1970 and 2262")
    if start_ns >= end_ns:
        raise bad_request("inverted_range", "start must be before end")
    if end_ns - start_ns > int(limit.total_seconds()) * NS:
        raise bad_request("range_too_large", f"at most {limit.days} days per query")
    return TimeRange(start_ns, end_ns)
