"""Every dashboard panel query, expanded as Grafana would, runs against real InfluxDB holding a
deterministic simulated data set and returns non-empty data of the expected shape and unit.

Grafana itself cannot be installed here (SPEC §2); dashboards/expand.py does its template
expansion. Variables are resolved the way Grafana does: their own queries run first, in order.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from dashboards.build import load_committed
from dashboards.datasources import INFLUX_UID
from dashboards.expand import ALL, TimeRange, expand, interval_for, regex_value
from dashboards.lint import panels_of
from energy_core.schema import Point
from energy_testing.world import Services
from tests import dashboard_dataset as dataset

pytestmark = pytest.mark.integration

TIME_RANGE = TimeRange(dataset.START_NS // 10**6, dataset.END_NS // 10**6)

# Plausible values per Grafana unit for this data set: a panel whose numbers fall outside its
# unit's range is showing the wrong quantity (kW labelled MW, kg labelled g, …).
UNIT_RANGES: dict[str, tuple[float, float]] = {
    "megwatt": (0.1, 50.0),
    "kwatt": (15.0, 5_000.0),  # 20 kW building loads … 3 MW substations
    "kwatth": (1.0, 1e7),
    "celsius": (-40.0, 130.0),
    "suffix: K": (5.0, 100.0),
    "suffix: m³/h": (0.1, 500.0),
    "masskg": (0.01, 1e6),
    "suffix: kg/h": (1.0, 1e5),
    "suffix: g/kWh": (1.0, 1000.0),
    "humidity": (0.0, 100.0),
    "ppm": (300.0, 5000.0),
    "short": (0.0, 1e6),
}

# A facility manager's view: owner and buildings of Tunabyggen; "All" elsewhere.
CHOICES = {"owner": ["tunabyggen"], "site": [ALL], "network": [ALL]}
# The substation dashboard has no "All": a substation is picked.
SUBSTATION = "sub-centrum"


@dataclass
class Database:
    url: str
    name: str

    def query(self, q: str) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/query", params={"q": q, "db": self.name, "epoch": "ms"})
        response.raise_for_status()
        result: dict[str, Any] = response.json()["results"][0]
        assert "error" not in result, (result["error"], q)
        return result


@pytest.fixture(scope="module")
def database(services: Services) -> Iterator[Database]:
    """One database with the data set for the whole module: every test here only reads it."""
    name = f"dash_{uuid.uuid4().hex[:8]}"
    asyncio.run(dataset.write(services.influx_url, name))
    yield Database(services.influx_url, name)
    httpx.post(f"{services.influx_url}/query", data={"q": f'DROP DATABASE "{name}"'})


def _targets() -> list[Any]:
    cases = []
    for name, document in load_committed().items():
        for panel in panels_of(document):
            for target in panel.get("targets", []):
                if target.get("datasource", {}).get("uid") == INFLUX_UID:
                    cases.append(
                        pytest.param(name, panel, target, id=f"{name}:{panel['title']}:{target['refId']}")
                    )
    return cases


def _variable_values(db: Database, document: dict[str, Any]) -> dict[str, str]:
    """Resolve the dashboard's variables in order, like Grafana on load, and format them."""
    values: dict[str, str] = {}
    for variable in document.get("templating", {}).get("list", []):
        result = db.query(expand(variable["query"], TIME_RANGE, values))
        options = [row[-1] for series in result.get("series", []) for row in series["values"]]
        assert options, f"variable {variable['name']} has no options"
        wanted = CHOICES.get(variable["name"], [options[0]])
        if wanted == [ALL] and not variable.get("includeAll"):
            wanted = [SUBSTATION if SUBSTATION in options else options[0]]
        for value in wanted:
            assert value == ALL or value in options, (variable["name"], value, options)
        values[variable["name"]] = regex_value(wanted, variable.get("allValue"))
    return values


