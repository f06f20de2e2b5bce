"""The substation KPI formulas (ingest/analysis/kpis.py) on hand-made hours, against hand-computed values."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from energy_core.rollups import day_bounds
from energy_core.timeutil import HOUR_NS
from ingest.analysis.kpis import day_kpi
from ingest.analysis.model import DayKpi, HeatHour, SiteDay
from ingest.analysis.thresholds import Thresholds

DAY = dt.date(2026, 1, 15)
TH = Thresholds()


def _hours(
    day: dt.date,
    loads: list[tuple[float, float, float, float]],
    *,
    energy0: float = 1000.0,
    volume0: float = 50.0,
    count: float = 60.0,
    registers: bool = True,
) -> list[HeatHour]:
    """One hour per (power kW, flow m³/h, supply °C, return °C), from the day's start; registers integrate
    them, and the hour before the day holds the registers' starting values."""
    start, _ = day_bounds(day)
    before = HeatHour(
        start - HOUR_NS,
        count,
        energy_first=energy0,
        energy_last=energy0,
        volume_first=volume0,
        volume_last=volume0,
    )
    out = [before] if registers else []
    energy, volume = energy0, volume0
    for i, (power, flow, supply, ret) in enumerate(loads):
        out.append(
            HeatHour(
                start + i * HOUR_NS,
                count,
                energy_first=energy if registers else None,
                energy_last=energy + power if registers else None,
                volume_first=volume if registers else None,
                volume_last=volume + flow if registers else None,
                power_mean=power,
                power_max=power,
                flow_mean=flow,
                flow_max=flow,
                supply_mean=supply,
                supply_min=supply,
                supply_max=supply,
                return_mean=ret,
                return_min=ret,
                return_max=ret,
            )
        )
        energy, volume = energy + power, volume + flow
    return out


