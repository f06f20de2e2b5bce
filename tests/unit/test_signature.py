"""The energy signature's change-point fit (energy_core/signature.py) on hand-made days."""

from __future__ import annotations

import pytest

from energy_core.signature import fit


def test_a_building_that_follows_a_signature_exactly_gets_its_parameters_back() -> None:
    days = [(t / 2, 5.0 + 2.0 * max(0.0, 15.0 - t / 2)) for t in range(-20, 40)]
    signature = fit(days)
    assert signature is not None
    assert signature.base_kw == pytest.approx(5.0)
    assert signature.slope_kw_per_k == pytest.approx(2.0)
    assert signature.balance_c == 15.0
    assert signature.r2 == pytest.approx(1.0)
    assert signature.predict_kwh(5.0) == pytest.approx((5.0 + 2.0 * 10.0) * 24)


def test_the_fit_is_ordinary_least_squares_at_the_chosen_balance() -> None:
    # Hand-computed: x = max(0, 17 - T) = 17, 12, 7, 2, 0, 0, 0 for T = 0, 5, 10, 15, 20, 25, 30 and
    # y = 40, 31, 20, 10, 4, 6, 5; with the balance fixed at 17 the slope is Sxy / Sxx.
    days = [(0.0, 40.0), (5.0, 31.0), (10.0, 20.0), (15.0, 10.0), (20.0, 4.0), (25.0, 6.0), (30.0, 5.0)]
    xs = [17.0, 12.0, 7.0, 2.0, 0.0, 0.0, 0.0]
    ys = [y for _, y in days]
    mx, my = sum(xs) / 7, sum(ys) / 7
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    signature = fit(days, balance_grid=(17.0,))
    assert signature is not None
    assert signature.slope_kw_per_k == pytest.approx(slope)
    assert signature.base_kw == pytest.approx(my - slope * mx)
    assert 0.95 < signature.r2 < 1.0


def test_too_few_days_or_no_spread_in_the_weather_give_no_signature() -> None:
    assert fit([(float(t), 10.0) for t in range(6)]) is None
    assert fit([(30.0, 10.0 + k) for k in range(10)]) is None  # every day above every balance


def test_normalised_heat_scales_only_the_weather_dependent_part() -> None:
    from energy_core.analysis import normalised_heat

    # 1,000 kWh of which 200 base, in a month with 300 degree days against a normal 400:
    # 200 + 800 · 400 / 300 = 1,266.67 kWh.
    assert normalised_heat(1000.0, 200.0, 300.0, 400.0) == pytest.approx(1266.6667, abs=1e-3)
    assert normalised_heat(150.0, 150.0, 0.0, 5.0) == 150.0
