"""Substation faults in the simulator: each one's physics on one meter, prevalence, ground truth."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime

import orjson
import pytest

from bench.bench_faults import score_classes, score_codes
from energy_core.analysis import FAULTS
from simulators.__main__ import main
from simulators.city import Format, build_city
from simulators.faults import FaultRates
from simulators.heat import HeatMeter, rho_cp_kwh_per_m3k
from simulators.simulation import Simulation
from simulators.substation_faults import (
    INFO_CODE_FLOW_SENSOR_WEAK_OR_AIR,
    GroundTruth,
    MeterFault,
    SubstationFault,
    plan,
)
from simulators.weather import OutdoorClimate

JAN_15 = datetime(2026, 1, 15, tzinfo=UTC).timestamp()
JUL_15 = datetime(2026, 7, 15, tzinfo=UTC).timestamp()
OCT_1 = datetime(2026, 10, 1, tzinfo=UTC).timestamp()
HOUR, DAY, STEP = 3600.0, 86400.0, 900.0


def _readings(
    faults: list[MeterFault], start: float = JAN_15, days: float = 2.0, design_kw: float = 100.0
) -> list[tuple[float, dict[str, float]]]:
    """A meter's 15-minute readings over ``days``; the same weather and noise with or without faults."""
    meter = HeatMeter("hm", design_load_kw=design_kw, energy_kwh=5000.0, volume_m3=300.0, faults=faults)
    climate, rng = OutdoorClimate(7), random.Random(7)
    out = []
    for k in range(int(days * DAY / STEP)):
        ts = start + k * STEP
        out.append((ts, meter.read(ts, climate.temperature_c(ts), rng)))
    return out


def _after(readings: list[tuple[float, dict[str, float]]], at: float) -> list[dict[str, float]]:
    return [r for ts, r in readings if ts >= at]


FAULT_AT = JAN_15 + DAY


def test_a_fouled_exchanger_returns_warmer_water_and_pumps_more_for_the_same_heat():
    healthy = _after(_readings([]), FAULT_AT)
    fouled = _after(
        _readings([MeterFault(SubstationFault.FOULED_EXCHANGER, FAULT_AT, magnitude=15.0)]), FAULT_AT
    )
    for h, f in zip(healthy, fouled, strict=True):
        assert f["return_temp"] == pytest.approx(h["return_temp"] + 15.0, abs=0.02)
        assert f["power"] == h["power"]
        assert f["flow"] > h["flow"]


def test_a_leaking_bypass_adds_a_flow_that_does_not_follow_the_load():
    healthy = _after(_readings([]), FAULT_AT)
    leaking = _after(
        _readings([MeterFault(SubstationFault.LEAKING_BYPASS, FAULT_AT, magnitude=0.4)]), FAULT_AT
    )
    for h, f in zip(healthy, leaking, strict=True):
        dt_h, dt_f = h["supply_temp"] - h["return_temp"], f["supply_temp"] - f["return_temp"]
        # ΔT = ΔT₀ · q / (q + q_b) with q_b = 0.4 × the design flow (100 kW at 40 K).
        leak_m3h = 0.4 * 100.0 / (rho_cp_kwh_per_m3k(h["return_temp"]) * 40.0)
        assert dt_f == pytest.approx(dt_h * h["flow"] / (h["flow"] + leak_m3h), abs=0.05)
        assert f["power"] == h["power"]
        assert f["flow"] == pytest.approx(h["flow"] + leak_m3h, rel=0.01)
        # What is published still balances: P = q·ρ·c_p·ΔT.
        assert f["flow"] * rho_cp_kwh_per_m3k(f["return_temp"]) * dt_f == pytest.approx(f["power"], rel=1e-3)
    shares = [
        (f["supply_temp"] - f["return_temp"]) / (h["supply_temp"] - h["return_temp"])
        for h, f in zip(healthy, leaking, strict=True)
    ]
    assert max(shares) - min(shares) > 0.1  # the ΔT falls further at low load


