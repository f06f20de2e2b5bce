"""Network overview for Borlänge Energi's operators: heat load, temperatures, emissions, freshness."""

from __future__ import annotations

from dataclasses import replace

from grafana_foundation_sdk.builders import dashboard as dash

from dashboards import kpis
from dashboards.influxql import InfluxQL
from dashboards.panels import (
    UNIT_DELTA_K,
    UNIT_KG_PER_H,
    bargauge_panel,
    base_dashboard,
    by_range,
    influx_targets,
    network_variable,
    row,
    stat_panel,
    table_panel,
    timeseries_panel,
)
from dashboards.sources import HOURLY, LOCAL_TIME, RAW, Source, means_per_interval, trailing

UID = "energy-network-overview"

NETWORK = '"network" =~ /^$network$/'


# Summing across series needs a subquery in InfluxQL: first one mean per meter and interval,
# then the sum of those means. Summing raw points would count a meter that reports twice as
# often twice. The outer query needs its own time condition for GROUP BY time().
def heat_load_mw(src: Source) -> str:
    return (
        'SELECT sum("meter_kw") / 1000 AS "heat_load_mw" FROM ('
        f'SELECT {src.mean("district_heating", "power_kw")} AS "meter_kw" FROM {src.of("district_heating")} '
        f'{src.where(NETWORK)} GROUP BY time($__interval), "device"{LOCAL_TIME}) '
        f"WHERE $timeFilter GROUP BY time($__interval) fill(none){LOCAL_TIME}"
    )


def temperatures(src: Source) -> str:
    return means_per_interval(
        src, "district_heating", NETWORK, {"supply": "supply_temp_c", "return": "return_temp_c"}
    )


def delta_t(src: Source) -> str:
    return means_per_interval(src, "district_heating", NETWORK, {"ΔT": "delta_t_k"})


DISTRICT_HEAT_LOCATION = "\"carrier\" = 'district_heat' AND \"method\" = 'location'"


# Hourly sums of interval emissions are kg per hour: the trend the operators watch. The last bar
# is the hour so far, so it is low until the hour ends; the "Now" stat uses EMISSION_RATE_NOW.
# Beyond two days the sums over all sites (emissions_total) in rollup_1h: hours, however long
# the range, so the bars stay kg/h (a year is 8,760 rows per owner and network).
def emission_rate(src: Source) -> str:
    return (
        f'SELECT sum("co2e_kg") AS "district_heat" FROM {src.of("emissions", across_sites=True)} '
        f"{src.where(DISTRICT_HEAT_LOCATION)} GROUP BY time(1h) fill(none){LOCAL_TIME}"
    )


EMISSION_RATE_SOURCES = (RAW, replace(HOURLY, up_to_ms=None))


# ΔT weighted by volume per local day, from the daily substation KPIs (energy_core/analysis.py):
# Σ(ΔT_k · volume_k) / Σvolume_k over the network's substations, so a large building weighs by
# the water it cools, not by how often its meter reports.
DELTA_T_VOLUME_WEIGHTED = kpis.weighted(
    {"ΔT": "delta_t_k"}, f"$timeFilter AND {NETWORK}", by=f"time(1d) fill(none){LOCAL_TIME}"
)


def top_substations(src: Source) -> str:
    return (
        'SELECT top("site_kw", "site", 10) AS "power_kw" FROM ('
        f'SELECT {src.mean("district_heating", "power_kw")} AS "site_kw" FROM {src.of("district_heating")} '
        f'{src.where(NETWORK)} GROUP BY "site")'
    )


