"""Readings, series, energy and emissions against real InfluxDB, numbers cross-checked."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from collections import defaultdict

import httpx
import pytest

from tests.integration.api.conftest import DH_FACTOR, ENERGY_END, ENERGY_START, LIVE, MARKET_FACTOR, STOCKHOLM

pytestmark = pytest.mark.integration

RANGE = {"start": ENERGY_START.isoformat(), "end": ENERGY_END.isoformat()}


def _expected(intervals, period) -> dict[tuple[str, str], float]:
    """Sum interval energy by local period start (ISO text) and carrier, the way a bill would."""
    totals: dict[tuple[str, str], float] = defaultdict(float)
    for moment, carrier, kwh in intervals:
        local = moment.astimezone(STOCKHOLM)
        if period == "hour":
            start = local.replace(minute=0, second=0)
        elif period == "day":
            start = local.replace(hour=0, minute=0, second=0)
        else:
            start = local.replace(day=1, hour=0, minute=0, second=0)
        totals[(dt.datetime.fromisoformat(start.isoformat()).isoformat(), carrier)] += kwh
    return totals


def test_site_latest_gives_each_devices_newest_point(api_world):
    with api_world.client("tunabyggen") as client:
        body = client.get("/sites/tb-1/latest").json()
    by_device = {r["device"]: r for r in body["readings"]}
    assert set(by_device) == {"hm-tb-1", "em-tb-1", "in-tb-1"}
    power, supply, ret = LIVE["hm-tb-1"]
    assert by_device["hm-tb-1"]["fields"]["power_kw"] == power - 5  # the 5 s old point, not the older ones
    assert by_device["hm-tb-1"]["fields"]["delta_t_k"] == supply - ret
    assert by_device["in-tb-1"]["fields"] == {"temperature_c": 21.5, "co2_ppm": 650.0}
    assert by_device["em-tb-1"]["measurement"] == "electricity"


def test_device_latest_and_series_read_the_measurement_of_the_devices_kind(api_world):
    with api_world.client("operator") as client:
        assert client.get("/devices/hm-sub-1/latest").json()["reading"]["fields"]["power_kw"] == 800.0 - 5
    with api_world.client("tunabyggen") as client:
        r = client.get("/devices/in-tb-1/series", params={"field": "co2_ppm"})
    assert r.json()["series"][0]["points"][0]["value"] == 650.0


def test_raw_and_aggregated_series_and_csv_agree(api_world):
    params = {"measurement": "district_heating", "field": "power_kw"}
    with api_world.client("tunabyggen") as client:
        raw = client.get("/sites/tb-1/series", params=params).json()
        mean = client.get("/sites/tb-1/series", params={**params, "every": "1h", "aggregate": "max"}).json()
        text = client.get("/sites/tb-1/series", params={**params, "format": "csv"})
    values = [p["value"] for p in raw["series"][0]["points"]]
    assert sorted(values) == [120.0 - 120, 120.0 - 60, 120.0 - 5]
    assert max(p["value"] for s in mean["series"] for p in s["points"]) == 120.0 - 5
    assert text.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text.text)))
    assert sorted(float(r["power_kw"]) for r in rows) == sorted(values)
    assert {r["device"] for r in rows} == {"hm-tb-1"}


@pytest.mark.parametrize("every", ["hour", "day", "month"])
def test_energy_per_period_equals_the_sum_of_interval_energy(api_world, every):
    with api_world.client("tunabyggen") as client:
        body = client.get("/sites/tb-1/energy", params={**RANGE, "every": every}).json()
    got = {(b["start"], b["carrier"]): b["kwh"] for b in body["buckets"]}
    expected = _expected(api_world.intervals, every)
    assert got.keys() == expected.keys()
    for key, kwh in expected.items():
        assert got[key] == pytest.approx(kwh, rel=1e-9), key
    if every == "day":
        # 2025-03-30 is the local day with 23 hours: local-day bucketing must show it.
        spring = [b for b in body["buckets"] if b["start"].startswith("2025-03-30")]
        assert spring
        assert spring[0]["start"] == "2025-03-30T00:00:00+01:00"


def test_kwh_per_m2_uses_the_registered_floor_area(api_world):
    with api_world.client("tunabyggen") as client:
        with_area = client.get("/sites/tb-1/energy", params={**RANGE, "every": "day"}).json()
        without = client.get("/sites/tb-2/energy", params={**RANGE, "every": "day"}).json()
    assert with_area["floor_area_m2"] == 1200.0
    for b in with_area["buckets"]:
        assert b["kwh_per_m2"] == pytest.approx(b["kwh"] / 1200.0, abs=0.00005)  # rounded to 4 decimals
    assert without["floor_area_m2"] is None


@pytest.mark.parametrize("every", ["day", "month", "year"])
def test_emissions_equal_energy_times_factor_per_carrier_and_method(api_world, every):
    energy_every = "day" if every == "day" else "month"
    with api_world.client("tunabyggen") as client:
        emissions = client.get("/sites/tb-1/emissions", params={**RANGE, "every": every}).json()
        energy = client.get("/sites/tb-1/energy", params={**RANGE, "every": energy_every}).json()
        scope_wide = client.get("/emissions", params={**RANGE, "every": every}).json()
    kwh: dict[tuple[str, str], float] = defaultdict(float)
    for b in energy["buckets"]:
        start = b["start"] if every != "year" else b["start"][:4] + "-01-01T00:00:00+01:00"
        kwh[(start, b["carrier"])] += b["kwh"]
    factors = {"location": DH_FACTOR, "market": MARKET_FACTOR}
    assert len(emissions["buckets"]) == 2 * len(kwh)  # each carrier × both methods, never added up
    for b in emissions["buckets"]:
        expected = kwh[(b["start"], b["carrier"])] * factors[b["method"]] / 1000
        assert b["co2e_kg"] == pytest.approx(expected, abs=0.001)  # rounded to grams
    assert scope_wide["buckets"] == emissions["buckets"]  # tb-1 holds all of tunabyggen's energy


def newest_heat_reading_ns(api_world) -> int:
    q = 'SELECT last("power_kw") FROM "district_heating"'
    r = httpx.get(f"{api_world.influx_url}/query", params={"q": q, "db": api_world.db, "epoch": "ns"})
    return int(r.json()["results"][0]["series"][0]["values"][0][0])


def test_overview_sums_the_newest_reading_of_each_meter_and_prices_it(api_world):
    with api_world.client("operator") as operator, api_world.client("tunabyggen") as tenant:
        asked_at = time.time()
        everyone = operator.get("/network/overview").json()
        answered_at = time.time()
        own = tenant.get("/network/overview").json()
        network = operator.get("/network/overview", params={"network": "borlange"}).json()
        unknown = tenant.get("/network/overview", params={"network": "nowhere"})
    newest = {d: (p - 5, s, r) for d, (p, s, r) in LIVE.items()}
    total_kw = sum(p for p, _, _ in newest.values())
    assert everyone["total_heat_load_mw"] == pytest.approx(total_kw / 1000)
    assert everyone["devices_reporting"] == everyone["devices_registered"] == 4
    # Weighted by each meter's flow; these send none, so by the flow their power needs, P / ΔT.
    flow = {d: p / (s - r) for d, (p, s, r) in newest.items()}
    supply = sum(s * flow[d] for d, (_, s, _) in newest.items()) / sum(flow.values())
    ret = sum(r * flow[d] for d, (_, _, r) in newest.items()) / sum(flow.values())
    assert everyone["mean_supply_temp_c"] == pytest.approx(supply, abs=0.005)
    assert everyone["mean_return_temp_c"] == pytest.approx(ret, abs=0.005)
    assert everyone["mean_delta_t_k"] == pytest.approx(
        everyone["mean_supply_temp_c"] - everyone["mean_return_temp_c"]
    )
    # the network's own factor wins over the less specific one (999 g/kWh) in the file
    assert everyone["emission_rate_kg_per_h"] == pytest.approx(total_kw * DH_FACTOR / 1000, abs=0.0005)
    # The age of the newest reading when the API answered, however long the module has run.
    newest_s = newest_heat_reading_ns(api_world) / 1e9
    assert asked_at - newest_s - 1 <= everyone["age_s"] <= answered_at - newest_s + 1
    tenant_kw = newest["hm-tb-1"][0] + newest["hm-tb-2"][0]
    assert own["total_heat_load_mw"] == pytest.approx(tenant_kw / 1000)
    assert own["devices_registered"] == 2
    assert network["total_heat_load_mw"] == everyone["total_heat_load_mw"]
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/sites/tb-1/energy", {"start": "2025-04-01T00:00:00Z", "end": "2025-03-01T00:00:00Z"}, 400,
         "inverted_range"),
        ("/sites/tb-1/energy", {"every": "hour", "start": "2020-01-01T00:00:00Z",
                                "end": "2025-01-01T00:00:00Z"}, 400, "range_too_large"),
        ("/sites/tb-1/series", {"measurement": "district_heating", "field": "power_kw", "every": "1x",
                                "aggregate": "mean"}, 422, "invalid_parameter"),
        ("/sites/tb-1/series", {"measurement": "district_heating", "field": "power_kw", "every": "1h",
                                "aggregate": "stddevx"}, 422, "invalid_parameter"),
        ("/sites/tb-1/series", {"measurement": "district_heating", "field": "power_kw", "aggregate": "max"},
         400, "bad_aggregate"),
        ("/sites/tb-1/series", {"measurement": "district_heating", "field": "co2_ppm"}, 400, "unknown_field"),
        ("/sites/tb-1/series", {"measurement": "district_heating", "field": "power_kw", "every": "1s",
                                "aggregate": "mean", "start": "2025-01-01T00:00:00Z",
                                "end": "2025-03-01T00:00:00Z"}, 400, "too_many_buckets"),
        ("/sites/tb-1/series", {"measurement": "district_heating", "field": "power_kw", "start": "yesterday"},
         422, "invalid_parameter"),
        ("/sites/tb-1/energy", {"every": "fortnight"}, 422, "invalid_parameter"),
        ("/sites/nowhere/energy", {}, 404, "unknown_site"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_clear_json_4xx(api_world, path, params, status, code):
    with api_world.client("tunabyggen") as client:
        r = client.get(path, params=params)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == code
    assert body["message"]


def test_openapi_document_and_docs_page_are_served_without_a_key(api_world):
    with api_world.client() as anonymous:
        document = anonymous.get("/openapi.json").json()
        docs = anonymous.get("/docs")
        live = anonymous.get("/live")
    assert "/sites/{site_id}/energy" in document["paths"]
    assert {"X-API-Key", "key"} <= {s.get("name") for s in document["components"]["securitySchemes"].values()}
    assert docs.status_code == 200
    assert "EventSource" in live.text
