"""Building / owner view (e.g. Tunabyggen): energy, indoor climate and emissions per building.

kWh/m² is not here: heated floor area lives in the asset registry, not in InfluxDB, and an
InfluxQL datasource cannot join it. The API's energy endpoint returns kWh/m² per site; this
dashboard shows energy and says where to find the intensity.

The ``$owner`` variable is a convenience filter, not access control: anyone who can edit a
Grafana query can read every owner in the database. Give each owner a Grafana organisation (or
read them through the API, which enforces scope).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash

from dashboards.influxql import InfluxQL
from dashboards.panels import (
    base_dashboard,
    influx_tag_variable,
    influx_targets,
    row,
    table_panel,
    text_panel,
    timeseries_panel,
)

UID = "energy-owner-buildings"

SCOPE = '"owner" =~ /^$owner$/ AND "site" =~ /^$site$/'

ENERGY_PER_DAY = (
    f'SELECT sum("kwh") FROM "energy" WHERE $timeFilter AND {SCOPE} GROUP BY time(1d), "carrier" fill(none)'
)
ENERGY_BY_SITE = (
    f'SELECT sum("kwh") AS "kwh" FROM "energy" WHERE $timeFilter AND {SCOPE} GROUP BY "site", "carrier"'
)
EMISSIONS_PER_DAY = (
    'SELECT sum("co2e_kg") FROM "emissions" '
    f'WHERE $timeFilter AND {SCOPE} AND "method" = \'location\' GROUP BY time(1d), "carrier" fill(none)'
)
ELECTRIC_POWER = (
    'SELECT mean("power_kw") FROM "electricity" '
    f'WHERE $timeFilter AND {SCOPE} GROUP BY time($__interval), "site" fill(none)'
)


def _indoor(field: str) -> str:
    return (
        f'SELECT mean("{field}") FROM "indoor_climate" '
        f'WHERE $timeFilter AND {SCOPE} GROUP BY time($__interval), "site" fill(none)'
    )


def build() -> dash.Dashboard:
    """The building / owner dashboard."""
    return (
        base_dashboard(
            UID,
            "Buildings by owner",
            "Energy per day, indoor climate and emissions of one owner's buildings.",
            ["facility-managers", "buildings"],
        )
        .time("now-7d", "now")
        .with_variable(
            influx_tag_variable("owner", "Owner", 'SHOW TAG VALUES FROM "energy" WITH KEY = "owner"')
        )
        .with_variable(
            influx_tag_variable(
                "site",
                "Building",
                'SHOW TAG VALUES FROM "energy" WITH KEY = "site" WHERE "owner" =~ /^$owner$/',
                include_all=True,
                multi=True,
            )
        )
        .with_row(row("Energy"))
        .with_panel(
            timeseries_panel(
                "Energy per day by carrier",
                "kwatth",
                influx_targets(InfluxQL(ENERGY_PER_DAY).alias("$tag_carrier")),
                bars=True,
                stacked=True,
            )
        )
        .with_panel(
            table_panel(
                "Energy in range by building and carrier",
                "kwatth",
                influx_targets(InfluxQL(ENERGY_BY_SITE).table()),
            )
        )
        .with_panel(
            text_panel(
                "kWh/m²",
                "Energy intensity needs each building's heated floor area, which lives in the asset "
                "registry rather than InfluxDB, which Grafana's InfluxQL datasource cannot join. The "
                "query API's energy endpoint (see its `/docs`) returns kWh/m² per building.",
            )
        )
        .with_panel(
            timeseries_panel(
                "Electric power",
                "kwatt",
                influx_targets(InfluxQL(ELECTRIC_POWER).alias("$tag_site")),
                width=24,
            )
        )
        .with_row(row("Indoor climate"))
        .with_panel(
            timeseries_panel(
                "Indoor temperature",
                "celsius",
                influx_targets(InfluxQL(_indoor("temperature_c")).alias("$tag_site")),
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Relative humidity",
                "humidity",
                influx_targets(InfluxQL(_indoor("humidity_pct")).alias("$tag_site")),
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "CO₂", "ppm", influx_targets(InfluxQL(_indoor("co2_ppm")).alias("$tag_site")), width=8
            )
        )
        .with_row(row("Emissions"))
        .with_panel(
            timeseries_panel(
                "Emissions per day by carrier (location-based)",
                "masskg",
                influx_targets(InfluxQL(EMISSIONS_PER_DAY).alias("$tag_carrier")),
                bars=True,
                stacked=True,
                width=24,
            )
        )
    )
