"""Substation detail: one district-heating substation, chosen with the ``$site`` variable."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash

from dashboards.influxql import InfluxQL
from dashboards.panels import (
    UNIT_DELTA_K,
    UNIT_M3H,
    base_dashboard,
    influx_tag_variable,
    influx_targets,
    row,
    stat_panel,
    timeseries_panel,
)

UID = "energy-substation-detail"

SITE = '"site" =~ /^$site$/'


def _mean(field: str, alias: str) -> str:
    """Mean of one district-heating field per interval for the chosen substation."""
    return (
        f'SELECT mean("{field}") AS "{alias}" FROM "district_heating" '
        f"WHERE $timeFilter AND {SITE} GROUP BY time($__interval) fill(none)"
    )


def _last(field: str) -> str:
    return f'SELECT last("{field}") AS "{field}" FROM "district_heating" WHERE $timeFilter AND {SITE}'


POWER = _mean("power_kw", "power")
FLOW = _mean("flow_m3h", "flow")
TEMPERATURES = (
    'SELECT mean("supply_temp_c") AS "supply", mean("return_temp_c") AS "return" '
    f'FROM "district_heating" WHERE $timeFilter AND {SITE} GROUP BY time($__interval) fill(none)'
)
DELTA_T = _mean("delta_t_k", "ΔT")
# Interval energy (derived from the meter register by ingest), summed per day.
ENERGY_PER_DAY = (
    'SELECT sum("kwh") AS "district heat" FROM "energy" '
    f"WHERE $timeFilter AND {SITE} AND \"carrier\" = 'district_heat' GROUP BY time(1d) fill(none)"
)
ENERGY_REGISTER = _last("energy_kwh")
INFO_CODE = _last("info_code")


def build() -> dash.Dashboard:
    """The substation detail dashboard."""
    return (
        base_dashboard(
            UID,
            "Substation detail",
            "One substation's heat meter: power, flow, temperatures, ΔT, daily energy and status.",
            ["operators", "district-heating"],
        )
        .with_variable(
            influx_tag_variable(
                "network",
                "Network",
                'SHOW TAG VALUES FROM "district_heating" WITH KEY = "network"',
                include_all=True,
            )
        )
        .with_variable(
            influx_tag_variable(
                "site",
                "Substation",
                'SHOW TAG VALUES FROM "district_heating" WITH KEY = "site" WHERE "network" =~ /^$network$/',
            )
        )
        .with_row(row("Latest"))
        .with_panel(stat_panel("Power", "kwatt", influx_targets(_last("power_kw")), decimals=0))
        .with_panel(stat_panel("Supply", "celsius", influx_targets(_last("supply_temp_c")), decimals=1))
        .with_panel(stat_panel("Return", "celsius", influx_targets(_last("return_temp_c")), decimals=1))
        .with_panel(stat_panel("ΔT", UNIT_DELTA_K, influx_targets(_last("delta_t_k")), decimals=1))
        .with_panel(
            stat_panel("Energy register", "kwatth", influx_targets(ENERGY_REGISTER), width=12, decimals=0)
        )
        .with_panel(
            stat_panel(
                "Meter info code",
                "short",
                influx_targets(INFO_CODE),
                description="The heat meter's status word; 0 means no error flags.",
                width=12,
            )
        )
        .with_row(row("Trends"))
        .with_panel(timeseries_panel("Power", "kwatt", influx_targets(InfluxQL(POWER).alias("power"))))
        .with_panel(timeseries_panel("Flow", UNIT_M3H, influx_targets(InfluxQL(FLOW).alias("flow"))))
        .with_panel(
            timeseries_panel(
                "Supply and return temperature",
                "celsius",
                influx_targets(InfluxQL(TEMPERATURES).alias("$col")),
            )
        )
        .with_panel(timeseries_panel("ΔT", UNIT_DELTA_K, influx_targets(DELTA_T)))
        .with_panel(
            timeseries_panel(
                "Energy per day",
                "kwatth",
                influx_targets(InfluxQL(ENERGY_PER_DAY).alias("district heat")),
                description="Days are UTC days (InfluxQL buckets).",
                bars=True,
                width=24,
            )
        )
    )
