"""energy_core.timeutil: the strict RFC 3339 parser of payloads and the lenient ISO 8601 one of commands."""

from __future__ import annotations

import datetime as dt

import pytest

from energy_core.timeutil import (
    DAY_NS,
    HOUR_NS,
    MINUTE_NS,
    NS,
    STOCKHOLM,
    datetime_ns,
    parse_iso,
    parse_rfc3339,
)

T = 1_795_675_200 * NS  # 2026-11-26T06:40:00Z


def test_the_units_are_nanoseconds():
    assert (NS, MINUTE_NS, HOUR_NS, DAY_NS) == (10**9, 60 * 10**9, 3600 * 10**9, 86400 * 10**9)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2026-11-26T06:40:00Z", T),
        ("2026-11-26t06:40:00z", T),
        ("2026-11-26 06:40:00Z", T),  # RFC 3339 §5.6 allows the space
        ("2026-11-26T07:40:00+01:00", T),
        ("2026-11-26T06:40:00.123456789Z", T + 123_456_789),  # nanoseconds kept
        ("2026-11-26T06:40:00.5-00:00", T + 500_000_000),
        ("1969-12-31T23:59:59Z", -NS),
    ],
)
def test_rfc3339_times_are_read_to_the_nanosecond(text, ns):
    assert parse_rfc3339(text) == ns


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("2026-11-26T06:40:00", "is not RFC 3339"),  # no offset: ambiguous in a payload
        ("2026-11-26", "is not RFC 3339"),
        ("20261126T064000Z", "is not RFC 3339"),  # ISO 8601 basic form
        ("2026-11-26T06:40Z", "is not RFC 3339"),  # seconds are required
        ("2026-13-26T06:40:00Z", "is not a valid date-time"),
        ("2026-11-26T25:40:00Z", "is not a valid date-time"),
    ],
)
def test_other_times_are_refused_by_the_rfc3339_parser_naming_the_input(text, problem):
    with pytest.raises(ValueError, match=problem) as caught:
        parse_rfc3339(text)
    assert repr(text) in str(caught.value)


def test_the_iso_parser_reads_a_time_without_an_offset_in_the_zone_it_is_given():
    assert parse_iso("2026-11-26T06:40", naive=dt.UTC) == T
    assert parse_iso("2026-11-26T07:40", naive=STOCKHOLM) == T
    assert parse_iso("2026-11-26T06:40:00Z", naive=STOCKHOLM) == T
    assert parse_iso("20261126T064000Z", naive=dt.UTC) == T
    assert parse_iso("2026-11-26", naive=dt.UTC) == T - (6 * 60 + 40) * MINUTE_NS


def test_the_iso_parser_refuses_what_is_not_a_date_naming_the_input():
    with pytest.raises(ValueError, match="'next tuesday' is not an ISO 8601 date or time"):
        parse_iso("next tuesday", naive=dt.UTC)


def test_a_datetime_becomes_exact_nanoseconds_even_before_1970():
    assert datetime_ns(dt.datetime(2026, 11, 26, 6, 40, 0, 1, tzinfo=dt.UTC), naive=STOCKHOLM) == T + 1000
    assert datetime_ns(dt.datetime(1969, 12, 31, 23, 59, 59, 500_000), naive=dt.UTC) == -NS // 2
