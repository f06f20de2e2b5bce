"""The ingest-health PromQL is checked structurally against the ingest service's own registry.

No Prometheus runs here, so each expression is parsed (promql-parser) and every metric it names
must be a sample the ingest service exports, with only labels that metric has (plus the target
labels Prometheus adds on scrape).
"""

from __future__ import annotations

import re
from typing import Any

import promql_parser
import pytest

from dashboards.build import load_committed
from dashboards.datasources import PROMETHEUS_UID
from dashboards.lint import panels_of
from ingest.metrics import IngestMetrics

TARGET_LABELS = {"instance", "job"}  # added by Prometheus when it scrapes /metrics


def exported_samples() -> dict[str, set[str]]:
    """Sample name → its labels, generated from IngestMetrics().registry (not a hand-kept list)."""
    samples: dict[str, set[str]] = {}
    for family in IngestMetrics().registry.collect():
        for sample in family.samples:
            samples.setdefault(sample.name, set()).update(sample.labels)
        # A histogram's _bucket/_sum/_count exist once observed; declare them from the type.
        if family.type == "histogram":
            for suffix, labels in (("_bucket", {"le"}), ("_sum", set()), ("_count", set())):
                samples.setdefault(family.name + suffix, set()).update(labels)
    return samples


def _grafana_to_promql(expr: str) -> str:
    """Replace Grafana's variables with values Prometheus would see."""
    return expr.replace("$__rate_interval", "1m").replace("$instance", ".*")


def _selectors(expr: str) -> list[tuple[str, set[str], set[str]]]:
    """(metric name, matcher labels, grouping labels above it) for each vector selector."""
    found: list[tuple[str, set[str], set[str]]] = []
    grouping: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            grouping.update(node.modifier.labels)
        if isinstance(node, promql_parser.VectorSelector):
            labels = {m.name for m in node.matchers.matchers}
            found.append((node.name, labels, set(grouping)))

    promql_parser.walk(promql_parser.parse(_grafana_to_promql(expr)), visit)
    return found


def _expressions() -> list[Any]:
    document = load_committed()["ingest-health"]
    cases = []
    for panel in panels_of(document):
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == PROMETHEUS_UID
            cases.append(pytest.param(target["expr"], id=f"{panel['title']}:{target['refId']}"))
    return cases


def test_the_registry_exports_what_the_dashboard_is_about() -> None:
    samples = exported_samples()
    for name in (
        "ingest_messages_received_total",
        "ingest_dead_letters_total",
        "ingest_batch_write_seconds_bucket",
        "ingest_spool_bytes",
    ):
        assert name in samples
    assert "reason" in samples["ingest_dead_letters_total"]


@pytest.mark.parametrize("expr", _expressions())
def test_promql_names_only_exported_metrics_and_labels(expr: str) -> None:
    samples = exported_samples()
    selectors = _selectors(expr)
    assert selectors, f"no metric in {expr}"
    for name, matcher_labels, grouping_labels in selectors:
        assert name in samples, f"{name} is not exported by ingest/metrics.py"
        allowed = samples[name] | TARGET_LABELS
        assert matcher_labels - {"__name__"} <= allowed, (name, matcher_labels)
        assert grouping_labels <= allowed, (name, grouping_labels)


def test_instance_variable_reads_an_exported_metric() -> None:
    document = load_committed()["ingest-health"]
    (variable,) = document["templating"]["list"]
    match = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["query"])
    assert match
    assert match.group(1) in exported_samples()
    assert match.group(2) in TARGET_LABELS


def test_a_misspelt_metric_is_caught() -> None:
    """The check can fail: a name the registry lacks is reported."""
    (name, _, _), *_ = _selectors("sum(rate(ingest_messages_recieved_total[$__rate_interval]))")
    assert name not in exported_samples()
