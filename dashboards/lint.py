"""Structural lint of generated dashboards: what Grafana would not reject but operators would
suffer from. Returns problems as readable lines; an empty list means clean.

Checks: unique dashboard uids and panel ids; every panel and target bound to a provisioned
datasource uid; a unit on every data panel; in every InfluxQL SELECT either ``$timeFilter`` or
a trailing window ending at the range's end (``time > ${__to}ms - 15m AND time <= ${__to}ms``,
for "now" figures that must not depend on the range's length); no hard-coded time ranges
(``now()``, other literal time comparisons, fixed PromQL range selectors, absolute dashboard
time); and the cost rule (dashboards/sources.py): a query over the selected range that reads
raw data must be gated to ranges of at most two days (``${__to} - ${__from} <= 172800000``),
longer ranges read the roll-ups, and a panel's gated targets cover every length of range
exactly once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from dashboards.datasources import PROVISIONED_UIDS
from dashboards.sources import RAW_MAX_MS
from energy_core.rollups import ROLLUP_RPS

_LITERAL_TIME_CONDITION = re.compile(r"\btime\s*[<>]=?", re.IGNORECASE)
# A window of fixed length up to the selected range's end: Grafana's ${__to} in epoch ms.
_TRAILING_WINDOW = re.compile(
    r"\btime\s*>=?\s*\$\{__to\}ms\s*-\s*\d+(?:ms|s|m|h|d|w)\s+AND\s+time\s*<=?\s*\$\{__to\}ms",
    re.IGNORECASE,
)
_NOW = re.compile(r"\bnow\s*\(\s*\)", re.IGNORECASE)
_FIXED_PROM_RANGE = re.compile(r"\[\s*\d+[smhdwy]\s*\]")
_PANELS_WITHOUT_DATA = {"row", "text"}
# `${__to} - ${__from} <= N` / `> N`: the target answers only for ranges of that length (ms).
_RANGE_GATE = re.compile(r"\$\{__to\}\s*-\s*\$\{__from\}\s*(<=|>)\s*(\d+)")
# What a SELECT reads: "measurement", "rp"."measurement" or "db"."rp"."measurement".
_READS = re.compile(r'\bFROM\s+((?:"[^"]+"\s*\.\s*){0,2}"[^"]+")', re.IGNORECASE)

Band = tuple[int, int | None]  # ranges (above, up to] in ms; None: no upper bound


def panels_of(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def lint_dashboards(dashboards: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Lint a set of dashboards (by file name) together, so uids are checked across them."""
    problems: list[str] = []
    seen_uids: dict[str, str] = {}
    for name, dashboard in dashboards.items():
        uid = dashboard.get("uid")
        if not uid:
            problems.append(f"{name}: dashboard has no uid")
        elif uid in seen_uids:
            problems.append(f"{name}: uid {uid!r} is also used by {seen_uids[uid]}")
        else:
            seen_uids[uid] = name
        problems.extend(f"{name}: {problem}" for problem in lint_dashboard(dashboard))
    return problems


def lint_dashboard(dashboard: Mapping[str, Any]) -> list[str]:
    """Problems of one dashboard."""
    problems: list[str] = []
    time = dashboard.get("time", {})
    if not str(time.get("from", "")).startswith("now") or not str(time.get("to", "")).startswith("now"):
        problems.append(f"default time range {time!r} is absolute; use now-relative ranges")
    ids: set[int] = set()
    for panel in panels_of(dashboard):
        title = panel.get("title") or f"panel {panel.get('id')}"
        if panel.get("id") in ids:
            problems.append(f"{title}: panel id {panel.get('id')} is not unique")
        ids.add(panel.get("id", 0))
        if panel.get("type") in _PANELS_WITHOUT_DATA:
            continue
        problems.extend(f"{title}: {problem}" for problem in _lint_data_panel(panel))
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if "query" in annotation:
            where = f"annotation {annotation.get('name')}"
            problems.extend(f"{where}: {p}" for p in _datasource_problems(annotation.get("datasource")))
            problems.extend(f"{where}: {p}" for p in lint_influxql(annotation["query"]))
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            problems.extend(
                f"variable {variable.get('name')}: {problem}"
                for problem in _datasource_problems(variable.get("datasource"))
            )
    return problems


