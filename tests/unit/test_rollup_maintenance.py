"""Roll-up maintenance without servers: bucket keys of written lines, the dirty set, the CLI's parts."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from pydantic import ValidationError

from energy_core import lineprotocol
from energy_core.rollups import ZONE
from energy_core.schema import Point
from energy_core.timeutil import HOUR_NS
from ingest.config import IngestSettings
from ingest.rollup.cli import Progress, days_between, local_moment
from ingest.rollup.keys import DirtyBuckets, keys_of_lines, keys_of_range
from ingest.rollup.roller import by_local_day, hours_of_day

NS = 10**9
T = 1_764_547_200 * NS  # 2025-12-01T00:00:00Z, an hour start


def test_keys_of_lines_are_the_measurement_and_utc_hour_of_each_point() -> None:
    points = [
        Point("district_heating", (("device", "d,1"), ("owner", "o")), {"power_kw": 1.0}, T + 1),
        Point("district_heating", (("device", "d 2"),), {"power_kw": 2.0}, T + HOUR_NS - 1),
        Point("energy", (("carrier", "district_heat"),), {"kwh": 1.0}, T + HOUR_NS),
        Point("weather", (), {"outdoor_temp_c": -3.0}, T + 5 * HOUR_NS + 17),
    ]
    lines = [lineprotocol.encode(p) for p in points] + ["", "garbage"]
    assert keys_of_lines(lines) == {
        ("district_heating", T),
        ("energy", T + HOUR_NS),
        ("weather", T + 5 * HOUR_NS),
    }


def test_keys_of_lines_split_at_the_exact_hour_and_read_short_timestamps_too() -> None:
    just_before = f"weather,site=a outdoor_temp_c=1.0 {T + HOUR_NS - 1}"
    on_the_hour = f"weather,site=a outdoor_temp_c=1.0 {T + HOUR_NS}"
    assert keys_of_lines([just_before, on_the_hour]) == {("weather", T), ("weather", T + HOUR_NS)}
    assert keys_of_lines([on_the_hour, "weather,site=a outdoor_temp_c=1.0 5"]) == {
        ("weather", T + HOUR_NS),
        ("weather", 0),
    }
    assert keys_of_lines(["sensors,site=a x=1.0 5", "electricity power_kw=1.0 7"]) == {("electricity", 0)}


def test_keys_of_a_range_cover_every_hour_it_overlaps() -> None:
    assert keys_of_range(["weather"], T + 10, T + 2 * HOUR_NS) == {
        ("weather", T),
        ("weather", T + HOUR_NS),
        ("weather", T + 2 * HOUR_NS),
    }


def test_a_bucket_is_due_a_delay_after_its_first_mark_not_its_last() -> None:
    dirty = DirtyBuckets(delay_s=60)
    key = ("weather", T)
    assert dirty.mark([key], now=0.0) == [key]
    assert dirty.mark([key], now=50.0) == []  # not new: nothing to persist
    assert dirty.take_due(59.0) == {}
    assert list(dirty.take_due(60.0)) == [key]
    assert dirty.next_due() == 60.0
    assert dirty.oldest_mark() == 0.0


def test_a_bucket_marked_while_it_is_rolled_stays_dirty_and_is_due_again_after_the_delay() -> None:
    dirty = DirtyBuckets(delay_s=10)
    a, b = ("weather", T), ("weather", T + HOUR_NS)
    dirty.mark([a, b], now=0.0)
    snapshot = dirty.take_due(10.0)
    dirty.mark([b], now=11.0)  # new data in b during the roll
    assert dirty.done(snapshot, now=12.0) == [a]
    assert a not in dirty
    assert b in dirty
    assert dirty.take_due(21.0) == {}
    assert list(dirty.take_due(22.0)) == [b]


def test_a_failed_roll_keeps_its_buckets_until_the_retry_time() -> None:
    dirty = DirtyBuckets(delay_s=0)
    key = ("energy", T)
    dirty.mark([key], now=0.0)
    snapshot = dirty.take_due(0.0)
    dirty.retry_later(snapshot, at=5.0)
    assert key in dirty
    assert dirty.take_due(4.9) == {}
    assert list(dirty.take_due(5.0)) == [key]


def test_units_of_work_are_local_days_with_23_or_25_hours_on_dst_changes() -> None:
    assert len(hours_of_day(dt.date(2026, 3, 29))) == 23
    assert len(hours_of_day(dt.date(2026, 10, 25))) == 25
    midnight = int(dt.datetime(2026, 3, 29, tzinfo=ZONE).timestamp()) * NS
    days = by_local_day([("weather", midnight - HOUR_NS), ("weather", midnight), ("energy", midnight)])
    assert days == {
        dt.date(2026, 3, 28): {"weather": {midnight - HOUR_NS}},
        dt.date(2026, 3, 29): {"weather": {midnight}, "energy": {midnight}},
    }


def test_dates_without_a_zone_are_stockholm_local_and_the_end_day_is_included() -> None:
    start = local_moment("2026-03-28")
    assert start == dt.datetime(2026, 3, 28, tzinfo=ZONE)
    assert local_moment("2026-03-29T23:30:00Z").tzinfo == dt.UTC
    days = days_between(start, local_moment("2026-03-29T23:30:00Z"))  # 01:30 on the 30th in Stockholm
    assert days == [dt.date(2026, 3, 28), dt.date(2026, 3, 29), dt.date(2026, 3, 30)]
    with pytest.raises(ValueError, match="not a date or time"):
        local_moment("yesterday")


def test_the_progress_bar_shows_days_done_of_total_and_is_silent_off_a_terminal() -> None:
    shown = io.StringIO()
    progress = Progress(4, shown, enabled=True)
    progress.update(1, dt.date(2026, 3, 29), 1234)
    progress.finish()
    text = shown.getvalue()
    assert text.startswith("\r[#######.......................] 1/4 days  2026-03-29  1,234 points")
    assert text.endswith("\n")
    quiet = io.StringIO()
    silent = Progress(4, quiet, enabled=False)
    silent.update(1, dt.date(2026, 3, 29), 1)
    silent.finish()
    assert quiet.getvalue() == ""


def test_raw_retention_shorter_than_the_accepted_age_is_a_configuration_error() -> None:
    with pytest.raises(ValidationError, match="at least INGEST_MAX_AGE_DAYS"):
        IngestSettings(influx_url="http://127.0.0.1:8086", ingest_raw_retention_days=100)
    assert (
        IngestSettings(
            influx_url="http://127.0.0.1:8086", ingest_raw_retention_days=0
        ).ingest_raw_retention_days
        == 0
    )
    assert IngestSettings(influx_url="http://127.0.0.1:8086").ingest_rollup == "auto"
