"""Plausible interval energy: hand-computed limits and verdicts, and the rule inside the pipeline."""

from __future__ import annotations

import math

import orjson
import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from energy_core.errors import ConfigError, Reason
from energy_core.factors import EmissionFactors
from energy_core.registry import AssetFile, Registry
from energy_core.schema import CARRIER_DISTRICT_HEAT, CARRIER_ELECTRICITY, Message, Point
from energy_core.settings import load
from ingest.__main__ import main
from ingest.adapters import Router, default_routes
from ingest.config import IngestSettings
from ingest.derive.deriver import Deriver
from ingest.derive.energy import Interval
from ingest.derive.plausible import (
    LIMIT_AREA,
    LIMIT_DEFAULT,
    LIMIT_DEVICE,
    PowerLimit,
    check_interval,
    energy_limits,
    power_limit,
)
from ingest.normalise import Normaliser
from ingest.pipeline import Pipeline

NS = 1_000_000_000
T0 = 1_740_000_000  # 2025-02-19, inside the shipped factors' validity
S = "hm-1\x1fdistrict_heat"
HOUR = 3600

# The issue's case: a 259 m² building, whose heat limit is 259 m² × 250 W/m² = 64.75 kW.
AREA_LIMIT = PowerLimit(64.75, LIMIT_AREA, "259 m² × 250 W/m², at least 50 kW")

REGISTRY = Registry(
    AssetFile.model_validate(
        {
            "owners": [{"id": "borlange-energi", "name": "Borlänge Energi"}],
            "sites": [
                {"id": "s1", "name": "Villa", "owner": "borlange-energi", "floor_area_m2": 259},
                {"id": "s2", "name": "No area", "owner": "borlange-energi"},
            ],
            "devices": [
                {"id": "hm-1", "site": "s1", "kind": "heat_meter"},
                {"id": "hm-6", "site": "s1", "kind": "heat_meter", "max_power_kw": 6},
                {"id": "em-1", "site": "s1", "kind": "electricity_meter"},
                {"id": "hm-2", "site": "s2", "kind": "heat_meter"},
            ],
        }
    )
)


def settings(**overrides: float) -> IngestSettings:
    return IngestSettings(influx_url="http://127.0.0.1:8086", **overrides)


def deriver() -> Deriver:
    return Deriver(EmissionFactors.load(), limits=energy_limits(settings(), REGISTRY))


def interval(seconds: float, kwh: float) -> Interval:
    return Interval(S, T0 * NS, T0 * NS + int(seconds * NS), kwh)


def test_the_issues_jump_of_7877_kwh_in_19_s_on_a_259_m2_building_is_implausible():
    verdict = check_interval(interval(19, 7877.0), AREA_LIMIT, 10.0)
    assert verdict is not None
    # 64.75 kW × 19 s / 3600 + 10 kWh resolution = 10.3417 kWh; 7877 kWh × 3600 / 19 s = 1,492,484.2 kW.
    assert verdict.allowed_kwh == pytest.approx(10.341736, abs=1e-6)
    assert verdict.implied_kw == pytest.approx(1_492_484.21, abs=0.01)
    assert verdict.seconds == 19.0
    detail = verdict.detail()
    for evidence in ("7877.000 kWh", "19.0 s", "1492484.2 kW", "64.8 kW limit", "floor_area", "259 m²"):
        assert evidence in detail


def test_a_register_tick_within_seconds_is_the_registers_resolution_not_an_anomaly():
    # A 1 kWh register on a 6 kW meter ticks once in 19 s: "189 kW", but within the resolution allowance.
    assert check_interval(interval(19, 1.0), AREA_LIMIT, 10.0) is None
    assert check_interval(interval(19, 10.34), AREA_LIMIT, 10.0) is None
    assert check_interval(interval(19, 10.35), AREA_LIMIT, 10.0) is not None
    # Without the allowance the same tick would be flagged: the allowance is what keeps it.
    assert check_interval(interval(19, 1.0), AREA_LIMIT, 0.0) is not None


