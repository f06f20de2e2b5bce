"""The provisioned alert rules: generated from code, committed, and linted offline."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards import alerts
from dashboards.datasources import INFLUX_UID, PROVISIONED_UIDS
from dashboards.lint import lint_alert_rules
from energy_core.analysis import FAULTS

PROVISIONING = Path(__file__).resolve().parents[2] / "dashboards" / "provisioning"


def _committed() -> dict[str, Any]:
    return copy.deepcopy(alerts.load_committed())


def _rules(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_the_committed_alert_rules_are_what_the_code_generates() -> None:
    assert alerts.stale() == []
    assert alerts.FILE.parent == PROVISIONING / "alerting"


def test_a_stale_or_missing_rules_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "substation-faults.yaml"
    assert alerts.stale(path) == ["substation-faults.yaml is missing"]
    alerts.write(path)
    assert alerts.stale(path) == []
    path.write_text(path.read_text().replace("gt", "lt"))
    assert alerts.stale(path) == ["substation-faults.yaml is stale"]


def test_the_committed_alert_rules_pass_the_lint() -> None:
    assert lint_alert_rules(_committed()) == []


def test_every_fault_class_has_a_rule_labelled_with_its_severity_and_code() -> None:
    rules = {rule["labels"]["code"]: rule for rule in _rules(_committed())}
    assert set(rules) == set(FAULTS)
    for code, rule in rules.items():
        assert rule["labels"]["severity"] == FAULTS[code].severity
        assert rule["title"] == FAULTS[code].title


def test_rules_use_the_provisioned_influx_datasource_and_file_provisioning_format() -> None:
    document = yaml.safe_load(alerts.FILE.read_text(encoding="utf-8"))
    assert document["apiVersion"] == 1
    (group,) = document["groups"]
    assert group["folder"] == "Borlänge energy"
    assert group["interval"] == "5m"
    assert group["orgId"] == 1
    for rule in group["rules"]:
        (query,) = [d for d in rule["data"] if d["datasourceUid"] != "__expr__"]
        assert query["datasourceUid"] == INFLUX_UID
        assert PROVISIONED_UIDS[INFLUX_UID] == query["model"]["datasource"]["type"] == "influxdb"
        assert rule["condition"] == "C"


def _first(document: dict[str, Any]) -> dict[str, Any]:
    return _rules(document)[0]


def _query_model(rule: dict[str, Any]) -> dict[str, Any]:
    model: dict[str, Any] = rule["data"][0]["model"]
    return model


def _break_uid(d: dict[str, Any]) -> None:
    _rules(d)[1]["uid"] = _first(d)["uid"]


def _break_datasource(d: dict[str, Any]) -> None:
    _first(d)["data"][0]["datasourceUid"] = "P951FEA4DE68E13C5"
    _query_model(_first(d))["datasource"]["uid"] = "P951FEA4DE68E13C5"


def _break_condition(d: dict[str, Any]) -> None:
    _first(d)["condition"] = "D"


def _break_expression(d: dict[str, Any]) -> None:
    _first(d)["data"][2]["model"]["expression"] = "X"


def _break_severity(d: dict[str, Any]) -> None:
    _first(d)["labels"]["severity"] = "page-everyone"


def _break_names(d: dict[str, Any]) -> None:
    model = _query_model(_first(d))
    model["query"] = model["query"].replace('"active"', '"password"', 1)


def _break_values(d: dict[str, Any]) -> None:
    model = _query_model(_first(d))
    model["query"] = model["query"].replace("'low_delta_t'", "'x' OR 1=1")


def _break_time_filter(d: dict[str, Any]) -> None:
    model = _query_model(_first(d))
    model["query"] = model["query"].replace("$timeFilter", "time > 0")


def _break_dashboard_variable(d: dict[str, Any]) -> None:
    model = _query_model(_first(d))
    model["query"] = model["query"].replace("$timeFilter", '$timeFilter AND "network" =~ /^$network$/')


def _break_raw_query(d: dict[str, Any]) -> None:
    _query_model(_first(d))["rawQuery"] = False


def _break_api_version(d: dict[str, Any]) -> None:
    d["apiVersion"] = 2


@pytest.mark.parametrize(
    ("breaks", "problem"),
    [
        (_break_uid, "uid is not unique"),
        (_break_datasource, "datasource uid 'P951FEA4DE68E13C5' is not provisioned"),
        (_break_condition, "condition 'D' names no query"),
        (_break_expression, "expression 'X' names no other query"),
        (_break_severity, "label severity is 'page-everyone'"),
        (_break_names, "name 'password' is not allow-listed"),
        (_break_values, "value 'x' is not allow-listed"),
        (_break_time_filter, "query without $timeFilter"),
        (_break_dashboard_variable, "uses a dashboard variable"),
        (_break_raw_query, "not a raw InfluxQL query"),
        (_break_api_version, "apiVersion must be 1"),
    ],
)
def test_each_alert_lint_rule_fires_on_a_broken_rule(breaks: Any, problem: str) -> None:
    document = _committed()
    breaks(document)
    problems = lint_alert_rules(document)
    assert any(problem in p for p in problems), problems
