"""Unit conversion to canonical units: the edge cases SPEC §5 names, and properties over all units."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energy_core.errors import PayloadError, Reason
from ingest import units

finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize(
    ("value", "unit", "canonical", "expected"),
    [
        (3.6e6, "J", "kWh", 1.0),
        (1.0, "GJ", "kWh", 277.7777777777778),
        (2.5, "MWh", "kWh", 2500.0),
        (1500.0, "Wh", "kWh", 1.5),
        (2200.0, "W", "kW", 2.2),
        (1.2, "MW", "kW", 1200.0),
        (273.15, "K", "Cel", 0.0),
        (343.15, "K", "Cel", 70.0),
        (212.0, "°F", "Cel", 100.0),
        (1.0, "l/s", "m3/h", 3.6),
        (1.972e-5, "m3/s", "m3/h", 0.070992),
        (0.41, "/", "%RH", 41.0),
        (410.0, "/1000", "%RH", 41.0),
        (5.0, "Cel", "K", 5.0),  # a temperature difference: 5 °C apart is 5 K apart
    ],
)
def test_conversion_to_canonical_unit(value, unit, canonical, expected):
    assert units.convert(value, unit, canonical) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("unit", "canonical"), [("kWh", "Cel"), ("furlong", "kWh"), ("W", "m3/h")])
def test_unknown_or_wrong_dimension_unit_is_unknown_unit(unit, canonical):
    with pytest.raises(PayloadError) as caught:
        units.convert(1.0, unit, canonical)
    assert caught.value.reason is Reason.UNKNOWN_UNIT


@settings(max_examples=200, deadline=None)
@given(value=finite, unit=st.sampled_from(sorted(units.known_units())))
def test_every_unit_converts_to_its_own_canonical_unit_linearly(value, unit):
    """convert(a·x + b) is affine: the midpoint of two values maps to the midpoint of their images."""
    target = units._CONVERSIONS[unit][0]  # the unit's canonical unit
    offset = units.convert(0.0, unit, target)
    image = units.convert(value, unit, target)
    assert math.isfinite(image)
    mid = units.convert(value / 2, unit, target)
    assert mid == pytest.approx((image + offset) / 2, rel=1e-9, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(kwh=finite)
def test_energy_round_trips_through_every_energy_unit(kwh):
    for unit, scale in (("Wh", 1e3), ("MWh", 1e-3), ("J", 3.6e6), ("GJ", 3.6e-3)):
        assert units.convert(kwh * scale, unit, "kWh") == pytest.approx(kwh, rel=1e-9, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(celsius=st.floats(min_value=-273.15, max_value=1e4, allow_nan=False))
def test_kelvin_and_fahrenheit_agree_with_celsius(celsius):
    assert units.convert(celsius + 273.15, "K", "Cel") == pytest.approx(celsius, abs=1e-9)
    assert units.convert(celsius * 9 / 5 + 32, "°F", "Cel") == pytest.approx(celsius, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(value=finite)
def test_canonical_or_absent_unit_leaves_the_value_alone(value):
    assert units.convert(value, None, "kWh") == value
    assert units.convert(value, "kWh", "kWh") == value
