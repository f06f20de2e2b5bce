"""Substation detail: one district-heating substation, chosen with the ``$site`` variable."""

from __future__ import annotations

from collections.abc import Callable

from grafana_foundation_sdk.builders import dashboard as dash

from dashboards.panels import (
    UNIT_DELTA_K,
    UNIT_M3H,
    Target,
    base_dashboard,
    by_range,
    influx_tag_variable,
    network_variable,
    per_day_panel,
    row,
    stat_panel,
    timeseries_panel,
)
from dashboards.sources import LOCAL_TIME, RAW, RAW_LONG, Source, means_per_interval, trailing

UID = "energy-substation-detail"

SITE = '"site" =~ /^$site$/'
DISTRICT_HEAT = "\"carrier\" = 'district_heat'"
# Beyond two days, "latest" is the latest reading in this window up to the range's end: a cost
# that does not grow with the range (a meter silent for longer shows no value).
LATEST_WINDOW = "2d"


def _means(columns: dict[str, str]) -> Callable[[Source], str]:
    """Means of district-heating fields (alias=field) per interval for the chosen substation."""
    return lambda src: means_per_interval(src, "district_heating", SITE, columns)


def _latest(field: str) -> list[Target]:
    """The latest reading in the range (up to 2 days), or in the 2 days up to its end."""

    def query(src: Source) -> str:
        time = "$timeFilter" if src is RAW else trailing(LATEST_WINDOW)
        return f'SELECT last("{field}") AS "{field}" FROM "district_heating" {src.where(SITE, time=time)}'

    return by_range(query, sources=(RAW, RAW_LONG))


TEMPERATURES = {"supply": "supply_temp_c", "return": "return_temp_c"}


# Interval energy (derived from the meter register by ingest), summed per local day.
def energy_per_day(src: Source) -> str:
    return (
        f'SELECT sum("kwh") AS "district heat" FROM {src.of("energy")} '
        f"{src.where(SITE, DISTRICT_HEAT)} GROUP BY time(1d) fill(none){LOCAL_TIME}"
    )


def build() -> dash.Dashboard:
    """The substation detail dashboard."""
    return (
        base_dashboard(
            UID,
            "Substation detail",
            "One substation's heat meter: power, flow, temperatures, ΔT, daily energy and status.",
            ["operators", "district-heating"],
        )
        .with_variable(network_variable())
        .with_variable(
            influx_tag_variable(
                "site",
                "Substation",
                'SHOW TAG VALUES FROM "district_heating" WITH KEY = "site" WHERE "network" =~ /^$network$/',
            )
        )
        .with_row(row("Latest"))
        .with_panel(stat_panel("Power", "kwatt", _latest("power_kw"), decimals=0))
        .with_panel(stat_panel("Supply", "celsius", _latest("supply_temp_c"), decimals=1))
        .with_panel(stat_panel("Return", "celsius", _latest("return_temp_c"), decimals=1))
        .with_panel(stat_panel("ΔT", UNIT_DELTA_K, _latest("delta_t_k"), decimals=1))
        .with_panel(stat_panel("Energy register", "kwatth", _latest("energy_kwh"), width=12, decimals=0))
        .with_panel(
            stat_panel(
                "Meter info code",
                "short",
                _latest("info_code"),
                description="The heat meter's status word; 0 means no error flags.",
                width=12,
            )
        )
        .with_row(row("Trends"))
        .with_panel(
            timeseries_panel("Power", "kwatt", by_range(_means({"power": "power_kw"}), alias="power"))
        )
        .with_panel(timeseries_panel("Flow", UNIT_M3H, by_range(_means({"flow": "flow_m3h"}), alias="flow")))
        .with_panel(
            timeseries_panel(
                "Supply and return temperature", "celsius", by_range(_means(TEMPERATURES), alias="$col")
            )
        )
        .with_panel(timeseries_panel("ΔT", UNIT_DELTA_K, by_range(_means({"ΔT": "delta_t_k"}))))
        .with_panel(
            per_day_panel("Energy per day", "kwatth", by_range(energy_per_day, alias="district heat"))
        )
    )
