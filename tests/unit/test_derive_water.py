"""Water properties and thermal power against the IAPWS-IF97 reference (the ``iapws`` package)."""

from __future__ import annotations

import pytest
from iapws import IAPWS97

from ingest.derive.power import add_thermal_power, thermal_power_kw
from ingest.derive.water import (
    PRESSURE_MPA,
    cp_kj_per_kg_k,
    density_kg_m3,
    volumetric_heat_kwh_per_m3_k,
)

# Every 0.37 K across the table: lands on grid points and between them.
TEMPERATURES_C = [round(0.5 + 0.37 * i, 2) for i in range(int(199 / 0.37))]


def test_table_interpolation_matches_iapws_if97_within_one_part_in_100000():
    worst = 0.0
    for temp_c in TEMPERATURES_C:
        water = IAPWS97(T=temp_c + 273.15, P=PRESSURE_MPA)
        worst = max(
            worst,
            abs(density_kg_m3(temp_c) / water.rho - 1),
            abs(cp_kj_per_kg_k(temp_c) / water.cp - 1),
            abs(volumetric_heat_kwh_per_m3_k(temp_c) / (water.rho * water.cp / 3600) - 1),
        )
    assert worst < 1e-5, worst


@pytest.mark.parametrize(("temp_c", "spec_kwh_per_m3_k"), [(40, 1.152), (70, 1.138), (100, 1.122)])
def test_rho_cp_matches_the_spec_values_within_their_rounding_and_the_pressure_effect(
    temp_c, spec_kwh_per_m3_k
):
    # SPEC's three decimals (±0.0005) are at ~1 bar; the table is at 16 bar, 0.02–0.03 % lower.
    assert volumetric_heat_kwh_per_m3_k(temp_c) == pytest.approx(spec_kwh_per_m3_k, abs=0.0008)


def test_3_6_m3h_at_85_45_with_the_flow_sensor_in_the_return_is_165_5_kw():
    # By hand: 3.6 m³/h = 0.001 m³/s; at 45 °C and 16 bar IF97 gives ρ = 990.875 kg/m³ and
    # c_p = 4.17522 kJ/(kg·K): P = 0.001 × 990.875 × 4.17522 × (85 − 45) = 165.485 kW.
    assert thermal_power_kw(3.6, 85.0, 45.0, "return") == pytest.approx(165.485, abs=0.002)


def test_3_6_m3h_at_85_45_with_the_flow_sensor_in_the_supply_uses_water_at_85_c():
    # ρ(85 °C) = 969.298 kg/m³, c_p = 4.19671 kJ/(kg·K): 0.001 × 969.298 × 4.19671 × 40 = 162.714 kW.
    assert thermal_power_kw(3.6, 85.0, 45.0, "supply") == pytest.approx(162.714, abs=0.002)


def test_power_is_added_only_when_missing_and_all_inputs_are_present():
    fields = {"flow_m3h": 3.6, "supply_temp_c": 85.0, "return_temp_c": 45.0}
    assert add_thermal_power(fields, "return")
    assert fields["power_kw"] == pytest.approx(165.485, abs=0.002)

    reported = {"flow_m3h": 3.6, "supply_temp_c": 85.0, "return_temp_c": 45.0, "power_kw": 170.0}
    assert not add_thermal_power(reported, "return")
    assert reported["power_kw"] == 170.0

    no_flow = {"supply_temp_c": 85.0, "return_temp_c": 45.0}
    assert not add_thermal_power(no_flow, "return")
    assert "power_kw" not in no_flow


def test_temperatures_outside_the_table_use_its_end_values():
    assert volumetric_heat_kwh_per_m3_k(-5.0) == volumetric_heat_kwh_per_m3_k(0.0)
    assert volumetric_heat_kwh_per_m3_k(250.0) == volumetric_heat_kwh_per_m3_k(200.0)
