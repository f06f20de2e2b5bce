"""Every dashboard panel query, expanded as Grafana would, runs against real InfluxDB holding a
deterministic simulated data set (with its roll-ups built by ingest's own roll-up code) and
returns non-empty data of the expected shape and unit; each roll-up target answers as the raw
computation over the same range does.

Grafana itself cannot be installed here (SPEC §2); dashboards/expand.py does its template
expansion. Variables are resolved the way Grafana does: their own queries run first, in order.
A target gated to ranges of some length (dashboards/sources.py) runs over a range of that length
ending where the data set ends.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from dashboards.build import load_committed
from dashboards.datasources import INFLUX_UID
from dashboards.expand import ALL, TimeRange, expand, interval_for, regex_value
from dashboards.lint import panels_of, range_band, retention_policies_read
from dashboards.sources import RAW
from energy_core import analysis, rollups
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
    "suffix: m³": (0.0, 1e6),
    "suffix: m³/MWh": (1.0, 200.0),
    "suffix: kWh/m²": (0.1, 500.0),
    "suffix: kW/K": (0.1, 1000.0),
    "dateTimeAsIso": (1.6e12, 2.0e12),  # epoch ms, 2020 … 2033
    "areaM2": (100.0, 1e6),
}

# A facility manager's view: owner and buildings of Tunabyggen; "All" elsewhere.
CHOICES = {"owner": ["tunabyggen"], "site": [ALL], "network": [ALL]}
# The substation dashboard has no "All": a substation is picked.
SUBSTATION = "sub-centrum"
# Operators look at every owner's substations.
DASHBOARD_CHOICES = {"substation-performance": {"owner": [ALL]}}


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
    asyncio.run(dataset.build_rollups(services.influx_url, name))
    asyncio.run(dataset.write_analysis(services.influx_url, name))
    yield Database(services.influx_url, name)
    httpx.post(f"{services.influx_url}/query", data={"q": f'DROP DATABASE "{name}"'})


DAY_MS = 86_400_000


# The analysis results are daily: their panels are read over the 14 days up to the data set's end.
ANALYSIS_RANGE = TimeRange(TIME_RANGE.end_ms - 14 * 86_400_000, TIME_RANGE.end_ms)


def reads_analysis(query: str) -> bool:
    return any(f'"{m}"' in query for m in analysis.MEASUREMENTS)


def range_for(query: str) -> TimeRange:
    """The data set's range (14 days for the daily analysis results), or for a target gated to
    longer ranges one just long enough, ending at the data set's end."""
    band = range_band(query)
    if band is None and reads_analysis(query):
        return ANALYSIS_RANGE
    if band is None or band[0] == 0:
        return TIME_RANGE
    return TimeRange(TIME_RANGE.end_ms - band[0] - DAY_MS, TIME_RANGE.end_ms)


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
    choices = CHOICES | DASHBOARD_CHOICES.get(document["uid"].removeprefix("energy-"), {})
    for variable in document.get("templating", {}).get("list", []):
        result = db.query(expand(variable["query"], TIME_RANGE, values))
        options = [row[-1] for series in result.get("series", []) for row in series["values"]]
        assert options, f"variable {variable['name']} has no options"
        wanted = choices.get(variable["name"], [options[0]])
        if wanted == [ALL] and not variable.get("includeAll"):
            wanted = [SUBSTATION if SUBSTATION in options else options[0]]
        for value in wanted:
            assert value == ALL or value in options, (variable["name"], value, options)
        values[variable["name"]] = regex_value(wanted, variable.get("allValue"))
    return values


def _numbers(series: dict[str, Any], columns: set[str] | None = None) -> list[float]:
    """Every numeric cell except the time column (tag columns such as top()'s site are text),
    or only those of ``columns``."""
    return [
        float(cell)
        for row in series["values"]
        for column, cell in zip(series["columns"][1:], row[1:], strict=True)
        if isinstance(cell, int | float)
        and not isinstance(cell, bool)
        and (columns is None or column in columns)
    ]


def _column_units(panel: dict[str, Any]) -> dict[str, str]:
    """Units a table sets per column (overrides by name)."""
    units = {}
    for override in panel["fieldConfig"].get("overrides", []):
        if override["matcher"]["id"] == "byName":
            for prop in override["properties"]:
                if prop["id"] == "unit":
                    units[override["matcher"]["options"]] = prop["value"]
    return units


