"""Electricity Maps' hourly CSV export read as an hourly factor series (``format: electricitymaps``
on an hourly entry of EMISSION_FACTORS_FILE). Sample files written from the documented columns
(the data portal's field list: Datetime (UTC), Country, Zone Name, Zone Id, Carbon Intensity
gCO₂eq/kWh (direct), … (LCA), Low Carbon Percentage, Renewable Percentage, Data Source,
Data Estimated, Data Estimation Method; later files: "Carbon intensity …", "(Life cycle)")."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from energy_core.errors import ConfigError
from energy_core.factors import EmissionFactors, read_electricitymaps_csv
from energy_core.timeutil import HOUR_NS, NS

PORTAL = (
    "Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),"
    "Carbon Intensity gCO₂eq/kWh (LCA),Low Carbon Percentage,Renewable Percentage,Data Source,"
    "Data Estimated,Data Estimation Method\n"
    "2024-01-01 00:00:00,Sweden,Central Sweden,SE-SE3,12.5,40.25,98.1,70.2,svk.se,false,\n"
    "2024-01-01 01:00:00,Sweden,Central Sweden,SE-SE3,14.0,42.0,97.9,69.8,svk.se,true,TIME_SLICER_AVERAGE\n"
    "2024-01-01 02:00:00,Sweden,Central Sweden,SE-SE3,,,,,svk.se,true,\n"
)
LATER = (
    "Datetime (UTC),Country,Zone name,Zone id,Carbon intensity gCO₂eq/kWh (direct),"
    "Carbon intensity gCO₂eq/kWh (Life cycle),Carbon-free energy percentage (CFE%),"
    "Renewable energy percentage (RE%),Data source,Data estimated,Data estimation method\n"
    "2025-06-01 10:00:00,Sweden,Central Sweden,SE-SE3,8.0,30.5,99.0,75.0,svk.se,false,\n"
)


def hour(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp()) * NS // HOUR_NS


def write(tmp_path: Path, text: str, name: str = "em.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_portal_export_gives_the_direct_intensity_per_utc_hour_skipping_empty_hours(
    tmp_path: Path,
) -> None:
    series = read_electricitymaps_csv(write(tmp_path, PORTAL), "SE3")
    assert series == {hour(2024, 1, 1, 0): 12.5, hour(2024, 1, 1, 1): 14.0}


def test_the_lifecycle_column_is_read_when_asked_in_either_spelling(tmp_path: Path) -> None:
    assert read_electricitymaps_csv(write(tmp_path, PORTAL), "SE3", "lifecycle")[hour(2024, 1, 1, 0)] == 40.25
    assert read_electricitymaps_csv(write(tmp_path, LATER), "SE3", "lifecycle") == {
        hour(2025, 6, 1, 10): 30.5
    }
    assert read_electricitymaps_csv(write(tmp_path, LATER), "SE3") == {hour(2025, 6, 1, 10): 8.0}


def test_a_row_of_another_zone_is_refused_naming_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="line 2: zone 'SE-SE3' is not 'SE4'"):
        read_electricitymaps_csv(write(tmp_path, PORTAL), "SE4")


def test_a_daily_export_or_a_file_without_the_columns_is_refused(tmp_path: Path) -> None:
    daily = PORTAL.splitlines()[0] + "\n2024-01-01 00:00:00,Sweden,C,SE-SE3,12,40,1,1,s,false,\n"
    read_electricitymaps_csv(write(tmp_path, daily), "SE3")  # midnight is on the hour
    half = daily.replace("00:00:00", "00:30:00")
    with pytest.raises(ConfigError, match="line 2: not on the hour"):
        read_electricitymaps_csv(write(tmp_path, half), "SE3")
    with pytest.raises(ConfigError, match="header must have Datetime \\(UTC\\), Zone Id"):
        read_electricitymaps_csv(write(tmp_path, "hour_start,g_co2e_per_kwh\n"), "SE3")


def test_the_factors_file_takes_an_electricity_maps_export_as_its_hourly_series(tmp_path: Path) -> None:
    write(tmp_path, PORTAL, "se3-2024.csv")
    factors_file = tmp_path / "factors.yaml"
    factors_file.write_text(
        "version: test\ndefaults: {district_heat: dh, electricity: SE3}\n"
        "factors:\n"
        "  - {carrier: electricity, zone: SE3, method: location, valid_from: 2023-01-01,"
        " g_co2e_per_kwh: 36, source: annual}\n"
        "hourly:\n"
        "  - {carrier: electricity, zone: SE3, method: location, csv: se3-2024.csv,"
        " format: electricitymaps, source: Electricity Maps}\n",
        encoding="utf-8",
    )
    factors = EmissionFactors.load(factors_file)
    at = hour(2024, 1, 1, 0) * HOUR_NS
    assert factors.factor_at("electricity", "SE3", "location", at) == 12.5
    assert factors.factor_at("electricity", "SE3", "location", at + 2 * HOUR_NS) == 36.0  # empty hour: annual
    # 1 kWh over 00:30-01:30: half at 12.5, half at 14.0 g/kWh (hand-computed: 13.25 g).
    (share,) = factors.interval_emissions("electricity", "SE3", at + HOUR_NS // 2, at + 3 * HOUR_NS // 2, 1.0)
    assert share.co2e_kg == pytest.approx(13.25 / 1000)
