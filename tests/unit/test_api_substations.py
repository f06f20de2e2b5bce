"""The API's arithmetic over analysis days, by hand: periods of KPIs (volume-weighted), fault
episodes from daily findings, ranking order, and the flow-weighted network overview."""

from __future__ import annotations

import datetime as dt

from api.overview import RHO_CP_KWH_PER_M3_K, summarise
from api.substations import FaultDay, Ranked, SiteKey, aggregate, bucket_start, episodes, rank


class _NoFactor:
    def factor_g_per_kwh(self, carrier: str, network: str | None, at_ns: int) -> float | None:
        return None


def test_a_periods_kpis_sum_weigh_by_volume_and_take_the_peak():
    """Day 1: 580 kWh, 10 m³, ΔT 50 K, return 40 °C, peak 40 kW; day 2: 1050 kWh, 30 m³, ΔT 30 K,
    return 60 °C, peak 70 kW. ΔT (50·10 + 30·30)/40 = 35 K; return (400 + 1800)/40 = 55 °C;
    specific flow 40 / 1.63 = 24.54 m³/MWh; outdoor (−4 + 2)/2 = −1 °C."""
    days = [
        {"heat_kwh": 580.0, "volume_m3": 10.0, "delta_t_k": 50.0, "return_temp_c": 40.0,
         "peak_load_kw": 40.0, "outdoor_temp_c": -4.0, "hours": 24.0, "signature_r2": 0.8},
        {"heat_kwh": 1050.0, "volume_m3": 30.0, "delta_t_k": 30.0, "return_temp_c": 60.0,
         "peak_load_kw": 70.0, "outdoor_temp_c": 2.0, "hours": 23.0, "signature_r2": 0.9,
         "excess_flow_m3": 12.0},
    ]  # fmt: skip
    kpis = aggregate(days)
    assert kpis["heat_kwh"] == 1630.0
    assert kpis["volume_m3"] == 40.0
    assert kpis["delta_t_k"] == 35.0
    assert kpis["return_temp_c"] == 55.0
    assert kpis["specific_flow_m3_per_mwh"] == 24.54
    assert kpis["peak_load_kw"] == 70.0
    assert kpis["outdoor_temp_c"] == -1.0
    assert kpis["hours"] == 47.0
    assert kpis["excess_flow_m3"] == 12.0  # the one day that holds it
    assert kpis["signature_r2"] == 0.9  # the latest day's fit
    assert kpis["supply_temp_c"] is None  # no day holds it


def test_a_period_without_flow_has_no_weighted_temperature_and_no_specific_flow():
    kpis = aggregate([{"heat_kwh": 0.0, "volume_m3": 0.0, "delta_t_k": 2.0, "return_temp_c": 50.0}])
    assert kpis["delta_t_k"] is None
    assert kpis["return_temp_c"] is None
    assert kpis["specific_flow_m3_per_mwh"] is None
    assert aggregate([])["heat_kwh"] is None


def test_weeks_start_on_monday_and_months_on_the_first():
    sunday = dt.date(2026, 3, 29)
    assert bucket_start(sunday, "week") == dt.date(2026, 3, 23)
    assert bucket_start(sunday, "month") == dt.date(2026, 3, 1)
    assert bucket_start(sunday, "day") == sunday


def _day(day: int, active: bool = True, value: float = 1.0) -> FaultDay:
    return FaultDay(dt.date(2026, 11, day), active, None, value, 0.5, f"day {day}")


def test_consecutive_active_days_are_one_episode_and_a_gap_or_a_clear_starts_another():
    site = SiteKey("o", "s")
    series = {
        (site, "low_delta_t", "warning"): [
            _day(1),
            _day(2, value=3.0),
            _day(4),
            _day(5, active=False),
            _day(6),
        ]
    }
    found = episodes(series, {site: dt.date(2026, 11, 7)})
    assert [(e.first.day.day, e.last.day.day, e.days, e.open) for e in found] == [
        (1, 2, 2, False),
        (4, 4, 1, False),
        (6, 6, 1, False),  # the site was analysed on the 7th without this finding
    ]
    assert found[0].last.value == 3.0  # evidence: the latest day's
    assert found[0].end_ns is not None
    still = episodes(series, {site: dt.date(2026, 11, 6)})
    assert still[-1].open
    assert still[-1].end_ns is None


def test_ranking_puts_sites_without_the_kpi_last_and_breaks_ties_by_id():
    def row(site: str, value: float | None) -> Ranked:
        return Ranked(SiteKey("o", site), {"delta_t_k": value}, 1)

    rows = [row("c", 30.0), row("a", None), row("b", 30.0), row("d", 10.0)]
    assert [r.key.site for r in rank(rows, "delta_t_k", "asc")] == ["d", "b", "c", "a"]
    assert [r.key.site for r in rank(rows, "delta_t_k", "desc")] == ["b", "c", "d", "a"]


def test_the_overview_weighs_temperatures_by_flow_sent_or_estimated_from_power():
    """Meter A sends 10 m³/h at 90/40 °C; meter B no flow but 22.9 kW at 70/50 °C, i.e.
    22.9 / (1.145 · 20) = 1 m³/h. Supply (900 + 70)/11 = 88.18, return (400 + 50)/11 = 40.91."""
    assert RHO_CP_KWH_PER_M3_K * 20 == 22.9
    tags = {"owner": "o", "site": "s", "network": "n"}
    rows = [
        (
            tags,
            {"time": 1, "flow_m3h": 10.0, "power_kw": 572.5, "supply_temp_c": 90.0, "return_temp_c": 40.0},
        ),
        (tags, {"time": 2, "power_kw": 22.9, "supply_temp_c": 70.0, "return_temp_c": 50.0}),
    ]
    overview = summarise(rows, _NoFactor(), 2, 10)
    assert overview.mean_supply_temp_c == 88.18
    assert overview.mean_return_temp_c == 40.91
    assert overview.mean_delta_t_k == 47.27


def test_the_overview_falls_back_to_the_plain_mean_without_any_flow_or_power():
    tags = {"owner": "o", "site": "s", "network": "n"}
    rows = [
        (tags, {"time": 1, "supply_temp_c": 90.0, "return_temp_c": 40.0}),
        (tags, {"time": 2, "supply_temp_c": 70.0, "return_temp_c": 50.0}),
    ]
    overview = summarise(rows, _NoFactor(), 2, 10)
    assert (overview.mean_supply_temp_c, overview.mean_return_temp_c, overview.mean_delta_t_k) == (
        80.0,
        45.0,
        35.0,
    )