def test_a_first_reading_after_a_long_gap_is_judged_by_its_average_power_over_the_gap():
    # 7877 kWh over 5 days is 65.6 kW on average: above 64.75 kW (allowed 64.75 × 120 + 10 = 7780 kWh).
    five_days = check_interval(interval(120 * HOUR, 7877.0), AREA_LIMIT, 10.0)
    assert five_days is not None
    assert five_days.allowed_kwh == pytest.approx(7780.0)
    assert five_days.implied_kw == pytest.approx(65.64, abs=0.01)
    # Over 6 days it is 54.7 kW on average: plausible (allowed 9334 kWh), booked.
    assert check_interval(interval(144 * HOUR, 7877.0), AREA_LIMIT, 10.0) is None


def test_a_zero_length_interval_beyond_the_resolution_has_infinite_power():
    verdict = check_interval(interval(0, 11.0), AREA_LIMIT, 10.0)
    assert verdict is not None
    assert math.isinf(verdict.implied_kw)
    assert check_interval(interval(0, 9.0), AREA_LIMIT, 10.0) is None


def test_the_limit_is_the_devices_maximum_else_the_sites_area_for_heat_else_the_carriers_default():
    assert power_limit(CARRIER_DISTRICT_HEAT, max_power_kw=6.0, floor_area_m2=259.0).kw == 6.0
    assert power_limit(CARRIER_DISTRICT_HEAT, max_power_kw=6.0).source == LIMIT_DEVICE
    by_area = power_limit(CARRIER_DISTRICT_HEAT, floor_area_m2=259.0)
    assert (by_area.kw, by_area.source) == (64.75, LIMIT_AREA)
    # A small house still gets a hot-water tap's 50 kW: 110 m² × 250 W/m² would be only 27.5 kW.
    assert power_limit(CARRIER_DISTRICT_HEAT, floor_area_m2=110.0).kw == 50.0
    # Floor area does not bound electricity (EV chargers, electric boilers): the carrier's default.
    elec = power_limit(CARRIER_ELECTRICITY, floor_area_m2=259.0)
    assert (elec.kw, elec.source) == (2000.0, LIMIT_DEFAULT)
    assert power_limit(CARRIER_DISTRICT_HEAT).kw == 10_000.0


def test_the_configured_limits_come_from_the_settings_and_the_registry():
    configured = settings(ingest_max_power_kw_district_heat=5000.0, ingest_max_heat_w_per_m2=100.0)
    limits = energy_limits(configured, REGISTRY)
    assert limits.limit("hm-1", CARRIER_DISTRICT_HEAT).kw == pytest.approx(50.0)  # max(25.9, 50)
    assert limits.limit("hm-6", CARRIER_DISTRICT_HEAT).kw == 6.0
    assert limits.limit("hm-2", CARRIER_DISTRICT_HEAT).kw == 5000.0
    assert limits.limit("unregistered", CARRIER_DISTRICT_HEAT).kw == 5000.0
    assert limits.limit("em-1", CARRIER_ELECTRICITY).kw == 2000.0
    assert limits.resolution_kwh == 10.0


@given(
    power_kw=st.floats(min_value=0.0, max_value=60.0),  # below 64.75 kW by more than float error
    steps_s=st.lists(st.integers(min_value=1, max_value=6 * HOUR), min_size=1, max_size=30),
    start_kwh=st.floats(min_value=0.0, max_value=1e7),
)
def test_a_meter_within_its_limit_with_a_1_kwh_register_is_never_flagged(power_kw, steps_s, start_kwh):
    true_kwh = start_kwh
    shown = math.floor(true_kwh)
    ts = 0
    for step in steps_s:
        true_kwh += power_kw * step / 3600
        now_shown = math.floor(true_kwh)
        verdict = check_interval(Interval(S, ts * NS, (ts + step) * NS, now_shown - shown), AREA_LIMIT, 1.0)
        assert verdict is None
        ts += step
        shown = now_shown


