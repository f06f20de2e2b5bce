"""Building / owner view (e.g. Tunabyggen): energy, indoor climate and emissions per building.

kWh/m² is not here: heated floor area lives in the asset registry, not in InfluxDB, and an
InfluxQL datasource cannot join it. The API's energy endpoint returns kWh/m² per site; this
dashboard shows energy and says where to find the intensity.

The ``$owner`` variable is a convenience filter, not access control: anyone who can edit a
Grafana query can read every owner in the database. Give each owner a Grafana organisation (or
read them through the API, which enforces scope).
"""

from __future__ import annotations

from collections.abc import Callable

from grafana_foundation_sdk.builders import dashboard as dash

from dashboards.panels import (
    base_dashboard,
    by_range,
    influx_tag_variable,
    per_day_panel,
    row,
    table_panel,
    text_panel,
    timeseries_panel,
)
from dashboards.sources import LOCAL_TIME, Source, means_per_interval

UID = "energy-owner-buildings"

SCOPE = '"owner" =~ /^$owner$/ AND "site" =~ /^$site$/'

LOCATION = "\"method\" = 'location'"


def _per_day(measurement: str, field: str, *conditions: str) -> Callable[[Source], str]:
    """Sum of ``field`` per local day and carrier."""
    return lambda src: (
        f'SELECT sum("{field}") AS "{field}" FROM {src.of(measurement)} {src.where(SCOPE, *conditions)} '
        f'GROUP BY time(1d), "carrier" fill(none){LOCAL_TIME}'
    )


def energy_by_site(src: Source) -> str:
    return f'SELECT sum("kwh") AS "kwh" FROM {src.of("energy")} {src.where(SCOPE)} GROUP BY "site", "carrier"'


def _site_means(measurement: str, field: str) -> Callable[[Source], str]:
    """Mean of ``field`` per interval and building."""
    return lambda src: means_per_interval(src, measurement, SCOPE, {field: field}, by='"site"')


INDOOR = (
    ("Indoor temperature", "celsius", "temperature_c"),
    ("Relative humidity", "humidity", "humidity_pct"),
    ("CO₂", "ppm", "co2_ppm"),
)


def build() -> dash.Dashboard:
    """The building / owner dashboard."""
    dashboard = (
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
            per_day_panel(
                "Energy per day by carrier",
                "kwatth",
                by_range(_per_day("energy", "kwh"), alias="$tag_carrier"),
                stacked=True,
                width=12,
            )
        )
        .with_panel(
            table_panel(
                "Energy in range by building and carrier", "kwatth", by_range(energy_by_site, table=True)
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
                by_range(_site_means("electricity", "power_kw"), alias="$tag_site"),
                width=24,
            )
        )
        .with_row(row("Indoor climate"))
    )
    for title, unit, field in INDOOR:
        indoor = by_range(_site_means("indoor_climate", field), alias="$tag_site")
        dashboard = dashboard.with_panel(timeseries_panel(title, unit, indoor, width=8))
    return dashboard.with_row(row("Emissions")).with_panel(
        per_day_panel(
            "Emissions per day by carrier (location-based)",
            "masskg",
            by_range(_per_day("emissions", "co2e_kg", LOCATION), alias="$tag_carrier"),
            stacked=True,
        )
    )
