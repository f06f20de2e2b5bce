"""Dashboards as code: the committed JSON is what the code generates, and it passes the lint."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from dashboards.__main__ import main
from dashboards.build import DASHBOARDS, JSON_DIR, load_committed, rendered, stale_files, write_all
from dashboards.lint import lint_dashboards, panels_of
from energy_core.analysis import FAULTS


def test_committed_json_is_what_the_generator_produces() -> None:
    """Fails when someone edits dashboards/*.py without `python -m dashboards build` (or edits JSON)."""
    assert stale_files(JSON_DIR) == []


def test_stale_missing_and_extra_files_are_reported(tmp_path: Path) -> None:
    write_all(tmp_path)
    assert stale_files(tmp_path) == []
    edited = tmp_path / "emissions.json"
    edited.write_text(edited.read_text().replace("Emissions", "Emisions"))
    (tmp_path / "network-overview.json").unlink()
    (tmp_path / "hand-made.json").write_text("{}")
    assert stale_files(tmp_path) == [
        "hand-made.json is extra (no dashboard generates it)",
        "emissions.json is stale",
        "network-overview.json is missing",
    ]


def test_build_removes_json_of_dashboards_that_no_longer_exist(tmp_path: Path) -> None:
    (tmp_path / "retired.json").write_text("{}")
    write_all(tmp_path)
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == sorted(DASHBOARDS)


def test_generation_is_deterministic() -> None:
    assert json.dumps(rendered(), sort_keys=True) == json.dumps(rendered(), sort_keys=True)


def test_check_command_passes_on_the_committed_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    committed = load_committed()
    panels = [panel for document in committed.values() for panel in panels_of(document)]
    queries = sum(len(panel.get("targets", [])) for panel in panels)
    assert out == (
        f"ok: {len(committed)} dashboards, {len(panels)} panels, {queries} queries, "
        f"{len(FAULTS)} alert rules checked "
        "(up to date with the code, lint clean)\n"
    )
    assert len(committed) > 1
    assert queries > len(committed)


def test_committed_dashboards_pass_the_structural_lint() -> None:
    assert lint_dashboards(load_committed()) == []


def test_the_dashboards_of_spec_7_and_issue_15_exist_with_panels() -> None:
    committed = load_committed()
    assert set(committed) == {
        "network-overview",
        "substation-detail",
        "owner-buildings",
        "emissions",
        "ingest-health",
        "substation-performance",
    }
    for document in committed.values():
        assert len([p for p in panels_of(document) if p.get("targets")]) >= 5


def test_panel_ids_are_unique_and_numbered() -> None:
    for document in load_committed().values():
        ids = [p["id"] for p in panels_of(document)]
        assert ids == list(range(1, len(ids) + 1))


def _network() -> dict[str, Any]:
    return copy.deepcopy(load_committed()["network-overview"])


def _first_data_panel(document: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in panels_of(document) if p.get("targets"))


def test_lint_reports_a_panel_without_unit() -> None:
    document = _network()
    panel = _first_data_panel(document)
    del panel["fieldConfig"]["defaults"]["unit"]
    assert lint_dashboards({"n": document}) == [f"n: {panel['title']}: no unit set"]


def test_lint_reports_a_target_on_an_unprovisioned_datasource() -> None:
    document = _network()
    panel = _first_data_panel(document)
    panel["targets"][0]["datasource"] = {"type": "influxdb", "uid": "P951FEA4DE68E13C5"}
    problems = lint_dashboards({"n": document})
    assert f"n: {panel['title']}: target A: datasource uid 'P951FEA4DE68E13C5' is not provisioned" in problems
    assert f"n: {panel['title']}: target A: datasource differs from the panel's" in problems


def test_lint_reports_a_panel_without_datasource() -> None:
    document = _network()
    panel = _first_data_panel(document)
    del panel["datasource"]
    problems = lint_dashboards({"n": document})
    assert any("no datasource uid" in p for p in problems)


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ('SELECT mean("power_kw") FROM "district_heating" GROUP BY time(1m)', "without $timeFilter"),
        ('SELECT mean("power_kw") FROM "district_heating" WHERE time > now() - 1h', "now()"),
        (
            'SELECT mean("power_kw") FROM "district_heating" WHERE $timeFilter AND time < 1700000000000ms',
            "compares time literally",
        ),
        (  # a window up to the range's end needs its upper bound too
            'SELECT last("power_kw") FROM "district_heating" WHERE time > ${__to}ms - 15m',
            "without $timeFilter or a window up to ${__to}",
        ),
        (
            'SELECT last("power_kw") FROM "district_heating" '
            "WHERE time > ${__to}ms - 15m AND time <= ${__to}ms AND time > ${__from}ms",
            "compares time literally",
        ),
    ],
)
def test_lint_reports_queries_without_the_dashboard_time_range(query: str, problem: str) -> None:
    document = _network()
    panel = _first_data_panel(document)
    panel["targets"][0]["query"] = query
    problems = lint_dashboards({"n": document})
    assert any(problem in p for p in problems), problems
    assert all(f": {panel['title']}: target A: " in p for p in problems)


def test_lint_accepts_a_window_of_fixed_length_up_to_the_range_end() -> None:
    document = _network()
    _first_data_panel(document)["targets"][0]["query"] = (
        'SELECT last("power_kw") FROM "district_heating" WHERE time > ${__to}ms - 15m AND time <= ${__to}ms'
    )
    assert lint_dashboards({"n": document}) == []


def test_lint_reports_fixed_promql_ranges() -> None:
    document = copy.deepcopy(load_committed()["ingest-health"])
    panel = next(p for p in panels_of(document) if p.get("title") == "Messages")
    panel["targets"][0]["expr"] = "sum(rate(ingest_messages_received_total[5m]))"
    assert lint_dashboards({"i": document}) == [
        "i: Messages: target A: fixed range selector; use [$__rate_interval]"
    ]


def test_lint_reports_duplicate_dashboard_uids_and_absolute_time() -> None:
    first, second = _network(), _network()
    second["time"] = {"from": "2024-01-01T00:00:00Z", "to": "now"}
    problems = lint_dashboards({"a": first, "b": second})
    assert "b: uid 'energy-network-overview' is also used by a" in problems
    assert any(p.startswith("b: default time range") for p in problems)


def test_lint_reports_an_annotation_query_without_the_time_range() -> None:
    document = copy.deepcopy(load_committed()["substation-detail"])
    (annotation,) = document["annotations"]["list"]
    annotation["query"] = annotation["query"].replace("$timeFilter AND ", "")
    annotation["datasource"] = {"type": "influxdb", "uid": "other"}
    problems = lint_dashboards({"s": document})
    assert "s: annotation Faults: datasource uid 'other' is not provisioned" in problems
    assert any(p.startswith("s: annotation Faults: SELECT without $timeFilter") for p in problems), problems
