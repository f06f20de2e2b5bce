"""The isolated emission-factor lookup used for the live emission rate."""

from __future__ import annotations

import datetime as dt

import pytest

from api.emissions import load_factors
from ingest.errors import ConfigError


def _ns(day: str) -> int:
    return int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC).timestamp()) * 10**9


def test_the_most_specific_and_newest_valid_factor_wins(tmp_path):
    path = tmp_path / "factors.yaml"
    path.write_text(
        """
factors:
  - {carrier: district_heat, g_per_kwh: 100.0}
  - {carrier: district_heat, network: borlange, g_per_kwh: 60.0, valid_from: 2022-01-01, valid_to: 2024-01-01}
  - {carrier: district_heat, network: borlange, g_per_kwh: 50.0, valid_from: 2024-01-01}
  - {carrier: district_heat, network: borlange, method: market, g_per_kwh: 500.0}
  - {carrier: electricity, zone: SE3, g_per_kwh: 36.0}
"""
    )
    factors = load_factors(path)
    assert factors.factor_g_per_kwh("district_heat", "borlange", _ns("2023-06-01")) == 60.0
    assert factors.factor_g_per_kwh("district_heat", "borlange", _ns("2025-06-01")) == 50.0
    assert factors.factor_g_per_kwh("district_heat", "falun", _ns("2025-06-01")) == 100.0
    assert factors.factor_g_per_kwh("district_heat", "borlange", _ns("2021-06-01")) == 100.0
    assert factors.factor_g_per_kwh("electricity", "SE3", _ns("2025-06-01")) == 36.0
    assert factors.factor_g_per_kwh("electricity", None, _ns("2025-06-01")) is None


def test_without_a_file_no_factor_is_known():
    assert load_factors(None).factor_g_per_kwh("district_heat", "borlange", 0) is None


def test_a_bad_factor_file_is_one_line_naming_the_key(tmp_path):
    path = tmp_path / "factors.yaml"
    path.write_text("factors: [{carrier: district_heat, g_per_kwh: -1}]")
    with pytest.raises(ConfigError, match=r"^EMISSION_FACTORS_FILE .*g_per_kwh"):
        load_factors(path)