@pytest.mark.parametrize(
    ("kind", "stuck", "moving"),
    [
        (SubstationFault.STUCK_ENERGY_REGISTER, "energy", "volume"),
        (SubstationFault.STUCK_VOLUME_REGISTER, "volume", "energy"),
    ],
)
def test_a_stuck_register_stays_constant_while_water_flows(kind, stuck, moving):
    readings = _readings([MeterFault(kind, FAULT_AT)])
    before = [r for ts, r in readings if ts < FAULT_AT]
    after = _after(readings, FAULT_AT)
    assert before[-1][stuck] > before[0][stuck]
    assert len({r[stuck] for r in after[1:]}) == 1
    assert all(r["flow"] > 0 and r["power"] > 0 for r in after)
    assert after[-1][moving] > after[0][moving]


def test_a_frozen_sensor_repeats_one_return_temperature_and_the_meter_computes_power_from_it():
    readings = _after(_readings([MeterFault(SubstationFault.FROZEN_SENSOR, FAULT_AT)]), FAULT_AT)
    assert len({r["return_temp"] for r in readings}) == 1
    assert len({r["supply_temp"] for r in readings}) > 20
    for r in readings:
        dt = r["supply_temp"] - r["return_temp"]
        assert r["power"] == pytest.approx(r["flow"] * rho_cp_kwh_per_m3k(r["return_temp"]) * dt, abs=2e-3)


def test_swapped_sensors_show_supply_below_return_and_accumulate_no_heat():
    healthy = _after(_readings([]), FAULT_AT)
    swapped = _after(_readings([MeterFault(SubstationFault.SWAPPED_SENSORS, FAULT_AT)]), FAULT_AT)
    for h, s in zip(healthy, swapped, strict=True):
        assert s["supply_temp"] < s["return_temp"]
        assert (s["supply_temp"], s["return_temp"]) == (h["return_temp"], h["supply_temp"])
        assert s["power"] == 0.0
        assert s["flow"] > 0
    assert len({r["energy"] for r in swapped[1:]}) == 1


def test_bad_control_takes_the_faults_share_more_heat_per_day():
    def day_kwh(readings: list[dict[str, float]]) -> float:
        return readings[96]["energy"] - readings[0]["energy"]

    healthy = day_kwh(_after(_readings([], days=3.0), FAULT_AT))
    overheating = _readings([MeterFault(SubstationFault.BAD_CONTROL, FAULT_AT, magnitude=1.5)], days=3.0)
    assert day_kwh(_after(overheating, FAULT_AT)) == pytest.approx(1.5 * healthy, rel=1e-3)


def test_a_summer_bypass_brings_the_delta_t_near_zero_at_low_load_but_not_in_winter():
    def delta_t(start: float, faults: list[MeterFault]) -> list[tuple[float, float]]:
        readings = _readings(faults, start=start, days=1.0)
        return [(r["power"], r["supply_temp"] - r["return_temp"]) for _, r in readings]

    def bypass(start: float) -> list[MeterFault]:
        return [MeterFault(SubstationFault.SUMMER_BYPASS, start, magnitude=0.4)]

    healthy, faulty = delta_t(JUL_15, []), delta_t(JUL_15, bypass(JUL_15))
    low_load = [k for k, (power, _) in enumerate(healthy) if power < 6.0]  # under 6 % of the design load
    assert len(low_load) >= 12  # summer nights
    assert all(healthy[k][1] > 25.0 and faulty[k][1] < 6.0 for k in low_load)
    assert all(faulty[k][0] == healthy[k][0] for k in low_load)  # the same heat
    assert delta_t(JAN_15, bypass(JAN_15)) == delta_t(JAN_15, [])


def test_a_meter_alarm_reports_info_code_16_only_while_it_lasts():
    end = FAULT_AT + 6 * HOUR
    readings = _readings([MeterFault(SubstationFault.METER_ALARM, FAULT_AT, end)])
    codes = {ts: r["info_code"] for ts, r in readings}
    assert all(code == (16.0 if FAULT_AT <= ts < end else 0.0) for ts, code in codes.items())
    assert INFO_CODE_FLOW_SENSOR_WEAK_OR_AIR == 16
    assert "info_code" not in _readings([])[0][1]  # a healthy meter's readings are as they were


