"""The building settings (BUILDING_*, NORMAL_YEAR_FILE): read from the environment, mistakes refused in one
line naming the key, and the analysis runner runs the building analyser with them."""

from __future__ import annotations

from pathlib import Path

import pytest

from energy_core.errors import ConfigError
from energy_core.registry import Registry
from energy_core.settings import load
from ingest.analysis.buildings import BuildingAnalyser
from ingest.analysis.runner import analysers_for
from ingest.config import IngestSettings


@pytest.fixture(autouse=True)
def _no_env_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ENERGY_ENV_FILE", str(tmp_path / "absent.env"))
    monkeypatch.setenv("INFLUX_URL", "http://127.0.0.1:8086")


def test_the_building_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    normal = tmp_path / "normal.yaml"
    normal.write_text(
        "stations:\n  wx:\n    monthly_mean_temp_c: " + str([-1.0] * 12) + "\n", encoding="utf-8"
    )
    for key, value in {
        "BUILDING_BALANCE_C": "18",
        "BUILDING_DEGREE_DAY_RULE": "smhi_before_2015",
        "BUILDING_COMFORT_LOW_C": "19.5",
        "BUILDING_COMFORT_HIGH_C": "23",
        "BUILDING_CO2_LIMIT_PPM": "1200",
        "BUILDING_SIGNATURE_DAYS": "90",
        "BUILDING_NORMAL_MIN_YEARS": "5",
        "NORMAL_YEAR_FILE": str(normal),
    }.items():
        monkeypatch.setenv(key, value)
    analyser = BuildingAnalyser.from_settings(load(IngestSettings), Registry.empty())
    p = analyser.params
    assert (p.balance_c, p.rule, p.comfort_low_c, p.comfort_high_c) == (18.0, "smhi_before_2015", 19.5, 23.0)
    assert (p.co2_limit_ppm, p.signature_days, p.normal_min_years) == (1200.0, 90, 5)
    assert analyser.normal_year.stations["wx"][(1, 1)] == 19.0  # 18 − (−1)


def test_the_defaults_are_smhis_and_the_band_20_to_24(monkeypatch: pytest.MonkeyPatch) -> None:
    analyser = BuildingAnalyser.from_settings(load(IngestSettings), Registry.empty())
    p = analyser.params
    assert (p.balance_c, p.rule, p.comfort_low_c, p.comfort_high_c, p.co2_limit_ppm) == (
        17.0,
        "smhi",
        20.0,
        24.0,
        1000.0,
    )
    assert analyser.normal_year.stations == {}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"BUILDING_COMFORT_LOW_C": "22", "BUILDING_COMFORT_HIGH_C": "21"},
            "BUILDING_COMFORT_HIGH_C is invalid",
        ),
        ({"BUILDING_DEGREE_DAY_RULE": "ashrae"}, "BUILDING_DEGREE_DAY_RULE is invalid"),
        ({"BUILDING_BALANCE_C": "45"}, "BUILDING_BALANCE_C is invalid"),
        ({"BUILDING_SIGNATURE_DAYS": "3"}, "BUILDING_SIGNATURE_DAYS is invalid"),
    ],
)
def test_a_mistaken_building_setting_is_one_line_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=message):
        load(IngestSettings)


def test_the_analysis_runner_runs_the_building_analyser() -> None:
    names = [a.name for a in analysers_for(IngestSettings(), Registry.empty())]
    assert "buildings" in names


def test_a_broken_normal_year_file_stops_the_runner_at_start(tmp_path: Path) -> None:
    path = tmp_path / "normal.yaml"
    path.write_text("stations:\n  wx:\n    daily_degree_days: [1, 2]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"NORMAL_YEAR_FILE .*daily_degree_days needs 365"):
        analysers_for(IngestSettings(normal_year_file=path), Registry.empty())
