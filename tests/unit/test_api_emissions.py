"""The live emission rate's factor lookup: ingest's factor file, location-based values."""

from __future__ import annotations

import datetime as dt

import pytest

from api.emissions import load_factors
from energy_core.errors import ConfigError


def _ns(day: str) -> int:
    return int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC).timestamp()) * 10**9


def test_the_networks_own_location_factor_for_the_time_wins_else_the_default_area(tmp_path):
    path = tmp_path / "factors.yaml"
    entries = [
        "{carrier: district_heat, network: other-dh, valid_from: 2020-01-01, g_co2e_per_kwh: 100.0}",
        "{carrier: district_heat, network: borlange, valid_from: 2022-01-01, valid_to: 2024-01-01,"
        " g_co2e_per_kwh: 60.0}",
        "{carrier: district_heat, network: borlange, valid_from: 2024-01-01, g_co2e_per_kwh: 50.0}",
        "{carrier: district_heat, network: borlange, method: market, valid_from: 2022-01-01,"
        " g_co2e_per_kwh: 500.0}",
        "{carrier: electricity, zone: SE3, valid_from: 2020-01-01, g_co2e_per_kwh: 36.0}",
    ]
    # Every entry is location-based and sourced unless it says otherwise.
    lines = [
        e.replace("{", "{method: location, source: t, ", 1)
        if "method" not in e
        else e.replace("{", "{source: t, ", 1)
        for e in entries
    ]
    path.write_text(
        "version: test\ndefaults: {district_heat: other-dh, electricity: SE3}\nfactors:\n"
        + "".join(f"  - {line}\n" for line in lines)
    )
    factors = load_factors(path)
    assert factors.factor_g_per_kwh("district_heat", "borlange", _ns("2023-06-01")) == 60.0
    assert factors.factor_g_per_kwh("district_heat", "borlange", _ns("2025-06-01")) == 50.0
    assert factors.factor_g_per_kwh("district_heat", "falun", _ns("2025-06-01")) == 100.0
    assert factors.factor_g_per_kwh("district_heat", "borlange", _ns("2021-06-01")) is None
    assert factors.factor_g_per_kwh("electricity", None, _ns("2025-06-01")) == 36.0


def test_without_a_file_the_shipped_borlange_default_applies():
    factor = load_factors(None).factor_g_per_kwh("district_heat", "borlange-dh", _ns("2025-06-01"))
    assert factor == 54.9


def test_a_bad_factor_file_is_one_line_naming_the_key(tmp_path):
    path = tmp_path / "factors.yaml"
    path.write_text(
        "version: t\ndefaults: {district_heat: x}\nfactors: [{carrier: district_heat, network: x,"
        " method: location, valid_from: 2020-01-01, g_co2e_per_kwh: -1, source: t}]"
    )
    with pytest.raises(ConfigError, match=r"^EMISSION_FACTORS_FILE .*g_co2e_per_kwh"):
        load_factors(path)