@pytest.mark.parametrize(("dashboard", "panel", "target"), _targets())
def test_panel_query_returns_data_of_the_expected_shape_and_unit(
    database: Database, dashboard: str, panel: dict[str, Any], target: dict[str, Any]
) -> None:
    document = load_committed()[dashboard]
    query = expand(target["query"], range_for(target["query"]), _variable_values(database, document))
    result = database.query(query)
    series = result.get("series", [])
    assert series, f"no data for {query}"
    assert all(s["columns"][0] == "time" for s in series)
    numbers = [n for s in series for n in _numbers(s)]
    assert numbers, f"no numeric values for {query}"
    assert all(math.isfinite(n) for n in numbers)
    column_units = _column_units(panel)
    checks = [(panel["fieldConfig"]["defaults"]["unit"], None)]
    if column_units:
        checks = [(unit, {column}) for column, unit in column_units.items()]
        shown = {c for s in series for c in s["columns"][1:]}
        checks.append((panel["fieldConfig"]["defaults"]["unit"], shown - set(column_units)))
    for unit, columns in checks:
        values = [n for s in series for n in _numbers(s, columns)]
        if not values:
            continue
        low, high = UNIT_RANGES[unit]
        assert low <= min(values), (panel["title"], columns, min(values))
        assert max(values) <= high, (panel["title"], columns, max(values))
    if panel["type"] == "timeseries":
        assert target["resultFormat"] == "time_series"
        assert max(len(s["values"]) for s in series) >= 2, "a time series of one point"
    if target["resultFormat"] == "table":
        assert panel["type"] in {"table", "bargauge", "histogram", "xychart"}


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


