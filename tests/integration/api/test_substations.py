"""/network/substations and /sites/{id}/kpis over daily KPIs written in the analysis layout:
ranked worst cooling first, volume-weighted over local days, filtered, paged, CSV, owner-scoped."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from tests.integration.api.substation_world import STOCKHOLM, sub_world_fixture  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

WEEK = {"period": "week", "date": "2026-03-29"}


def _get(world, who, path, **params):
    with world.client(who) as client:
        return client.get(path, params=params)


def _sites(body) -> list[str]:
    return [r["site"] for r in body["rows"]]


def test_substations_are_ranked_lowest_delta_t_first_with_kpis_weighted_by_volume(sub_world):
    r = _get(sub_world, "operator", "/network/substations", **WEEK)
    assert r.status_code == 200, r.text
    body = r.json()
    assert _sites(body) == ["ot-2", "tb-2", "sub-1", "ot-1", "tb-1"]
    assert (body["sort"], body["order"], body["period"], body["total"]) == ("delta_t_k", "asc", "week", 5)
    # The week is 23–29 March local: from 00:00 CET on the 23rd to 00:00 CEST on the 30th.
    assert dt.datetime.fromisoformat(body["start"]) == dt.datetime(2026, 3, 23, tzinfo=STOCKHOLM)
    assert dt.datetime.fromisoformat(body["end"]) == dt.datetime(2026, 3, 30, tzinfo=STOCKHOLM)
    sub1 = body["rows"][2]
    assert (sub1["rank"], sub1["name"], sub1["address"]) == (3, "Substation 1", "Röda vägen 1, Borlänge")
    assert (sub1["owner"], sub1["network"], sub1["days"]) == ("borlange-energi", "borlange", 2)
    kpis = sub1["kpis"]
    # By hand, days 23 (10 m³, ΔT 50, return 40) and 29 (30 m³, ΔT 30, return 60); the days
    # before and after the week (1000 m³ at ΔT 5) are not in it:
    assert kpis["delta_t_k"] == 35.0  # (50·10 + 30·30) / 40; the unweighted mean would be 40
    assert kpis["return_temp_c"] == 55.0  # (40·10 + 60·30) / 40
    assert kpis["supply_temp_c"] == 90.0
    assert kpis["heat_kwh"] == 1630.0
    assert kpis["volume_m3"] == 40.0
    assert kpis["specific_flow_m3_per_mwh"] == 24.54  # 40 / 1.63
    assert kpis["excess_flow_m3"] == 12.0
    assert kpis["peak_load_kw"] == 70.0
    assert kpis["hours"] == 48.0
    assert kpis["signature_r2"] is None  # no signature was stored
    faults = {r["site"]: r["open_faults"] for r in body["rows"]}
    assert faults == {"ot-2": [], "tb-2": ["low_delta_t"], "sub-1": [], "ot-1": ["silent_meter"], "tb-1": []}


def test_any_kpi_sorts_with_its_own_worst_first_order_and_order_reverses_it(sub_world):
    worst = _get(sub_world, "operator", "/network/substations", sort="return_temp_c", **WEEK).json()
    assert _sites(worst) == ["ot-2", "sub-1", "tb-2", "ot-1", "tb-1"]  # 60, 55, 50, 45, 35 °C
    assert worst["order"] == "desc"
    best = _get(
        sub_world, "operator", "/network/substations", sort="return_temp_c", order="asc", **WEEK
    ).json()
    assert _sites(best) == list(reversed(_sites(worst)))
    excess = _get(sub_world, "operator", "/network/substations", sort="excess_flow_m3", **WEEK).json()
    assert _sites(excess)[:3] == ["sub-1", "tb-2", "ot-2"]  # 12, 5, 3 m³


def test_a_day_a_month_and_a_local_range_pick_their_days(sub_world):
    day = _get(sub_world, "operator", "/network/substations", period="day", date="2026-03-29").json()
    # Only sub-1 was analysed that day; the others have no KPI and come last, by id.
    assert _sites(day) == ["sub-1", "ot-1", "ot-2", "tb-1", "tb-2"]
    assert day["rows"][0]["kpis"]["delta_t_k"] == 30.0
    assert day["rows"][1]["kpis"]["delta_t_k"] is None
    assert day["rows"][1]["days"] == 0
    month = _get(sub_world, "operator", "/network/substations", period="month", date="2026-03-29").json()
    assert dt.datetime.fromisoformat(month["start"]) == dt.datetime(2026, 3, 1, tzinfo=STOCKHOLM)
    sub1 = next(r for r in month["rows"] if r["site"] == "sub-1")
    assert sub1["kpis"]["delta_t_k"] == 6.15  # (5·1000 + 50·10 + 30·30) / 1040
    ranged = _get(sub_world, "operator", "/network/substations", start="2026-03-22", end="2026-03-31").json()
    assert ranged["period"] is None
    sub1 = next(r for r in ranged["rows"] if r["site"] == "sub-1")
    assert (sub1["days"], sub1["kpis"]["delta_t_k"]) == (4, 5.59)  # 11400 / 2040


def test_filters_narrow_the_ranking_to_a_network_an_owner_or_an_open_fault(sub_world):
    ranking = lambda **p: _sites(_get(sub_world, "operator", "/network/substations", **WEEK, **p).json())  # noqa: E731
    assert ranking(network="falun") == ["ot-2"]
    assert ranking(owner="tunabyggen") == ["tb-2", "tb-1"]
    assert ranking(fault="any") == ["tb-2", "ot-1"]
    assert ranking(fault="silent_meter") == ["ot-1"]
    assert ranking(fault="swapped_temperatures") == []


def test_the_ranking_pages_with_a_cursor(sub_world):
    first = _get(sub_world, "operator", "/network/substations", limit=2, **WEEK).json()
    assert (_sites(first), first["next_cursor"], first["total"]) == (["ot-2", "tb-2"], 2, 5)
    second = _get(sub_world, "operator", "/network/substations", limit=2, cursor=2, **WEEK).json()
    assert _sites(second) == ["sub-1", "ot-1"]
    assert [r["rank"] for r in second["rows"]] == [3, 4]
    last = _get(sub_world, "operator", "/network/substations", limit=2, cursor=4, **WEEK).json()
    assert (_sites(last), last["next_cursor"]) == (["tb-1"], None)


def test_the_ranking_as_csv_and_as_swedish_excel_csv(sub_world):
    plain = _get(sub_world, "operator", "/network/substations", format="csv", **WEEK)
    assert plain.status_code == 200, plain.text
    assert plain.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(plain.text)))
    assert [r["site"] for r in rows] == ["ot-2", "tb-2", "sub-1", "ot-1", "tb-1"]
    assert rows[2]["delta_t_k"] == "35.0"
    assert rows[2]["address"] == "Röda vägen 1, Borlänge"
    assert rows[1]["open_faults"] == "low_delta_t"
    excel = _get(sub_world, "operator", "/network/substations", format="csv", dialect="excel-sv", **WEEK)
    text = excel.content.decode("utf-8")
    assert text.startswith("\ufeffrank;site;name;address")
    sub1 = next(line for line in text.split("\r\n") if line.startswith("3;sub-1;"))
    assert ";35,0;" in sub1
    assert ";24,54;" in sub1
    assert "Åsgatan 9, Falun" in text


def test_an_owner_key_ranks_only_its_own_substations_in_json_and_csv(sub_world):
    own = _get(sub_world, "tunabyggen", "/network/substations", **WEEK).json()
    assert _sites(own) == ["tb-2", "tb-1"]
    assert own["total"] == 2
    as_csv = _get(sub_world, "tunabyggen", "/network/substations", format="csv", **WEEK).text
    assert "tb-2" in as_csv
    assert "ot-" not in as_csv
    assert "sub-1" not in as_csv
    stora = _get(sub_world, "stora", "/network/substations", **WEEK).json()
    assert _sites(stora) == ["ot-2", "ot-1"]
    # Another owner's owner id or a network without own sites answers like an unknown one.
    for params in ({"owner": "stora-bo"}, {"owner": "nobody"}, {"network": "falun"}):
        r = _get(sub_world, "tunabyggen", "/network/substations", **WEEK, **params)
        assert r.status_code == 404, (params, r.text)
        assert r.json()["error"] in ("unknown_owner", "unknown_network")


@pytest.mark.parametrize(
    ("params", "status", "error"),
    [
        ({"sort": "bogus"}, 400, "bad_sort"),
        ({"sort": 'delta_t_k" OR 1=1'}, 400, "bad_sort"),
        ({"sort": "x" * 41}, 422, "invalid_parameter"),
        ({"period": "year"}, 422, "invalid_parameter"),
        ({"period": "week", "start": "2026-03-01"}, 400, "period_or_range"),
        ({"date": "2026-03-29", "end": "2026-03-30"}, 400, "period_or_range"),
        ({"date": "2026-13-01"}, 422, "invalid_parameter"),
        ({"date": "0001-01-01"}, 400, "bad_time"),
        ({"date": "9999-12-31", "period": "day"}, 400, "bad_time"),
        ({"start": "2026-03-30", "end": "2026-03-23"}, 400, "inverted_range"),
        ({"start": "2024-01-01", "end": "2026-03-23"}, 400, "range_too_large"),
        ({"fault": "bogus"}, 400, "unknown_fault_code"),
        ({"fault": "Low-DT"}, 422, "invalid_parameter"),
        ({"network": "a'b"}, 422, "invalid_parameter"),
        ({"limit": "0"}, 422, "invalid_parameter"),
        ({"limit": "1001"}, 422, "invalid_parameter"),
        ({"cursor": "-1"}, 422, "invalid_parameter"),
        ({"dialect": "excel-sv"}, 400, "dialect_needs_csv"),
        ({"sortby": "delta_t_k"}, 400, "unknown_parameter"),
    ],
)
def test_bad_ranking_parameters_are_clear_json_errors(sub_world, params, status, error):
    r = _get(sub_world, "operator", "/network/substations", **params)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error


def test_every_new_endpoint_needs_a_key(sub_world):
    for path in ("/network/substations", "/sites/sub-1/kpis", "/sites/sub-1/faults", "/faults"):
        assert _get(sub_world, None, path).status_code == 401, path


def test_a_sites_kpis_per_local_day_week_and_month(sub_world):
    days = _get(sub_world, "operator", "/sites/sub-1/kpis", every="day", start="2026-03-22", end="2026-03-31")
    assert days.status_code == 200, days.text
    buckets = days.json()["buckets"]
    starts = [dt.datetime.fromisoformat(b["start"]) for b in buckets]
    assert starts == [dt.datetime(2026, 3, d, tzinfo=STOCKHOLM) for d in (22, 23, 29, 30)]
    assert [b["start"][-6:] for b in buckets] == ["+01:00", "+01:00", "+01:00", "+02:00"]
    assert [b["kpis"]["delta_t_k"] for b in buckets] == [5.0, 50.0, 30.0, 5.0]
    weeks = _get(
        sub_world, "operator", "/sites/sub-1/kpis", every="week", start="2026-03-16", end="2026-04-06"
    )
    summary = [(b["start"][:10], b["days"], b["kpis"]["delta_t_k"]) for b in weeks.json()["buckets"]]
    assert summary == [("2026-03-16", 1, 5.0), ("2026-03-23", 2, 35.0), ("2026-03-30", 1, 5.0)]
    months = _get(
        sub_world, "operator", "/sites/sub-1/kpis", every="month", start="2026-03-01", end="2026-05-01"
    )
    summary = [(b["start"][:10], b["days"], b["kpis"]["delta_t_k"]) for b in months.json()["buckets"]]
    assert summary == [("2026-03-01", 4, 5.59)]
    as_csv = _get(sub_world, "operator", "/sites/sub-1/kpis", every="week", start="2026-03-16",
                  end="2026-04-06", format="csv", dialect="excel-sv")  # fmt: skip
    lines = as_csv.content.decode("utf-8").split("\r\n")
    assert lines[0].startswith("\ufeffstart;days;heat_kwh;volume_m3;delta_t_k")
    assert lines[2].startswith("2026-03-23T00:00:00+01:00;2;1630,0;40,0;35,0;")


def test_an_owner_key_gets_404_for_another_owners_kpis_in_json_and_csv(sub_world):
    for params in ({}, {"format": "csv"}):
        r = _get(sub_world, "tunabyggen", "/sites/ot-1/kpis", **params)
        assert r.status_code == 404, r.text
        assert r.json()["error"] == "unknown_site"
    own = _get(sub_world, "tunabyggen", "/sites/tb-1/kpis", start="2026-03-01", end="2026-04-01").json()
    assert [b["kpis"]["delta_t_k"] for b in own["buckets"]] == [45.0]


@pytest.mark.parametrize(
    ("params", "status", "error"),
    [
        ({"every": "year"}, 422, "invalid_parameter"),
        ({"start": "2026-04-01", "end": "2026-03-01"}, 400, "inverted_range"),
        ({"start": "2000-01-01", "end": "2026-03-01"}, 400, "range_too_large"),
        ({"every": "day", "fields": "x"}, 400, "unknown_parameter"),
    ],
)
def test_bad_kpi_parameters_are_clear_json_errors(sub_world, params, status, error):
    r = _get(sub_world, "operator", "/sites/sub-1/kpis", **params)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error


def test_the_overview_weighs_each_meters_temperatures_by_its_flow(sub_world):
    """sub-1 pumps 10 m³/h at 90/40 °C, tb-1 1 m³/h at 70/50 °C: supply (900 + 70) / 11 = 88.18,
    return (400 + 50) / 11 = 40.91, ΔT 47.27 K; unweighted it would be 80/45/35."""
    body = _get(sub_world, "operator", "/network/overview").json()
    assert body["devices_reporting"] == 2
    assert body["mean_supply_temp_c"] == 88.18
    assert body["mean_return_temp_c"] == 40.91
    assert body["mean_delta_t_k"] == 47.27


def test_the_trend_sums_the_load_and_weighs_the_temperatures_per_bucket(sub_world):
    """Both meters report every 10 minutes; 15-minute buckets each hold 572.5 + 22.9 kW."""
    body = _get(sub_world, "operator", "/network/trend", hours=3).json()
    assert body["every_s"] == 900
    points = body["points"]
    assert len(points) >= 8  # two hours of readings
    assert {(p["heat_load_kw"], p["supply_temp_c"], p["return_temp_c"], p["meters"]) for p in points} == {
        (595.4, 88.18, 40.91, 2)
    }


def test_an_owner_keys_trend_holds_only_its_own_meters(sub_world):
    own = _get(sub_world, "tunabyggen", "/network/trend").json()["points"]
    assert own
    assert {(p["heat_load_kw"], p["supply_temp_c"], p["meters"]) for p in own} == {(22.9, 70.0, 1)}
    assert _get(sub_world, "stora", "/network/trend").json()["points"] == []
    assert _get(sub_world, "tunabyggen", "/network/trend", network="falun").status_code == 404
    for params in ({"hours": "0"}, {"hours": "25"}, {"every": "1m"}):
        r = _get(sub_world, "operator", "/network/trend", **params)
        assert r.status_code in (400, 422), params