def pipeline(deriver: Deriver) -> Pipeline:
    return Pipeline(Router(default_routes("energy")), Normaliser(REGISTRY), deriver=deriver)


def message(device: str, ts: int, **values: float) -> Message:
    return Message(f"energy/v1/{device}", orjson.dumps({"ts": ts, "values": values}), (T0 + 3600) * NS)


def test_an_implausible_interval_is_dead_lettered_written_as_zero_and_starts_a_new_baseline():
    run = pipeline(deriver())
    assert run.process(message("hm-1", T0, energy=1000.0, power=6.0)).rejections == []
    jumped = run.process(message("hm-1", T0 + 19, energy=8877.0, power=6.0))
    [rejection] = jumped.rejections
    assert rejection.reason is Reason.IMPLAUSIBLE_ENERGY
    assert rejection.device_key == "hm-1"
    assert "7877.000 kWh in 19.0 s" in rejection.detail
    assert "power_kw=6" in rejection.detail
    # The reading itself is stored; its interval is written as 0 kWh and 0 kg CO₂e, never 7877.
    [reading] = [p for p in jumped.points if p.measurement == "district_heating"]
    assert reading.fields["energy_kwh"] == 8877.0
    assert [p.fields["kwh"] for p in jumped.points if p.measurement == "energy"] == [0.0]
    assert {p.fields["co2e_kg"] for p in jumped.points if p.measurement == "emissions"} == {0.0}
    # The next interval counts from the new register value: 8877 → 8877.5 is 0.5 kWh.
    after = run.process(message("hm-1", T0 + 600, energy=8877.5))
    assert after.rejections == []
    assert [p.fields["kwh"] for p in after.points if p.measurement == "energy"] == [0.5]


def test_a_late_reading_that_makes_a_booked_interval_implausible_overwrites_it_with_zero():
    # 0 → 100 kWh over 10 h is plausible and booked; a late reading at 9 h 59 min 41 s showing 0
    # puts the whole 100 kWh into the last 19 s: that interval is rewritten as 0 and dead-lettered.
    run = pipeline(deriver())
    run.process(message("hm-1", T0 - 36_000, energy=0.0))
    booked = run.process(message("hm-1", T0, energy=100.0))
    assert [p.fields["kwh"] for p in booked.points if p.measurement == "energy"] == [100.0]
    late = run.process(message("hm-1", T0 - 19, energy=0.0))
    assert {p.ts_ns // NS: p.fields["kwh"] for p in late.points if p.measurement == "energy"} == {
        T0 - 19: 0.0,
        T0: 0.0,
    }
    assert [r.reason for r in late.rejections] == [Reason.IMPLAUSIBLE_ENERGY]


def test_without_a_rejection_list_or_limits_the_deriver_still_withholds_implausible_energy():
    plain = Deriver(EmissionFactors.load())  # no registry facts: the carriers' defaults, 10 MW for heat
    device = REGISTRY.resolve("hm-2")
    assert device is not None
    first = Point("district_heating", device.tags, {"energy_kwh": 0.0}, T0 * NS)
    jump = Point("district_heating", device.tags, {"energy_kwh": 1e6}, (T0 + 19) * NS)
    assert plain.derive([(device, first)]) == []
    [energy, *_] = plain.derive([(device, jump)])
    assert energy.fields == {"kwh": 0.0}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("INGEST_MAX_POWER_KW_DISTRICT_HEAT", "0"),
        ("INGEST_MAX_POWER_KW_ELECTRICITY", "lots"),
        ("INGEST_MAX_HEAT_W_PER_M2", "-5"),
        ("INGEST_ENERGY_RESOLUTION_KWH", "-1"),
    ],
)
def test_a_bad_limit_setting_is_one_line_naming_the_key(monkeypatch, key, value):
    monkeypatch.setenv("INFLUX_URL", "http://127.0.0.1:8086")
    monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as raised:
        load(IngestSettings)
    assert str(raised.value).startswith(f"{key} is invalid")


