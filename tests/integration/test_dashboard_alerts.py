"""Every provisioned alert rule's query runs against real InfluxDB holding fault findings, and the
rule's chain (A query, B last value per series, C threshold) is evaluated as Grafana would, so the
alert instances that fire are checked against hand-made fault histories.

Grafana cannot be installed here (SPEC §2): the evaluation below does what its expressions do
(reduce "last" dropping nulls, threshold "gt"); the queries themselves are InfluxDB's.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dashboards import alerts
from dashboards.expand import TimeRange, expand
from energy_core import analysis, rollups
from energy_core.influx import InfluxClient
from energy_core.lineprotocol import encode
from energy_core.schema import Point
from energy_testing.world import Services
from ingest.rollup.retention import ensure_policies
from tests import dashboard_dataset as dataset

pytestmark = pytest.mark.integration

# The evaluation: 2026-01-15 10:00 Stockholm; the latest analysed local day is 2026-01-15.
TODAY = rollups.local_day_of(1_768_467_600 * 10**9)
EVAL_MS = 1_768_467_600_000  # 2026-01-15T09:00:00Z
DAY_NS = 86_400 * 10**9


def _fault(site: str, code: str, days_ago: int, active: float, network: str = "borlange") -> str:
    day = TODAY.toordinal() - days_ago
    ts = rollups.local_midnight_ns(TODAY.fromordinal(day))
    tags = (
        ("code", code),
        ("network", network),
        ("owner", "borlange-energi"),
        ("severity", analysis.FAULTS[code].severity),
        ("site", site),
    )
    fields = {"active": active, "since_s": ts / 10**9, "value": 1.0, "threshold": 2.0}
    return encode(Point(analysis.SUBSTATION_FAULT, tags, fields, ts))


LIMIT = alerts.WARNING_SITES_PER_NETWORK


def fault_history() -> list[str]:
    """low_delta_t open at LIMIT + 1 substations of borlange (fires), at one of falun (does not);
    one borlange substation cleared today. stuck_energy_register open at s1 only: s2's episode
    ended three days ago, s3's was cleared by today's re-analysis. No silent_meter at all."""
    lines = []
    for n in range(1, LIMIT + 2):
        lines += [_fault(f"s{n}", "low_delta_t", 1, 1.0), _fault(f"s{n}", "low_delta_t", 0, 1.0)]
    lines += [_fault("s-cleared", "low_delta_t", 1, 1.0), _fault("s-cleared", "low_delta_t", 0, 0.0)]
    lines += [_fault("f1", "low_delta_t", 0, 1.0, network="falun")]
    lines += [_fault("s1", "stuck_energy_register", 0, 1.0)]
    lines += [_fault("s2", "stuck_energy_register", 4, 1.0), _fault("s2", "stuck_energy_register", 3, 1.0)]
    lines += [_fault("s3", "stuck_energy_register", 1, 1.0), _fault("s3", "stuck_energy_register", 0, 0.0)]
    return lines


def _query(url: str, db: str, q: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/query", params={"q": q, "db": db, "epoch": "ms"})
    response.raise_for_status()
    result: dict[str, Any] = response.json()["results"][0]
    assert "error" not in result, (result["error"], q)
    return result


async def _write(url: str, db: str, lines: list[str]) -> None:
    async with InfluxClient(url, db) as client:
        await client.ensure_database()
        assert await ensure_policies(client, rollup_days=0, raw_days=None) == "done"
        await client.write("\n".join(lines).encode(), rp=analysis.RP)


@pytest.fixture(scope="module")
def databases(services: Services) -> Iterator[tuple[str, str, str]]:
    """(url, hand-made histories' db, the dashboard data set's analysis db)."""
    names = (f"alerts_{uuid.uuid4().hex[:8]}", f"alerts_ds_{uuid.uuid4().hex[:8]}")
    try:
        asyncio.run(_write(services.influx_url, names[0], fault_history()))
        asyncio.run(_write(services.influx_url, names[1], dataset.analysis_lines()))
        yield services.influx_url, *names
    finally:
        for name in names:
            httpx.post(f"{services.influx_url}/query", data={"q": f'DROP DATABASE "{name}"'})


def evaluate(url: str, db: str, rule: dict[str, Any], at_ms: int) -> list[dict[str, str]]:
    """The labels of the alert instances that fire, as Grafana's A → reduce → threshold chain."""
    steps = {entry["refId"]: entry for entry in rule["data"]}
    query = steps["A"]
    span = query["relativeTimeRange"]
    window = TimeRange(at_ms - span["from"] * 1000, at_ms - span["to"] * 1000)
    result = _query(url, db, expand(query["model"]["query"], window, {}))
    reduce, threshold = steps["B"]["model"], steps["C"]["model"]
    assert (reduce["type"], reduce["reducer"], reduce["settings"]["mode"]) == ("reduce", "last", "dropNN")
    ((condition,),) = [threshold["conditions"]]
    assert threshold["type"] == "threshold"
    assert condition["evaluator"]["type"] == "gt"
    (limit,) = condition["evaluator"]["params"]
    firing = []
    for series in result.get("series", []):
        values = [row[1] for row in series["values"] if row[1] is not None]
        if values and values[-1] > limit:
            firing.append(series.get("tags") or {})
    return firing