def _lint_data_panel(panel: Mapping[str, Any]) -> list[str]:
    problems = _datasource_problems(panel.get("datasource"))
    if not panel.get("fieldConfig", {}).get("defaults", {}).get("unit"):
        problems.append("no unit set")
    targets = panel.get("targets", [])
    if not targets:
        problems.append("no query")
    problems.extend(_band_problems([t["query"] for t in targets if "query" in t]))
    panel_uid = (panel.get("datasource") or {}).get("uid")
    for target in targets:
        ref = target.get("refId", "?")
        target_ds = target.get("datasource")
        problems.extend(f"target {ref}: {problem}" for problem in _datasource_problems(target_ds))
        if (target_ds or {}).get("uid") != panel_uid:
            problems.append(f"target {ref}: datasource differs from the panel's")
        if "query" in target:
            problems.extend(f"target {ref}: {problem}" for problem in lint_influxql(target["query"]))
        elif "expr" in target:
            problems.extend(f"target {ref}: {problem}" for problem in lint_promql(target["expr"]))
        else:
            problems.append(f"target {ref}: neither an InfluxQL query nor a PromQL expr")
    return problems


def _datasource_problems(datasource: Any) -> list[str]:
    if not isinstance(datasource, Mapping) or "uid" not in datasource:
        return ["no datasource uid (would fall back to Grafana's default datasource)"]
    uid, kind = datasource.get("uid"), datasource.get("type")
    if uid not in PROVISIONED_UIDS:
        return [f"datasource uid {uid!r} is not provisioned"]
    if PROVISIONED_UIDS[uid] != kind:
        return [f"datasource {uid!r} has type {kind!r}, provisioned as {PROVISIONED_UIDS[uid]!r}"]
    return []


def lint_influxql(query: str) -> list[str]:
    """Problems of one InfluxQL panel query."""
    problems = []
    windows = _TRAILING_WINDOW.findall(query)
    if query.lstrip().upper().startswith("SELECT") and "$timeFilter" not in query and not windows:
        problems.append("SELECT without $timeFilter or a window up to ${__to} (would scan all time)")
    if _NOW.search(query):
        problems.append("uses now(): a hard-coded time range")
    if _LITERAL_TIME_CONDITION.search(_TRAILING_WINDOW.sub("", query.replace("$timeFilter", ""))):
        problems.append("compares time literally: a hard-coded time range")
    return problems + _cost_problems(query)


def range_band(query: str) -> Band | None:
    """The lengths of range a query answers for, from its ``${__to} - ${__from}`` gates."""
    gates = _RANGE_GATE.findall(query)
    if not gates:
        return None
    above = max((int(n) for op, n in gates if op == ">"), default=0)
    up_to = min((int(n) for op, n in gates if op == "<="), default=None)
    return (above, up_to)


def retention_policies_read(query: str) -> list[str | None]:
    """The retention policy of every measurement a query reads (None: the default, raw data)."""
    policies: list[str | None] = []
    for name in _READS.findall(query):
        parts = [part.strip().strip('"') for part in name.split(".")]
        policies.append(parts[-2] if len(parts) > 1 else None)
    return policies


def _cost_problems(query: str) -> list[str]:
    problems = []
    policies = retention_policies_read(query)
    band = range_band(query)
    up_to = band[1] if band else None
    if "$timeFilter" in query and None in policies and (up_to is None or up_to > RAW_MAX_MS):
        problems.append(
            "reads raw data over the selected range at any length: gate it with "
            f"${{__to}} - ${{__from}} <= {RAW_MAX_MS} and read the roll-ups beyond (dashboards/sources.py)"
        )
    problems.extend(
        f"reads retention policy {rp!r}, which is neither raw nor a roll-up"
        for rp in policies
        if rp is not None and rp not in ROLLUP_RPS and rp != "autogen"
    )
    return problems


def _band_problems(queries: list[str]) -> list[str]:
    """Gated targets of one panel must answer for every length of range, each length once."""
    bands = [band for band in map(range_band, queries) if band is not None]
    if not bands:
        return []
    ordered = sorted(bands, key=lambda band: (band[0], band[1] is None, band[1] or 0))
    covered: int | None = 0
    for above, up_to in ordered:
        if covered is None or above != covered:
            break
        covered = up_to
    else:
        if covered is None:
            return []
    shown = ", ".join(f"({above} ms, {'∞' if up_to is None else f'{up_to} ms'}]" for above, up_to in ordered)
    return [f"range gates must cover every length of range exactly once; they cover {shown}"]


def lint_promql(expr: str) -> list[str]:
    """Problems of one PromQL expression (its metric names are checked by the tests)."""
    if _FIXED_PROM_RANGE.search(expr):
        return ["fixed range selector; use [$__rate_interval]"]
    return []


# --- Alert rules (dashboards/alerts.py, provisioning/alerting/) ---------------------------------

_ALERT_UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_QUOTED_NAME = re.compile(r'"([^"]*)"')
_QUOTED_VALUE = re.compile(r"'([^']*)'")
_DASHBOARD_ONLY = re.compile(r"\$\{?(__to|__from|network|owner|site)\b")
_EXPRESSION_TYPES = {"reduce", "threshold", "math", "resample", "classic_conditions"}
_STATES = {"noDataState": {"OK", "NoData", "Alerting"}, "execErrState": {"OK", "Error", "Alerting"}}
ALERT_SEVERITIES = ("critical", "warning")