def _numbers(series: dict[str, Any]) -> list[float]:
    """Every numeric cell except the time column (tag columns such as top()'s site are text)."""
    return [
        float(cell)
        for row in series["values"]
        for cell in row[1:]
        if isinstance(cell, int | float) and not isinstance(cell, bool)
    ]


@pytest.mark.parametrize(("dashboard", "panel", "target"), _targets())
def test_panel_query_returns_data_of_the_expected_shape_and_unit(
    database: Database, dashboard: str, panel: dict[str, Any], target: dict[str, Any]
) -> None:
    document = load_committed()[dashboard]
    query = expand(target["query"], TIME_RANGE, _variable_values(database, document))
    result = database.query(query)
    series = result.get("series", [])
    assert series, f"no data for {query}"
    assert all(s["columns"][0] == "time" for s in series)
    numbers = [n for s in series for n in _numbers(s)]
    assert numbers, f"no numeric values for {query}"
    assert all(math.isfinite(n) for n in numbers)
    low, high = UNIT_RANGES[panel["fieldConfig"]["defaults"]["unit"]]
    assert low <= min(numbers), (panel["title"], min(numbers))
    assert max(numbers) <= high, (panel["title"], max(numbers))
    if panel["type"] == "timeseries":
        assert target["resultFormat"] == "time_series"
        assert max(len(s["values"]) for s in series) >= 2, "a time series of one point"
    if target["resultFormat"] == "table":
        assert panel["type"] in {"table", "bargauge"}


def test_every_influx_variable_has_options(database: Database) -> None:
    for document in load_committed().values():
        variables = document.get("templating", {}).get("list", [])
        if any(v["datasource"]["uid"] == INFLUX_UID for v in variables):
            assert _variable_values(database, document)


def _network_panel(title: str) -> dict[str, Any]:
    document = load_committed()["network-overview"]
    return next(p for p in panels_of(document) if p["title"] == title and p["type"] == "timeseries")


def test_heat_load_is_the_sum_of_all_meters_in_megawatts(database: Database) -> None:
    """The subquery sums per-meter means; at the data set's first step that is Σ power_kw / 1000."""
    query = _network_panel("Heat load")["targets"][0]["query"]
    result = database.query(expand(query, TIME_RANGE, {"network": ".*"}))
    first_time, first_mw = result["series"][0]["values"][0]
    expected_kw = sum(
        p.fields["power_kw"]
        for p in dataset.points()
        if p.measurement == "district_heating" and p.ts_ns == dataset.START_NS
    )
    assert first_time == dataset.START_NS // 10**6
    assert first_mw == pytest.approx(expected_kw / 1000)


def test_top_substations_are_ranked_by_mean_load(database: Database) -> None:
    document = load_committed()["network-overview"]
    panel = next(p for p in panels_of(document) if p["title"] == "Top substations by load")
    result = database.query(expand(panel["targets"][0]["query"], TIME_RANGE, {"network": ".*"}))
    rows = result["series"][0]["values"]
    by_load = sorted(rows, key=lambda row: row[1], reverse=True)
    assert [row[2] for row in by_load][:3] == ["sub-centrum", "sub-norr", "sub-tjarna"]


def test_owner_filter_keeps_other_owners_buildings_out(database: Database) -> None:
    document = load_committed()["owner-buildings"]
    panel = next(p for p in panels_of(document) if p["title"] == "Energy in range by building and carrier")
    values = _variable_values(database, document)
    result = database.query(expand(panel["targets"][0]["query"], TIME_RANGE, values))
    sites = {s["tags"]["site"] for s in result["series"]}
    assert sites == {"tb-hagalund-1", "tb-jakobsgardarna-7"}


