"""Time units and parsers shared by every component.

Every stored time is an ``int`` of UTC nanoseconds since the Unix epoch (InfluxDB's precision).
Two parsers, different on purpose:

- :func:`parse_rfc3339` is strict (RFC 3339 §5.6 date-time, the offset required, sub-microsecond
  digits kept): for payloads, where a time that could be read two ways must be refused.
- :func:`parse_iso` is lenient (whatever ``datetime.fromisoformat`` reads: ``2026-01-01``,
  ``2026-01-01T07:40``, ISO 8601 basic forms): for command-line options people type. The
  caller names the zone a time without an offset is read in (``naive=``).

Both raise ``ValueError`` with a one-line message that quotes the input.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

NS = 1_000_000_000
MINUTE_NS = 60 * NS
HOUR_NS = 60 * MINUTE_NS
DAY_NS = 24 * HOUR_NS
STOCKHOLM = ZoneInfo("Europe/Stockholm")  # the network's local time (SPEC: a date without a zone)

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)

# RFC 3339 §5.6 date-time; the space separator is the RFC's own note (§5.6, "for readability").
# datetime.fromisoformat alone would also take ISO 8601 forms RFC 3339 does not allow ("20261120T0740Z").
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.(\d+))?(?:[Zz]|[+-]\d{2}:\d{2})$", re.ASCII
)


def datetime_ns(moment: dt.datetime, *, naive: dt.tzinfo) -> int:
    """A datetime as UTC ns (exact to the microsecond); one without an offset is read in ``naive``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=naive)
    return (moment - _EPOCH) // _MICROSECOND * 1000


def parse_rfc3339(text: str) -> int:
    """An RFC 3339 date-time as UTC ns, keeping the sub-microsecond digits datetime would drop."""
    match = _RFC3339.match(text)
    if match is None:
        raise ValueError(f"time {text[:64]!r} is not RFC 3339")
    frac = match.group(1) or ""
    head = text if not frac else text.replace("." + frac, "", 1)
    try:
        moment = dt.datetime.fromisoformat(head.replace("z", "Z").replace("t", "T"))
    except ValueError:  # the shape is right but a field is not (month 13, hour 25)
        raise ValueError(f"time {text[:64]!r} is not a valid date-time") from None
    frac_ns = int((frac + "000000000")[:9]) if frac else 0
    return datetime_ns(moment, naive=dt.UTC) + frac_ns


def parse_iso(text: str, *, naive: dt.tzinfo) -> int:
    """An ISO 8601 date or date-time as UTC ns (microseconds); one without an offset is in ``naive``."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"time {text[:64]!r} is not an ISO 8601 date or time") from None
    return datetime_ns(moment, naive=naive)
