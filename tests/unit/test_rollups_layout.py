"""The roll-up layout (energy_core/rollups.py): names, field lists, buckets and InfluxQL, without servers."""

from __future__ import annotations

import datetime as dt

import pytest

from energy_core import rollups
from energy_core.rollups import (
    GAUGE_FIELDS,
    HOUR_NS,
    REGISTER_FIELDS,
    RP_1D,
    RP_1H,
    SUM_FIELDS,
)
from energy_core.schema import QUANTITIES, Measurement

NS = 10**9


def test_every_raw_field_of_the_data_contract_has_exactly_one_roll_up_kind() -> None:
    for measurement in rollups.MEASUREMENTS:
        kinds = (
            GAUGE_FIELDS[measurement],
            REGISTER_FIELDS[measurement],
            SUM_FIELDS[measurement],
            rollups.CODE_FIELDS_OF[measurement],
        )
        names = [f for kind in kinds for f in kind]
        assert len(names) == len(set(names)), measurement
    every_field = {q.field for q in QUANTITIES.values()}
    covered = {
        f
        for m in rollups.MEASUREMENTS
        for kind in (GAUGE_FIELDS, REGISTER_FIELDS, rollups.CODE_FIELDS_OF)
        for f in kind[m]
    }
    assert covered == every_field | {"factor_g_per_kwh"}  # the emissions' gauge (derived, not a quantity)


def test_registers_are_the_cumulative_meter_readings_and_the_rest_are_gauges() -> None:
    assert REGISTER_FIELDS["district_heating"] == ("energy_kwh", "volume_m3")
    assert REGISTER_FIELDS["electricity"] == ("energy_import_kwh", "energy_export_kwh")
    assert "power_kw" in GAUGE_FIELDS["district_heating"]
    assert "power_kw" in GAUGE_FIELDS["electricity"]
    assert "flow_m3h" in GAUGE_FIELDS["district_heating"]
    assert "info_code" not in GAUGE_FIELDS["district_heating"]
    assert rollups.CODE_FIELDS_OF["district_heating"] == ("info_code",)
    assert GAUGE_FIELDS["indoor_climate"] == ("temperature_c", "humidity_pct", "co2_ppm")
    assert GAUGE_FIELDS["weather"] == ("outdoor_temp_c",)
    assert SUM_FIELDS["energy"] == ("kwh",)
    assert SUM_FIELDS["emissions"] == ("co2e_kg",)
    assert GAUGE_FIELDS["emissions"] == ("factor_g_per_kwh",)


def test_roll_up_field_names_follow_the_contract() -> None:
    dh = rollups.rollup_fields("district_heating")
    for suffix in ("sum", "count", "min", "max", "mean"):
        assert f"power_kw_{suffix}" in dh
    assert {"energy_kwh_last", "energy_kwh_first", "info_code_last", "info_code_max"} <= set(dh)
    assert rollups.rollup_fields("energy") == ("kwh", "count")
    assert "co2e_kg" in rollups.rollup_fields("emissions")


def test_the_hourly_query_reads_raw_from_the_default_policy_per_series_and_hour() -> None:
    start = 1_764_547_200 * NS
    text = rollups.hourly_query("district_heating", start, start + 2 * HOUR_NS, db="energy")
    assert 'FROM "energy".."district_heating"' in text
    assert 'sum("power_kw") AS "power_kw_sum"' in text
    assert 'last("energy_kwh") AS "energy_kwh_last"' in text
    assert text.endswith(f"time >= {start} AND time < {start + 2 * HOUR_NS} GROUP BY time(1h), * fill(none)")
    energy = rollups.hourly_query("energy", start, start + HOUR_NS, db="energy")
    assert 'sum("kwh") AS "kwh", count("kwh") AS "count"' in energy


def test_an_hourly_range_must_be_whole_hours() -> None:
    with pytest.raises(ValueError, match="whole UTC hours"):
        rollups.hourly_query("weather", 1, HOUR_NS, db="energy")
    with pytest.raises(ValueError, match="start before end"):
        rollups.hourly_query("weather", HOUR_NS, HOUR_NS, db="energy")


@pytest.mark.parametrize(
    ("day", "hours"),
    [(dt.date(2026, 3, 29), 23), (dt.date(2026, 10, 25), 25), (dt.date(2026, 6, 1), 24)],
)
def test_local_days_are_23_or_25_hours_long_on_dst_changes(day: dt.date, hours: int) -> None:
    start, end = rollups.day_bounds(day)
    assert (end - start) == hours * HOUR_NS
    assert rollups.local_day_of(start) == day
    assert rollups.local_day_of(end - 1) == day
    assert rollups.local_day_of(end) == day + dt.timedelta(days=1)