def test_several_chosen_buildings_expand_to_a_working_regex(database: Database) -> None:
    document = load_committed()["owner-buildings"]
    panel = next(p for p in panels_of(document) if p["title"] == "Indoor temperature")
    values = {"owner": "tunabyggen", "site": regex_value(["tb-hagalund-1", "tb-jakobsgardarna-7"], ".*")}
    result = database.query(expand(panel["targets"][0]["query"], TIME_RANGE, values))
    assert {s["tags"]["site"] for s in result["series"]} == {"tb-hagalund-1", "tb-jakobsgardarna-7"}
    one = {"owner": "tunabyggen", "site": regex_value(["tb-hagalund-1"], ".*")}
    result = database.query(expand(panel["targets"][0]["query"], TIME_RANGE, one))
    assert [s["tags"]["site"] for s in result["series"]] == ["tb-hagalund-1"]


def test_interval_used_for_the_data_set_range() -> None:
    """Two days at Grafana's ~1000 points gives 2-minute buckets; the data set steps 15 minutes."""
    assert interval_for(TIME_RANGE.start_ms, TIME_RANGE.end_ms) == "2m"


# The "Now" panels against a hand-made data set whose answers are computed by hand. The range
# is the 24 hours up to 2026-01-15T20:06:00Z, six minutes into an hour.
NOW_END_MS = 1_768_507_560_000  # 2026-01-15T20:06:00Z
NOW_RANGE = TimeRange(NOW_END_MS - 24 * 3_600_000, NOW_END_MS)
MINUTE_NS = 60 * 10**9


def _before_end(minutes: float) -> int:
    return NOW_END_MS * 10**6 - int(minutes * MINUTE_NS)


def _heat(site: str, minutes_before_end: float, power_kw: float, network: str = "borlange") -> Point:
    tags = (("device", f"{site}-hm"), ("network", network), ("owner", "borlange-energi"), ("site", site))
    return Point("district_heating", tags, {"power_kw": power_kw}, _before_end(minutes_before_end))


def _co2e(
    minutes_before_end: float, kg: float, method: str = "location", carrier: str = "district_heat"
) -> Point:
    tags = (("carrier", carrier), ("device", "hm-1"), ("method", method), ("owner", "o"), ("site", "s"))
    return Point("emissions", tags, {"co2e_kg": kg}, _before_end(minutes_before_end))


def now_points() -> list[Point]:
    """Emissions: one meter's interval CO2e every minute from 18:00 to 20:06, 1.0 kg each up to
    19:06 and 0.7 kg after (42 kg/h), plus market-based and electricity points that must not count.
    Heat meters: two reporting (1000 kW and 500 kW latest), one silent for 20 h (inside the
    range), one for 3 days, one for 40 days, and one reporting in another network."""
    out = []
    for minute in range(18 * 60, 20 * 60 + 7):  # 18:00 … 20:06, the range's end
        before = 20 * 60 + 6 - minute
        out.append(_co2e(before, 1.0 if minute <= 19 * 60 + 6 else 0.7))
        out.append(_co2e(before, 9.0, method="market"))
        out.append(_co2e(before, 5.0, carrier="electricity"))
    out += [
        _heat("s-fresh-1", 10, 900.0),
        _heat("s-fresh-1", 2, 1000.0),
        _heat("s-fresh-2", 14, 500.0),
        _heat("s-stale", 20 * 60, 300.0),
        _heat("s-stale", 21 * 60, 300.0),
        _heat("s-silent", 3 * 24 * 60, 200.0),
        _heat("s-ancient", 40 * 24 * 60, 100.0),
        _heat("s-elsewhere", 1, 4000.0, network="other"),
    ]
    return out


@pytest.fixture(scope="module")
def now_database(services: Services) -> Iterator[Database]:
    name = f"dash_now_{uuid.uuid4().hex[:8]}"
    asyncio.run(dataset.write(services.influx_url, name, now_points()))
    yield Database(services.influx_url, name)
    httpx.post(f"{services.influx_url}/query", data={"q": f'DROP DATABASE "{name}"'})


