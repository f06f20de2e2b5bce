"""The climate contract's target path and its file (energy_core/climate.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from energy_core.climate import ClimateTargets
from energy_core.errors import ConfigError
from energy_core.factors import EmissionFactors
from energy_core.timeutil import datetime_ns


def test_the_path_falls_in_a_straight_line_from_the_baseline_to_the_target_and_stays() -> None:
    contract = ClimateTargets.load().for_owner(None)
    assert (contract.baseline_year, contract.target_year, contract.target_reduction_pct) == (2023, 2030, 100)
    # 700 t in 2023, net zero in 2030: 100 t less each year (700 · (1 − (2026 − 2023) / 7) = 400).
    assert contract.target_kg(700_000.0, 2026) == pytest.approx(400_000.0)
    assert contract.target_kg(700_000.0, 2030) == pytest.approx(0.0)
    assert contract.target_kg(700_000.0, 2035) == pytest.approx(0.0)
    assert contract.target_kg(700_000.0, 2022) is None


def test_an_owner_with_its_own_contract_gets_it_and_the_others_the_citys(tmp_path: Path) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text(
        "baseline_year: 2020\ntarget_year: 2030\ntarget_reduction_pct: 100\n"
        "owners:\n  tunabyggen: {baseline_year: 2024, target_year: 2030, target_reduction_pct: 60}\n"
    )
    targets = ClimateTargets.load(path)
    # 1,000 kg in 2024, 60 % less by 2030: 1,000 · (1 − 0.6 · 3/6) = 700 kg in 2027.
    assert targets.for_owner("tunabyggen").target_kg(1000.0, 2027) == pytest.approx(700.0)
    assert targets.for_owner("hsb-dalarna").baseline_year == 2020


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (
            "baseline_year: 2030\ntarget_year: 2023\ntarget_reduction_pct: 100\n",
            "target_year must come after",
        ),
        ("baseline_year: 2023\ntarget_year: 2030\ntarget_reduction_pct: 120\n", "target_reduction_pct"),
        ("baseline_year: 2023\ntarget_year: 2030\n", "target_reduction_pct"),
    ],
)
def test_a_mistake_in_the_file_names_the_setting_and_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="CLIMATE_TARGETS_FILE") as caught:
        ClimateTargets.load(path)
    assert key in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_shipped_district_heat_factors_are_flagged_as_stand_ins_for_both_methods() -> None:
    factors = EmissionFactors.load()
    at = datetime_ns_of_2024()
    for method in ("location", "market"):
        note = factors.note("district_heat", "borlange-dh", method, at)
        assert note is not None
        assert note.placeholder
        assert note.g_co2e_per_kwh == 54.9
        assert "PLACEHOLDER" in note.source
    electricity = factors.note("electricity", "SE3", "market", at)
    assert electricity is not None
    assert not electricity.placeholder
    assert electricity.g_co2e_per_kwh == pytest.approx(524.10)
    assert factors.methods("district_heat", "borlange-dh") == ("location", "market")


def datetime_ns_of_2024() -> int:
    import datetime as dt

    return datetime_ns(dt.datetime(2024, 7, 1, tzinfo=dt.UTC), naive=dt.UTC)
