"""The pure parts of the building reports and performance (no servers): months, periods, the
ranking order and the page's escaping."""

from __future__ import annotations

import datetime as dt

import pytest

from api import performance, reports
from api.errors import ApiError
from api.models import ReportOut
from api.performance import Period, Sums

TODAY = dt.date(2026, 12, 2)


def test_a_december_report_ends_on_the_first_of_january() -> None:
    period = reports.Month.parse("2025-12", TODAY).period
    assert (period.start, period.end, period.days) == (dt.date(2025, 12, 1), dt.date(2026, 1, 1), 31)


def test_the_running_month_may_be_asked_for_but_not_the_next_one() -> None:
    assert reports.Month.parse("2026-12", TODAY).period.days == 31
    with pytest.raises(ApiError) as refused:
        reports.Month.parse("2027-01", TODAY)
    assert (refused.value.status, refused.value.code) == (400, "month_in_future")


def test_the_twelve_months_before_the_first_of_march_after_a_leap_day() -> None:
    period = performance.twelve_months(dt.date(2024, 3, 1))
    assert (period.start, period.days) == (dt.date(2023, 3, 1), 366)  # holds 29 February 2024
    assert performance.year_before(dt.date(2024, 2, 29)) == dt.date(2023, 2, 28)


def test_a_period_without_degree_days_keeps_its_heat_and_one_without_days_is_all_null() -> None:
    period = Period(dt.date(2026, 7, 1), dt.date(2026, 8, 1))
    summer = performance.kpis(period, Sums(days=31, heat_kwh=900.0, base_kwh=800.0), 100.0)
    assert (summer.heat_normalised_kwh, summer.kwh_per_m2_normalised) == (900.0, 9.0)
    empty = performance.kpis(period, Sums(), 100.0)
    assert (empty.days, empty.heat_kwh, empty.kwh_per_m2, empty.comfort_low_h) == (0, None, None, None)


def test_a_change_needs_ninety_percent_of_both_years() -> None:
    year = performance.twelve_months(dt.date(2026, 3, 1))
    before = year.year_before()
    full = Sums(days=365, heat_kwh=1000.0)
    # 328 of 365 days is 89.9 %: no change given; 329 is 90.1 %.
    assert performance.change(full, year, Sums(days=328, heat_kwh=500.0), before).actual_pct is None
    assert performance.change(full, year, Sums(days=329, heat_kwh=800.0), before).actual_pct == 25.0


def test_a_page_escapes_a_hostile_building_name() -> None:
    period = Period(dt.date(2026, 1, 1), dt.date(2026, 2, 1))
    hostile = "<script>alert(1)</script>"
    one = performance.kpis(period, Sums(days=31, heat_kwh=100.0), 10.0)
    report = ReportOut.model_validate(
        {
            "owner": "o", "owner_name": hostile, "site": None, "month": "2026-01",
            "start": period.start, "end": period.end, "partial": False, "totals": one, "emissions": [],
            "buildings": [{"site": "s", "name": hostile, "floor_area_m2": 10.0, "kpis": one,
                           "co2e_kg_location": None, "co2e_kg_market": None}],
            "worst": ["s"], "days": [],
        }
    )  # fmt: skip
    page = reports.render_html(report)
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
