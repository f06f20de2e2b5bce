"""/faults and /sites/{id}/faults: daily fault findings (analysis layout) as episodes — runs of
consecutive active days — open or in a range, filtered, CSV, and only the key's own sites."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from tests.integration.api.substation_world import (  # noqa: F401 (fixture)
    STOCKHOLM,
    sub_world_fixture,
    today,
)

pytestmark = pytest.mark.integration


def _get(world, who, path, **params):
    with world.client(who) as client:
        return client.get(path, params=params)


def _at(days_ago: int, hour: int = 0) -> dt.datetime:
    day = today() - dt.timedelta(days=days_ago)
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=STOCKHOLM)


def _brief(body) -> list[tuple[str, str, bool]]:
    return [(e["site"], e["code"], e["open"]) for e in body["episodes"]]


def test_open_faults_are_episodes_still_going_with_their_start_and_latest_evidence(sub_world):
    r = _get(sub_world, "operator", "/faults")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "open"
    assert _brief(body) == [("ot-1", "silent_meter", True), ("tb-2", "low_delta_t", True)]
    silent, low = body["episodes"]
    # Three active days of tb-2 are one episode, begun when the rule says (since_s: 03:00 two days ago).
    assert dt.datetime.fromisoformat(low["start"]) == _at(2, 3)
    assert low["end"] is None
    assert (low["days"], low["last_day"]) == (3, today().isoformat())
    assert (low["value"], low["threshold"], low["unit"]) == (16.5, 25.0, "K")
    assert low["text"] == "ΔT 16.5 K < 25 K over 24 h"
    assert (low["severity"], low["title"]) == ("warning", "Low ΔT (poor cooling)")
    assert (low["name"], low["address"]) == ("Tunabyggen Gylle 2", "Gyllehemsvägen 2, Borlänge")
    # ot-1's last finding is yesterday, which is also its latest analysed day: still open.
    assert (silent["severity"], silent["days"], silent["value"]) == ("critical", 1, 30.0)


def test_all_faults_include_closed_episodes_that_end_with_their_last_active_day(sub_world):
    body = _get(sub_world, "operator", "/faults", state="all").json()
    assert _brief(body) == [
        ("sub-1", "frozen_sensor", False),  # 10–9 days ago
        ("sub-1", "frozen_sensor", False),  # 7 days ago: a gap makes a new episode
        ("tb-2", "high_return_temp", False),  # 6–5 days ago, cleared (active 0) 4 days ago
        ("ot-1", "silent_meter", True),
        ("tb-2", "low_delta_t", True),
    ]
    first, second, high = body["episodes"][:3]
    assert (dt.datetime.fromisoformat(first["start"]), dt.datetime.fromisoformat(first["end"])) == (
        _at(10, 3),
        _at(8),
    )
    assert (first["days"], first["value"]) == (2, 24.0)
    assert dt.datetime.fromisoformat(second["end"]) == _at(6)
    assert dt.datetime.fromisoformat(high["end"]) == _at(4)
    assert (high["days"], high["value"], high["text"]) == (2, 53.0, "return 53.0 °C > 45 °C")


def test_a_range_keeps_the_episodes_with_active_days_in_it(sub_world):
    start, end = (today() - dt.timedelta(days=6)).isoformat(), (today() - dt.timedelta(days=4)).isoformat()
    body = _get(sub_world, "operator", "/faults", state="all", start=start, end=end).json()
    assert _brief(body) == [("tb-2", "high_return_temp", False)]


def test_faults_filter_by_code_severity_owner_and_network(sub_world):
    def listing(**params):
        return _brief(_get(sub_world, "operator", "/faults", state="all", **params).json())

    assert listing(code="low_delta_t") == [("tb-2", "low_delta_t", True)]
    assert listing(severity="critical") == [("ot-1", "silent_meter", True)]
    assert [e[0] for e in listing(owner="tunabyggen")] == ["tb-2", "tb-2"]
    assert listing(network="falun") == []
    # The finding tagged for tb-1 under another owner belongs to no registered site: nobody sees it.
    assert listing(code="meter_alarm") == []


def test_a_sites_faults_default_to_every_episode_and_can_be_only_the_open_ones(sub_world):
    every = _get(sub_world, "operator", "/sites/tb-2/faults").json()
    assert _brief(every) == [("tb-2", "high_return_temp", False), ("tb-2", "low_delta_t", True)]
    still = _get(sub_world, "operator", "/sites/tb-2/faults", state="open").json()
    assert _brief(still) == [("tb-2", "low_delta_t", True)]
    paged = _get(sub_world, "operator", "/sites/tb-2/faults", limit=1).json()
    assert (len(paged["episodes"]), paged["total"], paged["next_cursor"]) == (1, 2, 1)


def test_faults_as_csv_and_as_swedish_excel_csv(sub_world):
    plain = _get(sub_world, "operator", "/faults", format="csv")
    assert plain.status_code == 200, plain.text
    rows = list(csv.DictReader(io.StringIO(plain.text)))
    assert [(r["site"], r["code"], r["open"]) for r in rows] == [
        ("ot-1", "silent_meter", "yes"),
        ("tb-2", "low_delta_t", "yes"),
    ]
    assert rows[1]["end"] == ""
    assert rows[1]["start"] == _at(2, 3).isoformat()
    excel = _get(sub_world, "operator", "/sites/tb-2/faults", format="csv", dialect="excel-sv")
    text = excel.content.decode("utf-8")
    assert text.startswith("\ufeffsite;name;address;owner;code;severity;start;end")
    assert ";16,5;25,0;K;ΔT 16,5 K < 25 K over 24 h" not in text  # the text is not a number
    assert ";16,5;25,0;K;ΔT 16.5 K < 25 K over 24 h\r\n" in text


def test_an_owner_key_sees_only_its_own_sites_faults_in_json_and_csv(sub_world):
    own = _get(sub_world, "tunabyggen", "/faults", state="all").json()
    assert {e["site"] for e in own["episodes"]} == {"tb-2"}
    as_csv = _get(sub_world, "tunabyggen", "/faults", state="all", format="csv").text
    assert "ot-1" not in as_csv
    assert "sub-1" not in as_csv
    stora = _get(sub_world, "stora", "/faults", state="all").json()
    assert _brief(stora) == [("ot-1", "silent_meter", True)]  # not the mis-tagged tb-1 finding
    for params in ({}, {"format": "csv"}):
        r = _get(sub_world, "tunabyggen", "/sites/ot-1/faults", **params)
        assert r.status_code == 404, r.text
        assert r.json()["error"] == "unknown_site"
    for params in ({"owner": "stora-bo"}, {"network": "falun"}):
        assert _get(sub_world, "tunabyggen", "/faults", **params).status_code == 404, params


@pytest.mark.parametrize(
    ("path", "params", "status", "error"),
    [
        ("/faults", {"code": "bogus"}, 400, "unknown_fault_code"),
        ("/faults", {"code": "low_delta_t' OR '1'='1"}, 422, "invalid_parameter"),
        ("/faults", {"state": "closed"}, 422, "invalid_parameter"),
        ("/faults", {"severity": "fatal"}, 422, "invalid_parameter"),
        ("/faults", {"start": "2026-03-30", "end": "2026-03-01"}, 400, "inverted_range"),
        ("/faults", {"start": "2020-01-01", "end": "2026-03-01"}, 400, "range_too_large"),
        ("/faults", {"limit": "100000"}, 422, "invalid_parameter"),
        ("/faults", {"site": "tb-2"}, 400, "unknown_parameter"),
        ("/sites/tb-2/faults", {"code": "bogus"}, 400, "unknown_fault_code"),
        ("/sites/tb-2/faults", {"owner": "tunabyggen"}, 400, "unknown_parameter"),
    ],
)
def test_bad_fault_parameters_are_clear_json_errors(sub_world, path, params, status, error):
    r = _get(sub_world, "operator", path, **params)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error