def test_a_device_max_power_that_is_not_positive_is_refused_naming_the_field(tmp_path):
    assets = tmp_path / "assets.yaml"
    assets.write_text(
        "owners: [{id: o, name: O}]\nsites: [{id: s, name: S, owner: o}]\n"
        "devices: [{id: hm-1, site: s, kind: heat_meter, max_power_kw: 0}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as raised:
        Registry.load(assets)
    assert "devices.0.max_power_kw" in str(raised.value)


def test_backfill_reads_the_registry_for_the_limits_and_a_bad_one_stops_it_in_one_line(
    monkeypatch, tmp_path, capsys
):
    monkeypatch.setenv("INFLUX_URL", "http://127.0.0.1:9")  # never contacted: the registry fails first
    monkeypatch.setenv("ASSETS_FILE", str(tmp_path / "missing.yaml"))
    saved = structlog.get_config()  # main() configures structlog onto this test's captured stderr
    try:
        assert main(["backfill", "--start", "2025-01-02T00:00:00Z", "--end", "2025-01-03T00:00:00Z"]) == 2
    finally:
        structlog.configure(**saved)
    err = capsys.readouterr().err.strip()
    assert err.startswith("configuration error: ASSETS_FILE cannot be read")
    assert "\n" not in err


def test_a_register_that_restarts_from_a_high_value_is_not_counted_from_zero_in_19_s():
    # A restarted simulator's meter goes back to its initial register, 7877 kWh, below 10 % of the
    # 80,000 kWh it had reached: the drop rule would count 7877 kWh "since zero", in 19 s.
    run = pipeline(deriver())
    run.process(message("hm-1", T0, energy=80_000.0))
    restarted = run.process(message("hm-1", T0 + 19, energy=7877.0))
    assert [p.fields["kwh"] for p in restarted.points if p.measurement == "energy"] == [0.0]
    assert [r.reason for r in restarted.rejections] == [Reason.IMPLAUSIBLE_ENERGY]
    # A real counter reset (to a few kWh) stays plausible and is booked, as before.
    run.process(message("hm-2", T0, energy=80_000.0))
    reset = run.process(message("hm-2", T0 + 600, energy=3.0))
    assert reset.rejections == []
    assert [p.fields["kwh"] for p in reset.points if p.measurement == "energy"] == [3.0]


def test_unregistered_devices_share_their_carriers_default_so_the_cache_stays_bounded():
    limits = energy_limits(settings(), REGISTRY)
    for i in range(1000):
        assert limits.limit(f"commissioning-{i}", CARRIER_DISTRICT_HEAT).source == LIMIT_DEFAULT
    limits.limit("hm-1", CARRIER_DISTRICT_HEAT)
    assert len(limits._limits) == 2


def test_replaying_the_letter_after_raising_the_meters_max_power_books_the_interval():
    first = deriver()
    jump = message("hm-1", T0 + 19, energy=1100.0)  # 100 kWh in 19 s: 18,947 kW on a 64.75 kW site
    pipeline(first).process(message("hm-1", T0, energy=1000.0))
    assert [r.reason for r in pipeline(first).process(jump).rejections] == [Reason.IMPLAUSIBLE_ENERGY]
    # The registry now says the substation delivers up to 20 MW; ingest restarted with its history.
    raised = Registry(
        AssetFile.model_validate(
            REGISTRY.assets.model_dump()
            | {"devices": [{"id": "hm-1", "site": "s1", "kind": "heat_meter", "max_power_kw": 20_000}]}
        )
    )
    restarted = Deriver(EmissionFactors.load(), state=first.state, limits=energy_limits(settings(), raised))
    replayed = Pipeline(Router(default_routes("energy")), Normaliser(raised), deriver=restarted).process(jump)
    assert replayed.rejections == []
    assert [p.fields["kwh"] for p in replayed.points if p.measurement == "energy"] == [100.0]
