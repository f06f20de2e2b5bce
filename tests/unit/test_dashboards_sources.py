"""Long ranges read the roll-ups: each range-dependent panel has one target per source, gated by
the length of the selected range, and the lint rejects a raw read over a long range."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dashboards.build import load_committed
from dashboards.expand import TimeRange, expand
from dashboards.lint import lint_dashboards, panels_of, range_band, retention_policies_read
from dashboards.sources import DAILY, HOURLY, RAW, RAW_MAX_MS
from energy_core.rollups import ROLLUP_RPS

DAY_MS = 86_400_000
END_MS = 1_768_507_560_000


def _influx_targets() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [
        (name, panel, target)
        for name, document in load_committed().items()
        for panel in panels_of(document)
        for target in panel.get("targets", [])
        if "query" in target
    ]


def _answers_for(query: str, range_ms: int) -> bool:
    band = range_band(query)
    if band is None:
        return True
    above, up_to = band
    return above < range_ms and (up_to is None or range_ms <= up_to)


@pytest.mark.parametrize("days", [1 / 24, 1, 2, 2.5, 7, 30, 60, 61, 365, 3650])
def test_no_query_over_a_range_longer_than_two_days_reads_raw_data(days: float) -> None:
    range_ms = int(days * DAY_MS)
    for name, panel, target in _influx_targets():
        query = target["query"]
        if "$timeFilter" in query and _answers_for(query, range_ms):
            reads_raw = None in retention_policies_read(query)
            assert not (reads_raw and range_ms > RAW_MAX_MS), (name, panel["title"], query)


@pytest.mark.parametrize("days", [1 / 24, 2, 2.001, 60, 60.001, 365])
def test_every_panel_answers_every_range_with_exactly_one_target(days: float) -> None:
    """Gated targets take turns; a panel without gates runs all its targets at any range."""
    range_ms = int(days * DAY_MS)
    for name, document in load_committed().items():
        for panel in panels_of(document):
            queries = [t["query"] for t in panel.get("targets", []) if "query" in t]
            answering = [q for q in queries if _answers_for(q, range_ms)]
            gated = any(range_band(q) for q in queries)
            assert len(answering) == (1 if gated else len(queries)), (name, panel["title"], days)


def test_a_year_reads_the_daily_rollups_and_a_month_the_hourly_ones() -> None:
    document = load_committed()["emissions"]
    panel = next(p for p in panels_of(document) if p["title"] == "By carrier and method")
    by_range = {
        days: [t for t in panel["targets"] if _answers_for(t["query"], days * DAY_MS)]
        for days in (1, 30, 365)
    }
    assert [retention_policies_read(t["query"]) for t in by_range[1]] == [[None]]
    assert [retention_policies_read(t["query"]) for t in by_range[30]] == [["rollup_1h"]]
    assert [retention_policies_read(t["query"]) for t in by_range[365]] == [["rollup_1d"]]
    assert '"rollup_1d"."emissions_total"' in by_range[365][0]["query"]  # across sites: few rows


def test_the_gate_expands_to_a_constant_condition_on_the_range_length() -> None:
    start_ms = END_MS - 30 * DAY_MS
    assert HOURLY.of("energy") == '"rollup_1h"."energy"'
    assert expand(HOURLY.where(), TimeRange(start_ms, END_MS), {}) == (
        f"WHERE time >= {start_ms}ms and time <= {END_MS}ms AND "
        f"({END_MS} - {start_ms} > 172800000 AND {END_MS} - {start_ms} <= 5184000000)"
    )


def test_means_over_rollups_are_sums_over_counts_never_a_mean_of_means() -> None:
    assert RAW.mean("district_heating", "delta_t_k") == 'mean("delta_t_k")'
    for source in (HOURLY, DAILY):
        assert source.mean("district_heating", "delta_t_k") == 'sum("delta_t_k_sum") / sum("delta_t_k_count")'
    for _, _, target in _influx_targets():
        assert "_mean" not in target["query"], target["query"]


def test_rollup_sources_are_the_layouts_retention_policies() -> None:
    assert (HOURLY.retention_policy, DAILY.retention_policy) == ROLLUP_RPS


def _substation() -> dict[str, Any]:
    return copy.deepcopy(load_committed()["substation-detail"])


def _panel(document: dict[str, Any], title: str, kind: str = "timeseries") -> dict[str, Any]:
    return next(p for p in panels_of(document) if p["title"] == title and p["type"] == kind)


def test_lint_reports_a_query_reading_raw_over_a_range_of_any_length() -> None:
    document = _substation()
    panel = _panel(document, "Flow")
    panel["targets"] = panel["targets"][:1]
    panel["targets"][0]["query"] = (
        'SELECT mean("flow_m3h") FROM "district_heating" WHERE $timeFilter GROUP BY time($__interval)'
    )
    (problem,) = lint_dashboards({"s": document})
    assert problem.startswith("s: Flow: target A: reads raw data over the selected range at any length")


def test_lint_reports_a_raw_query_gated_to_ranges_beyond_two_days() -> None:
    document = _substation()
    panel = _panel(document, "Flow")
    panel["targets"][0]["query"] = panel["targets"][0]["query"].replace("<= 172800000", "<= 5184000000")
    problems = lint_dashboards({"s": document})
    assert any("target A: reads raw data over the selected range" in p for p in problems), problems


@pytest.mark.parametrize("change", ["drop the daily target", "duplicate the hourly target", "shift a gate"])
def test_lint_reports_range_gates_that_leave_a_gap_or_overlap(change: str) -> None:
    document = _substation()
    panel = _panel(document, "Flow")
    if change == "drop the daily target":
        panel["targets"].pop()
    elif change == "duplicate the hourly target":
        panel["targets"].append(dict(panel["targets"][1], refId="D"))
    else:
        panel["targets"][2]["query"] = panel["targets"][2]["query"].replace("> 5184000000", "> 6000000000")
    problems = lint_dashboards({"s": document})
    assert [p for p in problems if "range gates must cover every length of range exactly once" in p], problems
    assert all(p.startswith("s: Flow: ") for p in problems)


def test_lint_reports_an_unknown_retention_policy() -> None:
    document = _substation()
    panel = _panel(document, "Flow")
    panel["targets"][1]["query"] = panel["targets"][1]["query"].replace('"rollup_1h".', '"rollup_5m".')
    assert lint_dashboards({"s": document}) == [
        "s: Flow: target B: reads retention policy 'rollup_5m', which is neither raw nor a roll-up"
    ]
