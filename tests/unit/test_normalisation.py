"""Degree-day normalisation (graddagskorrigering) of heat: a hand-computed example, two published worked
examples, and the property that makes it worth having: a building that follows its energy signature has
the same normalised heat every year, whatever the weather (energy_core.analysis.normalised_heat with the
base of energy_core.degreedays)."""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energy_core.analysis import normalised_heat
from energy_core.degreedays import degree_days, derive_normal, weather_independent_kwh


def test_a_hand_computed_month_scales_only_its_weather_dependent_heat() -> None:
    # 30 days: heat 21 000 kWh of which 3 000 base (100 kWh/day); 450 observed, 500 normal degree days.
    # Weather-dependent 18 000 · 500 / 450 = 20 000; normalised 3 000 + 20 000 = 23 000 kWh.
    assert normalised_heat(21_000.0, 3_000.0, 450.0, 500.0) == pytest.approx(23_000.0)


def test_the_alvsbyn_worked_example_of_normal_correction() -> None:
    # Älvsbyns Energi, "Hur fungerar normalkorrigering" (SMHI Energi-Index, January 2016): a house used
    # 4 MWh, 25 % (1 MWh) hot water; index 1104 in January 2016 against 967 normal; "Uppvärmning
    # temperaturberoende 3 MWh/1,14 vilket ger 2,63 MWh", "Totalt 3,63 MWh".
    assert normalised_heat(4.0, 1.0, 1104.0, 967.0) == pytest.approx(3.63, abs=0.005)


def test_the_boden_worked_example_of_a_normal_year() -> None:
    # Bodens Energi, "Abonnerad effekt & graddagar": 2021 had 5 062 degree days against a normal 5 230;
    # "Förbrukning 26 000 kWh x 1,0331 = normalårsförbrukning 26 860 kWh" (all heat treated as
    # weather-dependent; their factor is rounded to 1.0331, hence the tolerance).
    assert normalised_heat(26_000.0, 0.0, 5062.0, 5230.0) == pytest.approx(26_860.0, abs=5.0)


def test_a_period_without_degree_days_is_left_as_it_is() -> None:
    assert normalised_heat(900.0, 850.0, 0.0, 12.0) == 900.0


def weather_year(seed: int, year: int) -> dict[dt.date, float]:
    """A year of daily mean temperatures: a seasonal swing with a random mean, amplitude and noise."""
    rng = random.Random(seed)
    mean, amplitude, noise = rng.uniform(2.0, 8.0), rng.uniform(8.0, 14.0), rng.uniform(0.5, 5.0)
    start = dt.date(year, 1, 1)
    days = (dt.date(year + 1, 1, 1) - start).days
    return {
        start + dt.timedelta(days=i): mean
        - amplitude * math.cos(2 * math.pi * (i - 15) / days)
        + rng.gauss(0.0, noise)
        for i in range(days)
    }


def normalised_year(
    temps: dict[dt.date, float], normal: dict[tuple[int, int], float], base_kw: float, slope: float
) -> float:
    """The year's normalised heat of a building that follows ``base_kw + slope · max(0, 17 − T)``."""
    days = [(t, 24.0 * (base_kw + slope * max(0.0, 17.0 - t)), degree_days(t, d)) for d, t in temps.items()]
    base = weather_independent_kwh(days)
    assert base is not None
    heat = math.fsum(kwh for _, kwh, _ in days)
    dd = math.fsum(x for _, _, x in days)
    normal_dd = math.fsum(normal[(d.month, d.day)] for d in temps)
    return normalised_heat(heat, base.kwh * len(days), dd, normal_dd)


@settings(max_examples=40, deadline=None)
@given(
    base_kw=st.floats(0.0, 50.0),
    slope=st.floats(0.1, 20.0),
    seeds=st.tuples(st.integers(0, 2**32), st.integers(0, 2**32), st.integers(0, 2**32)),
)
def test_a_building_that_follows_its_signature_has_the_same_normalised_heat_every_year(
    base_kw: float, slope: float, seeds: tuple[int, int, int]
) -> None:
    years = [weather_year(seed, 2025 + i) for i, seed in enumerate(seeds)]
    history = {d: t for year in years for d, t in year.items()}
    normal = derive_normal(history, min_years=3)  # the station's own normal, three common years
    first, *others = (normalised_year(temps, normal, base_kw, slope) for temps in years)
    for other in others:
        assert other == pytest.approx(first, rel=1e-6)
    # ... and it is the signature applied to the normal year: 365 · 24 · base + 24 · slope · Σ normal.
    normal_dd = math.fsum(normal[(d.month, d.day)] for d in years[0])
    assert first == pytest.approx(365 * 24 * base_kw + 24 * slope * normal_dd, rel=1e-6)
