"""Time ranges: defaults, inverted and too-large ranges as clear 400s."""

from __future__ import annotations

import datetime as dt

import pytest

from api.errors import ApiError
from api.timerange import NS, resolve, to_datetime, to_ns

DAY = dt.timedelta(days=1)


def test_defaults_end_now_and_span_back():
    window = resolve(None, None, default=DAY, limit=30 * DAY)
    assert window.end_ns - window.start_ns == 86400 * NS


@pytest.mark.parametrize(
    ("start", "end", "code"),
    [
        (dt.datetime(2025, 2, 1, tzinfo=dt.UTC), dt.datetime(2025, 1, 1, tzinfo=dt.UTC), "inverted_range"),
        (dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 1, 1, tzinfo=dt.UTC), "inverted_range"),
        (dt.datetime(2020, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 1, 1, tzinfo=dt.UTC), "range_too_large"),
        (dt.datetime(1, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 1, 1, tzinfo=dt.UTC), "bad_time"),
        (dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(9999, 1, 1, tzinfo=dt.UTC), "bad_time"),
    ],
)
def test_bad_ranges_are_400s_with_a_code(start, end, code):
    with pytest.raises(ApiError) as caught:
        resolve(start, end, default=DAY, limit=30 * DAY)
    assert caught.value.status == 400
    assert caught.value.code == code


def test_naive_times_are_stockholm_local_time_and_round_trip():
    moment = dt.datetime(2025, 3, 30, 1, 30, 15, 250000)  # before the spring change: CET, +01:00
    assert to_datetime(to_ns(moment)) == dt.datetime(2025, 3, 30, 0, 30, 15, 250000, tzinfo=dt.UTC)