def _alert_names() -> set[str]:
    from energy_core import analysis

    return {
        analysis.RP,
        *analysis.MEASUREMENTS,
        *analysis.SUBSTATION_KPI_FIELDS,
        *analysis.FAULT_FIELDS,
        *analysis.BUILDING_KPI_FIELDS,
        "owner",
        "site",
        "network",
        "code",
        "severity",
        "open",
    }


def _alert_values() -> set[str]:
    from energy_core import analysis

    return {*analysis.FAULT_CODES, *ALERT_SEVERITIES}


def lint_alert_rules(document: Mapping[str, Any]) -> list[str]:
    """Problems of an alert-rule provisioning document; an empty list means clean."""
    problems: list[str] = []
    if document.get("apiVersion") != 1:
        problems.append("apiVersion must be 1")
    uids: set[str] = set()
    for group in document.get("groups") or []:
        name = group.get("name") or "?"
        if not group.get("folder") or not group.get("interval"):
            problems.append(f"group {name}: needs a folder and an interval")
        titles: set[str] = set()
        for rule in group.get("rules") or []:
            uid = str(rule.get("uid", ""))
            where = f"rule {uid or rule.get('title', '?')}"
            if not _ALERT_UID.match(uid):
                problems.append(f"{where}: uid must be 1-40 letters, digits, - or _")
            elif uid in uids:
                problems.append(f"{where}: uid is not unique")
            uids.add(uid)
            if rule.get("title") in titles:
                problems.append(f"{where}: title {rule.get('title')!r} is not unique in its group")
            titles.add(rule.get("title"))
            problems.extend(f"{where}: {p}" for p in _lint_rule(rule))
    if not uids:
        problems.append("no alert rules")
    return problems


def _lint_rule(rule: Mapping[str, Any]) -> list[str]:
    problems = []
    severity = (rule.get("labels") or {}).get("severity")
    if severity not in ALERT_SEVERITIES:
        problems.append(f"label severity is {severity!r}, not one of {ALERT_SEVERITIES}")
    for key, allowed in _STATES.items():
        if rule.get(key) not in allowed:
            problems.append(f"{key} {rule.get(key)!r} is not one of {sorted(allowed)}")
    data = rule.get("data") or []
    refs = [entry.get("refId") for entry in data]
    if len(set(refs)) != len(refs):
        problems.append(f"refIds {refs} are not unique")
    if rule.get("condition") not in refs:
        problems.append(f"condition {rule.get('condition')!r} names no query")
    for entry in data:
        ref = entry.get("refId", "?")
        problems.extend(f"{ref}: {p}" for p in _lint_alert_query(entry, set(refs)))
    return problems


def _lint_alert_query(entry: Mapping[str, Any], refs: set[str]) -> list[str]:
    model = entry.get("model") or {}
    uid = entry.get("datasourceUid")
    if (model.get("datasource") or {}).get("uid") != uid:
        return ["the model's datasource differs from datasourceUid"]
    if uid == "__expr__":
        problems = []
        if model.get("type") not in _EXPRESSION_TYPES:
            problems.append(f"expression type {model.get('type')!r} is unknown")
        if model.get("type") != "math" and model.get("expression") not in refs - {entry.get("refId")}:
            problems.append(f"expression {model.get('expression')!r} names no other query")
        return problems
    if uid not in PROVISIONED_UIDS:
        return [f"datasource uid {uid!r} is not provisioned"]
    span = entry.get("relativeTimeRange") or {}
    problems = []
    if (
        not isinstance(span.get("from"), int)
        or not isinstance(span.get("to"), int)
        or span["from"] <= span["to"]
    ):
        problems.append(f"relativeTimeRange {span!r} is empty")
    query = model.get("query")
    if PROVISIONED_UIDS[uid] != "influxdb" or not isinstance(query, str) or model.get("rawQuery") is not True:
        return [*problems, "not a raw InfluxQL query"]
    if "$timeFilter" not in query:
        problems.append("query without $timeFilter (would scan all time)")
    if _DASHBOARD_ONLY.search(query):
        problems.append("uses a dashboard variable, which alert rules do not expand")
    problems.extend(p for p in lint_influxql(query) if "$timeFilter" not in p)
    names, values = _alert_names(), _alert_values()
    problems.extend(f"name {n!r} is not allow-listed" for n in _QUOTED_NAME.findall(query) if n not in names)
    problems.extend(
        f"value {v!r} is not allow-listed" for v in _QUOTED_VALUE.findall(query) if v not in values
    )
    return problems
