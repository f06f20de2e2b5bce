"""Network overview for Borlänge Energi's operators: heat load, temperatures, emissions, freshness."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash

from dashboards.influxql import InfluxQL
from dashboards.panels import (
    UNIT_DELTA_K,
    UNIT_KG_PER_H,
    bargauge_panel,
    base_dashboard,
    influx_tag_variable,
    influx_targets,
    row,
    stat_panel,
    table_panel,
    timeseries_panel,
)

UID = "energy-network-overview"

NETWORK = '"network" =~ /^$network$/'

# Summing across series needs a subquery in InfluxQL: first one mean per meter and interval,
# then the sum of those means. Summing raw points would count a meter that reports twice as
# often twice. The outer query needs its own time condition for GROUP BY time().
HEAT_LOAD_MW = (
    'SELECT sum("meter_kw") / 1000 AS "heat_load_mw" FROM ('
    'SELECT mean("power_kw") AS "meter_kw" FROM "district_heating" '
    f'WHERE $timeFilter AND {NETWORK} GROUP BY time($__interval), "device") '
    "WHERE $timeFilter GROUP BY time($__interval) fill(none)"
)
TEMPERATURES = (
    'SELECT mean("supply_temp_c") AS "supply", mean("return_temp_c") AS "return" '
    f'FROM "district_heating" WHERE $timeFilter AND {NETWORK} GROUP BY time($__interval) fill(none)'
)
DELTA_T = (
    'SELECT mean("delta_t_k") AS "ΔT" FROM "district_heating" '
    f"WHERE $timeFilter AND {NETWORK} GROUP BY time($__interval) fill(none)"
)
# Hourly sums of interval emissions are kg per hour: the rate the operators watch.
EMISSION_RATE = (
    'SELECT sum("co2e_kg") AS "district_heat" FROM "emissions" '
    "WHERE $timeFilter AND \"carrier\" = 'district_heat' AND \"method\" = 'location' "
    "GROUP BY time(1h) fill(none)"
)
TOP_SUBSTATIONS = (
    'SELECT top("site_kw", "site", 10) AS "power_kw" FROM ('
    'SELECT mean("power_kw") AS "site_kw" FROM "district_heating" '
    f'WHERE $timeFilter AND {NETWORK} GROUP BY "site")'
)
LAST_READING_PER_SITE = (
    'SELECT last("power_kw") AS "power_kw" FROM "district_heating" '
    f'WHERE $timeFilter AND {NETWORK} GROUP BY "site"'
)
SITES_REPORTING = (
    'SELECT count("last_kw") AS "sites" FROM ('
    'SELECT last("power_kw") AS "last_kw" FROM "district_heating" '
    f'WHERE $timeFilter AND {NETWORK} GROUP BY "site")'
)


def build() -> dash.Dashboard:
    """The network overview dashboard."""
    return (
        base_dashboard(
            UID,
            "Network overview",
            "District-heating network at a glance: heat load, supply/return temperatures, ΔT, "
            "emission rate, the largest substations and how fresh their data is.",
            ["operators", "district-heating"],
        )
        .with_variable(
            influx_tag_variable(
                "network",
                "Network",
                'SHOW TAG VALUES FROM "district_heating" WITH KEY = "network"',
                include_all=True,
                multi=True,
            )
        )
        .with_row(row("Now"))
        .with_panel(
            stat_panel(
                "Heat load",
                "megwatt",
                influx_targets(HEAT_LOAD_MW),
                description="Sum of every heat meter's mean power per interval.",
                decimals=2,
            )
        )
        .with_panel(stat_panel("Mean ΔT", UNIT_DELTA_K, influx_targets(DELTA_T), decimals=1))
        .with_panel(
            stat_panel(
                "Emission rate (district heat)",
                UNIT_KG_PER_H,
                influx_targets(EMISSION_RATE),
                description="CO2e per hour with the location-based factor: an accounting figure, "
                "not a marginal effect.",
                decimals=0,
            )
        )
        .with_panel(
            stat_panel(
                "Substations reporting",
                "short",
                influx_targets(SITES_REPORTING),
                description="Sites with at least one heat-meter reading in the selected range.",
            )
        )
        .with_row(row("Trends"))
        .with_panel(
            timeseries_panel(
                "Heat load", "megwatt", influx_targets(InfluxQL(HEAT_LOAD_MW).alias("heat load"))
            )
        )
        .with_panel(
            timeseries_panel(
                "Supply and return temperature",
                "celsius",
                influx_targets(InfluxQL(TEMPERATURES).alias("$col")),
                description="Arithmetic mean over the network's heat meters.",
            )
        )
        .with_panel(timeseries_panel("ΔT (supply − return)", UNIT_DELTA_K, influx_targets(DELTA_T)))
        .with_panel(
            timeseries_panel(
                "Emission rate (district heat, location-based)",
                UNIT_KG_PER_H,
                influx_targets(InfluxQL(EMISSION_RATE).alias("district heat")),
                bars=True,
            )
        )
        .with_row(row("Substations"))
        .with_panel(
            bargauge_panel(
                "Top substations by load",
                "kwatt",
                influx_targets(InfluxQL(TOP_SUBSTATIONS).table()),
                description="Mean power over the selected range; the ten largest.",
            )
        )
        .with_panel(
            table_panel(
                "Data freshness",
                "kwatt",
                influx_targets(InfluxQL(LAST_READING_PER_SITE).table()),
                description="Each substation's latest heat-meter reading and how long ago it arrived.",
                time_from_now=True,
            )
        )
    )