# Roll-up targets answer as raw does. Ranges aligned to their buckets: whole UTC hours from a day
# before the data set, and local days from the Stockholm midnight starting its first day.
HOURLY_RANGE = TimeRange(dataset.START_NS // 10**6 - DAY_MS, dataset.START_NS // 10**6 + 7 * DAY_MS)
LOCAL_MIDNIGHT_MS = dataset.START_NS // 10**6 - 3_600_000  # 2024-01-15T00:00+01:00
DAILY_RANGE = TimeRange(LOCAL_MIDNIGHT_MS, LOCAL_MIDNIGHT_MS + 90 * DAY_MS)
# 6 h buckets of hourly roll-ups mix hours of 12 and of 4 readings (tests/dashboard_dataset.py).
ALIGNED = {"rollup_1h": (HOURLY_RANGE, "6h"), "rollup_1d": (DAILY_RANGE, "1d")}
_GATE = re.compile(r"\(\$\{__to\} - \$\{__from\} [^)]*\)")


def _rollup_targets() -> list[Any]:
    cases = []
    for name, document in load_committed().items():
        for panel in panels_of(document):
            targets = [t for t in panel.get("targets", []) if "query" in t]
            raw = [t for t in targets if t["query"].count(RAW.gate)]
            for target in targets:
                policies = set(retention_policies_read(target["query"]))
                if raw and policies & set(ALIGNED):
                    (policy,) = policies
                    case_id = f"{name}:{panel['title']}:{target['refId']}"
                    cases.append(pytest.param(name, raw[0], target, policy, id=case_id))
    return cases


def _shown(series: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What a panel shows of a result: each series' tags, columns and rows (not InfluxDB's series
    name, which is the across-sites measurement's for a total)."""
    return sorted(
        (tuple(sorted((s.get("tags") or {}).items())), tuple(s["columns"]), tuple(map(tuple, s["values"])))
        for s in series
    )


def _approx(shown: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [
        (
            tags,
            columns,
            tuple(
                tuple(pytest.approx(c, rel=1e-9) if isinstance(c, float) else c for c in row) for row in rows
            ),
        )
        for tags, columns, rows in shown
    ]


@pytest.mark.parametrize(("dashboard", "raw", "target", "policy"), _rollup_targets())
def test_rollup_target_answers_as_the_raw_computation_over_the_same_range(
    database: Database, dashboard: str, raw: dict[str, Any], target: dict[str, Any], policy: str
) -> None:
    """The raw target, its gate widened to the roll-up target's, over a range aligned to the
    roll-up's buckets: same series, same buckets, same numbers (means are sum/count, exact)."""
    time_range, interval = ALIGNED[policy]
    values = _variable_values(database, load_committed()[dashboard])
    gate = _GATE.search(target["query"])
    assert gate
    raw_query = raw["query"].replace(RAW.gate, gate.group(0))
    expected = database.query(expand(raw_query, time_range, values, interval=interval)).get("series", [])
    assert expected, raw_query
    rolled = database.query(expand(target["query"], time_range, values, interval=interval)).get("series", [])
    assert _shown(rolled) == _approx(_shown(expected))


def test_the_comparison_tells_an_exact_mean_from_a_mean_of_hourly_means(database: Database) -> None:
    """The same check fails a roll-up target that averages the buckets' means."""
    panel = _network_panel("ΔT (supply − return), arithmetic mean of meters")
    raw, hourly = panel["targets"][0]["query"], panel["targets"][1]["query"]
    mean_of_means = hourly.replace('sum("delta_t_k_sum") / sum("delta_t_k_count")', 'mean("delta_t_k_mean")')
    assert mean_of_means != hourly
    time_range, interval = ALIGNED["rollup_1h"]
    values = {"network": ".*"}
    raw_query = raw.replace(RAW.gate, "(0 = 0)")

    def shown(query: str) -> list[tuple[Any, ...]]:
        return _shown(database.query(expand(query, time_range, values, interval=interval)).get("series", []))

    assert shown(hourly) == _approx(shown(raw_query))
    assert shown(mean_of_means) != _approx(shown(raw_query))


def test_a_target_outside_its_lengths_of_range_reads_nothing(database: Database) -> None:
    """A 30-day range: only the hourly roll-up answers; raw and daily targets return no series."""
    document = load_committed()["owner-buildings"]
    panel = next(p for p in panels_of(document) if p["title"] == "Energy in range by building and carrier")
    values = _variable_values(database, document)
    month = TimeRange(TIME_RANGE.end_ms - 30 * DAY_MS, TIME_RANGE.end_ms)
    answers = {
        t["refId"]: database.query(expand(t["query"], month, values)).get("series", [])
        for t in panel["targets"]
    }
    assert [ref for ref, series in answers.items() if series] == ["B"]
    assert retention_policies_read(panel["targets"][1]["query"]) == ["rollup_1h"]


# Local days across the spring DST change: 2024-03-31 has 23 hours in Stockholm.
DST_SITE = "sub-dst"
DST_FIRST_MIDNIGHT_MS = 1_711_753_200_000  # 2024-03-30T00:00+01:00
DST_MIDNIGHTS_MS = [
    DST_FIRST_MIDNIGHT_MS,
    DST_FIRST_MIDNIGHT_MS + DAY_MS,
    1_711_922_400_000,
]  # …04-01T00:00+02:00
DST_END_MS = DST_MIDNIGHTS_MS[-1] + DAY_MS  # 2024-04-02T00:00+02:00


def dst_points() -> list[Point]:
    """1 kWh of district heat every 15 minutes for three local days: 96, 92 and 96 kWh."""
    tags = (("carrier", "district_heat"), ("device", "hm-dst"), ("owner", "o"), ("site", DST_SITE))
    step_ms = 15 * 60_000
    return [
        Point("energy", tags, {"kwh": 1.0}, ms * 10**6)
        for ms in range(DST_FIRST_MIDNIGHT_MS, DST_END_MS, step_ms)
    ]


@pytest.fixture(scope="module")
def dst_database(services: Services) -> Iterator[Database]:
    name = f"dash_dst_{uuid.uuid4().hex[:8]}"
    asyncio.run(dataset.write(services.influx_url, name, dst_points()))
    asyncio.run(dataset.build_rollups(services.influx_url, name, dst_points()))
    yield Database(services.influx_url, name)
    httpx.post(f"{services.influx_url}/query", data={"q": f'DROP DATABASE "{name}"'})


@pytest.mark.parametrize(("ref_id", "days"), [("B", 8), ("C", 90)])
def test_energy_per_day_from_the_rollups_is_per_local_day_across_dst(
    dst_database: Database, ref_id: str, days: int
) -> None:
    """96 kWh, 92 on the 23-hour day, 96: local days, each bar at its local midnight, as the API's."""
    document = load_committed()["substation-detail"]
    panel = next(p for p in panels_of(document) if p["title"] == "Energy per day")
    (target,) = [t for t in panel["targets"] if t["refId"] == ref_id]
    time_range = TimeRange(DST_END_MS - days * DAY_MS, DST_END_MS - 1)
    rows = dst_database.query(expand(target["query"], time_range, {"site": DST_SITE}))["series"][0]["values"]
    by_day = {ms: kwh for ms, kwh in rows}
    assert by_day == {DST_MIDNIGHTS_MS[0]: 96.0, DST_MIDNIGHTS_MS[1]: 92.0, DST_MIDNIGHTS_MS[2]: 96.0}


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


# --- Analysis panels (issues 15, 16), against the data set's analysis points ---------------------
def _analysis_days() -> list[tuple[int, dt.date]]:
    """(index, day) of the data set's analysis days whose local midnight is in ANALYSIS_RANGE."""
    return [
        (index, day)
        for index, day in enumerate(dataset.ANALYSIS_DAYS)
        if ANALYSIS_RANGE.start_ms <= rollups.local_midnight_ns(day) // 10**6 <= ANALYSIS_RANGE.end_ms
    ]


def _panel(dashboard: str, title: str) -> dict[str, Any]:
    return next(p for p in panels_of(load_committed()[dashboard]) if p["title"] == title)


def _rows(db: Database, query: str, values: dict[str, str]) -> list[dict[str, Any]]:
    """Each series' rows as dicts of column → value, with its tags."""
    out = []
    for series in db.query(expand(query, ANALYSIS_RANGE, values)).get("series", []):
        for row in series["values"]:
            out.append({**(series.get("tags") or {}), **dict(zip(series["columns"], row, strict=True))})
    return out


EVERYONE = {"network": ".*", "owner": ".*", "site": ".*"}


def test_worst_substations_are_ranked_by_hand_computed_volume_weighted_kpis(database: Database) -> None:
    """ΔT and return are Σ(x·volume)/Σvolume over the days; excess flow a sum; specific flow
    Σvolume / (Σheat / 1000)."""
    panel = _panel("substation-performance", "Worst substations (most excess flow first)")
    rows: dict[str, dict[str, Any]] = {}
    for target in panel["targets"]:  # merged by Grafana on the shared columns (time, site)
        for row in _rows(database, target["query"], EVERYONE):
            rows.setdefault(row["site"], {}).update(row)
    assert [t["id"] for t in panel["transformations"]] == ["merge"]
    days = _analysis_days()
    assert len(days) == 13
    for site in dataset.SITES:
        kpi = [dataset.substation_kpi(site, index) for index, _ in days]
        volume = sum(k["volume_m3"] for k in kpi)
        heat = sum(k["heat_kwh"] for k in kpi)
        assert rows[site.site]["ΔT"] == pytest.approx(
            sum(k["delta_t_k"] * k["volume_m3"] for k in kpi) / volume
        )
        assert rows[site.site]["return"] == pytest.approx(
            sum(k["return_temp_c"] * k["volume_m3"] for k in kpi) / volume
        )
        assert rows[site.site]["excess flow"] == pytest.approx(sum(k["excess_flow_m3"] for k in kpi))
        assert rows[site.site]["specific flow"] == pytest.approx(volume / (heat / 1000))
    worst = max(rows.values(), key=lambda row: row["excess flow"])
    assert worst["site"] == "sub-tjarna"  # ΔT 18 K against a 40 K target
    assert panel["options"]["sortBy"] == [{"desc": True, "displayName": "excess flow"}]
    links = [o for o in panel["fieldConfig"]["overrides"] if o["matcher"]["options"] == "site"]
    (link,) = links[0]["properties"][0]["value"]
    assert link["url"].startswith("/d/energy-substation-detail/substation-detail?var-site=${__value.raw}")


def test_open_faults_lists_the_open_ones_and_not_the_cleared_or_closed(database: Database) -> None:
    panel = _panel("substation-performance", "Open faults")
    values = {"network": ".*", "owner": ".*"}
    rows = _rows(database, panel["targets"][0]["query"], values)
    assert {(row["site"], row["code"]) for row in rows} == dataset.OPEN_FAULTS
    since = {row["site"]: row["since"] for row in rows}
    assert since["sub-tjarna"] == rollups.local_midnight_ns(dataset.ANALYSIS_DAYS[9]) // 10**6
    assert all(row["text"] and row["severity"] in {"critical", "warning"} for row in rows)
    tunabyggen = _rows(database, panel["targets"][0]["query"], {"network": ".*", "owner": "tunabyggen"})
    assert [(row["site"], row["code"]) for row in tunabyggen] == [("tb-hagalund-1", "frozen_sensor")]


def test_open_fault_counts_by_severity(database: Database) -> None:
    critical = _panel("substation-performance", "Open critical faults")["targets"][0]["query"]
    warning = _panel("substation-performance", "Open warnings")["targets"][0]["query"]
    values = {"network": ".*", "owner": ".*"}
    assert [row["open"] for row in _rows(database, critical, values)] == [1]
    assert [row["open"] for row in _rows(database, warning, values)] == [2]


def test_network_delta_t_per_day_is_weighted_by_volume(database: Database) -> None:
    panel = _panel("network-overview", "ΔT per day, volume-weighted (substation KPIs)")
    rows = [
        r for r in _rows(database, panel["targets"][0]["query"], {"network": ".*"}) if r["ΔT"] is not None
    ]
    by_time = {row["time"]: row["ΔT"] for row in rows}
    for index, day in _analysis_days():
        kpi = [dataset.substation_kpi(site, index) for site in dataset.SITES]
        expected = sum(k["delta_t_k"] * k["volume_m3"] for k in kpi) / sum(k["volume_m3"] for k in kpi)
        assert by_time[rollups.local_midnight_ns(day) // 10**6] == pytest.approx(expected)
    unweighted = sum(profile[0] for profile in dataset.KPI_PROFILE.values()) / len(dataset.KPI_PROFILE)
    assert all(value != pytest.approx(unweighted, rel=1e-3) for value in by_time.values())


def test_substation_detail_annotates_the_active_fault_days_with_their_evidence(database: Database) -> None:
    (annotation,) = load_committed()["substation-detail"]["annotations"]["list"]
    assert annotation["textColumn"] == "text"
    rows = _rows(database, annotation["query"], {"site": "sub-norr"})
    days = {rollups.local_day_of(row["time"] * 10**6): row["code"] for row in rows}
    expected = {
        day: code
        for (site, code), history in dataset.FAULT_DAYS.items()
        if site == "sub-norr"
        for day, active in history
        if active and day in {d for _, d in _analysis_days()}
    }
    assert days == expected
    assert dataset.ANALYSIS_DAYS[15] not in days  # high_return_temp cleared by a re-analysis
    assert all(row["text"].startswith(analysis.FAULTS[row["code"]].title) for row in rows)


def _building_year(site: dataset.Site) -> tuple[float, float, float, float]:
    """(normalised heat, heat, electricity, Atemp) of a building over all its analysis days (all
    within the 365 days up to the data set's end), with the shared formula of energy_core.analysis."""
    days = [dataset.building_kpi(site, index) for index in range(len(dataset.ANALYSIS_DAYS))]
    heat = sum(d["heat_kwh"] for d in days)
    normalised = analysis.normalised_heat(
        heat,
        sum(d["base_kwh"] for d in days),
        sum(d["degree_days"] for d in days),
        sum(d["normal_degree_days"] for d in days),
    )
    electricity = sum(d["electricity_kwh"] for d in days)
    return normalised, heat, electricity, dataset.FLOOR_AREA_M2[site.site]


def test_buildings_ranking_is_normalised_kwh_per_square_metre_as_the_shared_formula(
    database: Database,
) -> None:
    """kWh = heat + electricity, only heat normalised (as the API's performance figures)."""
    panel = _panel("owner-buildings", "Buildings ranked by normalised kWh/m² Atemp (last 12 months)")
    values = {"owner": "tunabyggen", "site": ".*"}
    rows = {row["site"]: row for row in _rows(database, panel["targets"][0]["query"], values)}
    buildings = [site for site in dataset.SITES if site.building]
    assert set(rows) == {site.site for site in buildings}
    for site in buildings:
        normalised, heat, electricity, area = _building_year(site)
        row = rows[site.site]
        assert row["kWh/m² normalised"] == pytest.approx((normalised + electricity) / area)
        assert row["kWh/m²"] == pytest.approx((heat + electricity) / area)
        assert row["heat kWh/m² normalised"] == pytest.approx(normalised / area)
        assert row["heat kWh/m²"] == pytest.approx(heat / area)
        assert row["Atemp"] == area
        assert normalised != pytest.approx(heat)  # the data set's weather is not the normal year's
    assert panel["options"]["sortBy"] == [{"desc": True, "displayName": "kWh/m² normalised"}]
    portfolio = _panel("owner-buildings", "Portfolio kWh/m² Atemp, last 12 months")
    (row,) = _rows(database, portfolio["targets"][0]["query"], values)
    years = [_building_year(site) for site in buildings]
    area = sum(y[3] for y in years)
    assert row["kWh/m² normalised"] == pytest.approx(sum(y[0] + y[2] for y in years) / area)
    assert row["kWh/m²"] == pytest.approx(sum(y[1] + y[2] for y in years) / area)


def test_normalised_heat_of_one_building_by_hand() -> None:
    """tb-hagalund-1's first day: base 0.3·120·24 = 864 kWh; outdoor −8 °C, so 25 degree days
    against the normal 22 and heat 24·(36 + 2.4·25) = 2304 kWh; normalised
    864 + (2304 − 864)·22/25 = 2131.2 kWh."""
    site = dataset.SITES[3]
    day = dataset.building_kpi(site, 0)
    assert (day["base_kwh"], day["degree_days"], day["heat_kwh"]) == pytest.approx((864.0, 25.0, 2304.0))
    assert analysis.normalised_heat(2304.0, 864.0, 25.0, 22.0) == pytest.approx(2131.2)