@pytest.mark.parametrize("fmt", [*list(Format)[:1], Format.SENML, Format.SPARKPLUG, Format.WMBUSMETERS])
def test_every_heat_meter_format_carries_the_info_code(fmt):
    city = build_city(200, seed=3, formats=[fmt])
    sim = Simulation(city, faults=FaultRates(substations=1.0), seed=3)
    truth = sim.plan_substation_faults(OCT_1, OCT_1 + 10 * DAY)
    alarm = next(t for t in truth if t.fault is SubstationFault.METER_ALARM)
    topic = sim.encoders.topic(next(d for d in city.devices if d.id == alarm.device))
    messages = list(sim.run(alarm.start_s, 600.0, count=len(city.devices)))
    payloads = [p for t, p in messages if t == topic]
    assert payloads
    if fmt is Format.SPARKPLUG:
        births = [p for t, p in messages if t == topic.replace("DDATA", "DBIRTH")]
        assert b"heat/info_code" in births[0]  # the birth names the metric the data sends by alias
    else:
        assert b"info_code" in payloads[-1]
        assert b"16" in payloads[-1]


def test_a_silent_meter_sends_nothing_while_silent_and_its_registers_catch_up():
    city = build_city(100, seed=4, formats=[Format.WMBUSMETERS])  # heat meters only
    sim = Simulation(city, faults=FaultRates(substations=1.0), seed=4, keep_readings=True)
    truth = [
        t
        for t in sim.plan_substation_faults(OCT_1, OCT_1 + 20 * DAY)
        if t.fault is SubstationFault.SILENT_METER
    ]
    silent = truth[0]
    assert silent.end_s is not None
    for _ in sim.run(silent.start_s - DAY, HOUR, until_s=silent.end_s + DAY):
        pass
    mine = [r for r in sim.report.good_readings if r.device_id == silent.device]
    inside = [r for r in mine if silent.start_s <= r.ts_s < silent.end_s]
    before = [r for r in mine if r.ts_s < silent.start_s]
    after = [r for r in mine if r.ts_s >= silent.end_s]
    assert not inside
    assert before
    assert after
    gap_kwh = after[0].values["energy"] - before[-1].values["energy"]
    assert gap_kwh > 0.5 * (silent.end_s - silent.start_s) / HOUR * min(r.values["power"] for r in mine)


def test_about_40_percent_of_a_500_site_citys_substations_get_a_fault_of_every_class():
    city = build_city(500, seed=1)
    truth = plan(city, OCT_1, OCT_1 + 60 * DAY, seed=1)
    meters = sum(1 for d in city.devices if d.id.startswith("hm-"))
    assert meters == 500
    assert 0.35 <= len(truth) / meters <= 0.45
    assert {t.fault for t in truth} == set(SubstationFault)
    assert len({t.device for t in truth}) == len(truth)  # one fault per substation
    for t in truth:
        assert t.code in FAULTS
        assert set(t.also) <= set(FAULTS)
        assert OCT_1 < t.start_s < OCT_1 + 60 * DAY
        assert t.end_s is None or t.end_s > t.start_s


def test_the_fault_plan_is_the_same_for_the_same_seed_and_differs_for_another():
    city = build_city(200, seed=2)
    one = plan(city, OCT_1, OCT_1 + 60 * DAY, seed=2)
    assert one == plan(build_city(200, seed=2), OCT_1, OCT_1 + 60 * DAY, seed=2)
    assert one != plan(city, OCT_1, OCT_1 + 60 * DAY, seed=3)