def _site_day(day: dt.date, hours: list[HeatHour], **kw: object) -> SiteDay:
    return SiteDay(
        site="s1",
        owner="o1",
        network="borlange",
        day=day,
        now_ns=day_bounds(day)[1],
        hours=hours,
        outdoor_temp_c=kw.pop("outdoor_temp_c", -5.0),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


# Twelve hours of 4 kW at 0.1 m³/h, 80/50 °C, then twelve of 12 kW at 0.3 m³/h, 75/40 °C.
TWO_HALVES = [(4.0, 0.1, 80.0, 50.0)] * 12 + [(12.0, 0.3, 75.0, 40.0)] * 12


def test_a_days_kpis_are_the_hand_computed_register_deltas_and_volume_weighted_temperatures() -> None:
    kpi = day_kpi(_site_day(DAY, _hours(DAY, TWO_HALVES)), TH)
    # heat = 12·4 + 12·12 = 192 kWh; volume = 12·0.1 + 12·0.3 = 4.8 m³ (register deltas)
    assert kpi.heat_kwh == pytest.approx(192.0)
    assert kpi.volume_m3 == pytest.approx(4.8)
    assert kpi.from_registers is True
    # volume-weighted return = (1.2·50 + 3.6·40) / 4.8 = 42.5 °C (the plain mean would say 45)
    assert kpi.return_temp_c == pytest.approx(42.5)
    # volume-weighted supply = (1.2·80 + 3.6·75) / 4.8 = 76.25 °C
    assert kpi.supply_temp_c == pytest.approx(76.25)
    # ρc_p(42.5 °C) = 991.899 kg/m³ · 4.17498 kJ/(kg·K) / 3600 = 1.150321 kWh/(m³·K) (IAPWS-IF97)
    # ΔT = 192 / (4.8 · 1.150321) = 34.7729 K
    assert kpi.delta_t_k == pytest.approx(34.7729, abs=1e-3)
    # specific flow = 4.8 m³ / 0.192 MWh = 25 m³/MWh
    assert kpi.specific_flow_m3_per_mwh == pytest.approx(25.0)
    # excess flow at the target 40 K = 4.8 − 192 / (1.150321 · 40) = 4.8 − 4.17275 = 0.62725 m³
    assert kpi.excess_flow_m3 == pytest.approx(0.62725, abs=1e-4)
    assert kpi.peak_load_kw == pytest.approx(12.0)
    assert kpi.hours == 24.0
    assert kpi.readings == 24 * 60.0
    assert kpi.outdoor_temp_c == -5.0


def test_excess_flow_is_zero_when_the_substation_cools_better_than_the_target() -> None:
    # 10 kW at 0.125 m³/h, 90/20 °C: ΔT ≈ 70 K > 40 K, so no water was pumped in excess.
    kpi = day_kpi(_site_day(DAY, _hours(DAY, [(10.0, 0.125, 90.0, 20.0)] * 24)), TH)
    assert kpi.excess_flow_m3 == 0.0
    assert kpi.delta_t_k is not None
    assert kpi.delta_t_k > 60.0


def test_heat_is_the_last_reading_of_the_day_minus_the_last_reading_before_it() -> None:
    hours = _hours(DAY, [(10.0, 0.2, 80.0, 40.0)] * 24)
    # The reading before the day was at 990 kWh, later in its hour than the hour's first (980):
    hours[0] = HeatHour(hours[0].start_ns, 60.0, energy_first=980.0, energy_last=990.0, volume_last=50.0)
    kpi = day_kpi(_site_day(DAY, hours), TH)
    # last of the day 1000 + 24·10 = 1240; minus 990 = 250 kWh (the 10 kWh between the readings count)
    assert kpi.heat_kwh == pytest.approx(250.0)
    assert kpi.from_registers is True


def test_a_meters_first_reading_books_only_what_its_registers_moved_since() -> None:
    # No reading before the day (a new meter, or imported history that starts here): the first
    # hour's registers moved 10 kWh from its first to its last reading; the 10 kW × 1 h of power
    # before the first reading is not booked. 1240 − 1000 = 240 kWh, all from the registers.
    hours = _hours(DAY, [(10.0, 0.2, 80.0, 40.0)] * 24)[1:]
    kpi = day_kpi(_site_day(DAY, hours), TH)
    assert kpi.heat_kwh == pytest.approx(240.0)
    assert kpi.volume_m3 == pytest.approx(24 * 0.2)
    assert kpi.from_registers is True


def test_a_counter_reset_falls_back_to_the_readings_for_that_hour_only() -> None:
    hours = _hours(DAY, [(10.0, 0.2, 80.0, 40.0)] * 24)
    # Hour 10 of the day (index 11: the list starts with the hour before): the register restarts
    # near zero mid-hour (first 1100, last 4); afterwards it counts on from 4.
    reset_at = 11
    patched = []
    for i, h in enumerate(hours):
        if i == reset_at:
            h = dataclasses.replace(h, energy_first=1100.0, energy_last=4.0)
        elif i > reset_at:
            offset = 4.0 - 1110.0
            h = dataclasses.replace(
                h, energy_first=(h.energy_first or 0.0) + offset, energy_last=(h.energy_last or 0.0) + offset
            )
        patched.append(h)
    kpi = day_kpi(_site_day(DAY, patched), TH)
    # 23 hours of register deltas (10 kWh each) + the reset hour from its mean power (10 kW · 1 h)
    assert kpi.heat_kwh == pytest.approx(240.0)
    assert kpi.from_registers is False
    assert kpi.volume_m3 == pytest.approx(4.8)


def test_hours_without_a_register_between_two_readings_are_counted_once() -> None:
    hours = _hours(DAY, [(10.0, 0.2, 80.0, 40.0)] * 24)
    # Hours 5-7 lost their register fields but kept power: the reading of hour 8 covers them.
    for i in (6, 7, 8):
        hours[i] = dataclasses.replace(hours[i], energy_first=None, energy_last=None)
    kpi = day_kpi(_site_day(DAY, hours), TH)
    assert kpi.heat_kwh == pytest.approx(240.0)
    assert kpi.from_registers is True


def test_without_registers_heat_and_volume_are_the_readings_integral() -> None:
    kpi = day_kpi(_site_day(DAY, _hours(DAY, TWO_HALVES, registers=False)), TH)
    # Σ power_mean · 1 h = 192 kWh, Σ flow_mean · 1 h = 4.8 m³
    assert kpi.heat_kwh == pytest.approx(192.0)
    assert kpi.volume_m3 == pytest.approx(4.8)
    assert kpi.from_registers is False


@pytest.mark.parametrize(
    ("day", "length"),
    [(dt.date(2026, 3, 29), 23), (dt.date(2026, 10, 25), 25), (dt.date(2026, 10, 26), 24)],
)
def test_a_dst_day_has_23_or_25_hours_of_heat(day: dt.date, length: int) -> None:
    assert (day_bounds(day)[1] - day_bounds(day)[0]) // HOUR_NS == length
    one_hour = [(10.0, 0.2, 80.0, 40.0)]
    # The series runs on past the day's end: the extra hours belong to the next day.
    for registers in (True, False):
        hours = _hours(day, one_hour * (length + 3), registers=registers)
        kpi = day_kpi(_site_day(day, hours), TH)
        assert kpi.hours == float(length)
        assert kpi.heat_kwh == pytest.approx(10.0 * length)
        assert kpi.volume_m3 == pytest.approx(0.2 * length)


def test_today_counts_only_the_hours_so_far() -> None:
    hours = _hours(DAY, [(10.0, 0.2, 80.0, 40.0)] * 24, registers=False)
    start, _ = day_bounds(DAY)
    site_day = SiteDay("s1", "o1", None, DAY, start + 6 * HOUR_NS + HOUR_NS // 2, hours, -5.0)
    kpi = day_kpi(site_day, TH)
    # six whole hours and half of the seventh: 6.5 h · 10 kW
    assert kpi.hours == 7.0
    assert kpi.heat_kwh == pytest.approx(65.0)


def test_peak_load_without_power_readings_is_the_largest_hourly_register_delta() -> None:
    loads = [(10.0, 0.2, 80.0, 40.0)] * 23 + [(31.0, 0.6, 80.0, 40.0)]
    hours = [dataclasses.replace(h, power_mean=None, power_max=None) for h in _hours(DAY, loads)]
    kpi = day_kpi(_site_day(DAY, hours), TH)
    assert kpi.peak_load_kw == pytest.approx(31.0)


def test_a_day_without_hours_has_no_kpis_but_says_so() -> None:
    kpi = day_kpi(_site_day(DAY, []), TH)
    assert kpi.heat_kwh is None
    assert kpi.volume_m3 is None
    assert kpi.delta_t_k is None
    assert kpi.hours == 0.0
    assert kpi.from_registers is False


def _history_kpi(day: dt.date, outdoor_c: float, heat_kwh: float) -> DayKpi:
    return DayKpi(
        day=day,
        heat_kwh=heat_kwh,
        volume_m3=heat_kwh / 40.0,
        delta_t_k=40.0,
        return_temp_c=40.0,
        supply_temp_c=80.0,
        specific_flow_m3_per_mwh=25.0,
        excess_flow_m3=0.0,
        peak_load_kw=heat_kwh / 20.0,
        outdoor_temp_c=outdoor_c,
        hours=24.0,
        readings=1440.0,
        from_registers=True,
    )


def test_the_signature_is_fitted_over_the_history_and_the_day_and_predicts_the_day() -> None:
    # Fourteen January days that follow P = 5 + 2·max(0, 15 − T) kW exactly, T from −8 to +18 °C.
    history = [
        _history_kpi(DAY - dt.timedelta(days=14 - i), t, 24 * (5 + 2 * max(0.0, 15 - t)))
        for i, t in enumerate(range(-8, 20, 2))
    ]
    # The day itself follows it too: at −5 °C it expects 5 + 2·20 = 45 kW, i.e. 24 · 45 = 1,080 kWh.
    site_day = _site_day(DAY, _hours(DAY, [(45.0, 1.0, 80.0, 40.0)] * 24), history=history)
    kpi = day_kpi(site_day, TH)
    assert kpi.signature_base_kw == pytest.approx(5.0)
    assert kpi.signature_slope_kw_per_k == pytest.approx(2.0)
    assert kpi.signature_balance_c == 15.0
    assert kpi.signature_r2 == pytest.approx(1.0)
    assert kpi.signature_expected_kwh == pytest.approx(1080.0)


def test_a_day_not_yet_over_is_predicted_but_not_fitted() -> None:
    history = [
        _history_kpi(DAY - dt.timedelta(days=14 - i), t, 24 * (5 + 2 * max(0.0, 15 - t)))
        for i, t in enumerate(range(-8, 20, 2))
    ]
    start, _ = day_bounds(DAY)
    # Six hours of a cold day's 8 kW: as a whole day it would pull the fit; unfinished, it must not.
    hours = _hours(DAY, [(8.0, 0.2, 80.0, 40.0)] * 6)
    site_day = SiteDay("s1", "o1", None, DAY, start + 6 * HOUR_NS, hours, -5.0, history=history)
    kpi = day_kpi(site_day, TH)
    assert kpi.signature_r2 == pytest.approx(1.0)
    assert kpi.signature_expected_kwh == pytest.approx(1080.0)


def test_too_little_history_gives_no_signature() -> None:
    history = [_history_kpi(DAY - dt.timedelta(days=i), float(i), 500.0 - 10 * i) for i in range(1, 6)]
    kpi = day_kpi(_site_day(DAY, _hours(DAY, TWO_HALVES), history=history), TH)
    assert kpi.signature_expected_kwh is None
    assert kpi.signature_r2 is None