def test_the_daily_query_reads_the_hourly_roll_up_within_the_local_day() -> None:
    day = dt.date(2026, 10, 25)
    start, end = rollups.day_bounds(day)
    text = rollups.daily_query("district_heating", day, db="energy")
    assert 'FROM "energy"."rollup_1h"."district_heating"' in text
    assert 'sum("power_kw_sum") AS "power_kw_sum"' in text
    assert 'last("energy_kwh_last") AS "energy_kwh_last"' in text
    assert text.endswith(f"time >= {start} AND time < {end} GROUP BY *")


def test_totals_sum_the_per_series_roll_ups_by_owner_network_carrier_and_method() -> None:
    start = 1_764_547_200 * NS
    text = rollups.total_hourly_query(rollups.EMISSIONS_TOTAL, start, start + HOUR_NS, db="energy")
    assert 'FROM "energy"."rollup_1h"."emissions"' in text
    assert 'GROUP BY time(1h), "owner", "network", "carrier", "method"' in text
    daily = rollups.total_daily_query(rollups.ENERGY_TOTAL, dt.date(2026, 3, 29), db="energy")
    assert 'FROM "energy"."rollup_1d"."energy"' in daily
    assert daily.endswith('GROUP BY "owner", "network", "carrier"')


def test_hour_runs_join_contiguous_hours_and_cap_their_length() -> None:
    h = HOUR_NS
    assert rollups.hour_runs({0, h, 2 * h, 5 * h}) == [(0, 3 * h), (5 * h, 6 * h)]
    assert rollups.hour_runs({0, h, 2 * h}, max_hours=2) == [(0, 2 * h), (2 * h, 3 * h)]
    assert rollups.hour_runs(set()) == []


def test_the_source_is_the_daily_roll_up_for_local_days_the_hourly_one_for_hours_and_raw_below() -> None:
    day, hour = 86400 * NS, 3600 * NS
    assert rollups.source("energy", day, db="energy") == '"energy"."rollup_1d"."energy"'
    assert rollups.source("energy", 7 * day, db="energy") == '"energy"."rollup_1d"."energy"'
    assert rollups.source("energy", day, db="energy", local_days=False) == '"energy"."rollup_1h"."energy"'
    assert rollups.source("weather", 3 * hour, db="x") == '"x"."rollup_1h"."weather"'
    assert rollups.source("weather", 15 * 60 * NS, db="x") == '"x".."weather"'
    assert rollups.rp_for(day) == RP_1D
    assert rollups.rp_for(hour) == RP_1H


def test_a_mean_over_roll_ups_is_the_sum_of_sums_over_the_sum_of_counts() -> None:
    assert rollups.rollup_expression("weather", "outdoor_temp_c", "mean") == (
        'sum("outdoor_temp_c_sum") / sum("outdoor_temp_c_count")'
    )
    assert rollups.rollup_expression("energy", "kwh", "sum") == 'sum("kwh")'
    assert rollups.rollup_expression("district_heating", "energy_kwh", "last") == 'last("energy_kwh_last")'
    assert rollups.rollup_expression("district_heating", "power_kw", "median") is None
    assert rollups.rollup_expression("district_heating", "energy_kwh", "mean") is None


def test_read_falls_back_to_raw_when_no_roll_up_answers_exactly() -> None:
    hour = 3600 * NS
    rolled = rollups.read("weather", "outdoor_temp_c", "max", hour, db="energy")
    assert rolled.rp == RP_1H
    assert rolled.expression == 'max("outdoor_temp_c_max")'
    median = rollups.read("weather", "outdoor_temp_c", "median", hour, db="energy")  # type: ignore[arg-type]
    assert median.rp is None
    assert median.source == '"energy".."weather"'
    fine = rollups.read("weather", "outdoor_temp_c", "mean", 60 * NS, db="energy")
    assert fine.rp is None
    assert fine.expression == 'mean("outdoor_temp_c")'


def test_every_measurement_of_the_schema_has_roll_ups() -> None:
    assert set(rollups.MEASUREMENTS) == {m.value for m in Measurement}


def test_retention_policies_are_hours_and_zero_days_is_infinite() -> None:
    assert rollups.duration(430) == "10320h"
    assert rollups.duration(0) == "INF"
    assert rollups.create_rollup_policy("energy", RP_1H, 3660) == (
        'CREATE RETENTION POLICY "rollup_1h" ON "energy" DURATION 87840h REPLICATION 1 SHARD DURATION 720h'
    )
    # A shard group never outlasts its policy (InfluxDB refuses that).
    assert rollups.alter_rollup_policy("energy", RP_1D, 2).endswith("DURATION 48h SHARD DURATION 48h")
    assert rollups.alter_raw_policy("energy", "autogen", 430) == (
        'ALTER RETENTION POLICY "autogen" ON "energy" DURATION 10320h'
    )
    with pytest.raises(ValueError, match="not negative"):
        rollups.duration(-1)