def _rule(code: str) -> dict[str, Any]:
    rules = [rule for group in alerts.load_committed()["groups"] for rule in group["rules"]]
    return next(rule for rule in rules if rule["labels"]["code"] == code)


@pytest.mark.parametrize("code", list(analysis.FAULTS))
def test_every_alert_query_runs_against_influxdb(databases: tuple[str, str, str], code: str) -> None:
    url, history, data_set = databases
    for db in (history, data_set):
        evaluate(url, db, _rule(code), EVAL_MS)


def test_a_critical_rule_fires_per_substation_with_the_fault_open(databases: tuple[str, str, str]) -> None:
    url, history, _ = databases
    firing = evaluate(url, history, _rule("stuck_energy_register"), EVAL_MS)
    assert firing == [{"network": "borlange", "owner": "borlange-energi", "site": "s1"}]


def test_a_critical_rule_with_no_findings_fires_nothing(databases: tuple[str, str, str]) -> None:
    url, history, _ = databases
    rule = _rule("silent_meter")
    assert evaluate(url, history, rule, EVAL_MS) == []
    assert rule["noDataState"] == "OK"


def test_a_warning_rule_fires_per_network_above_its_limit(databases: tuple[str, str, str]) -> None:
    """borlange: LIMIT + 1 open (the cleared one not counted); falun: one."""
    url, history, _ = databases
    assert evaluate(url, history, _rule("low_delta_t"), EVAL_MS) == [{"network": "borlange"}]


def test_a_warning_rule_counts_open_substations_exactly(databases: tuple[str, str, str]) -> None:
    url, history, _ = databases
    rule = _rule("low_delta_t")
    span = rule["data"][0]["relativeTimeRange"]["from"] * 1000
    result = _query(
        url, history, expand(rule["data"][0]["model"]["query"], TimeRange(EVAL_MS - span, EVAL_MS), {})
    )
    counts = {s["tags"]["network"]: s["values"][-1][1] for s in result["series"]}
    assert counts == {"borlange": LIMIT + 1, "falun": 1}


def test_the_data_sets_open_critical_fault_fires_and_its_closed_episode_does_not(
    databases: tuple[str, str, str],
) -> None:
    """At the data set's end: sub-centrum's stuck register is open; sub-norr's silent meter of
    2024-01-05/06 is long over."""
    url, _, data_set = databases
    end_ms = dataset.END_NS // 10**6
    assert [f["site"] for f in evaluate(url, data_set, _rule("stuck_energy_register"), end_ms)] == [
        "sub-centrum"
    ]
    assert evaluate(url, data_set, _rule("silent_meter"), end_ms) == []
