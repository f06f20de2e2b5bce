"""CSV dialects, local times, per-field precision and multi-field selects, without servers (issue 17)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import get_args

import pytest

from api.csvexport import DIALECTS, csv_dialect, csv_text, local_time
from api.errors import ApiError
from api.influxql import AGGREGATES, select_fields
from api.precision import DECIMALS, rounded
from api.readings import ALL_FIELDS, FIELDS, MAX_FIELDS, Aggregate


def test_every_field_the_api_answers_has_its_decimals_in_the_one_table():
    assert set(ALL_FIELDS) <= set(DECIMALS)
    assert {"kwh", "kwh_per_m2", "co2e_kg"} <= set(DECIMALS)


def test_a_float_artefact_is_rounded_to_the_fields_meaningful_decimals():
    assert rounded("supply_temp_c", 80.80250000000001) == 80.8
    assert rounded("flow_m3h", 1.234567) == 1.2346
    assert rounded("energy_kwh", 1_234_567.8914999) == 1_234_567.891  # no 6-significant-digit loss
    assert rounded("co2_ppm", 650.4) == 650.0
    assert str(rounded("supply_temp_c", -0.001)) == "0.0"  # not -0.0


def test_the_excel_sv_dialect_writes_semicolons_decimal_commas_crlf_and_a_bom():
    text = csv_text(
        DIALECTS["excel-sv"], ["device", "plats", "supply_temp_c"], [("hm-1", "Borlänge; Gylle", 80.8)]
    )
    assert text.startswith("\ufeff")
    assert text == '\ufeffdevice;plats;supply_temp_c\r\nhm-1;"Borlänge; Gylle";80,8\r\n'
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    assert rows[1] == ["hm-1", "Borlänge; Gylle", "80,8"]


def test_the_standard_dialect_keeps_commas_points_and_plain_utf8():
    text = csv_text(
        DIALECTS["standard"], ["device", "value"], [("hm-1", 80.8), ("hm-2", None), ("=1+1", -2.5)]
    )
    assert text == "device,value\nhm-1,80.8\nhm-2,\n'=1+1,-2.5\n"


def test_a_dialect_with_json_is_refused_not_ignored():
    with pytest.raises(ApiError) as refused:
        csv_dialect("json", "excel-sv")
    assert refused.value.code == "dialect_needs_csv"
    assert csv_dialect("json", None) is None
    assert csv_dialect("csv", None) is DIALECTS["standard"]


def test_csv_times_are_stockholm_local_time_with_offset():
    assert local_time(dt.datetime(2026, 11, 20, 7, 40, tzinfo=dt.UTC)) == "2026-11-20T08:40:00+01:00"
    assert local_time(dt.datetime(2026, 6, 20, 7, 40, tzinfo=dt.UTC)) == "2026-06-20T09:40:00+02:00"


def test_several_fields_are_selected_in_one_list_from_the_allow_list_only():
    fields = ("supply_temp_c", "return_temp_c")
    assert select_fields(fields) == '"supply_temp_c", "return_temp_c"'
    assert (
        select_fields(fields, "mean")
        == 'mean("supply_temp_c") AS "supply_temp_c", mean("return_temp_c") AS "return_temp_c"'
    )
    with pytest.raises(ValueError, match="identifier"):
        select_fields(('supply_temp_c" FROM x; --',))
    with pytest.raises(ValueError, match="aggregate"):
        select_fields(fields, "mean) FROM x --")
    with pytest.raises(ValueError, match="at least one"):
        select_fields(())


def test_the_aggregate_allow_list_is_the_apis_aggregate_type_and_max_fields_fits_every_measurement():
    assert frozenset(get_args(Aggregate)) == AGGREGATES
    assert max(len(f) for f in FIELDS.values()) <= MAX_FIELDS
