"""Times without an offset are Europe/Stockholm local time; default day/month ranges start at a
local midnight. Every expected instant below is computed by hand (CET = UTC+1, CEST = UTC+2;
summer time 2026 runs from 29 March 01:00 UTC to 25 October 01:00 UTC)."""

from __future__ import annotations

import datetime as dt

import pytest

from api.timerange import NS, align_down, resolve, to_ns


def utc(*fields: int) -> int:
    return to_ns(dt.datetime(*fields, tzinfo=dt.UTC))  # type: ignore[misc]


DAY = dt.timedelta(days=1)
LIMIT = dt.timedelta(days=3660)


@pytest.mark.parametrize(
    ("naive", "instant"),
    [
        (dt.datetime(2026, 1, 15, 12, 0), utc(2026, 1, 15, 11, 0)),  # winter: CET
        (dt.datetime(2026, 7, 1, 0, 0), utc(2026, 6, 30, 22, 0)),  # summer: CEST
        (dt.datetime(2026, 11, 1), utc(2026, 10, 31, 23, 0)),  # the November starts 23:00 UTC
        (dt.datetime(2026, 12, 1), utc(2026, 11, 30, 23, 0)),
        (dt.datetime(2026, 3, 29, 0, 0), utc(2026, 3, 28, 23, 0)),  # spring change day: still CET
        (dt.datetime(2026, 3, 29, 3, 0), utc(2026, 3, 29, 1, 0)),  # 03:00 is already CEST
        (dt.datetime(2026, 3, 30, 0, 0), utc(2026, 3, 29, 22, 0)),
        (dt.datetime(2026, 10, 25, 0, 0), utc(2026, 10, 24, 22, 0)),  # autumn change day: CEST
        (dt.datetime(2026, 10, 25, 2, 30), utc(2026, 10, 25, 0, 30)),  # the repeated hour: first (CEST)
        (dt.datetime(2026, 10, 25, 4, 0), utc(2026, 10, 25, 3, 0)),  # CET again
        (dt.datetime(2026, 10, 26, 0, 0), utc(2026, 10, 25, 23, 0)),
    ],
)
def test_a_time_without_an_offset_is_stockholm_local_time(naive, instant):
    assert to_ns(naive) == instant


def test_a_time_with_an_offset_keeps_its_instant():
    assert to_ns(dt.datetime(2026, 11, 1, tzinfo=dt.UTC)) == utc(2026, 11, 1, 0, 0)
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert to_ns(dt.datetime(2026, 7, 1, 2, 0, tzinfo=plus_two)) == utc(2026, 7, 1, 0, 0)


def test_the_dst_change_days_have_23_and_25_hours():
    spring = to_ns(dt.datetime(2026, 3, 30)) - to_ns(dt.datetime(2026, 3, 29))
    autumn = to_ns(dt.datetime(2026, 10, 26)) - to_ns(dt.datetime(2026, 10, 25))
    assert (spring, autumn) == (23 * 3600 * NS, 25 * 3600 * NS)


def test_a_local_month_of_dates_without_offsets_is_the_whole_local_month():
    window = resolve(dt.datetime(2026, 11, 1), dt.datetime(2026, 12, 1), default=DAY, limit=LIMIT)
    assert (window.start_ns, window.end_ns) == (utc(2026, 10, 31, 23, 0), utc(2026, 11, 30, 23, 0))


@pytest.mark.parametrize(
    ("moment", "period", "start"),
    [
        (utc(2026, 3, 29, 12, 0), "day", utc(2026, 3, 28, 23, 0)),  # 14:00 CEST → local midnight in CET
        (utc(2026, 10, 25, 12, 0), "day", utc(2026, 10, 24, 22, 0)),  # 13:00 CET → midnight in CEST
        (utc(2026, 10, 31, 23, 30), "day", utc(2026, 10, 31, 23, 0)),  # 00:30 local on 1 November
        (utc(2026, 10, 31, 22, 30), "day", utc(2026, 10, 30, 23, 0)),  # 23:30 CET on 31 October
        (utc(2026, 4, 15, 6, 0), "month", utc(2026, 3, 31, 22, 0)),  # 1 April 00:00 CEST
        (utc(2026, 11, 15, 6, 0), "month", utc(2026, 10, 31, 23, 0)),  # 1 November 00:00 CET
        (utc(2026, 7, 1, 0, 0), "year", utc(2025, 12, 31, 23, 0)),  # 1 January 00:00 CET
    ],
)
def test_align_down_finds_the_local_period_start(moment, period, start):
    assert align_down(moment, period) == start


def test_default_day_and_month_ranges_start_at_a_local_midnight():
    end = dt.datetime(2026, 10, 25, 12, 0, tzinfo=dt.UTC)  # 13:00 CET, on the autumn change day
    day = resolve(None, end, default=DAY, limit=LIMIT, align="day")
    assert day.start_ns == utc(2026, 10, 23, 22, 0)  # 24 October 00:00 CEST
    month = resolve(None, end, default=dt.timedelta(days=365), limit=LIMIT, align="month")
    assert month.start_ns == utc(2025, 9, 30, 22, 0)  # 365 d back is 25 Oct 2025: 1 October 00:00 CEST
    assert resolve(None, end, default=DAY, limit=LIMIT).start_ns == utc(2026, 10, 24, 12, 0)  # unaligned


def test_an_explicit_start_is_never_moved():
    start = dt.datetime(2026, 3, 29, 10, 15, tzinfo=dt.UTC)
    window = resolve(start, None, default=DAY, limit=LIMIT, align="month")
    assert window.start_ns == utc(2026, 3, 29, 10, 15)
