"""Emission factors: the shipped defaults, hourly overrides, pro-rata attribution, config errors."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from energy_core.errors import ConfigError
from energy_core.factors import EmissionFactors, IntervalEmissions, live_emission_rates

NS = 1_000_000_000


def ns(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp()) * NS


def write(tmp_path: Path, yaml_text: str, csv_text: str | None = None) -> Path:
    if csv_text is not None:
        (tmp_path / "hourly.csv").write_text(textwrap.dedent(csv_text).lstrip(), encoding="utf-8")
    path = tmp_path / "factors.yaml"
    path.write_text(textwrap.dedent(yaml_text), encoding="utf-8")
    return path


SE3_ANNUAL = """
version: test
defaults: {district_heat: borlange-dh, electricity: SE3}
factors:
  - {carrier: electricity, zone: SE3, method: location, valid_from: 2024-01-01,
     g_co2e_per_kwh: 36.0, source: annual}
"""


def test_the_shipped_file_makes_borlange_use_the_vasteras_2022_placeholder():
    factors = EmissionFactors.load()
    when = ns("2025-03-01T12:00:00+00:00")
    assert factors.area_for("district_heat", "borlange-dh") == "borlange-dh"
    assert factors.methods("district_heat", "borlange-dh") == ("location", "market")
    assert factors.factor_at("district_heat", "borlange-dh", "location", when) == 54.9
    assert factors.factor_at("district_heat", "borlange-dh", "market", when) == 54.9
    assert factors.factor_at("district_heat", "malmo-dh", "location", when) == 119.4
    # A site without a network, or with one the file does not know, falls back to Borlänge's.
    assert factors.area_for("district_heat", None) == "borlange-dh"
    assert factors.area_for("district_heat", "no-such-dh") == "borlange-dh"
    # Electricity: SE3, both methods.
    assert factors.area_for("electricity", "borlange-dh") == "SE3"
    assert factors.factor_at("electricity", "SE3", "location", when) == 36.0
    assert factors.factor_at("electricity", "SE3", "market", when) == 524.10


def test_interval_emissions_are_kwh_times_factor_per_method():
    factors = EmissionFactors.load()
    start = ns("2025-03-01T12:00:00+00:00")
    result = factors.interval_emissions("electricity", "SE3", start, start + 600 * NS, 2.0)
    assert result == [
        IntervalEmissions("location", pytest.approx(0.072), 36.0),
        IntervalEmissions("market", pytest.approx(1.0482), 524.10),
    ]


def test_an_hourly_factor_switching_mid_interval_is_split_pro_rata_by_time(tmp_path):
    path = write(
        tmp_path,
        SE3_ANNUAL + "hourly:\n  - {carrier: electricity, zone: SE3, method: location, csv: hourly.csv,"
        " source: hourly}\n",
        """
        hour_start,g_co2e_per_kwh
        2025-03-01T10:00:00Z,40
        2025-03-01T11:00:00+00:00,100
        """,
    )
    factors = EmissionFactors.load(path)
    # 2 kWh over 10:45–11:15: 1 kWh in the 10 o'clock hour at 40 g, 1 kWh in the 11 o'clock hour at 100 g.
    start, end = ns("2025-03-01T10:45:00+00:00"), ns("2025-03-01T11:15:00+00:00")
    [location] = factors.interval_emissions("electricity", "SE3", start, end, 2.0)
    assert location.co2e_kg == pytest.approx((1.0 * 40 + 1.0 * 100) / 1000)
    assert location.factor_g_per_kwh == pytest.approx(70.0)
    # 11:45–12:15: the 12 o'clock hour has no hourly value, so the annual 36 g applies to its half.
    start, end = ns("2025-03-01T11:45:00+00:00"), ns("2025-03-01T12:15:00+00:00")
    [location] = factors.interval_emissions("electricity", "SE3", start, end, 2.0)
    assert location.co2e_kg == pytest.approx((1.0 * 100 + 1.0 * 36) / 1000)


def test_an_interval_across_two_annual_validity_periods_is_split_at_the_boundary(tmp_path):
    path = write(
        tmp_path,
        """
        version: test
        defaults: {district_heat: net, electricity: SE3}
        factors:
          - {carrier: district_heat, network: net, method: location, valid_from: 2022-01-01,
             g_co2e_per_kwh: 50.0, source: a}
          - {carrier: district_heat, network: net, method: location, valid_from: 2023-01-01,
             g_co2e_per_kwh: 30.0, source: b}
        """,
    )
    factors = EmissionFactors.load(path)
    start, end = ns("2022-12-31T23:30:00+00:00"), ns("2023-01-01T00:30:00+00:00")
    [location] = factors.interval_emissions("district_heat", "net", start, end, 10.0)
    assert location.co2e_kg == pytest.approx((5.0 * 50 + 5.0 * 30) / 1000)
    # Before the first period there is no factor: no emissions rather than a guess.
    early = ns("2021-06-01T00:00:00+00:00")
    assert factors.interval_emissions("district_heat", "net", early, early + 600 * NS, 1.0) == []


def test_live_emission_rate_is_power_times_factor():
    factors = EmissionFactors.load()
    rates = live_emission_rates(
        factors, "district_heat", "borlange-dh", 100.0, ns("2025-01-01T00:00:00+00:00")
    )
    assert rates == {"location": pytest.approx(5.49), "market": pytest.approx(5.49)}


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (
            "version: x\ndefaults: {}\nfactors:\n  - {carrier: electricity, method: location,"
            " valid_from: 2024-01-01, g_co2e_per_kwh: 1, source: s}\n",
            "factors.0: give exactly one of network",
        ),
        (
            "version: x\ndefaults: {}\nfactors:\n  - {carrier: gas, zone: SE3, method: location,"
            " valid_from: 2024-01-01, g_co2e_per_kwh: 1, source: s}\n",
            "factors.0.carrier",
        ),
        (
            "version: x\ndefaults: {}\nfactors:\n"
            "  - {carrier: electricity, zone: SE3, method: location, valid_from: 2024-01-01,"
            " valid_to: 2024-07-01, g_co2e_per_kwh: 1, source: s}\n"
            "  - {carrier: electricity, zone: SE3, method: location, valid_from: 2024-03-01,"
            " g_co2e_per_kwh: 2, source: s}\n",
            "overlapping validity periods",
        ),
    ],
)
def test_a_bad_factors_file_is_one_line_naming_the_key(tmp_path, yaml_text, message):
    with pytest.raises(ConfigError) as raised:
        EmissionFactors.load(write(tmp_path, yaml_text))
    assert "EMISSION_FACTORS_FILE" in str(raised.value)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_an_hourly_csv_without_a_utc_offset_is_refused_naming_the_line(tmp_path):
    path = write(
        tmp_path,
        SE3_ANNUAL
        + "hourly:\n  - {carrier: electricity, zone: SE3, method: location, csv: hourly.csv, source: h}\n",
        "hour_start,g_co2e_per_kwh\n2025-03-01T10:00:00,40\n",
    )
    with pytest.raises(ConfigError, match="line 2: hour_start needs a UTC offset"):
        EmissionFactors.load(path)


def test_a_missing_factors_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="EMISSION_FACTORS_FILE cannot be read"):
        EmissionFactors.load(tmp_path / "nope.yaml")
