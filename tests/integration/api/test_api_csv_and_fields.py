"""Several fields per series, every's default aggregate, CSV of latest readings, rounding, local
times in every CSV and the Swedish Excel dialect, against the real API and InfluxDB (issue 17)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time

import pytest

from energy_core.schema import Point
from tests.integration.api.conftest import ENERGY_END, STOCKHOLM, tags

pytestmark = pytest.mark.integration

# Winter points of hm-tb-2 with the float artefacts a division leaves behind (issue 17's 80.80250000000001).
T0 = dt.datetime(2026, 1, 10, 7, 40, tzinfo=dt.UTC)  # 08:40 in Stockholm
WINTER = {"start": "2026-01-10T00:00:00Z", "end": "2026-01-11T00:00:00Z"}
POINTS = [  # minutes after T0, supply, return
    (0, 80.80250000000001, 40.1),
    (5, 81.2, 40.30000000000001),
    (10, 79.6, 39.9),
]
FIELDS = {"field": ["supply_temp_c", "return_temp_c"]}  # device routes: the measurement is the kind's
SITE_FIELDS = {"measurement": "district_heating", **FIELDS}


@pytest.fixture(scope="module")
def world(api_world):
    """The test city plus the winter points above, a future electricity reading of em-tb-1 and a
    fresh heat reading of hm-tb-2."""
    points = [
        Point(
            "district_heating",
            tags("hm-tb-2"),
            {"supply_temp_c": s, "return_temp_c": r},
            int((T0 + dt.timedelta(minutes=m)).timestamp()) * 10**9,
        )
        for m, s, r in POINTS
    ]
    # Newer than anything else of em-tb-1, so it is the device's latest.
    future_ns = time.time_ns() + 3600 * 10**9
    points.append(
        Point(
            "electricity",
            tags("em-tb-1"),
            {"power_kw": 12.3456789, "energy_import_kwh": 1000.0004},
            future_ns,
        )
    )
    # And hm-tb-2's newest heat reading, for the overview (fresh for API_FRESH_WINDOW_S, 900 s).
    fields = {"power_kw": 10.0001, "supply_temp_c": 80.80250000000001, "return_temp_c": 40.30000000000001}
    points.append(Point("district_heating", tags("hm-tb-2"), fields, time.time_ns()))
    api_world.write(points)
    api_world.roll_up([T0.astimezone(STOCKHOLM).date()])
    return api_world


def _csv(text: str, delimiter: str = ",") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff")), delimiter=delimiter))


def test_supply_and_return_come_back_together_from_one_series_call(world):
    with world.client("tunabyggen") as client:
        r = client.get("/devices/hm-tb-2/series", params={**FIELDS, **WINTER})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["field"] == "supply_temp_c"  # the single-field shape still names the first field
    assert body["fields"] == ["supply_temp_c", "return_temp_c"]
    points = body["series"][0]["points"]
    assert [p["values"] for p in points] == [
        {"supply_temp_c": 80.8, "return_temp_c": 40.1},
        {"supply_temp_c": 81.2, "return_temp_c": 40.3},
        {"supply_temp_c": 79.6, "return_temp_c": 39.9},
    ]
    assert [p["value"] for p in points] == [80.8, 81.2, 79.6]
    assert points[0]["time"] == "2026-01-10T08:40:00+01:00"


def test_a_single_field_series_keeps_its_shape(world):
    with world.client("tunabyggen") as client:
        body = client.get("/devices/hm-tb-2/series", params={"field": "return_temp_c", **WINTER}).json()
    assert (body["field"], body["fields"]) == ("return_temp_c", ["return_temp_c"])
    assert [p["value"] for p in body["series"][0]["points"]] == [40.1, 40.3, 39.9]


def test_several_fields_come_as_columns_of_one_csv_in_local_time(world):
    with world.client("tunabyggen") as client:
        r = client.get("/sites/tb-2/series", params={**SITE_FIELDS, **WINTER, "format": "csv"})
    assert r.status_code == 200, r.text
    assert r.text.splitlines()[0] == "device,time,supply_temp_c,return_temp_c"
    rows = _csv(r.text)
    assert rows[0] == {
        "device": "hm-tb-2",
        "time": "2026-01-10T08:40:00+01:00",
        "supply_temp_c": "80.8",
        "return_temp_c": "40.1",
    }
    assert [r["return_temp_c"] for r in rows] == ["40.1", "40.3", "39.9"]


def test_every_without_aggregate_means_the_mean(world):
    with world.client("tunabyggen") as client:
        r = client.get("/devices/hm-tb-2/series", params={**FIELDS, **WINTER, "every": "1h"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["aggregate"] == "mean"
    [bucket] = body["series"][0]["points"]
    assert bucket["time"] == "2026-01-10T08:00:00+01:00"
    assert bucket["values"] == {"supply_temp_c": 80.53, "return_temp_c": 40.1}  # 80.5342 and 40.1000…


def test_aggregate_without_every_is_still_a_clear_400(world):
    with world.client("tunabyggen") as client:
        r = client.get("/devices/hm-tb-2/series", params={**FIELDS, **WINTER, "aggregate": "max"})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "bad_aggregate"


def test_more_fields_than_a_measurement_holds_is_a_400(world):
    many = ["power_kw", "supply_temp_c", "return_temp_c", "delta_t_k", "flow_m3h", "volume_m3",
            "energy_kwh", "info_code", "co2_ppm"]  # fmt: skip
    with world.client("tunabyggen") as client:
        r = client.get("/devices/hm-tb-2/series", params={"field": many})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "too_many_fields"


def test_latest_readings_are_served_as_csv_rounded_in_local_time(world):
    with world.client("tunabyggen") as client:
        device = client.get("/devices/em-tb-1/latest", params={"format": "csv"})
        site = client.get("/sites/tb-1/latest", params={"format": "csv"})
        as_json = client.get("/devices/em-tb-1/latest").json()
    assert device.status_code == 200, device.text
    assert device.headers["content-type"].startswith("text/csv")
    rows = _csv(device.text)
    assert [(r["device"], r["measurement"], r["field"], r["value"]) for r in rows] == [
        ("em-tb-1", "electricity", "energy_import_kwh", "1000.0"),
        ("em-tb-1", "electricity", "power_kw", "12.346"),
    ]
    assert dt.datetime.fromisoformat(rows[0]["time"]).utcoffset() in (
        dt.timedelta(hours=1),
        dt.timedelta(hours=2),
    )
    assert as_json["reading"]["fields"] == {"power_kw": 12.346, "energy_import_kwh": 1000.0}
    site_rows = _csv(site.text)
    assert {r["device"] for r in site_rows} == {"hm-tb-1", "em-tb-1", "in-tb-1"}
    assert ("in-tb-1", "co2_ppm", "650.0") in {(r["device"], r["field"], r["value"]) for r in site_rows}


def test_excel_sv_csv_has_semicolons_decimal_commas_crlf_and_a_bom(world):
    with world.client("tunabyggen") as client:
        r = client.get(
            "/sites/tb-2/series", params={**SITE_FIELDS, **WINTER, "format": "csv", "dialect": "excel-sv"}
        )
    assert r.status_code == 200, r.text
    assert r.content.startswith(b"\xef\xbb\xbf")
    lines = r.content.decode("utf-8-sig").split("\r\n")
    assert lines[0] == "device;time;supply_temp_c;return_temp_c"
    assert lines[1] == "hm-tb-2;2026-01-10T08:40:00+01:00;80,8;40,1"
    assert lines[-1] == ""  # CRLF after the last row too


def test_energy_and_emissions_csv_follow_the_same_rules(world):
    params = {"start": "2025-03-28T00:00:00+01:00", "end": ENERGY_END.isoformat(), "every": "day"}
    with world.client("tunabyggen") as client:
        energy = client.get("/sites/tb-1/energy", params={**params, "format": "csv", "dialect": "excel-sv"})
        energy_json = client.get("/sites/tb-1/energy", params=params).json()
        emissions = client.get("/sites/tb-1/emissions", params={**params, "format": "csv"})
    rows = _csv(energy.content.decode("utf-8-sig"), delimiter=";")
    assert rows[0]["start"] == "2025-03-28T00:00:00+01:00"
    first = energy_json["buckets"][0]
    assert rows[0]["kwh"] == repr(first["kwh"]).replace(".", ",")
    assert first["kwh_per_m2"] == round(first["kwh_per_m2"], 4)
    for row in _csv(emissions.text):
        assert dt.datetime.fromisoformat(row["start"]).utcoffset() is not None
        assert len(row["co2e_kg"].partition(".")[2]) <= 3  # grams, not 1.1254499999999999


def test_a_dialect_with_json_or_an_unknown_dialect_is_refused(world):
    with world.client("tunabyggen") as client:
        with_json = client.get("/devices/hm-tb-2/latest", params={"dialect": "excel-sv"})
        unknown = client.get("/devices/hm-tb-2/latest", params={"format": "csv", "dialect": "excel-de"})
        bad_format = client.get("/devices/hm-tb-2/latest", params={"format": "xml"})
    assert (with_json.status_code, with_json.json()["error"]) == (400, "dialect_needs_csv")
    assert unknown.status_code == 422
    assert bad_format.status_code == 422


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/sites/tb-2/series", {"measurement": "district_heating", "fields": "supply_temp_c"}),
        ("/devices/hm-tb-2/series", {"field": "supply_temp_c", "every": "1h", "aggregation": "max"}),
        ("/devices/hm-tb-2/latest", {"fromat": "csv"}),
        ("/sites/tb-1/energy", {"every": "day", "tz": "UTC"}),
    ],
)
def test_a_query_parameter_the_route_does_not_take_is_a_400_not_ignored(world, path, params):
    with world.client("tunabyggen") as client:
        r = client.get(path, params=params)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "unknown_parameter"
    assert (
        repr(next(name for name in params if name in {"fields", "aggregation", "fromat", "tz"}))
        in r.json()["message"]
    )


def test_a_field_the_measurement_never_stored_is_null_beside_one_it_did(world):
    params = {"field": ["supply_temp_c", "volume_m3"], **WINTER}  # no test point holds volume_m3
    with world.client("tunabyggen") as client:
        r = client.get("/devices/hm-tb-2/series", params=params)
        bucketed = client.get("/devices/hm-tb-2/series", params={**params, "every": "1d"})
    assert r.status_code == 200, r.text
    assert r.json()["series"][0]["points"][0]["values"] == {"supply_temp_c": 80.8, "volume_m3": None}
    assert bucketed.status_code == 200, bucketed.text
    assert bucketed.json()["series"][0]["points"][0]["values"] == {"supply_temp_c": 80.53, "volume_m3": None}


def test_the_overview_is_rounded_like_every_other_answer(world):
    with world.client("tunabyggen") as client:
        body = client.get("/network/overview").json()
    # hm-tb-1's newest (115 kW, 90 °C, 40 °C) and hm-tb-2's above
    assert body["devices_reporting"] == 2
    # Flow-weighted (no flow sent: P / ΔT, 115/50 and 10.0001/40.5025): 89.10837902… and 40.02908…
    assert body["mean_supply_temp_c"] == 89.11
    assert body["mean_return_temp_c"] == 40.03
    assert body["mean_delta_t_k"] == 49.08  # from the rounded means, so the three agree
    assert body["total_heat_load_mw"] == 0.125  # 125.0001 kW, to the watt
    assert body["emission_rate_kg_per_h"] == 6.863  # 125.0001 kW × 54.9 g/kWh
