"""The substation fault rules (ingest/analysis/rules.py) on hand-made hours: each rule's true positive,
true negative and the edge of its threshold, and a healthy city that stays silent."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from energy_core.analysis import FAULTS
from energy_core.errors import ConfigError
from energy_core.rollups import day_bounds
from energy_core.timeutil import HOUR_NS, NS
from ingest.analysis.kpis import day_kpi
from ingest.analysis.model import DayKpi, Finding, HeatHour, SiteDay
from ingest.analysis.rules import KAMSTRUP_INFO_BITS, decode_info_code, detect
from ingest.analysis.thresholds import DEFAULT_FILE, Thresholds
from ingest.derive.water import volumetric_heat_kwh_per_m3_k

WINTER = dt.date(2026, 1, 15)
SUMMER = dt.date(2026, 7, 15)
TH = Thresholds.load()
WINDOW_START, _ = day_bounds(WINTER - dt.timedelta(days=1))


@dataclasses.dataclass
class Hour:
    """What one hand-made hour of the meter says; the registers integrate power and flow."""

    power: float = 50.0
    supply: float = 90.0
    ret: float = 45.0
    count: float = 60.0
    energy_moves: bool = True
    volume_moves: bool = True
    flow: float | None = None  # None: from P = q·ρc_p·ΔT
    spread: float = 0.3  # of the temperatures within the hour (max − min)
    info_code: float = 0.0


def series(
    day: dt.date = WINTER,
    change: Callable[[int, Hour], None] | None = None,
    *,
    skip: Callable[[int], bool] = lambda i: False,
) -> list[HeatHour]:
    """The hours of the day before ``day`` and of ``day``; ``change(i, hour)`` edits hour i (0 = the window's
    first), ``skip(i)`` drops it (the meter sent nothing)."""
    start, _ = day_bounds(day - dt.timedelta(days=1))
    _, end = day_bounds(day)
    energy, volume = 10_000.0, 500.0
    out: list[HeatHour] = []
    for i in range((end - start) // HOUR_NS):
        hour = Hour(power=50.0 + 15.0 * (i % 4))  # the load varies, as loads do
        if change is not None:
            change(i, hour)
        flow = hour.flow
        if flow is None:
            flow = hour.power / (volumetric_heat_kwh_per_m3_k(hour.ret) * abs(hour.supply - hour.ret))
        e0, v0 = energy, volume
        if hour.energy_moves:
            energy += hour.power
        if hour.volume_moves:
            volume += flow
        if skip(i):
            continue
        half = hour.spread / 2
        out.append(
            HeatHour(
                start + i * HOUR_NS,
                hour.count,
                energy_first=e0,
                energy_last=energy,
                volume_first=v0,
                volume_last=volume,
                power_mean=hour.power,
                power_max=hour.power,
                flow_mean=flow,
                flow_max=flow,
                supply_mean=hour.supply,
                supply_min=hour.supply - half,
                supply_max=hour.supply + half,
                return_mean=hour.ret,
                return_min=hour.ret - half,
                return_max=hour.ret + half,
                info_code_last=hour.info_code,
                info_code_max=hour.info_code,
            )
        )
    return out


def history_of(
    day: dt.date, days: int = 7, readings: float = 24 * 60.0, outdoor_c: float = -5.0
) -> list[DayKpi]:
    return [
        DayKpi(
            day=day - dt.timedelta(days=days - i),
            heat_kwh=1500.0,
            volume_m3=30.0,
            delta_t_k=45.0,
            return_temp_c=45.0,
            supply_temp_c=90.0,
            specific_flow_m3_per_mwh=20.0,
            excess_flow_m3=0.0,
            peak_load_kw=95.0,
            outdoor_temp_c=outdoor_c,
            hours=24.0,
            readings=readings,
            from_registers=True,
        )
        for i in range(days)
    ]


def judge(
    hours: list[HeatHour],
    day: dt.date = WINTER,
    *,
    outdoor_c: float | None = -5.0,
    thresholds: Thresholds = TH,
    **kw: Any,
) -> dict[str, Finding]:
    kw.setdefault("history", history_of(day, outdoor_c=-5.0 if outdoor_c is None else outdoor_c))
    kw.setdefault("now_ns", day_bounds(day)[1])
    site_day = SiteDay("s1", "o1", "borlange", day, hours=hours, outdoor_temp_c=outdoor_c, **kw)
    kpi = day_kpi(site_day, thresholds)
    findings = detect(site_day, kpi, thresholds)
    assert all(f.code in FAULTS for f in findings)
    return {f.code: f for f in findings}


def temps(supply: float, ret: float) -> Callable[[int, Hour], None]:
    def change(_: int, h: Hour) -> None:
        h.supply, h.ret = supply, ret

    return change


# -- a healthy substation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "outdoor_c", "supply", "ret"),
    [
        (WINTER, -20.0, 110.0, 58.0),  # a cold day: hot supply, warm return, ΔT 52 K
        (WINTER, -5.0, 90.0, 45.0),
        (WINTER, 2.0, 78.0, 50.0),  # a building with a warm return: ΔT 28 K
        (dt.date(2026, 4, 10), 10.0, 70.0, 47.0),  # mild: ΔT 23 K, return under the 50 °C limit
        (SUMMER, 16.0, 70.0, 40.0),  # hot water only
        (SUMMER, 20.0, 70.0, 52.0),  # ΔT 18 K out of season is no bypass
    ],
)
def test_a_healthy_substation_raises_nothing(
    day: dt.date, outdoor_c: float, supply: float, ret: float
) -> None:
    def change(i: int, h: Hour) -> None:
        h.supply, h.ret = supply + 0.1 * (i % 3), ret + 0.1 * (i % 5)
        if day == SUMMER:
            h.power = 5.0 + 10.0 * (i % 24 in (6, 7, 18, 19))  # hot-water peaks morning and evening

    assert judge(series(day, change), day, outdoor_c=outdoor_c) == {}


# -- low ΔT --------------------------------------------------------------------------------------


def test_the_low_delta_t_limit_follows_the_outdoor_temperature() -> None:
    p = TH.low_delta_t
    assert p.limit_k(8.0) == 17.0
    assert p.limit_k(15.0) == 17.0
    assert p.limit_k(-20.0) == 30.0
    assert p.limit_k(-25.0) == 30.0
    # −6 °C is half-way from +8 to −20: 17 + (30 − 17) · 14 / 28 = 23.5 K
    assert p.limit_k(-6.0) == pytest.approx(23.5)


def test_low_delta_t_fires_below_its_limit_in_the_heating_season() -> None:
    found = judge(series(change=temps(75.0, 51.6)), outdoor_c=-6.0)  # ΔT 23.4 K < 23.5 K
    assert set(found) == {"low_delta_t"}
    f = found["low_delta_t"]
    assert f.value == pytest.approx(23.4)
    assert f.threshold == pytest.approx(23.5)
    assert f.since_s == day_bounds(WINTER)[0] / NS
    assert "ΔT 23.4 K < 23.5 K" in f.text


def test_low_delta_t_edge_just_above_the_threshold_is_silent() -> None:
    assert judge(series(change=temps(75.0, 51.4)), outdoor_c=-6.0) == {}  # ΔT 23.6 K


def test_low_delta_t_is_not_judged_out_of_the_heating_season() -> None:
    found = judge(series(SUMMER, temps(70.0, 50.2)), SUMMER, outdoor_c=15.0)
    assert "low_delta_t" not in found


def test_low_delta_t_needs_enough_hours_of_data() -> None:
    found = judge(series(change=temps(70.0, 55.0), skip=lambda i: i < 24 + 19), outdoor_c=-5.0)
    assert "low_delta_t" not in found  # 5 hours of data is not a day's cooling


def test_an_episode_goes_on_from_the_day_it_began() -> None:
    began = day_bounds(WINTER - dt.timedelta(days=3))[0] / NS
    found = judge(series(change=temps(70.0, 55.0)), open_findings={"low_delta_t": began})
    assert found["low_delta_t"].since_s == began


# -- high return temperature -----------------------------------------------------------------------


def test_high_return_limit_follows_the_outdoor_temperature() -> None:
    p = TH.high_return_temp
    assert p.limit_c(10.0) == 51.0
    assert p.limit_c(20.0) == 51.0
    assert p.limit_c(-20.0) == 65.0
    assert p.limit_c(-30.0) == 65.0
    # −5 °C is half-way from +10 to −20: 51 + (65 − 51) · 15 / 30 = 58 °C
    assert p.limit_c(-5.0) == pytest.approx(58.0)


def test_high_return_fires_just_above_the_limit_and_not_just_below() -> None:
    found = judge(series(change=temps(95.0, 58.1)), outdoor_c=-5.0)
    assert set(found) == {"high_return_temp"}
    assert found["high_return_temp"].value == pytest.approx(58.1)
    assert found["high_return_temp"].threshold == pytest.approx(58.0)
    assert judge(series(change=temps(95.0, 57.9)), outdoor_c=-5.0) == {}


def test_a_warm_return_and_a_low_delta_t_are_both_reported() -> None:
    # ΔT 10 K and a return over the 53.3 °C limit, the same at every load (a fouled exchanger):
    # both are true; the text names no bypass (the ΔT does not follow the load).
    found = judge(series(change=temps(70.0, 60.0)), outdoor_c=5.0)
    assert set(found) == {"high_return_temp", "low_delta_t"}
    assert "bypass" not in found["low_delta_t"].text


def _leak(leak_m3h: float) -> Callable[[int, Hour], None]:
    """A bypass from supply (90 °C) to return leaking ``leak_m3h`` whatever the load; the heat
    exchanger itself returns 50 °C. The meter sees the mix: return (q·50 + leak·90) / (q + leak)."""

    def change(_: int, h: Hour) -> None:
        q = h.power / (volumetric_heat_kwh_per_m3_k(50.0) * 40.0)
        h.supply, h.flow = 90.0, q + leak_m3h
        h.ret = (q * 50.0 + leak_m3h * 90.0) / (q + leak_m3h)

    return change


def test_a_leaking_bypass_shows_as_low_delta_t_worst_at_low_load() -> None:
    # Loads 50-95 kW: the heat exchanger's flow 1.09-2.06 m³/h plus a 2 m³/h leak gives a ΔT of
    # 14.1 K in the low-load hours and 20.3 K in the high-load ones (ratio 0.69 < 0.9), ~17.5 K a day.
    found = judge(series(change=_leak(2.0)), outdoor_c=-5.0)
    assert set(found) == {"low_delta_t", "high_return_temp"}
    assert found["low_delta_t"].value == pytest.approx(17.5, abs=0.5)
    # The elasticity estimates the leak's share of the flow: 2 / (2.06 + 2) = 0.49 at high load to
    # 2 / (1.09 + 2) = 0.65 at low load.
    text = found["low_delta_t"].text
    assert "as a leaking bypass makes it" in text
    elasticity = float(text.split("elasticity ")[1].split(")")[0])
    assert 0.45 < elasticity < 0.7


def test_the_leak_elasticity_needs_loads_that_vary() -> None:
    def change(i: int, h: Hour) -> None:
        h.power = 80.0 + 0.5 * (i % 2)  # the low-load third carries 99 % of the high-load third's load
        _leak(2.0)(i, h)

    found = judge(series(change=change), outdoor_c=-5.0)
    assert "bypass" not in found["low_delta_t"].text


def test_high_return_is_not_judged_in_summer() -> None:
    assert "high_return_temp" not in judge(series(SUMMER, temps(90.0, 66.0)), SUMMER, outdoor_c=18.0)


def test_the_season_follows_the_month_when_the_outdoor_temperature_is_unknown() -> None:
    assert "high_return_temp" in judge(series(change=temps(90.0, 55.0)), outdoor_c=None)
    assert "high_return_temp" not in judge(series(SUMMER, temps(90.0, 55.0)), SUMMER, outdoor_c=None)


# -- stuck registers -------------------------------------------------------------------------------


def _stuck_energy(first: int, last: int) -> Callable[[int, Hour], None]:
    def change(i: int, h: Hour) -> None:
        h.energy_moves = not first <= i <= last

    return change


def test_a_stuck_energy_register_fires_after_six_hours_of_flow() -> None:
    found = judge(series(change=_stuck_energy(30, 35)))  # hours 6-11 of the day
    assert set(found) == {"stuck_energy_register"}
    f = found["stuck_energy_register"]
    assert f.value == 6.0
    assert f.threshold == 6.0
    assert f.since_s == (WINDOW_START + 30 * HOUR_NS) / NS


def test_a_register_stuck_for_five_hours_is_not_yet_a_fault() -> None:
    assert "stuck_energy_register" not in judge(series(change=_stuck_energy(30, 34)))


def test_a_register_that_does_not_move_without_flow_is_not_stuck() -> None:
    def change(i: int, h: Hour) -> None:
        if 30 <= i <= 40:
            h.energy_moves, h.volume_moves, h.flow, h.power = False, False, 0.0, 0.0

    assert judge(series(change=change)) == {}


def test_a_stuck_volume_register_fires_as_its_own_code() -> None:
    def change(i: int, h: Hour) -> None:
        h.volume_moves = i < 40

    found = judge(series(change=change))
    assert set(found) == {"stuck_volume_register"}
    assert found["stuck_volume_register"].value == 8.0  # hours 40-47


def test_a_register_stuck_since_yesterday_counts_its_hours_from_yesterday() -> None:
    found = judge(series(change=_stuck_energy(20, 26)))  # 20:00 yesterday to 02:00 today
    assert found["stuck_energy_register"].value == 7.0
    assert found["stuck_energy_register"].since_s == (WINDOW_START + 20 * HOUR_NS) / NS


def test_a_register_stuck_only_yesterday_is_not_todays_fault() -> None:
    assert "stuck_energy_register" not in judge(series(change=_stuck_energy(5, 15)))


# -- frozen sensor ---------------------------------------------------------------------------------


def _frozen(first: int, last: int, value: float = 45.0) -> Callable[[int, Hour], None]:
    def change(i: int, h: Hour) -> None:
        h.ret = 45.0 + 0.2 * (i % 3)
        if first <= i <= last:
            # One reading an hour (min = max), the same every hour; the supply still moves.
            h.ret, h.spread, h.supply = value, 0.0, 90.0 + 0.1 * (i % 2)

    return change


def test_a_return_sensor_constant_for_six_hours_while_the_load_varies_is_frozen() -> None:
    found = judge(series(change=_frozen(30, 35)))
    assert set(found) == {"frozen_sensor"}
    assert found["frozen_sensor"].value == 6.0
    assert "return temperature constant at 45.00 °C" in found["frozen_sensor"].text


def test_a_sensor_constant_for_five_hours_is_not_frozen() -> None:
    assert judge(series(change=_frozen(30, 34))) == {}


def test_a_constant_temperature_at_a_constant_load_is_not_frozen() -> None:
    def change(i: int, h: Hour) -> None:
        _frozen(30, 40)(i, h)
        h.power = 50.0

    assert "frozen_sensor" not in judge(series(change=change))


# -- swapped temperatures --------------------------------------------------------------------------


def _swapped(first: int, last: int, by: float = 5.0) -> Callable[[int, Hour], None]:
    def change(i: int, h: Hour) -> None:
        if first <= i <= last:
            h.supply, h.ret = 45.0, 45.0 + by

    return change


def test_swapped_sensors_fire_after_three_hours_with_flow_and_hide_the_temperature_rules() -> None:
    found = judge(series(change=_swapped(40, 47, by=40.0)))
    assert set(found) == {"swapped_temperatures"}
    assert found["swapped_temperatures"].value == pytest.approx(40.0)
    assert found["swapped_temperatures"].threshold == 0.5


def test_swapped_sensors_for_two_hours_are_not_enough() -> None:
    assert "swapped_temperatures" not in judge(series(change=_swapped(40, 41)))


@pytest.mark.parametrize(("by", "fires"), [(0.4, False), (0.6, True)])
def test_swapped_sensors_edge_of_the_difference(by: float, fires: bool) -> None:
    assert ("swapped_temperatures" in judge(series(change=_swapped(30, 35, by=by)))) is fires


# -- silent meter ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("silent_hours", "fires"), [(1, False), (2, True), (3, True)])
def test_a_meter_reading_every_minute_is_silent_after_two_hours(silent_hours: int, fires: bool) -> None:
    found = judge(series(skip=lambda i: i >= 48 - silent_hours))
    assert ("silent_meter" in found) is fires
    if fires:
        f = found["silent_meter"]
        assert f.value == float(silent_hours)
        assert f.threshold == 2.0  # max(5 × 1 min, 2 h)
        assert f.since_s == (WINDOW_START + (48 - silent_hours) * HOUR_NS) / NS


@pytest.mark.parametrize(("silent_hours", "fires"), [(4, False), (5, True)])
def test_an_hourly_meter_is_silent_after_five_of_its_intervals(silent_hours: int, fires: bool) -> None:
    found = judge(
        series(WINTER, lambda i, h: setattr(h, "count", 1.0), skip=lambda i: i >= 48 - silent_hours),
        history=history_of(WINTER, readings=24.0),
    )
    assert ("silent_meter" in found) is fires
    if fires:
        assert found["silent_meter"].threshold == pytest.approx(5.0)


def test_silence_today_is_measured_up_to_now() -> None:
    start, _ = day_bounds(WINTER)
    now = start + 10 * HOUR_NS
    found = judge(series(skip=lambda i: i >= 24 + 7), now_ns=now)
    assert found["silent_meter"].value == pytest.approx(3.0)  # last reading by 07:00, now 10:00
    assert "silent_meter" not in judge(series(), now_ns=now)


def test_a_meter_silent_for_days_is_silent_since_its_last_day_with_readings() -> None:
    history = history_of(WINTER)
    history[-1] = dataclasses.replace(history[-1], readings=0.0, hours=0.0)
    found = judge([], history=history)
    assert found["silent_meter"].since_s == day_bounds(history[-2].day)[1] / NS
    assert set(found) == {"silent_meter"}


def test_a_meter_never_heard_from_is_not_reported_silent() -> None:
    assert judge([], history=[]) == {}


# -- meter alarm -----------------------------------------------------------------------------------


def test_the_kamstrup_info_bits_are_decoded_and_unknown_bits_named() -> None:
    assert decode_info_code(0) == []
    assert decode_info_code(1 | 8) == ["voltage interrupted", "T1 above measuring range"]
    assert decode_info_code(1 << 10) == ["unknown bit 10"]
    assert len(KAMSTRUP_INFO_BITS) == 30


def test_a_meter_alarm_fires_with_its_bits_in_words() -> None:
    def change(i: int, h: Hour) -> None:
        h.info_code = float(2 | 1 << 26) if i >= 40 else 0.0

    found = judge(series(change=change))
    assert set(found) == {"meter_alarm"}
    f = found["meter_alarm"]
    assert f.value == float(2 | 1 << 26)
    assert f.since_s == (WINDOW_START + 40 * HOUR_NS) / NS
    assert "low battery level, unknown bit 26" in f.text


def test_a_zero_info_code_and_an_ignored_bit_are_silent() -> None:
    assert judge(series()) == {}
    ignoring = TH.model_copy(update={"meter_alarm": TH.meter_alarm.model_copy(update={"ignore_bits": {0}})})
    found = judge(series(WINTER, lambda i, h: setattr(h, "info_code", 1.0)), thresholds=ignoring)
    assert found == {}


# -- signature deviation ---------------------------------------------------------------------------


def _sig_day(day: dt.date, heat: float, expected: float = 1000.0) -> DayKpi:
    return dataclasses.replace(
        history_of(day, 1)[0], day=day, heat_kwh=heat, signature_expected_kwh=expected, signature_r2=0.9
    )


def _judge_signature(
    today_heat: float, previous: list[float], *, expected: float = 1000.0, reference_scatter: float = 0.02
) -> dict[str, Finding]:
    """Ten days that followed the signature within ±``reference_scatter``, then ``previous``, then today."""
    reference = [expected * (1 + reference_scatter * (-1) ** i) for i in range(10)]
    heats = [*reference, *previous]
    history = [_sig_day(WINTER - dt.timedelta(days=len(heats) - i), h, expected) for i, h in enumerate(heats)]
    site_day = SiteDay("s1", "o1", None, WINTER, day_bounds(WINTER)[1], series(), -5.0, history=history)
    kpi = _sig_day(WINTER, today_heat, expected)
    return {f.code: f for f in detect(site_day, kpi, TH)}


def test_heat_outside_the_band_for_three_days_is_a_signature_deviation() -> None:
    found = _judge_signature(1400.0, [1300.0, 1350.0])
    f = found["signature_deviation"]
    assert f.value == pytest.approx(40.0)  # (1400 − 1000) / 1000
    assert f.threshold == 25.0
    assert f.since_s == day_bounds(WINTER - dt.timedelta(days=2))[0] / NS


def test_two_days_outside_the_band_are_not_yet_a_deviation() -> None:
    assert "signature_deviation" not in _judge_signature(1400.0, [1000.0, 1350.0])


@pytest.mark.parametrize(("heat", "fires"), [(1249.0, False), (1251.0, True), (749.0, True), (751.0, False)])
def test_signature_band_edge(heat: float, fires: bool) -> None:
    assert ("signature_deviation" in _judge_signature(heat, [heat, heat])) is fires


def test_days_on_both_sides_of_the_band_are_not_one_deviation() -> None:
    assert "signature_deviation" not in _judge_signature(1400.0, [600.0, 1400.0])


@pytest.mark.parametrize(("scatter", "fires"), [(0.099, True), (0.101, False)])
def test_a_signature_that_scatters_by_more_than_10_percent_is_no_reference(
    scatter: float, fires: bool
) -> None:
    # The reference days lie at ±scatter around the expectation: their RMS error is scatter.
    found = _judge_signature(1400.0, [1400.0, 1400.0], reference_scatter=scatter)
    assert ("signature_deviation" in found) is fires


def test_a_signature_needs_seven_reference_days() -> None:
    site_day = SiteDay(
        "s1",
        "o1",
        None,
        WINTER,
        day_bounds(WINTER)[1],
        series(),
        -5.0,
        history=[
            _sig_day(WINTER - dt.timedelta(days=3 - i), h) for i, h in enumerate([1000.0, 1400.0, 1400.0])
        ],
    )
    assert detect(site_day, _sig_day(WINTER, 1400.0), TH) == []


def test_a_small_load_needs_a_deviation_in_kwh_too() -> None:
    # 14 kWh against 10 expected is +40 % but only 4 kWh: below the 5 kWh floor; 16 kWh is 6 kWh over.
    assert "signature_deviation" not in _judge_signature(14.0, [14.0, 14.0], expected=10.0)
    assert "signature_deviation" in _judge_signature(16.0, [16.0, 16.0], expected=10.0)


def test_a_flat_summer_signature_is_a_reference_too() -> None:
    # Hot water only: r² says nothing (no weather dependence), the base load is followed within 2 %.
    site_day = SiteDay(
        "s1",
        "o1",
        None,
        SUMMER,
        day_bounds(SUMMER)[1],
        series(SUMMER),
        16.0,
        history=[
            dataclasses.replace(_sig_day(SUMMER - dt.timedelta(days=12 - i), h, 200.0), signature_r2=0.05)
            for i, h in enumerate([200.0 * (1 + 0.02 * (-1) ** i) for i in range(10)] + [300.0, 300.0])
        ],
        open_findings={},
    )
    kpi = dataclasses.replace(_sig_day(SUMMER, 300.0, 200.0), signature_r2=0.05)
    assert [f.code for f in detect(site_day, kpi, TH)] == ["signature_deviation"]


# -- summer bypass ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("ret", "fires"), [(55.1, True), (54.9, False)])
def test_summer_bypass_fires_below_15_k_out_of_the_heating_season(ret: float, fires: bool) -> None:
    def change(_: int, h: Hour) -> None:
        h.supply, h.ret, h.power = 70.0, ret, 3.0

    found = judge(series(SUMMER, change), SUMMER, outdoor_c=16.0)
    assert ("summer_bypass" in found) is fires
    if fires:
        assert found["summer_bypass"].value == pytest.approx(14.9)
        assert set(found) == {"summer_bypass"}


@pytest.mark.parametrize(("hours", "fires"), [(3, True), (2, False)])
def test_summer_bypass_fires_on_night_hours_at_almost_no_delta_t_though_the_day_cools_well(
    hours: int, fires: bool
) -> None:
    # Day hours: 5 kW at 70/40 °C. The first ``hours`` hours of the day: 0.5 kW at 70/64 °C (ΔT 6 K).
    # Volume-weighted over the day ΔT stays ≈ 28 K (above the day's 15 K limit): only the hours show it.
    def change(i: int, h: Hour) -> None:
        h.supply, h.ret, h.power = (70.0, 64.0, 0.5) if 24 <= i < 24 + hours else (70.0, 40.0, 5.0)

    found = judge(series(SUMMER, change), SUMMER, outdoor_c=16.0)
    assert ("summer_bypass" in found) is fires
    if fires:
        assert found["summer_bypass"].value == pytest.approx(6.0)
        assert found["summer_bypass"].threshold == 10.0
        assert set(found) == {"summer_bypass"}


def test_night_hours_at_a_healthy_summer_delta_t_are_no_bypass() -> None:
    def change(i: int, h: Hour) -> None:  # 0.5 kW at 70/55 °C at night: ΔT 15 K, above 10 K
        h.supply, h.ret, h.power = (70.0, 55.0, 0.5) if 24 <= i < 30 else (70.0, 40.0, 5.0)

    assert "summer_bypass" not in judge(series(SUMMER, change), SUMMER, outdoor_c=16.0)


def test_one_cool_summer_day_does_not_start_the_heating_season() -> None:
    def change(_: int, h: Hour) -> None:
        h.supply, h.ret, h.power = 62.0, 48.0, 3.0  # ΔT 14 K, the return under its 50 °C limit

    # 11 °C today after six days at 16 °C: the 7-day running mean is 15.3 °C, out of the season.
    warm = history_of(SUMMER, days=6, outdoor_c=16.0)
    found = judge(series(SUMMER, change), SUMMER, outdoor_c=11.0, history=warm)
    assert set(found) == {"summer_bypass"}
    # After six days at 9 °C it is the heating season (mean 9.3 °C): the same day is a low ΔT.
    cool = history_of(SUMMER, days=6, outdoor_c=9.0)
    found = judge(series(SUMMER, change), SUMMER, outdoor_c=11.0, history=cool)
    assert set(found) == {"low_delta_t"}


def test_low_delta_t_in_winter_is_not_a_summer_bypass() -> None:
    found = judge(series(change=temps(70.0, 56.0)), outdoor_c=-5.0)
    assert "summer_bypass" not in found


# -- the thresholds file ---------------------------------------------------------------------------


def test_the_shipped_file_holds_the_models_defaults() -> None:
    assert Thresholds.load() == Thresholds()
    assert Thresholds.load(DEFAULT_FILE) == Thresholds()


def test_a_partial_file_keeps_the_other_defaults(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("low_delta_t:\n  limit_mild_k: 25\n", encoding="utf-8")
    loaded = Thresholds.load(path)
    assert loaded.low_delta_t.limit_mild_k == 25.0
    assert loaded.high_return_temp == Thresholds().high_return_temp


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("low_delta_t:\n  limit_mildk: 25\n", "low_delta_t.limit_mildk"),
        ("low_delta_t:\n  limit_mild_k: warm\n", "low_delta_t.limit_mild_k"),
        ("silent_meter:\n  k: 0\n", "silent_meter.k"),
        ("high_return_temp:\n  cold_outdoor_c: 20\n", "high_return_temp"),
        ("meter_alarm:\n  ignore_bits: [40]\n", "meter_alarm"),
        ("[1, 2]\n", "top level"),
        ("low_delta_t: [\n", "not valid YAML"),
    ],
)
def test_a_mistake_in_the_file_is_one_line_naming_the_setting_and_the_key(
    tmp_path: Path, text: str, says: str
) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        Thresholds.load(path)
    message = str(err.value)
    assert message.startswith("INGEST_FAULT_THRESHOLDS_FILE")
    assert says in message
    assert "\n" not in message


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="INGEST_FAULT_THRESHOLDS_FILE cannot be read"):
        Thresholds.load(tmp_path / "nope.yaml")


def test_the_setting_names_the_file() -> None:
    from ingest.config import IngestSettings

    assert IngestSettings.model_fields["ingest_fault_thresholds_file"].default is None