def test_a_faulty_citys_stream_is_deterministic_and_a_city_without_substation_faults_has_none():
    def stream(rates: FaultRates) -> list[tuple[str, bytes]]:
        sim = Simulation(build_city(40, seed=5), faults=rates, seed=5)
        return list(sim.run(OCT_1, 900.0, until_s=OCT_1 + DAY))

    rates = FaultRates.parse("realistic,substations")
    assert stream(rates) == stream(rates)
    plain = Simulation(build_city(40, seed=5), faults=FaultRates.realistic(), seed=5)
    list(plain.run(OCT_1, 600.0, count=200))
    assert plain.report.substation_faults is None
    assert all(not getattr(d.model, "faults", []) for d in plain.city.devices)
    assert "substation_faults" not in plain.report.to_dict()


def test_the_fault_spec_combines_realistic_and_substations():
    rates = FaultRates.parse("realistic,substations")
    assert rates.substations == 0.4
    assert rates.duplicate == FaultRates.realistic().duplicate
    assert FaultRates.parse("substations=0.6, duplicate=0.01").substations == 0.6
    assert all(fault != "substations" for fault, _ in rates.per_reading())
    with pytest.raises(ValueError, match="substations"):
        FaultRates.parse("substations=1.5")


def test_a_healthy_citys_buildings_return_water_at_different_temperatures():
    city = build_city(200, seed=1, formats=[Format.WMBUSMETERS])  # heat meters only
    sim = Simulation(city, keep_readings=True)
    for _ in sim.run(OCT_1, 3600.0, until_s=OCT_1 + 2 * DAY):
        pass
    by_site: dict[str, list[float]] = {}
    for r in sim.report.good_readings:
        if r.measurement == "district_heating":
            assert 35.0 <= r.values["return_temp"] <= 60.0
            by_site.setdefault(r.device_id, []).append(r.values["return_temp"])
    means = [statistics.fmean(v) for v in by_site.values()]
    assert max(means) - min(means) > 12.0


def test_the_report_holds_the_ground_truth(tmp_path):
    out = tmp_path / "report.json"
    rc = main(
        [
            "--sites", "60", "--seed", "2", "--start", "2026-10-01T00:00", "--backfill", "4d",
            "--step", "1h", "--faults", "substations", "--dry-run", "--quiet", "--report", str(out),
        ]
    )  # fmt: skip
    assert rc == 0
    truth = orjson.loads(out.read_bytes())["substation_faults"]
    assert 12 <= len(truth) <= 36  # about 40 % of 60
    first = truth[0]
    assert set(first) >= {"site", "device", "code", "start", "end"}
    assert first["code"] in FAULTS
    assert first["start"].startswith("2026-10")


def test_the_detection_bench_scores_recall_time_to_detect_and_precision_by_hand():
    oct_2_local_midnight_ns = int(datetime(2026, 10, 1, 22, tzinfo=UTC).timestamp()) * 1_000_000_000
    stuck = GroundTruth("s1", "hm-1", SubstationFault.STUCK_ENERGY_REGISTER, "stuck_energy_register",
                        ("low_delta_t",), OCT_1 + 20 * HOUR, None, 0.0)  # fmt: skip
    missed = GroundTruth("s2", "hm-2", SubstationFault.STUCK_ENERGY_REGISTER, "stuck_energy_register",
                         (), OCT_1, None, 0.0)  # fmt: skip
    found = {
        ("s1", "stuck_energy_register"): [oct_2_local_midnight_ns],  # the local day 2 October
        ("s1", "low_delta_t"): [oct_2_local_midnight_ns],  # explained by the stuck register
        ("s3", "stuck_energy_register"): [oct_2_local_midnight_ns],  # a healthy site
    }
    scores = {s.fault: s for s in score_classes([stuck, missed], found, OCT_1 + 10 * DAY, [])}
    stuck_score = scores[SubstationFault.STUCK_ENERGY_REGISTER]
    assert (stuck_score.observable, stuck_score.detected, stuck_score.recall) == (2, 1, 0.5)
    # From 20:00 UTC on 1 October to the end of the local day 2 October (22:00 UTC): 26 h.
    assert stuck_score.hours_to_detect == [26.0]
    codes = score_codes([stuck, missed], found)
    assert codes["stuck_energy_register"] == (2, 1, 1)  # reported on two sites, one explained, one healthy
    assert codes["low_delta_t"] == (1, 1, 0)