# The "Now" panels look back from the end of the selected range (Grafana's ${__to}, epoch ms:
# "now" on a live dashboard) over fixed windows, not over the whole range: a sum over the
# range's last, partial hour bucket showed 4.2 kg/h at 20:06 while the rate was ~41 kg/h, and a
# count over the range called a substation silent for 23 hours "reporting".
# Every interval of a meter that reports on a fixed period dividing an hour falls into any
# 60-minute window exactly once per period, whatever the phase: the sum is the energy of a
# full hour, i.e. kg/h, without waiting for the clock hour to end.
RATE_WINDOW = "60m"
EMISSION_RATE_NOW = (
    'SELECT sum("co2e_kg") AS "district_heat" FROM "emissions" '
    f"WHERE {trailing(RATE_WINDOW)} AND {DISTRICT_HEAT_LOCATION}"
)
# A substation is reporting when its heat meter sent a reading within FRESH_WINDOW (meters
# send every few seconds to 15 minutes); "seen" is any reading within KNOWN_LOOKBACK, the
# substations InfluxDB knows of. Both independent of the selected range's length.
FRESH_WINDOW = "15m"
KNOWN_LOOKBACK = "30d"
SITES_REPORTING = (
    'SELECT count("fresh_kw") AS "reporting", count("seen_kw") AS "seen in 30 days" FROM ('
    'SELECT last("power_kw") AS "fresh_kw" FROM "district_heating" '
    f'WHERE {trailing(FRESH_WINDOW)} AND {NETWORK} GROUP BY "site"), ('
    'SELECT last("power_kw") AS "seen_kw" FROM "district_heating" '
    f'WHERE {trailing(KNOWN_LOOKBACK)} AND {NETWORK} GROUP BY "site")'
)
# The latest reading of each meter that is reporting, summed: the load now. Grouping by
# $__interval instead would count only the meters that happened to report in the last bucket.
HEAT_LOAD_NOW_MW = (
    'SELECT sum("meter_kw") / 1000 AS "heat_load_mw" FROM ('
    'SELECT last("power_kw") AS "meter_kw" FROM "district_heating" '
    f'WHERE {trailing(FRESH_WINDOW)} AND {NETWORK} GROUP BY "device")'
)
# Every meter seen within KNOWN_LOOKBACK with its latest reading, however long ago: the meters
# silent longest are the ones to look for, so the range must not hide them. The table sorts
# oldest first.
LAST_READING_PER_METER = (
    'SELECT last("power_kw") AS "power_kw" FROM "district_heating" '
    f'WHERE {trailing(KNOWN_LOOKBACK)} AND {NETWORK} GROUP BY "site", "device"'
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
        .with_variable(network_variable(multi=True))
        .with_row(row("Now"))
        .with_panel(
            stat_panel(
                "Heat load (meters reporting in the last 15 min)",
                "megwatt",
                influx_targets(HEAT_LOAD_NOW_MW),
                description="Sum of the latest power of every heat meter that sent a reading in the "
                "15 minutes up to the end of the selected range; silent meters are not counted "
                "(see Substations reporting).",
                decimals=2,
            )
        )
        .with_panel(
            stat_panel(
                "Mean ΔT (arithmetic, over meters)",
                UNIT_DELTA_K,
                by_range(delta_t),
                description="Unweighted mean of the meters' ΔT readings; the volume-weighted ΔT per "
                "day is in the Trends row.",
                decimals=1,
            )
        )
        .with_panel(
            stat_panel(
                "Emission rate, last 60 min (district heat)",
                UNIT_KG_PER_H,
                influx_targets(EMISSION_RATE_NOW),
                description="CO2e of the interval energy in the 60 minutes up to the end of the "
                "selected range (now, on a live dashboard), with the location-based factor: kg/h. "
                "An accounting figure, not a marginal effect.",
                decimals=0,
            )
        )
        .with_panel(
            stat_panel(
                "Substations reporting (last 15 min)",
                "short",
                influx_targets(InfluxQL(SITES_REPORTING).alias("$col")),
                description="Substations whose heat meter sent a reading in the 15 minutes up to the "
                "end of the selected range, next to those seen in the 30 days before it.",
                no_value="0",
            )
        )
        .with_row(row("Trends"))
        .with_panel(timeseries_panel("Heat load", "megwatt", by_range(heat_load_mw, alias="heat load")))
        .with_panel(
            timeseries_panel(
                "Supply and return temperature",
                "celsius",
                by_range(temperatures, alias="$col"),
                description="Arithmetic mean over the network's heat meters.",
            )
        )
        .with_panel(
            timeseries_panel(
                "ΔT (supply − return), arithmetic mean of meters",
                UNIT_DELTA_K,
                by_range(delta_t),
                description="Unweighted mean of the meters' readings per interval: a meter that "
                "reports often weighs more. See ΔT per day, volume-weighted.",
            )
        )
        .with_panel(
            timeseries_panel(
                "ΔT per day, volume-weighted (substation KPIs)",
                UNIT_DELTA_K,
                influx_targets(InfluxQL(DELTA_T_VOLUME_WEIGHTED).alias("ΔT volume-weighted")),
                description="Σ(ΔT·volume)/Σvolume over the network's substations per local day, from "
                "the daily substation KPIs of the analysis (the day's heat / (volume · ρc_p)).",
                width=24,
            )
        )
        .with_panel(
            timeseries_panel(
                "Emission rate (district heat, location-based)",
                UNIT_KG_PER_H,
                by_range(emission_rate, alias="district heat", sources=EMISSION_RATE_SOURCES),
                description="Hourly sums of interval CO2e: kg/h. The last bar is the hour so far. "
                "Beyond 2 days from the hourly roll-up of all sites.",
                bars=True,
            )
        )
        .with_row(row("Substations"))
        .with_panel(
            bargauge_panel(
                "Top substations by load",
                "kwatt",
                by_range(top_substations, table=True),
                description="Mean power over the selected range; the ten largest.",
            )
        )
        .with_panel(
            table_panel(
                "Data freshness (every meter seen in 30 days, oldest first)",
                "kwatt",
                influx_targets(InfluxQL(LAST_READING_PER_METER).table()),
                description="Each heat meter's latest reading and how long ago it was taken, silent "
                "meters first. Looks back 30 days from the end of the selected range, whatever its "
                "length: a meter silent longer than the range is the one to look for.",
                time_from_now=True,
                sort_by_time=True,
            )
        )
    )
