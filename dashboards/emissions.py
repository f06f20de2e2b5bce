"""Emissions: CO2e per day and over the selected range, by carrier and method (SPEC §6).

InfluxQL 1.x buckets time in fixed durations only, so there is no calendar-month GROUP BY:
monthly figures come from setting the time picker to a month ("This month", "Previous month"
are in the quick ranges) and reading the totals table, or from the API's monthly endpoint.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash

from dashboards.influxql import InfluxQL
from dashboards.panels import (
    UNIT_G_PER_KWH,
    base_dashboard,
    influx_tag_variable,
    influx_targets,
    row,
    stat_panel,
    table_panel,
    timeseries_panel,
)

UID = "energy-emissions"

OWNER = '"owner" =~ /^$owner$/'

PER_DAY = (
    'SELECT sum("co2e_kg") FROM "emissions" '
    f'WHERE $timeFilter AND {OWNER} GROUP BY time(1d), "carrier", "method" fill(none)'
)
TOTALS = (
    'SELECT sum("co2e_kg") AS "co2e_kg" FROM "emissions" '
    f'WHERE $timeFilter AND {OWNER} GROUP BY "carrier", "method"'
)
FACTORS = (
    'SELECT mean("factor_g_per_kwh") FROM "emissions" '
    f'WHERE $timeFilter AND {OWNER} GROUP BY time($__interval), "carrier", "method" fill(none)'
)


def _total(method: str) -> str:
    return (
        'SELECT sum("co2e_kg") AS "co2e_kg" FROM "emissions" '
        f"WHERE $timeFilter AND {OWNER} AND \"method\" = '{method}'"
    )


def build() -> dash.Dashboard:
    """The emissions dashboard."""
    return (
        base_dashboard(
            UID,
            "Emissions",
            "CO2e from interval energy × emission factor, by carrier (district heat, electricity) and "
            "method (location- or market-based). Annual district-heating factors are accounting "
            "figures, not marginal effects.",
            ["operators", "facility-managers", "emissions"],
        )
        .time("now-30d", "now")
        .with_variable(
            influx_tag_variable(
                "owner",
                "Owner",
                'SHOW TAG VALUES FROM "emissions" WITH KEY = "owner"',
                include_all=True,
                multi=True,
            )
        )
        .with_row(row("Totals in the selected range"))
        .with_panel(
            stat_panel(
                "CO2e, location-based",
                "masskg",
                influx_targets(_total("location")),
                reducer="sum",
                decimals=0,
            )
        )
        .with_panel(
            stat_panel(
                "CO2e, market-based", "masskg", influx_targets(_total("market")), reducer="sum", decimals=0
            )
        )
        .with_panel(
            table_panel(
                "By carrier and method",
                "masskg",
                influx_targets(InfluxQL(TOTALS).table()),
                description="Set the time picker to a month for monthly totals.",
            )
        )
        .with_row(row("Per day"))
        .with_panel(
            timeseries_panel(
                "CO2e per day by carrier and method",
                "masskg",
                influx_targets(InfluxQL(PER_DAY).alias("$tag_carrier ($tag_method)")),
                description="UTC days.",
                bars=True,
                width=24,
            )
        )
        .with_panel(
            timeseries_panel(
                "Emission factors in use",
                UNIT_G_PER_KWH,
                influx_targets(InfluxQL(FACTORS).alias("$tag_carrier ($tag_method)")),
                description="From the versioned emission-factor file; hourly series take precedence.",
                width=24,
            )
        )
    )