def _overview_panel(title_start: str, kind: str) -> dict[str, Any]:
    document = load_committed()["network-overview"]
    return next(p for p in panels_of(document) if p["title"].startswith(title_start) and p["type"] == kind)


def _run(db: Database, panel: dict[str, Any], network: str = "borlange") -> list[dict[str, Any]]:
    query = expand(panel["targets"][0]["query"], NOW_RANGE, {"network": network})
    series: list[dict[str, Any]] = db.query(query).get("series", [])
    return series


def _stat(db: Database, panel: dict[str, Any]) -> dict[str, Any]:
    """What a stat panel shows: each column's last non-null value (its reducer), by column."""
    assert panel["options"]["reduceOptions"]["calcs"] == ["lastNotNull"]
    shown: dict[str, Any] = {}
    for series in _run(db, panel):
        for index, column in enumerate(series["columns"][1:], start=1):
            values = [row[index] for row in series["values"] if row[index] is not None]
            shown[column] = values[-1] if values else panel["fieldConfig"]["defaults"].get("noValue")
    return shown


def test_emission_rate_stat_is_the_trailing_full_hour_not_the_hour_so_far(now_database: Database) -> None:
    """At 20:06 the hour so far holds 7 × 0.7 = 4.9 kg; the 60 minutes up to 20:06 hold 60 × 0.7."""
    panel = _overview_panel("Emission rate", "stat")
    assert _stat(now_database, panel) == {"district_heat": pytest.approx(60 * 0.7)}
    assert "last 60 min" in panel["title"]


def test_substations_reporting_counts_only_those_heard_from_in_the_last_15_minutes(
    now_database: Database,
) -> None:
    """Reporting: s-fresh-1, s-fresh-2; seen in 30 days: those and s-stale (20 h), s-silent (3 d)."""
    panel = _overview_panel("Substations reporting", "stat")
    assert _stat(now_database, panel) == {"reporting": 2, "seen in 30 days": 4}
    assert "15 min" in panel["title"]


def test_substations_reporting_shows_zero_when_none_reported(now_database: Database) -> None:
    panel = _overview_panel("Substations reporting", "stat")
    query = expand(panel["targets"][0]["query"], NOW_RANGE, {"network": "borlange"})
    later = query.replace(str(NOW_END_MS), str(NOW_END_MS + 16 * 60_000))  # 16 min after the last reading
    rows = now_database.query(later)["series"][0]["values"]
    assert rows[0][1] is None  # InfluxDB's count over nothing: null, which the panel shows as…
    assert panel["fieldConfig"]["defaults"]["noValue"] == "0"


def test_heat_load_stat_sums_the_latest_power_of_every_reporting_meter(now_database: Database) -> None:
    """1000 kW (s-fresh-1's latest, not its 900) + 500 kW (s-fresh-2); silent meters and other
    networks left out."""
    panel = _overview_panel("Heat load", "stat")
    assert _stat(now_database, panel) == {"heat_load_mw": pytest.approx(1.5)}


def test_data_freshness_lists_every_meter_seen_in_30_days_oldest_first(now_database: Database) -> None:
    """The meter silent for 3 days is outside the 24-hour range and must be listed, first."""
    panel = _overview_panel("Data freshness", "table")
    rows = [(s["values"][0][0], s["tags"]["site"]) for s in _run(now_database, panel)]
    assert [site for _, site in sorted(rows)] == [
        "s-silent",
        "s-stale",
        "s-fresh-2",
        "s-fresh-1",
    ]
    ages_min = {site: (NOW_END_MS - ms) / 60_000 for ms, site in rows}
    assert ages_min == {
        "s-silent": 3 * 24 * 60,
        "s-stale": 20 * 60,
        "s-fresh-2": 14,
        "s-fresh-1": 2,
    }
    assert all(s["tags"]["device"] == s["tags"]["site"] + "-hm" for s in _run(now_database, panel))
    assert panel["options"]["sortBy"] == [{"desc": False, "displayName": "Time"}]
