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
from grafana_foundation_sdk.models.dashboard import DataTransformerConfig

from dashboards import kpis
from dashboards.influxql import InfluxQL
from dashboards.panels import (
    UNIT_KW_PER_K,
    UNIT_KWH_PER_M2,
    base_dashboard,
    by_range,
    column_overrides,
    influx_tag_variable,
    influx_targets,
    per_day_panel,
    row,
    sorted_by,
    stat_panel,
    table_panel,
    timeseries_panel,
    xy_panel,
)
from dashboards.sources import LOCAL_TIME, Source, means_per_interval, trailing
from energy_core import analysis

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


# Performance over the 365 days up to the range's end (a day counts when its local midnight is
# inside), from the daily building KPIs (energy_core/analysis.py). Per building:
#   normalised heat = Σbase + (Σheat − Σbase) · Σnormal_degree_days / Σdegree_days
#   kWh/m² = that (or Σheat, Σelectricity) / Atemp, the floor area building_kpi carries.
YEAR = "365d"
# Only the days that carry a floor area: a building without one has no kWh/m² (and adds no kWh
# to the portfolio's), as in the API.
PER_YEAR = f'{trailing(YEAR)} AND {SCOPE} AND "{analysis.BUILDING_KPI_FLOOR_AREA_FIELD}" > 0'
NORMALISED = kpis.normalised_heat_expression()
AREA = f'last("{analysis.BUILDING_KPI_FLOOR_AREA_FIELD}")'
ELECTRICITY = 'sum("electricity_kwh")'
# The API's names (api/performance.py): kWh is heat plus electricity; only heat is normalised.
RANKING = (
    f'SELECT ({NORMALISED} + {ELECTRICITY}) / {AREA} AS "kWh/m² normalised", '
    f'(sum("heat_kwh") + {ELECTRICITY}) / {AREA} AS "kWh/m²", '
    f'{NORMALISED} / {AREA} AS "heat kWh/m² normalised", sum("heat_kwh") / {AREA} AS "heat kWh/m²", '
    f'{AREA} AS "Atemp" FROM {kpis.BUILDING} WHERE {PER_YEAR} GROUP BY "site"'
)
# The portfolio: Σ of each building's normalised heat (plus electricity) over Σ their floor areas.
PORTFOLIO = (
    'SELECT (sum("normalised") + sum("electricity")) / sum("area") AS "kWh/m² normalised", '
    '(sum("heat") + sum("electricity")) / sum("area") AS "kWh/m²" '
    f'FROM (SELECT {NORMALISED} AS "normalised", sum("heat_kwh") AS "heat", {ELECTRICITY} AS "electricity", '
    f'{AREA} AS "area" FROM {kpis.BUILDING} WHERE {PER_YEAR} GROUP BY "site")'
)
SIGNATURE_POINTS = (
    'SELECT "outdoor_temp_c" AS "outdoor", "heat_kwh" / 24 AS "mean load" '
    f"FROM {kpis.BUILDING} WHERE $timeFilter AND {SCOPE}"
)
SIGNATURE_FIT = (
    'SELECT last("signature_base_kw") AS "base load", last("signature_slope_kw_per_k") AS "heating slope", '
    'last("signature_balance_c") AS "balance temperature", last("signature_r2") AS "r²" '
    f'FROM {kpis.KPI} WHERE $timeFilter AND {SCOPE} GROUP BY "site"'
)
# Emissions per calendar year: daily sums from the daily roll-up of all sites, per carrier and
# method, turned into years by Grafana (format the time as YYYY in Stockholm time, then group
# by year, carrier and method, summing): InfluxQL has no calendar-year GROUP BY.
EMISSIONS_PER_DAY = (
    'SELECT sum("co2e_kg") AS "co2e_kg" FROM "rollup_1d"."emissions_total" '
    'WHERE $timeFilter AND "owner" =~ /^$owner$/ GROUP BY time(1d), "carrier", "method" '
    f"fill(none){LOCAL_TIME}"
)
PER_YEAR_TRANSFORMATIONS = [
    DataTransformerConfig(id_val="labelsToFields", options={"mode": "columns"}),
    DataTransformerConfig(id_val="merge", options={}),
    DataTransformerConfig(
        id_val="formatTime",
        options={
            "timeField": "Time",
            "outputFormat": "YYYY",
            "useTimezone": True,
            "timezone": "Europe/Stockholm",
        },
    ),
    DataTransformerConfig(
        id_val="groupBy",
        options={
            "fields": {
                "Time": {"aggregations": [], "operation": "groupby"},
                "carrier": {"aggregations": [], "operation": "groupby"},
                "method": {"aggregations": [], "operation": "groupby"},
                "co2e_kg": {"aggregations": ["sum"], "operation": "aggregate"},
            }
        },
    ),
]
PERFORMANCE_NOTE = (
    "Last 365 days up to the end of the selected range, from the daily building KPIs. kWh = heat + "
    "electricity; normalised: the heat corrected by degree days (graddagskorrigering), Σbase + "
    "(Σheat − Σbase) · Σnormal degree days / Σdegree days, electricity as it is; per m² of Atemp "
    "(the registry's floor area, carried by the KPIs), as the API's performance figures."
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
        .with_row(row("Performance (last 12 months, weather-normalised)"))
        .with_panel(
            stat_panel(
                "Portfolio kWh/m² Atemp, last 12 months",
                UNIT_KWH_PER_M2,
                influx_targets(InfluxQL(PORTFOLIO).alias("$col")),
                description=PERFORMANCE_NOTE + " Portfolio: Σ of the buildings' figures over Σ Atemp.",
                decimals=1,
            )
        )
        .with_panel(
            sorted_by(
                column_overrides(
                    table_panel(
                        "Buildings ranked by normalised kWh/m² Atemp (last 12 months)",
                        UNIT_KWH_PER_M2,
                        influx_targets(InfluxQL(RANKING).table()),
                        description=PERFORMANCE_NOTE,
                        width=18,
                    ),
                    {"Atemp": "areaM2"},
                ),
                "kWh/m² normalised",
                desc=True,
            )
        )
        .with_panel(
            column_overrides(
                xy_panel(
                    "Energy signature: daily mean heat load against outdoor temperature",
                    "kwatt",
                    influx_targets(InfluxQL(SIGNATURE_POINTS).table()),
                    description="One point per building and local day in the range: the day's heat / "
                    "24 h against its mean outdoor temperature (nearest weather station).",
                ),
                {"outdoor": "celsius", "mean load": "kwatt"},
            )
        )
        .with_panel(
            column_overrides(
                table_panel(
                    "Energy signature fit per building",
                    "short",
                    influx_targets(InfluxQL(SIGNATURE_FIT).table()),
                    description="P(T) = base + slope · max(0, balance − T), the latest fit in the range "
                    "(energy_core/signature.py, ASHRAE Guideline 14 3P heating model).",
                ),
                {"base load": "kwatt", "heating slope": UNIT_KW_PER_K, "balance temperature": "celsius"},
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
    return (
        dashboard.with_row(row("Emissions"))
        .with_panel(
            per_day_panel(
                "Emissions per day by carrier (location-based)",
                "masskg",
                by_range(_per_day("emissions", "co2e_kg", LOCATION), alias="$tag_carrier"),
                stacked=True,
            )
        )
        .with_panel(
            table_panel(
                "Emissions per year by carrier and method",
                "masskg",
                influx_targets(EMISSIONS_PER_DAY),
                description="Calendar years (Europe/Stockholm) of the selected range, from the daily "
                "roll-up of all the owner's sites; pick whole years (e.g. Last 5 years to now-0y/y). "
                "Years are formed by Grafana transformations (format time, group by). No target path: "
                "the climate targets are not configured in this release.",
                width=24,
            ).transformations(PER_YEAR_TRANSFORMATIONS)
        )
    )
