"""Emissions: CO2e per day and over the selected range, by carrier and method (SPEC §6).

InfluxQL 1.x buckets time in fixed durations only, so there is no calendar-month GROUP BY:
monthly figures come from setting the time picker to a month ("This month", "Previous month"
are in the quick ranges) and reading the totals table, or from the API's monthly endpoint.
"""

from __future__ import annotations

from collections.abc import Callable

from grafana_foundation_sdk.builders import dashboard as dash

from dashboards.panels import (
    UNIT_G_PER_KWH,
    base_dashboard,
    by_range,
    influx_tag_variable,
    per_day_panel,
    row,
    stat_panel,
    table_panel,
    timeseries_panel,
)
from dashboards.sources import LOCAL_TIME, Source, means_per_interval

UID = "energy-emissions"

OWNER = '"owner" =~ /^$owner$/'


def _co2e(src: Source, *conditions: str) -> str:
    """The CO2e sum; beyond two days over the roll-ups summed across sites."""
    return (
        f'SELECT sum("co2e_kg") AS "co2e_kg" FROM {src.of("emissions", across_sites=True)} '
        f"{src.where(*conditions)}"
    )


# Beyond two days the sums over all sites per owner, network, carrier and method (emissions_total).
def per_day(src: Source) -> str:
    return f'{_co2e(src, OWNER)} GROUP BY time(1d), "carrier", "method" fill(none){LOCAL_TIME}'


def totals(src: Source) -> str:
    return f'{_co2e(src, OWNER)} GROUP BY "carrier", "method"'


def factors(src: Source) -> str:
    """Factors are per site in the roll-ups (a mean across sites weighted by readings, as raw)."""
    return means_per_interval(
        src, "emissions", OWNER, {"factor_g_per_kwh": "factor_g_per_kwh"}, by='"carrier", "method"'
    )


def _total(method: str) -> Callable[[Source], str]:
    condition = f"\"method\" = '{method}'"
    return lambda src: _co2e(src, OWNER, condition)


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
                by_range(_total("location")),
                reducer="sum",
                decimals=0,
            )
        )
        .with_panel(
            stat_panel("CO2e, market-based", "masskg", by_range(_total("market")), reducer="sum", decimals=0)
        )
        .with_panel(
            table_panel(
                "By carrier and method",
                "masskg",
                by_range(totals, table=True),
                description="Set the time picker to a month for monthly totals.",
            )
        )
        .with_row(row("Per day"))
        .with_panel(
            per_day_panel(
                "CO2e per day by carrier and method",
                "masskg",
                by_range(per_day, alias="$tag_carrier ($tag_method)"),
            )
        )
        .with_panel(
            timeseries_panel(
                "Emission factors in use",
                UNIT_G_PER_KWH,
                by_range(factors, alias="$tag_carrier ($tag_method)"),
                description="From the versioned emission-factor file; hourly series take precedence.",
                width=24,
            )
        )
    )
