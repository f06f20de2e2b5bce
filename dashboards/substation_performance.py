"""Substation performance (issue 15): which substations cool badly, where to send someone.

Reads the daily analysis results only (dashboards/kpis.py): the worst substations over the
selected range with links to their detail, the network's distribution of ΔT and return
temperature over substations, the total excess flow, and the faults open at the range's end.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models.dashboard import DataTransformerConfig

from dashboards import kpis, substation
from dashboards.influxql import InfluxQL
from dashboards.panels import (
    UNIT_DELTA_K,
    UNIT_M3,
    UNIT_M3_PER_MWH,
    base_dashboard,
    column_overrides,
    histogram_panel,
    influx_targets,
    influx_variable,
    network_variable,
    row,
    sorted_by,
    stat_panel,
    table_panel,
)
from dashboards.sources import trailing
from energy_core import analysis

UID = "energy-substation-performance"

DETAIL_URL = f"/d/{substation.UID}/substation-detail?var-site=${{__value.raw}}&${{__url_time_range}}"
SITE_LINK = {"site": ("Substation detail", DETAIL_URL)}
CRITICAL = "\"severity\" = 'critical'"
WARNING = "\"severity\" = 'warning'"

# The ranking's two targets (volume-weighted means; plain sums) joined into one row per site.
MERGE = [DataTransformerConfig(id_val="merge", options={})]

DAYS_NOTE = (
    "From the daily substation KPIs (a day counts when its local midnight is in the range); ΔT and "
    "return temperature weighted by volume: Σ(x·volume)/Σvolume."
)


def per_site(columns: dict[str, str]) -> str:
    """Volume-weighted means of KPI fields per substation over the range."""
    return kpis.weighted(columns, f"$timeFilter AND {kpis.NETWORK_OWNER}", by='"site"')


TOTAL_EXCESS_FLOW = (
    f'SELECT sum("excess_flow_m3") AS "excess flow" FROM {kpis.KPI} '
    f"WHERE $timeFilter AND {kpis.NETWORK_OWNER}"
)
NETWORK_DELTA_T = kpis.weighted({"ΔT": "delta_t_k"}, f"$timeFilter AND {kpis.NETWORK_OWNER}")


def open_count(severity: str) -> str:
    """How many (site, code) faults of a severity are open at the range's end."""
    return (
        'SELECT sum("active") AS "open" FROM ('
        f'SELECT last("active") AS "active" FROM {kpis.FAULT} '
        f"WHERE {trailing(kpis.OPEN_WINDOW)} AND {kpis.NETWORK_OWNER} AND {severity} "
        'GROUP BY "site", "code")'
    )


def build() -> dash.Dashboard:
    """The substation performance dashboard."""
    ranking = sorted_by(
        column_overrides(
            table_panel(
                "Worst substations (most excess flow first)",
                "short",
                influx_targets(
                    InfluxQL(kpis.ranking_weighted()).table(), InfluxQL(kpis.ranking_sums()).table()
                ),
                description=DAYS_NOTE + " Excess flow: the volume that would not have been pumped at "
                "the target ΔT. Specific flow: m³ per MWh. Sort by any column; a substation links to "
                "its detail.",
                width=24,
                height=10,
            ).transformations(MERGE),
            {
                "ΔT": UNIT_DELTA_K,
                "return": "celsius",
                "excess flow": UNIT_M3,
                "specific flow": UNIT_M3_PER_MWH,
                "heat": "kwatth",
                "volume": UNIT_M3,
            },
            SITE_LINK,
        ),
        "excess flow",
        desc=True,
    )
    open_faults = sorted_by(
        column_overrides(
            table_panel(
                "Open faults",
                "short",
                influx_targets(InfluxQL(kpis.open_faults(kpis.NETWORK_OWNER)).table()),
                description="Faults whose latest analysed day has them active (code, severity, since "
                "when, the value against its threshold, the evidence). A fault cleared by a "
                "re-analysis is not listed.",
                width=24,
                height=10,
            ),
            {"since": "dateTimeAsIso"},
            SITE_LINK,
        ),
        "since",
        desc=False,
    )
    return (
        base_dashboard(
            UID,
            "Substation performance",
            "The list an operator acts on: the worst-cooling substations, the network's ΔT and return "
            "temperatures across substations, excess flow, open faults.",
            ["operators", "district-heating"],
        )
        .time("now-7d", "now")
        .refresh("5m")
        .with_variable(network_variable(multi=True))
        .with_variable(
            influx_variable(
                "owner",
                "Owner",
                f'SHOW TAG VALUES FROM "{analysis.SUBSTATION_KPI}" WITH KEY = "owner" '
                'WHERE "network" =~ /^$network$/',
            )
        )
        .with_row(row("Summary"))
        .with_panel(
            stat_panel(
                "Open critical faults",
                "short",
                influx_targets(open_count(CRITICAL)),
                description="Faults of critical severity open at the range's end.",
                no_value="0",
            )
        )
        .with_panel(
            stat_panel(
                "Open warnings",
                "short",
                influx_targets(open_count(WARNING)),
                description="Faults of warning severity open at the range's end.",
                no_value="0",
            )
        )
        .with_panel(
            stat_panel(
                "Total excess flow",
                UNIT_M3,
                influx_targets(TOTAL_EXCESS_FLOW),
                description="Σ excess flow of the substations' days in the range.",
                decimals=0,
            )
        )
        .with_panel(
            stat_panel(
                "Network ΔT (volume-weighted)",
                UNIT_DELTA_K,
                influx_targets(NETWORK_DELTA_T),
                description=DAYS_NOTE,
                decimals=1,
            )
        )
        .with_row(row("Substations"))
        .with_panel(ranking)
        .with_panel(
            histogram_panel(
                "ΔT across substations (volume-weighted over the range)",
                UNIT_DELTA_K,
                influx_targets(InfluxQL(per_site({"ΔT": "delta_t_k"})).table()),
                bucket_size=5,
                description="How many substations have each ΔT (5 K buckets). " + DAYS_NOTE,
            )
        )
        .with_panel(
            histogram_panel(
                "Return temperature across substations (volume-weighted over the range)",
                "celsius",
                influx_targets(InfluxQL(per_site({"return": "return_temp_c"})).table()),
                bucket_size=2,
                description="How many substations have each return temperature (2 °C buckets). " + DAYS_NOTE,
            )
        )
        .with_row(row("Faults"))
        .with_panel(open_faults)
    )
