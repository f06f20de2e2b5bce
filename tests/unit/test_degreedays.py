"""Degree days per SMHI's rules, the normal year (the operator's file or a station's history) and the
weather-independent part of heat (energy_core/degreedays.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from energy_core.degreedays import (
    CALENDAR_DAYS,
    degree_days,
    derive_normal,
    load_normal_year,
    weather_independent_kwh,
)
from energy_core.errors import ConfigError

JAN = dt.date(2026, 1, 15)
MAY = dt.date(2026, 5, 15)


def test_a_day_gives_the_degrees_its_mean_falls_below_seventeen() -> None:
    # Published examples of SMHI's degree days at +17 °C: +1 °C gives 16 (Härnösand Energi & Miljö),
    # −5 °C gives 22 and +5 °C gives 12 (Norrtälje Energi, "Vad är graddagar?").
    assert degree_days(1.0, JAN) == 16.0
    assert degree_days(-5.0, JAN) == 22.0
    assert degree_days(5.0, JAN) == 12.0
    assert degree_days(17.0, JAN) == 0.0
    assert degree_days(21.5, JAN) == 0.0


def test_since_2015_a_summer_day_counts_like_any_other() -> None:
    assert degree_days(11.0, MAY) == 6.0
    assert degree_days(16.5, dt.date(2026, 7, 1)) == pytest.approx(0.5)


def test_the_balance_temperature_is_configurable() -> None:
    # Mälarenergi computes at +20 °C: "Ett dygn med medeltemperaturen −5 °C ger alltså 25 graddagar".
    assert degree_days(-5.0, JAN, balance_c=20.0) == 25.0


def test_before_2015_a_day_above_its_months_heating_limit_gave_none() -> None:
    rule = "smhi_before_2015"
    # sv.wikipedia "Graddagar": in May–July (limit +10 °C) a day at +10 °C gives 7, one at +11 °C nothing;
    # Härnösand: in May–July +7 °C gave 10.
    assert degree_days(10.0, MAY, rule=rule) == 7.0
    assert degree_days(11.0, MAY, rule=rule) == 0.0
    assert degree_days(7.0, MAY, rule=rule) == 10.0
    # April +12, August +11, September +12, October +13; November–March only the balance.
    assert degree_days(12.0, dt.date(2026, 4, 2), rule=rule) == 5.0
    assert degree_days(12.5, dt.date(2026, 4, 2), rule=rule) == 0.0
    assert degree_days(11.5, dt.date(2026, 8, 2), rule=rule) == 0.0
    assert degree_days(12.5, dt.date(2026, 9, 2), rule=rule) == 0.0
    assert degree_days(13.0, dt.date(2026, 10, 2), rule=rule) == 4.0
    assert degree_days(16.0, dt.date(2026, 11, 2), rule=rule) == 1.0
    assert degree_days(16.0, dt.date(2026, 3, 2), rule=rule) == 1.0


MONTHLY = [620.0, 560.0, 530.0, 390.0, 250.0, 90.0, 31.0, 62.0, 180.0, 341.0, 450.0, 589.0]


def write(tmp_path: Path, text: str, name: str = "normal.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_monthly_normal_degree_days_are_spread_evenly_over_the_months_days(tmp_path: Path) -> None:
    path = write(tmp_path, f"stations:\n  wx:\n    monthly_degree_days: {MONTHLY}\n")
    normal = load_normal_year(path)
    assert normal.normal_of("wx", dt.date(2026, 1, 3)) == pytest.approx(620.0 / 31)
    assert normal.normal_of("wx", dt.date(2026, 2, 10)) == pytest.approx(560.0 / 28)
    assert normal.normal_of("wx", dt.date(2028, 2, 29)) == pytest.approx(560.0 / 28)  # a leap day: 28 Feb's
    assert normal.normal_of("wx", dt.date(2026, 7, 31)) == pytest.approx(1.0)
    year = [normal.normal_of("wx", dt.date(2026, 1, 1) + dt.timedelta(days=i)) for i in range(365)]
    assert sum(v or 0.0 for v in year) == pytest.approx(sum(MONTHLY))
    assert normal.normal_of("elsewhere", JAN) is None


def test_normal_mean_temperatures_become_degree_days_by_the_configured_rule(tmp_path: Path) -> None:
    daily = [(-4.0 if i < 59 else 12.0) for i in range(365)]  # 1 Jan–28 Feb cold, then +12 °C
    text = (
        f"balance_c = 17\n[stations.wx]\ndaily_mean_temp_c = {daily}\n"
        f"[stations.wy]\nmonthly_mean_temp_c = {[-2.0] * 12}\n"
    )
    path = write(tmp_path, text, "normal.toml")
    plain = load_normal_year(path)
    assert plain.normal_of("wx", dt.date(2026, 2, 28)) == 21.0
    assert plain.normal_of("wx", dt.date(2026, 5, 1)) == 5.0
    assert plain.normal_of("wy", dt.date(2026, 6, 1)) == 19.0
    old = load_normal_year(path, rule="smhi_before_2015")
    assert old.normal_of("wx", dt.date(2026, 5, 1)) == 0.0  # +12 °C is above May's limit of +10
    assert old.normal_of("wx", dt.date(2026, 4, 1)) == 5.0  # and at April's +12


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stations:\n  wx:\n    monthly_degree_days: [1, 2, 3]\n", "monthly_degree_days needs 12"),
        (
            f"stations:\n  wx:\n    monthly_degree_days: {MONTHLY}\n    monthly_mean_temp_c: {[0] * 12}\n",
            "stations.wx: give exactly one of",
        ),
        ("stations:\n  wx:\n    monthly_mean_temp_c: " + str([0] * 11 + [99]) + "\n", "outside -60…60"),
        ("stations:\n  wx:\n    monthly_degree_days: " + str([-1] * 12) + "\n", "negative"),
        ("stations: {}\n", "stations:"),
        ("station:\n  wx: {}\n", "stations: Field required"),
        ("stations: [\n", "not valid YAML/TOML"),
        (f"balance_c: 18\nstations:\n  wx:\n    monthly_degree_days: {MONTHLY}\n", "balance_c 18"),
    ],
)
def test_a_mistaken_normal_year_file_is_refused_in_one_line_naming_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match="NORMAL_YEAR_FILE") as caught:
        load_normal_year(write(tmp_path, text))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_normal_year_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="NORMAL_YEAR_FILE cannot be read"):
        load_normal_year(tmp_path / "absent.yaml")


def test_a_derived_normal_is_the_mean_degree_days_of_each_calendar_day_over_the_stored_years() -> None:
    history = {
        dt.date(2023, 1, 10): -3.0,  # 20 degree days
        dt.date(2024, 1, 10): 1.0,  # 16
        dt.date(2025, 1, 10): 5.0,  # 12
        dt.date(2023, 7, 10): 18.0,  # 0
        dt.date(2024, 7, 10): 14.0,  # 3
        dt.date(2025, 7, 10): 16.0,  # 1
        dt.date(2024, 3, 1): 0.0,  # one year only
        dt.date(2023, 2, 28): 7.0,
        dt.date(2024, 2, 28): 7.0,
        dt.date(2025, 2, 28): 10.0,
    }
    normal = derive_normal(history)
    assert normal[(1, 10)] == pytest.approx(16.0)
    assert normal[(7, 10)] == pytest.approx(4.0 / 3)
    assert (3, 1) not in normal  # fewer than three years: no normal
    assert normal[(2, 29)] == normal[(2, 28)] == pytest.approx(9.0)
    assert derive_normal(history, min_years=1)[(3, 1)] == 17.0


def test_the_calendar_holds_every_day_once_leap_day_included() -> None:
    assert len(CALENDAR_DAYS) == len(set(CALENDAR_DAYS)) == 366
    assert (2, 29) in CALENDAR_DAYS


def test_the_base_is_the_signatures_weather_independent_load_at_the_balance_temperature() -> None:
    # heat = 24 · (5 kW + 2 kW/K · degree days): the base is 120 kWh a day.
    temps = [-10.0 + 1.5 * i for i in range(20)]
    days = [(t, 24.0 * (5.0 + 2.0 * max(0.0, 17.0 - t)), max(0.0, 17.0 - t)) for t in temps]
    base = weather_independent_kwh(days)
    assert base is not None
    assert base.source == "signature"
    assert base.kwh == pytest.approx(120.0)


def test_without_a_signature_the_base_is_the_summer_base_load() -> None:
    # Heat that does not follow the weather at all (R² = 0 against degree days): the mean of the
    # days without degree days is the base.
    days = [(18.0 + (i % 3), 100.0 + 10.0 * (i % 2), 0.0) for i in range(8)]
    days += [(5.0 + (i % 5), 90.0 + 30.0 * (i % 2), 12.0 - (i % 5)) for i in range(10)]
    base = weather_independent_kwh(days)
    assert base is not None
    assert base.source == "summer"
    assert base.kwh == pytest.approx((4 * 100.0 + 4 * 110.0) / 8)


def test_with_neither_a_signature_nor_a_week_of_summer_there_is_no_base() -> None:
    assert weather_independent_kwh([(5.0, 100.0, 12.0)] * 3) is None
