"""Time ranges of queries: defaults, order and size checks with clear 400s.

A time without an offset (``2026-11-01`` or ``2026-11-01T06:00``) is Swedish local time
(Europe/Stockholm, DST-correct through zoneinfo), as the API's days and months are: a facility
manager asking for November means local November. On the autumn change the repeated hour is
taken at its first (summer-time) occurrence, and a time in the skipped spring hour is read
with the winter offset (02:30 on 29 March is 03:30 summer time): zoneinfo's ``fold=0`` rules.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Literal

from api.errors import bad_request
from energy_core.timeutil import NS, STOCKHOLM

LOCAL = STOCKHOLM
# The calendar period a default range starts at: a local midnight, the first of a local month
# or of a local year, so the first bucket of a day/month/year query is a whole one.
Align = Literal["day", "month", "year"]


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
    """A datetime as UTC ns; a naive one is Europe/Stockholm local time (see the module docstring)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL)
    return int(moment.timestamp()) * NS + moment.microsecond * 1000


def align_down(ns: int, period: Align) -> int:
    """The start of the local day, month or year holding ``ns``, as UTC ns."""
    local = to_datetime(ns, LOCAL).replace(hour=0, minute=0, second=0, microsecond=0)
    if period in ("month", "year"):
        local = local.replace(day=1)
    if period == "year":
        local = local.replace(month=1)
    # Rebuild from the wall-clock fields: the original offset may be the other side of a DST change.
    return to_ns(local.replace(tzinfo=None))


def to_datetime(ns: int, tz: dt.tzinfo = dt.UTC) -> dt.datetime:
    return dt.datetime.fromtimestamp(ns // NS, tz).replace(microsecond=(ns % NS) // 1000)


def now_ns() -> int:
    return time.time_ns()


def resolve(
    start: dt.datetime | None,
    end: dt.datetime | None,
    *,
    default: dt.timedelta,
    limit: dt.timedelta,
    align: Align | None = None,
) -> TimeRange:
    """Fill in defaults (end = now, start = end - default, moved back to the start of its local
    ``align`` period when given) and refuse inverted or too large ranges."""
    try:
        end_ns = to_ns(end) if end else now_ns()
        start_ns = to_ns(start) if start else end_ns - int(default.total_seconds()) * NS
        if start is None and align is not None:
            start_ns = align_down(start_ns, align)
    except (OverflowError, ValueError, OSError):
        raise bad_request("bad_time", "start and end must be RFC 3339 times between 1970 and 2262") from None
    if not 0 <= start_ns < 2**63 or not 0 <= end_ns < 2**63:
        raise bad_request("bad_time", "start and end must be RFC 3339 times between 1970 and 2262")
    if start_ns >= end_ns:
        raise bad_request("inverted_range", "start must be before end")
    if end_ns - start_ns > int(limit.total_seconds()) * NS:
        raise bad_request("range_too_large", f"at most {limit.days} days per query")
    return TimeRange(start_ns, end_ns)
