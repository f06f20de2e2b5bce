"""Which storage answers which part of a range (api/sources.py): pure, no servers."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.energy import _periods
from api.errors import ApiError
from api.sources import RAW, ROLLUP_GRACE_S, SourcePolicy, ceil_day, floor_day, plan
from api.timerange import TimeRange
from energy_core.rollups import RP_1D, RP_1H
from energy_core.timeutil import HOUR_NS

LOCAL = ZoneInfo("Europe/Stockholm")
NS = 1_000_000_000
FAR_FUTURE = 2**62


def at(*parts: int) -> int:
    """Local wall-clock time (Europe/Stockholm) as UTC ns."""
    return int(dt.datetime(*parts, tzinfo=LOCAL).timestamp()) * NS


def test_whole_local_days_read_the_daily_roll_up_and_nothing_else():
    segments = plan(at(2026, 3, 1), at(2026, 4, 1), RP_1D, FAR_FUTURE)
    assert [(s.rp, s.start_ns, s.end_ns) for s in segments] == [(RP_1D, at(2026, 3, 1), at(2026, 4, 1))]


def test_a_start_off_the_hour_reads_its_fragment_raw_then_hours_then_days():
    segments = plan(at(2026, 3, 1, 6, 30), at(2026, 3, 4, 12), RP_1D, FAR_FUTURE)
    assert [(s.rp, s.start_ns, s.end_ns) for s in segments] == [
        (RAW, at(2026, 3, 1, 6, 30), at(2026, 3, 1, 7)),
        (RP_1H, at(2026, 3, 1, 7), at(2026, 3, 2)),
        (RP_1D, at(2026, 3, 2), at(2026, 3, 4)),
        (RP_1H, at(2026, 3, 4), at(2026, 3, 4, 12)),
    ]


def test_the_newest_hour_that_the_roll_ups_may_not_hold_yet_reads_raw():
    now = at(2026, 11, 20, 10, 0, 30)  # 30 s after the hour: the 09:00 roll-up may miss its last minute
    policy = SourcePolicy(rollups=True, rollup_delay_s=60, raw_retention_days=430)
    segments = policy.segments(TimeRange(at(2026, 11, 1), now), RP_1D, now=now)
    assert [(s.rp, s.start_ns, s.end_ns) for s in segments] == [
        (RP_1D, at(2026, 11, 1), at(2026, 11, 20)),
        (RP_1H, at(2026, 11, 20), at(2026, 11, 20, 9)),
        (RAW, at(2026, 11, 20, 9), now),
    ]
    later = now + int((60 + ROLLUP_GRACE_S) * NS)  # delay and grace after 10:00: 09:00 is rolled up
    assert policy.segments(TimeRange(at(2026, 11, 1), later), RP_1D, now=later)[-1].start_ns == at(
        2026, 11, 20, 10
    )


def test_local_days_across_the_dst_changes_are_23_and_25_hours():
    assert ceil_day(at(2026, 3, 29, 0, 0, 1)) - floor_day(at(2026, 3, 29, 12)) == 23 * HOUR_NS
    assert ceil_day(at(2026, 10, 25, 0, 0, 1)) - floor_day(at(2026, 10, 25, 12)) == 25 * HOUR_NS
    assert ceil_day(at(2026, 10, 25)) == at(2026, 10, 25)


def test_a_range_inside_one_hour_or_a_fine_bucket_reads_raw_only():
    assert [s.rp for s in plan(at(2026, 3, 1, 6, 10), at(2026, 3, 1, 6, 50), RP_1D, FAR_FUTURE)] == [RAW]
    assert [s.rp for s in plan(at(2026, 3, 1), at(2026, 4, 1), RAW, FAR_FUTURE)] == [RAW]
    hourly = plan(at(2026, 3, 1), at(2026, 3, 3), RP_1H, FAR_FUTURE)
    assert [s.rp for s in hourly] == [RP_1H]


def test_with_roll_ups_off_every_range_reads_raw():
    policy = SourcePolicy(rollups=False, rollup_delay_s=60, raw_retention_days=430)
    now = at(2026, 12, 1)
    assert [s.rp for s in policy.segments(TimeRange(at(2026, 11, 1), now), RP_1D, now=now)] == [RAW]


def test_raw_points_beyond_the_raw_retention_are_a_400_naming_the_limit():
    policy = SourcePolicy(rollups=True, rollup_delay_s=60, raw_retention_days=430)
    now = at(2026, 12, 1)
    old = TimeRange(at(2025, 1, 1), at(2025, 2, 1))
    with pytest.raises(ApiError) as raised:
        policy.segments(old, RAW, now=now)
    assert raised.value.status == 400
    assert raised.value.code == "beyond_raw_retention"
    assert "430 days" in raised.value.message
    assert "INGEST_RAW_RETENTION_DAYS" in raised.value.message
    assert [s.rp for s in policy.segments(old, RP_1D, now=now)] == [RP_1D]  # the roll-ups keep it
    unaligned = TimeRange(at(2025, 1, 1, 6, 30), at(2025, 2, 1))  # its first half hour is raw: gone
    with pytest.raises(ApiError):
        policy.segments(unaligned, RP_1D, now=now)
    forever = SourcePolicy(rollups=True, rollup_delay_s=60, raw_retention_days=0)
    assert [s.rp for s in forever.segments(old, RAW, now=now)] == [RAW]


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(at(2025, 1, 1), at(2027, 1, 1)),
    length=st.integers(1, 120 * 86400 * NS),
    rolled=st.integers(at(2025, 1, 1), at(2027, 6, 1)),
    coarsest=st.sampled_from([RAW, RP_1H, RP_1D]),
)
def test_the_segments_cover_the_range_exactly_once_with_roll_ups_on_their_own_bucket_bounds(
    start, length, rolled, coarsest
):
    end = start + length
    segments = plan(start, end, coarsest, rolled)
    assert segments[0].start_ns == start
    assert segments[-1].end_ns == end
    assert all(a.end_ns == b.start_ns for a, b in itertools.pairwise(segments))
    assert all(s.start_ns < s.end_ns for s in segments)
    for s in segments:
        if s.rp is not RAW:
            assert s.end_ns <= max(floor_hour_of(rolled), start)
            assert s.start_ns % HOUR_NS == 0
            assert s.end_ns % HOUR_NS == 0
        if s.rp == RP_1D:
            assert floor_day(s.start_ns) == s.start_ns
            assert floor_day(s.end_ns) == s.end_ns
        if coarsest == RP_1H:
            assert s.rp != RP_1D


def floor_hour_of(ns: int) -> int:
    return ns - ns % HOUR_NS


def test_a_daily_roll_up_segment_is_cut_at_local_month_and_year_starts():
    pieces = _periods(at(2026, 1, 15), at(2026, 4, 3), "month")
    assert pieces == [
        (at(2026, 1, 15), at(2026, 2, 1)),
        (at(2026, 2, 1), at(2026, 3, 1)),
        (at(2026, 3, 1), at(2026, 4, 1)),  # across the spring DST change: local midnights still
        (at(2026, 4, 1), at(2026, 4, 3)),
    ]
    assert _periods(at(2025, 12, 20), at(2026, 1, 2), "year") == [
        (at(2025, 12, 20), at(2026, 1, 1)),
        (at(2026, 1, 1), at(2026, 1, 2)),
    ]
